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
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from .._safe_npz import allocatable

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

#: The most data bytes ``read_idx`` accepts from one file (2 GiB), unless the
#: caller passes ``max_bytes=``: the header is checked before allocating.
MAX_FILE_BYTES = 2 << 30
_CHUNK = 1 << 20
#: Bytes after the data are counted (for the message) up to about this many.
_COUNT_LIMIT = 64 << 20


def read_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        The file. Compression is detected from its first two bytes, so
        ``train-images-idx3-ubyte`` and ``train-images-idx3-ubyte.gz`` both work
        whatever they actually contain.
    max_bytes : int, optional
        The most data bytes to accept; default :data:`MAX_FILE_BYTES` (2 GiB).
        The file is streamed: the header is checked against the limit (and,
        uncompressed, against the file's size) before the array is allocated.

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
        or fewer values than its header says, declares more than ``max_bytes``
        or has a broken gzip stream. The message names the file.

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
    p = Path(path)
    if p.is_dir():
        raise ValueError(
            f"read_idx: '{p}' must be an IDX file; got a directory. Pass the path "
            "of a file inside it (e.g. train-images-idx3-ubyte.gz)."
        )
    if not p.exists():
        raise FileNotFoundError(f"read_idx: file '{p}' does not exist. Check the path.")
    with open(p, "rb") as f:
        return _read_stream(f, str(p), os.fstat(f.fileno()).st_size, max_bytes)


def parse_idx(
    data: bytes, name: str = "<bytes>", max_bytes: int | None = None
) -> np.ndarray:
    """Decode the bytes of an IDX file (gzip or raw); ``name`` goes into errors."""
    return _read_stream(io.BytesIO(data), name, len(data), max_bytes)


def _read_stream(f, name: str, size: int, max_bytes: int | None) -> np.ndarray:
    """The array in the IDX file ``f`` (``size`` bytes on disk), streamed."""
    limit = MAX_FILE_BYTES if max_bytes is None else int(max_bytes)
    gz = f.read(2) == _GZIP_MAGIC
    f.seek(0)
    stream = gzip.GzipFile(fileobj=f, mode="rb") if gz else f
    try:
        array = _read_body(stream, name, None if gz else size, limit)
        extra = _count_rest(stream)
    except EOFError as e:
        raise ValueError(
            f"read_idx: gzip file '{name}' is truncated ({e}); download or copy "
            "it again."
        ) from None
    except (OSError, zlib.error) as e:
        if not gz:
            raise
        raise ValueError(
            f"read_idx: gzip file '{name}' is corrupt ({e}); download or copy it again."
        ) from None
    if extra:
        expected = array.nbytes
        raise ValueError(
            f"read_idx: '{name}' is longer than its header says: shape "
            f"{array.shape} of {array.dtype.name} needs {expected} data bytes; got "
            f"{expected + extra if extra <= _COUNT_LIMIT else f'over {expected + _COUNT_LIMIT}'}"
            ". Download or copy it again."
        )
    return array


def _read_exactly(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _read_body(stream, name: str, size: int | None, limit: int) -> np.ndarray:
    head = _read_exactly(stream, 4)
    if len(head) < 4:
        raise ValueError(
            f"read_idx: '{name}' must start with a 4-byte IDX header; got "
            f"{len(head)} bytes. The file is truncated or empty."
        )
    zero, code, ndim = head[0:2], head[2], head[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES:
        raise ValueError(
            f"read_idx: '{name}' is not an IDX file: magic must be 00 00 <dtype "
            f"code in 08 09 0b 0c 0d 0e> <ndim>; got {head.hex(' ')}. Is it an "
            "HTML error page or another format?"
        )
    header_len = 4 + 4 * ndim
    dims = _read_exactly(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"read_idx: '{name}' is truncated: the header announces {ndim} "
            f"dimensions ({header_len} header bytes); got {4 + len(dims)} bytes in "
            "all."
        )
    shape = tuple(int(s) for s in np.frombuffer(dims, ">u4"))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if size is not None and size - header_len != expected:
        got = size - header_len
        what = "truncated" if got < expected else "longer than its header says"
        raise ValueError(
            f"read_idx: '{name}' is {what}: shape {shape} of {dtype.name} needs "
            f"{expected} data bytes; got {got}. Download or copy it again."
        )
    if expected > limit:
        raise ValueError(
            f"read_idx: '{name}' declares shape {shape} of {dtype.name} "
            f"({expected:,} bytes), over the limit of {limit:,} bytes "
            "(max_bytes=, by default chainrule.data.idx.MAX_FILE_BYTES; raise it "
            "only for a file you trust)."
        )
    # An empty shape passes the checks above whatever its other dimensions.
    if not allocatable(shape, dtype):
        raise ValueError(
            f"read_idx: '{name}' declares shape {shape}, which no array can have. "
            "The file is damaged or not an IDX file."
        )
    # Allocated once, filled in place, then swapped to native order in place.
    array = np.empty(shape, dtype)
    view = memoryview(array.reshape(-1).view(np.uint8)) if array.size else None
    done = 0
    while done < expected:
        got = stream.readinto(view[done : done + _CHUNK])
        if not got:
            raise ValueError(
                f"read_idx: '{name}' is truncated: shape {shape} of {dtype.name} "
                f"needs {expected} data bytes; got {done}. Download or copy it again."
            )
        done += got
    if not dtype.isnative:
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array


def _count_rest(stream) -> int:
    """How many bytes follow the data (up to just over _COUNT_LIMIT)."""
    n = 0
    while n <= _COUNT_LIMIT:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        n += len(chunk)
    return n


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
