"""The MNIST download, tested offline: urllib.request.urlopen is replaced by a
fake that serves files the test wrote, or wrong bytes, or no network."""

import hashlib
import io
import urllib.error

import numpy as np
import pytest

from chainrule.data import datasets as ds
from chainrule.data import download as dl
from chainrule.data import download_mnist, load, write_idx


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Small fake MNIST files, with MNIST_FILES patched to their sizes and digests."""
    src = tmp_path / "server"
    src.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 20, np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, np.uint8),
    }
    files = {}
    for name, a in arrays.items():
        write_idx(src / name, a)
        data = (src / name).read_bytes()
        files[name] = data
    monkeypatch.setattr(
        dl,
        "MNIST_FILES",
        {n: (len(d), hashlib.sha256(d).hexdigest()) for n, d in files.items()},
    )
    return files


class FakeOpener:
    """Stands in for urllib.request.urlopen; records the URLs asked for."""

    def __init__(self, serve):
        self.serve = serve  # url -> bytes, or an exception to raise
        self.urls = []

    def __call__(self, url, timeout=None):
        self.urls.append(url)
        result = self.serve(url)
        if isinstance(result, Exception):
            raise result
        return io.BytesIO(result)


def by_name(files):
    return lambda url: files[url.rsplit("/", 1)[1]]


def test_download_then_load(served, tmp_path, monkeypatch):
    opener = FakeOpener(by_name(served))
    monkeypatch.setattr("urllib.request.urlopen", opener)
    target = tmp_path / "mnist"
    assert download_mnist(target) == target
    assert sorted(p.name for p in target.iterdir()) == sorted(served)
    assert all(u.startswith(dl.MNIST_MIRRORS[0]) for u in opener.urls)
    (x, y), (xt, yt) = load("mnist", path=target)
    assert x.shape == (20, 1, 28, 28) and xt.shape == (5, 1, 28, 28)
    assert y.dtype == np.int64


def test_load_with_download_true(served, tmp_path, monkeypatch):
    opener = FakeOpener(by_name(served))
    monkeypatch.setattr("urllib.request.urlopen", opener)
    (x, _), _ = load("mnist", path=tmp_path / "m", download=True, flatten=True)
    assert x.shape == (20, 784) and len(opener.urls) == 4
    # Second time the files are there: nothing is fetched.
    load("mnist", path=tmp_path / "m", download=True)
    assert len(opener.urls) == 4


def test_good_files_are_not_fetched_again_bad_ones_are(served, tmp_path, monkeypatch):
    target = tmp_path / "mnist"
    target.mkdir()
    for name, data in served.items():
        (target / name).write_bytes(data)
    (target / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    opener = FakeOpener(by_name(served))
    monkeypatch.setattr("urllib.request.urlopen", opener)
    download_mnist(target)
    assert [u.rsplit("/", 1)[1] for u in opener.urls] == ["t10k-labels-idx1-ubyte.gz"]
    assert (target / "t10k-labels-idx1-ubyte.gz").read_bytes() == served[
        "t10k-labels-idx1-ubyte.gz"
    ]


def test_checksum_mismatch_leaves_nothing_behind(served, tmp_path, monkeypatch):
    # Same size, different bytes: only the SHA-256 can tell.
    def tampered(url):
        data = bytearray(served[url.rsplit("/", 1)[1]])
        data[-1] ^= 1
        return bytes(data)

    monkeypatch.setattr("urllib.request.urlopen", FakeOpener(tampered))
    target = tmp_path / "mnist"
    with pytest.raises(
        ValueError,
        match="download_mnist: train-images-idx3-ubyte.gz must have SHA-256 .*checksum mismatch",
    ):
        download_mnist(target)
    assert not target.exists()  # no file, no temporary file, no folder it made


def test_short_download_leaves_nothing_behind(served, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "urllib.request.urlopen",
        FakeOpener(lambda url: served[url.rsplit("/", 1)[1]][:-10]),
    )
    with pytest.raises(ValueError, match="expected .* bytes; got"):
        download_mnist(tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / "server"]


def test_second_mirror_is_tried(served, tmp_path, monkeypatch):
    def first_down(url):
        if url.startswith(dl.MNIST_MIRRORS[0]):
            return urllib.error.URLError("connection refused")
        return served[url.rsplit("/", 1)[1]]

    monkeypatch.setattr("urllib.request.urlopen", FakeOpener(first_down))
    download_mnist(tmp_path / "m")
    assert len(list((tmp_path / "m").iterdir())) == 4


def test_no_network(served, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "urllib.request.urlopen",
        FakeOpener(lambda url: urllib.error.URLError("Name or service not known")),
    )
    with pytest.raises(
        ConnectionError,
        match="could not download train-images.*Name or service not known",
    ):
        download_mnist(tmp_path / "m")
    assert not (tmp_path / "m").exists()  # nor the folder it made for them


def test_missing_mnist_without_download_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "DEFAULT_MNIST_DIR", tmp_path / "cache")

    def no_network(*args, **kwargs):
        raise AssertionError("load must not download unless asked")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(FileNotFoundError, match="Pass download=True"):
        load("mnist")


def test_real_checksum_table_is_well_formed():
    assert set(dl.MNIST_FILES) == {s + ".gz" for s in ds.IDX_STEMS}
    for size, digest in dl.MNIST_FILES.values():
        assert size > 0 and len(digest) == 64 and int(digest, 16) >= 0
