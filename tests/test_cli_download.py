"""``chainrule download mnist``, ``--data mnist`` without the files, and
``--version``; offline: urllib's urlopen serves files the test wrote."""

from __future__ import annotations

import hashlib
import io
import urllib.error

import numpy as np
import pytest
from _run_cli import run_cli

import chainrule as cr
from chainrule.data import datasets as ds
from chainrule.data import download as dl
from chainrule.data import write_idx


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Four small MNIST-like files behind a fake urlopen; MNIST_FILES patched
    to their sizes and digests; the default directory in tmp_path."""
    rng = np.random.default_rng(0)
    files = {}
    for name, shape in [
        ("train-images-idx3-ubyte.gz", (20, 28, 28)),
        ("train-labels-idx1-ubyte.gz", (20,)),
        ("t10k-images-idx3-ubyte.gz", (10, 28, 28)),
        ("t10k-labels-idx1-ubyte.gz", (10,)),
    ]:
        a = (np.arange(np.prod(shape)) % 10).reshape(shape).astype(np.uint8)
        if len(shape) == 3:
            a = rng.integers(0, 256, shape, np.uint8)
        write_idx(tmp_path / name, a)
        files[name] = (tmp_path / name).read_bytes()
    monkeypatch.setattr(
        dl,
        "MNIST_FILES",
        {n: (len(d), hashlib.sha256(d).hexdigest()) for n, d in files.items()},
    )
    monkeypatch.setattr(ds, "DEFAULT_MNIST_DIR", tmp_path / "cache" / "mnist")
    urls = []

    def urlopen(url, timeout=None):
        urls.append(url)
        return io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    return urls


def test_data_mnist_without_the_files_gives_the_command(
    tmp_path, monkeypatch, capsys, served
):
    code, _, err = run_cli(tmp_path, monkeypatch, capsys, "train", "--data", "mnist")
    assert code == 2
    assert err == (
        f"chainrule train: error: the MNIST files are not in {tmp_path}/cache/mnist; "
        "fetch them with 'chainrule download mnist' (about 11 MB, SHA-256 checked), "
        "or pass --data a directory holding the four MNIST IDX files.\n"
    )
    assert "download=True" not in err and "path=" not in err
    assert served == []  # nothing fetched without asking


def test_download_then_train(tmp_path, monkeypatch, capsys, served):
    code, out, err = run_cli(tmp_path, monkeypatch, capsys, "download", "mnist")
    assert code == 0, err
    assert out == (
        f"MNIST: 4 files in {tmp_path}/cache/mnist, each SHA-256 checked; train on "
        "it with: chainrule train --data mnist\n"
    )
    assert len(served) == 4
    (x, _), (xt, _) = cr.data.load("mnist")
    assert x.shape == (20, 1, 28, 28) and xt.shape == (10, 1, 28, 28)
    # Files that are there and pass their check are not fetched again.
    assert run_cli(tmp_path, monkeypatch, capsys, "download", "mnist")[0] == 0
    assert len(served) == 4


def test_download_into_a_folder_of_ones_own(tmp_path, monkeypatch, capsys, served):
    code, out, _ = run_cli(
        tmp_path, monkeypatch, capsys, "download", "mnist", "--dir", "my data"
    )
    assert code == 0
    assert out.endswith("train on it with: chainrule train --data 'my data'\n")
    assert len(list((tmp_path / "my data").iterdir())) == 4


def test_download_without_a_network_is_one_line(tmp_path, monkeypatch, capsys, served):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    code, _, err = run_cli(tmp_path, monkeypatch, capsys, "download", "mnist")
    assert code == 2
    assert err.startswith("chainrule download: error: cannot download MNIST: ")
    assert err.count("\n") == 1
    assert not list((tmp_path / "cache" / "mnist").glob("*.gz"))
    # The folders it made for the files are gone again; nothing landed.
    assert not (tmp_path / "cache").exists()


def test_download_dir_that_is_a_file_or_cannot_be_made(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(tmp_path, monkeypatch, capsys, "download", "mnist", "--dir", "afile")
    assert code == 2 and err.count("\n") == 1
    assert "into 'afile': download_mnist: 'afile' is a file, not a folder" in err
    code, _, err = run_cli(
        tmp_path, monkeypatch, capsys, "download", "mnist", "--dir", "afile/sub"
    )
    assert code == 2 and err.count("\n") == 1
    assert err == (
        "chainrule download: error: cannot download MNIST into 'afile/sub': "
        "Not a directory.\n"
    )


def test_version(tmp_path, monkeypatch, capsys):
    code, out, _ = run_cli(tmp_path, monkeypatch, capsys, "--version")
    assert code == 0
    assert out == f"chainrule {cr.__version__}\n"
