"""Read and write IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then
the values in C order, big-endian::

    byte 0-1   0x00 0x00
    byte 2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
    byte 3     number of dimensions, ndim
    4 * ndim   the sizes, uint32 big-endian
    ...        prod(sizes) values

The files are usually gzip-compressed. We detect that from the gzip magic bytes
(1f 8b), not from the name, because renamed and re-compressed copies are common.

Every damaged file (wrong magic, short header, too few or too many bytes for
the header's sizes, a broken gzip stream) raises a ``ValueError`` that names the
file and says what was wrong, instead of a reshape error deep in NumPy.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from .._atomic import atomic_write

#: IDX dtype code -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        The file. Compression is detected from its first two bytes, so
        ``train-images-idx3-ubyte`` and ``train-images-idx3-ubyte.gz`` both work
        whatever they actually contain.

    Returns
    -------
    array : np.ndarray, shape given by the header
        Native byte order, writable, dtype from the header (uint8 for MNIST).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a directory, is not an IDX file, is truncated, holds more
        or fewer values than its header says, or has a broken gzip stream. The
        message names the file.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from chainrule.data import read_idx, write_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "a-idx2-ubyte.gz")
    >>> write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(p)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    return parse_idx(_read_bytes(path), str(path))


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file (gzip or raw); ``name`` goes into errors."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except EOFError as e:
            raise ValueError(
                f"read_idx: gzip file '{name}' is truncated ({e}); download or copy "
                "it again."
            ) from None
        except (OSError, zlib.error) as e:
            raise ValueError(
                f"read_idx: gzip file '{name}' is corrupt ({e}); download or copy "
                "it again."
            ) from None
    if len(data) < 4:
        raise ValueError(
            f"read_idx: '{name}' must start with a 4-byte IDX header; got "
            f"{len(data)} bytes. The file is truncated or empty."
        )
    zero, code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES:
        raise ValueError(
            f"read_idx: '{name}' is not an IDX file: magic must be 00 00 <dtype "
            f"code in 08 09 0b 0c 0d 0e> <ndim>; got {data[:4].hex(' ')}. Is it an "
            "HTML error page or another format?"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"read_idx: '{name}' is truncated: the header announces {ndim} "
            f"dimensions ({header_len} header bytes); got {len(data)} bytes in all."
        )
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_len
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise ValueError(
            f"read_idx: '{name}' is {what}: shape {shape} of {dtype.name} needs "
            f"{expected} data bytes; got {got}. Download or copy it again."
        )
    array = np.frombuffer(data, dtype, offset=header_len).reshape(shape)
    # astype copies: the result is writable and in native byte order, so
    # arithmetic on it never pays for byte swapping.
    return array.astype(dtype.newbyteorder("="))


def write_idx(
    path: str | os.PathLike, array: np.ndarray, compress: bool | None = None
) -> None:
    """Write ``array`` as an IDX file, atomically.

    The bytes go to a temporary file in the same directory, which is flushed,
    fsync'ed and renamed over ``path``: a crash never leaves half a file.

    Parameters
    ----------
    path : str or path-like
        Target file. Its directory must exist.
    array : array_like, any shape
        dtype uint8, int8, int16, int32, float32 or float64 (the IDX types).
    compress : bool or None
        Gzip the file; None (default) compresses when ``path`` ends in ``.gz``.

    Raises
    ------
    TypeError
        If the dtype has no IDX code (int64, bool, ...).
    ValueError
        If ``array`` has more than 255 dimensions or a size over 2**32 - 1.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(
            f"write_idx: array dtype must be one of uint8, int8, int16, int32, "
            f"float32, float64; got {array.dtype}. Cast it first, e.g. "
            "array.astype(np.int32)."
        )
    if array.ndim > 255 or any(s > 0xFFFFFFFF for s in array.shape):
        raise ValueError(
            f"write_idx: array must have at most 255 dimensions of size < 2**32; "
            f"got shape {array.shape}."
        )
    code = _CODES[native]
    header = (
        bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    )
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if compress is None:
        compress = path.name.endswith(".gz")
    with atomic_write(path) as f:
        if compress:
            # mtime=0 keeps the output byte-identical from run to run.
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
                gz.write(header)
                gz.write(body)
        else:
            f.write(header)
            f.write(body)


def _read_bytes(path: str | os.PathLike) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise ValueError(
            f"read_idx: '{p}' must be an IDX file; got a directory. Pass the path "
            "of a file inside it (e.g. train-images-idx3-ubyte.gz)."
        )
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"read_idx: file '{p}' does not exist. Check the path."
        ) from None
