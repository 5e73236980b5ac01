"""Reading ``.npz`` and ``.npy`` files from strangers: look before allocating.

``np.load`` trusts a file's sizes: it decompresses a member whole before
anything can compare it with what was expected, and allocates whatever shape
a ``.npy`` header declares. A 3 MB archive can thus inflate to gigabytes, and
a 1 KB header can ask for 37 GiB. This module reads in the opposite order:

1. the zip's end record (how many members, how large the directory) and its
   central directory, streamed from disk, nothing else;
2. each member's ``.npy`` header: the magic string and a dictionary of at
   most :data:`MAX_HEADER_BYTES`, decompressing only those bytes;
3. checks that the zip entry's declared uncompressed size is exactly the
   header's length plus ``prod(shape) * itemsize``, and that the declared
   total is under the caller's limit;
4. only then, array by array, the data: into an array allocated once with
   the checked shape, in chunks of :data:`CHUNK_BYTES`, refusing a stream
   that ends early or runs on (which is also when the zip's CRC-32 is
   checked).

Nothing is unpickled: a header whose dtype holds Python objects is refused
from the header alone.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: At most this many members in one archive (a chainrule model has two per
#: layer with weights; a checkpoint up to three times as many).
MAX_MEMBERS = 65_536
#: The zip's central directory may take at most this many bytes.
MAX_DIRECTORY_BYTES = 16 << 20
#: An ``.npy`` header (magic, length and the dictionary) at most this long.
MAX_HEADER_BYTES = 65_536
#: Arrays of at most this many dimensions.
MAX_NDIM = 32
#: Data is read and hashed this many bytes at a time.
CHUNK_BYTES = 1 << 20

_NPY_MAGIC = b"\x93NUMPY"
# What zipfile and zlib raise on a damaged archive; anything else is a bug.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
    UnicodeDecodeError,
    KeyError,
    OverflowError,
    IndexError,
)


@dataclass(frozen=True)
class Member:
    """One array of an archive, as its headers describe it (no data read)."""

    name: str  # the array's key: the zip name without ".npy"
    info: zipfile.ZipInfo
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    header_bytes: int

    @property
    def nbytes(self) -> int:
        """The data bytes the header implies (Python ints: no overflow)."""
        return _count(self.shape) * self.dtype.itemsize


def _count(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def human_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps a number >= 1."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class _Counting:
    """A file wrapper that counts the bytes read through it (the header's
    length, which numpy's header readers do not return)."""

    def __init__(self, f) -> None:
        self.f = f
        self.n = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:  # never read a stream whole
            raise ValueError("unbounded read")
        b = self.f.read(n)
        self.n += len(b)
        return b


def read_npy_header(f, limit: int = MAX_HEADER_BYTES):
    """(dtype, shape, fortran_order, header_bytes) of the ``.npy`` stream ``f``.

    Reads at most ``limit`` bytes. Raises ValueError for anything that is not
    a plain ``.npy`` header; a dtype holding Python objects (which only pickle
    could read) raises :class:`PickledArray`.
    """
    counting = _Counting(f)
    magic = counting.read(len(_NPY_MAGIC) + 2)
    if len(magic) < len(_NPY_MAGIC) + 2 or not magic.startswith(_NPY_MAGIC):
        raise ValueError("not an .npy array (bad magic string)")
    version = (magic[-2], magic[-1])
    readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    if version not in readers:
        raise ValueError(f"unsupported .npy format version {version}")
    # numpy reads the length field, then the dictionary; both bounded here.
    try:
        shape, fortran, dtype = readers[version](counting, max_header_size=limit)
    except ValueError:
        raise
    except Exception as exc:  # malformed dictionaries raise many types
        raise ValueError(f"malformed .npy header ({type(exc).__name__})") from None
    if dtype.hasobject:
        raise PickledArray("holds Python objects (a pickle)")
    if len(shape) > MAX_NDIM:
        raise ValueError(f"has {len(shape)} dimensions; at most {MAX_NDIM} are read")
    if any(s < 0 for s in shape):
        raise ValueError(f"declares the negative shape {shape}")
    if not allocatable(shape, dtype):
        raise ValueError(f"declares the shape {shape}, which no array can have")
    return dtype, tuple(int(s) for s in shape), bool(fortran), counting.n


def allocatable(shape, dtype) -> bool:
    """Whether NumPy can allocate an array of ``shape`` and ``dtype`` at all.

    An empty array (a 0 in its shape) holds no data whatever its other
    dimensions, so a file's size checks pass it; but NumPy multiplies the
    dimensions before it meets the 0 and refuses a shape such as (2**31,
    2**31, 0) with an error of its own. Counted with its empty axes as 1, the
    shape must be one NumPy can index. (Shared by every reader of declared
    shapes: .npy headers here, IDX headers in ``data/idx.py``.)
    """
    nominal = _count(max(int(s), 1) for s in shape) * np.dtype(dtype).itemsize
    return nominal <= np.iinfo(np.intp).max


class PickledArray(ValueError):
    """An ``.npy`` header whose dtype needs pickle."""


def sha256_c_order(a: np.ndarray) -> str:
    """SHA-256 of ``a``'s bytes in C order, as ``np.ascontiguousarray(a)``
    would lay them out, without copying more than a chunk at a time."""
    h = hashlib.sha256()
    if a.size == 0:  # no bytes (and memoryview will not cast a shape with a 0)
        return h.hexdigest()
    if a.ndim == 0 or a.flags.c_contiguous:
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
        return h.hexdigest()
    row = max(1, _count(a.shape[1:]) * a.itemsize)
    step = max(1, CHUNK_BYTES // row)
    for i in range(0, a.shape[0], step):
        h.update(memoryview(np.ascontiguousarray(a[i : i + step])).cast("B"))
    return h.hexdigest()


class NpzReader:
    """An ``.npz`` archive opened for checked reading.

    Opening reads the zip directory and every member's ``.npy`` header, and
    checks that each zip entry declares exactly the bytes its header implies.
    No array data is read until :meth:`read`.

    Parameters
    ----------
    path : str or Path
    who : str
        Who is reading, first in every message (``"load"``).
    error : type
        The exception to raise (a ValueError subclass).
    what : str
        What the file is, for messages ("model file", "data file").

    Raises
    ------
    error
        The file is empty, not an archive, damaged, has members that are not
        ``.npy`` arrays or hold pickles, or sizes that do not agree.
    """

    def __init__(self, path, who: str, error=ValueError, what: str = "file") -> None:
        self.path = Path(path)
        self.who = who
        self.error = error
        self.what = what
        self._file = None
        self._zip = None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- messages ---------------------------------------------------------
    @property
    def label(self) -> str:
        return repr(str(self.path))

    def fail(self, text: str):
        """Raise ``error`` with ``<who>: <text>`` (``{file}`` names the file)."""
        # replace, not format: names from the file may hold braces.
        raise self.error(f"{self.who}: {text.replace('{file}', self.label)}")

    def _damaged(self, exc: BaseException):
        detail = str(exc) or type(exc).__name__
        raise self.error(
            f"{self.who}: {self.label} is damaged or truncated ({detail})."
        ) from None

    # -- opening ----------------------------------------------------------
    def _open(self) -> None:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            size = os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            self.fail(f"cannot read {{file}}: {exc.strerror}.")
        if size == 0:
            self.fail(f"{self.what} {{file}} is empty.")
        # zipfile's own reader of the end record (private, but stable since
        # Python 2): the counts are checked before the directory is parsed.
        end_record = getattr(zipfile, "_EndRecData", None)
        try:
            end = end_record(self._file) if end_record else [0] * 10
        except _ZIP_ERRORS:
            end = None
        if not end:
            self.fail(
                f"{{file}} is not a chainrule {self.what} (not an .npz archive, or "
                "truncated)."
            )
        if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_MEMBERS:
            self.fail(
                f"{{file}} declares {end[zipfile._ECD_ENTRIES_TOTAL]:,} members; "
                f"at most {MAX_MEMBERS:,} are read."
            )
        if end[zipfile._ECD_SIZE] > MAX_DIRECTORY_BYTES:
            self.fail(
                f"{{file}} has a zip directory of {end[zipfile._ECD_SIZE]:,} bytes; "
                f"at most {MAX_DIRECTORY_BYTES:,} are read."
            )
        try:
            self._file.seek(0)
            self._zip = zipfile.ZipFile(self._file)
            infos = self._zip.infolist()
        except _ZIP_ERRORS as exc:
            if isinstance(exc, zipfile.BadZipFile) and "not a zip" in str(exc):
                self.fail(
                    f"{{file}} is not a chainrule {self.what} (not an .npz archive, "
                    "or truncated)."
                )
            self._damaged(exc)
        if len(infos) > MAX_MEMBERS:
            self.fail(f"{{file}} has over {MAX_MEMBERS:,} members.")
        self.members: dict[str, Member] = {}
        for info in infos:
            self._add(info, size)

    def _add(self, info: zipfile.ZipInfo, size: int) -> None:
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            self.fail(f"{{file}} holds {name!r}, which is not an .npy array.")
        key = name[: -len(".npy")]
        if key in self.members:
            self.fail(f"{{file}} holds the member {name!r} twice.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            self.fail(
                f"member {name!r} of {{file}} uses compression method "
                f"{info.compress_type}; only stored and deflated members are read."
            )
        if info.flag_bits & 0x1:
            self.fail(f"member {name!r} of {{file}} is encrypted.")
        if info.compress_size > size or info.header_offset > size:
            self.fail(
                f"member {name!r} of {{file}} claims {info.compress_size:,} bytes at "
                f"offset {info.header_offset:,}; the file has {size:,}."
            )
        try:
            with self._zip.open(info) as f:
                dtype, shape, fortran, header = read_npy_header(f)
        except PickledArray:
            self.fail(
                "{file} contains a pickled object; chainrule never unpickles, so "
                f"the file is refused (member {name!r})."
            )
        except _ZIP_ERRORS as exc:
            if isinstance(exc, self.error):
                raise
            if isinstance(exc, ValueError) and not isinstance(exc, UnicodeDecodeError):
                self.fail(f"member {name!r} of {{file}} is not a plain array: {exc}.")
            self._damaged(exc)
        member = Member(key, info, dtype, shape, fortran, header)
        if info.file_size != header + member.nbytes:
            self.fail(
                f"member {name!r} of {{file}} declares {info.file_size:,} bytes "
                f"uncompressed; its .npy header (shape {shape}, {dtype}) implies "
                f"{header + member.nbytes:,}. The file is damaged or forged."
            )
        self.members[key] = member

    # -- reading ----------------------------------------------------------
    def total_bytes(self, keys=None) -> int:
        """The data bytes of ``keys`` (default: every member), from headers."""
        keys = self.members if keys is None else keys
        return sum(self.members[k].nbytes for k in keys)

    def check_limit(self, max_bytes: int, hint: str, keys=None) -> None:
        """Refuse the file if ``keys``' arrays need more than ``max_bytes``."""
        need = self.total_bytes(keys)
        if need > max_bytes:
            self.fail(
                f"the arrays of {{file}} need {human_bytes(need)} ({need:,} bytes), "
                f"over the limit of {human_bytes(max_bytes)}; {hint}"
            )

    def read(self, key: str, out: np.ndarray | None = None) -> np.ndarray:
        """The array ``key``, read into ``out`` when given (it must have the
        member's shape, dtype and memory order), else into a new array."""
        m = self.members[key]
        order = "F" if m.fortran_order and len(m.shape) > 1 else "C"
        if out is None:
            out = np.empty(m.shape, m.dtype, order=order)
        flat = out.T if order == "F" else out  # the file's byte order, C-contiguous
        if not flat.flags.c_contiguous or out.shape != m.shape or out.dtype != m.dtype:
            raise ValueError("read: out does not match the member")  # a bug
        view = memoryview(flat.reshape(-1).view(np.uint8)) if out.size else None
        try:
            with self._zip.open(m.info) as f:
                f.read(m.header_bytes)  # checked when the archive was opened
                done = 0
                while done < m.nbytes:
                    got = f.readinto(view[done : done + CHUNK_BYTES])
                    if not got:
                        self.fail(
                            f"array {key!r} in {{file}} ends after {done:,} of its "
                            f"{m.nbytes:,} bytes; the file is damaged or truncated."
                        )
                    done += got
                if f.read(1):  # also where zipfile checks the CRC-32
                    self.fail(
                        f"array {key!r} in {{file}} is longer than its header says; "
                        "the file is damaged."
                    )
        except _ZIP_ERRORS as exc:
            if isinstance(exc, self.error):
                raise
            self._damaged(exc)
        return out

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_npy(path, max_bytes: int, limit_name: str, error=ValueError) -> np.ndarray:
    """One ``.npy`` file, its header checked against the file's size and
    ``max_bytes`` before the array is allocated.

    Raises
    ------
    error
        Not an ``.npy`` file, a pickle, a size that disagrees with the header
        or over ``max_bytes`` (the message names the limit: ``limit_name``).
    """
    label = repr(str(path))
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            dtype, shape, fortran, header = read_npy_header(f)
        except PickledArray:
            raise error(
                f"{label} holds Python objects (a pickle); chainrule never "
                "unpickles, so it is refused."
            ) from None
        except ValueError as exc:
            raise error(f"cannot read {label}: {exc}.") from None
        need = _count(shape) * dtype.itemsize
        if need > max_bytes:
            raise error(
                f"{label} holds an array of shape {shape} ({human_bytes(need)}), "
                f"over the limit of {human_bytes(max_bytes)} ({limit_name})."
            )
        if size - header != need:
            raise error(
                f"{label} has {size - header:,} data bytes; its header "
                f"(shape {shape}, {dtype}) needs {need:,}. The file is damaged."
            )
        order = "F" if fortran and len(shape) > 1 else "C"
        out = np.empty(shape, dtype, order=order)
        flat = out.T if order == "F" else out
        if need and f.readinto(memoryview(flat.reshape(-1).view(np.uint8))) != need:
            raise error(f"{label} changed while it was read.")
    return out
