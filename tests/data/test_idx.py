import gzip
import re

import numpy as np
import pytest

from chainrule.data import read_idx, write_idx


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
)
@pytest.mark.parametrize("name", ["a-idx3-ubyte.gz", "a-idx3-ubyte"])
def test_round_trip_every_idx_dtype(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    write_idx(tmp_path / name, a)
    b = read_idx(tmp_path / name)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable


def test_gzip_is_detected_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    # A gzip file without .gz and a raw file with .gz both read correctly.
    write_idx(tmp_path / "gz-but-no-suffix", a, compress=True)
    write_idx(tmp_path / "raw-but-suffix.gz", a, compress=False)
    assert (tmp_path / "gz-but-no-suffix").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "raw-but-suffix.gz").read_bytes()[:4] == b"\x00\x00\x08\x02"
    np.testing.assert_array_equal(read_idx(tmp_path / "gz-but-no-suffix"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-but-suffix.gz"), a)


def test_header_is_big_endian_per_spec(tmp_path):
    # Written by hand, not by write_idx, so the reader is checked against the spec.
    raw = (
        bytes([0, 0, 0x0B, 2])
        + (2).to_bytes(4, "big")
        + (2).to_bytes(4, "big")
        + np.array([1, -2, 300, -400], ">i2").tobytes()
    )
    (tmp_path / "x").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), [[1, -2], [300, -400]])


def test_embedded_mnist5k_file_reads():
    from chainrule.data.datasets import MNIST5K_DIR

    x = read_idx(MNIST5K_DIR / "images-idx3-ubyte.gz")
    y = read_idx(MNIST5K_DIR / "labels-idx1-ubyte.gz")
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (5000,) and np.bincount(y).tolist() == [500] * 10


def _good(tmp_path):
    path = tmp_path / "good-idx2-ubyte"
    write_idx(path, np.arange(20, dtype=np.uint8).reshape(4, 5))
    return path


def test_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ValueError, match=r"'.*page\.html' is not an IDX file"):
        read_idx(path)


def test_unknown_dtype_code_is_wrong_magic(tmp_path):
    path = tmp_path / "odd"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + (0).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="odd' is not an IDX file.*00 00 07 01"):
        read_idx(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"'.*empty' must start with a 4-byte"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big"))
    with pytest.raises(
        ValueError, match=r"short' is truncated: the header announces 3"
    ):
        read_idx(path)


def test_truncated_data(tmp_path):
    path = _good(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(
        ValueError,
        match=re.escape(f"'{path}' is truncated: shape (4, 5) of uint8 needs 20")
        + ".*got 17",
    ):
        read_idx(path)


def test_extra_bytes(tmp_path):
    path = _good(tmp_path)
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(ValueError, match="longer than its header says.*got 22"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_an_empty_shape_no_array_can_have_names_the_file(tmp_path, gz):
    # No data bytes, as the shape's 0 says; but (2**32 - 1, 2**32 - 1, 0) is a
    # shape NumPy cannot allocate ("array is too big", naming no file).
    path = tmp_path / ("empty.gz" if gz else "empty")
    blob = bytes([0, 0, 0x0D, 3]) + b"".join(
        n.to_bytes(4, "big") for n in (2**32 - 1, 2**32 - 1, 0)
    )
    path.write_bytes(gzip.compress(blob) if gz else blob)
    with pytest.raises(
        ValueError,
        match=r"empty(\.gz)?' declares shape \(4294967295, 4294967295, 0\), "
        "which no array can have",
    ):
        read_idx(path)
    # A small empty shape is an empty array.
    path.write_bytes(bytes([0, 0, 8, 2]) + (0).to_bytes(4, "big") + (7).to_bytes(4, "big"))
    assert read_idx(path).shape == (0, 7)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"gzip file '.*cut\.gz' is truncated"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # break the CRC
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"gzip file '.*bad\.gz' is corrupt"):
        read_idx(path)


def test_directory(tmp_path):
    with pytest.raises(
        ValueError,
        match=f"'{re.escape(str(tmp_path))}' must be an IDX file; got a directory",
    ):
        read_idx(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"file '.*nope-idx1-ubyte' does not exist"
    ):
        read_idx(tmp_path / "nope-idx1-ubyte")


def test_write_refuses_types_idx_cannot_hold(tmp_path):
    with pytest.raises(
        TypeError, match="write_idx: array dtype must be one of.*got int64"
    ):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_missing_folder_names_the_folder(tmp_path):
    # Not the temporary file it would have written first.
    with pytest.raises(FileNotFoundError, match=r"no folder '.*nodir' to write it in") as exc:
        write_idx(tmp_path / "nodir" / "x-idx1-ubyte", np.zeros(3, np.uint8))
    assert ".part" not in str(exc.value)


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "x-idx1-ubyte"
    write_idx(path, np.arange(3, dtype=np.uint8))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("chainrule._atomic.os.fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(10, dtype=np.uint8))
    # The old file is untouched and no temporary file is left behind.
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_gzip_output_is_deterministic(tmp_path):
    a = np.arange(100, dtype=np.float32)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
