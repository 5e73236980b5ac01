import hashlib
import re
import shutil

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import CLASS_NAMES, DATASETS, load, write_idx
from chainrule.data import datasets as ds

STEMS = ds.IDX_STEMS


def write_idx_dir(directory, n_train=30, n_test=10, gz=True, hw=(28, 28), seed=0):
    """Four small IDX files with the standard names; returns the raw arrays."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    for stem, a in zip(STEMS, arrays):
        write_idx(directory / (stem + (".gz" if gz else "")), a)
    return arrays


# -- mnist5k ---------------------------------------------------------------------


def test_mnist5k_shapes_dtypes_range():
    (x, y), (xt, yt) = load("mnist5k")
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert x.dtype == xt.dtype == np.float32
    assert y.shape == (4000,) and yt.shape == (1000,)
    assert y.dtype == yt.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert 0.1 < x.mean() < 0.2  # MNIST's mean grey level is about 0.13


def test_mnist5k_flatten():
    (x, _), (xt, _) = load("mnist5k", flatten=True)
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    (x4, _), _ = load("mnist5k")
    np.testing.assert_array_equal(x, x4.reshape(4000, 784))


def test_mnist5k_is_stratified_and_shuffled():
    (_, y), (_, yt) = load("mnist5k")
    assert np.bincount(y).tolist() == [400] * 10
    assert np.bincount(yt).tolist() == [100] * 10
    # The file is sorted by label; after the shuffle no long runs remain.
    assert (np.diff(y) != 0).mean() > 0.8


def test_mnist5k_train_and_test_are_disjoint():
    (x, _), (xt, _) = load("mnist5k", flatten=True)
    train = {hashlib.sha1(row.tobytes()).digest() for row in x}
    test = {hashlib.sha1(row.tobytes()).digest() for row in xt}
    assert len(train) == 4000 and len(test) == 1000
    assert not train & test


def test_mnist5k_split_is_fixed_whatever_the_global_seed():
    cr.seed(1)
    (x1, y1), (xt1, yt1) = load("mnist5k")
    cr.seed(2)
    (x2, y2), (xt2, yt2) = load("mnist5k")
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(yt1, yt2)
    # Pinned so that a change of the split (or of NumPy's PCG64 stream) is
    # noticed: results quoted for mnist5k depend on it.
    assert y1[:20].tolist() == [
        4,
        3,
        9,
        9,
        0,
        9,
        6,
        5,
        7,
        7,
        7,
        9,
        5,
        6,
        5,
        4,
        0,
        6,
        3,
        7,
    ]
    assert yt1[:20].tolist() == [
        0,
        1,
        4,
        3,
        0,
        1,
        2,
        0,
        5,
        4,
        7,
        0,
        7,
        5,
        8,
        8,
        0,
        8,
        1,
        6,
    ]


def test_mnist5k_returns_fresh_arrays():
    (x, y), _ = load("mnist5k")
    x[:] = 7
    y[:] = 7
    (x2, y2), _ = load("mnist5k")
    assert x2.max() == 1.0 and y2.max() == 9


def test_mnist5k_checksum_is_verified(tmp_path, monkeypatch):
    for name in ds.MNIST5K_SHA256:
        shutil.copy(ds.MNIST5K_DIR / name, tmp_path / name)
    labels = tmp_path / "labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes() + b"\x00")
    monkeypatch.setattr(ds, "MNIST5K_DIR", tmp_path)
    ds._mnist5k_raw.cache_clear()
    try:
        with pytest.raises(
            ValueError, match=r"labels-idx1-ubyte\.gz' must have SHA-256 abdbe6"
        ):
            load("mnist5k")
    finally:
        ds._mnist5k_raw.cache_clear()


def test_mnist5k_rejects_path():
    with pytest.raises(ValueError, match="path= must be None for 'mnist5k'"):
        load("mnist5k", path="/tmp")


# -- fashion-mnist -----------------------------------------------------------------


@pytest.mark.skipif(
    not ds.DEFAULT_FASHION_MNIST_DIR.is_dir(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_full():
    (x, y), (xt, yt) = load("fashion-mnist")
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).tolist() == [6000] * 10
    assert np.bincount(yt).tolist() == [1000] * 10
    assert len(CLASS_NAMES["fashion-mnist"]) == 10


def test_fashion_mnist_absent_says_how_to_get_it(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="apt-get install dataset-fashion-mnist"
    ):
        load("fashion-mnist", path=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="missing train-images-idx3-ubyte"):
        load("fashion-mnist", path=tmp_path)


def test_fashion_mnist_from_a_given_directory(tmp_path):
    raw = write_idx_dir(tmp_path, gz=False)
    (x, y), (xt, yt) = load("fashion-mnist", path=tmp_path, flatten=True)
    assert x.shape == (30, 784) and xt.shape == (10, 784)
    np.testing.assert_array_equal(y, raw[1])
    np.testing.assert_allclose(x, raw[0].reshape(30, 784) / 255, rtol=1e-6)


def test_fashion_mnist_has_no_download():
    with pytest.raises(ValueError, match="download=True is only available for 'mnist'"):
        load("fashion-mnist", download=True)


# -- a directory or an .npz given as the name ------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_directory_of_idx_files(tmp_path, gz):
    raw = write_idx_dir(tmp_path, gz=gz)
    for name in (str(tmp_path), tmp_path):
        (x, y), (xt, yt) = load(name)
        assert x.shape == (30, 1, 28, 28) and xt.shape == (10, 1, 28, 28)
        np.testing.assert_array_equal(x[:, 0] * 255, raw[0].astype(np.float32))
        np.testing.assert_array_equal(yt, raw[3])
        assert y.dtype == np.int64


def test_dotted_file_names_are_accepted(tmp_path):
    raw = write_idx_dir(tmp_path)
    for stem in STEMS:
        dotted = stem.replace("-idx", ".idx")
        (tmp_path / f"{stem}.gz").rename(tmp_path / f"{dotted}.gz")
    (_, y), _ = load(str(tmp_path))
    np.testing.assert_array_equal(y, raw[1])


def test_directory_with_mismatched_lengths(tmp_path):
    write_idx_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(
        ValueError,
        match="must hold images .N, H, W. and labels .N,.; got shapes .30, 28, 28. and .29,.",
    ):
        load(str(tmp_path))


def test_damaged_file_in_directory_names_it(tmp_path):
    write_idx_dir(tmp_path)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:50])
    with pytest.raises(ValueError, match=re.escape(f"'{bad}' is truncated")):
        load(str(tmp_path))


def test_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
        "y_train": np.arange(8, dtype=np.int32),
        "x_test": rng.random((3, 5)).astype(np.float64),
        "y_test": np.array([0.5, 1.5, 2.5]),
    }
    np.savez(tmp_path / "d.npz", **arrays)
    (x, y), (xt, yt) = load(str(tmp_path / "d.npz"))
    assert x.shape == (8, 1, 28, 28) and x.dtype == np.float32 and x.max() <= 1.0
    assert y.dtype == np.int64
    # Float images are kept as they are (already scaled); float targets stay float.
    assert xt.shape == (3, 5) and xt.dtype == np.float32
    assert yt.dtype == np.float32


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.update(x_test=a["x_test"][:0], y_test=a["y_test"][:0]),
         r"x_test is empty \(shape \(0, 5\)\)"),
        (lambda a: a["x_test"].__setitem__((2, 1), np.nan),
         r"x_test holds NaN or inf \(first at row 2\)"),
        (lambda a: a.update(y_train=np.where(np.arange(8) == 5, np.inf, 1.0)),
         r"y_train holds NaN or inf \(first at row 5\)"),
    ],
    ids=["empty", "nan pixel", "inf label"],
)  # fmt: skip
def test_npz_with_no_rows_or_non_finite_values_is_refused(tmp_path, change, match):
    # Found here, naming the file and the array, not as a NaN loss in training.
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.random((8, 5)),
        "y_train": np.arange(8),
        "x_test": rng.random((3, 5)),
        "y_test": np.arange(3),
    }
    change(arrays)
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=r"d\.npz': " + match):
        load(str(tmp_path / "d.npz"))


def test_npz_refuses_pickles(tmp_path):
    objs = np.empty(2, dtype=object)
    objs[:] = [1, 2]
    np.savez(tmp_path / "p.npz", x_train=objs, y_train=objs, x_test=objs, y_test=objs)
    with pytest.raises(
        ValueError, match=r"p\.npz' must be a .npz file of plain arrays"
    ):
        load(str(tmp_path / "p.npz"))


def test_npz_missing_keys(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=np.zeros((2, 3)), y_train=np.zeros(2))
    with pytest.raises(
        ValueError, match="must contain arrays .*missing x_test, y_test"
    ):
        load(str(tmp_path / "m.npz"))


def test_not_an_npz(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz' must be a .npz file"):
        load(str(tmp_path / "junk.npz"))


# -- names -----------------------------------------------------------------------------


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError,
        match="name must be one of mnist5k, mnist, fashion-mnist.*got 'mnst'",
    ):
        load("mnst")
    assert DATASETS == ("mnist5k", "mnist", "fashion-mnist")
    assert set(CLASS_NAMES) == set(DATASETS)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="data path '.*nope' does not exist"):
        load(str(tmp_path / "nope"))


def test_npy_is_not_npz(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    with pytest.raises(ValueError, match=r"a\.npz' must be a .npz file with arrays"):
        load(str(tmp_path / "a.npz"))
