"""Write a file so that readers see either nothing or the whole of it.

A crash, a full disk or a checksum mismatch half-way through must never leave a
truncated file under the final name, because the next run would trust it. So we
write to a temporary file in the *same* directory (``os.replace`` is atomic only
within one file system), flush and fsync it, and only then rename it over the
target. On any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary binary file next to ``path``; rename it to ``path`` on success.

    A symbolic link's target is replaced (the link stays); a path that is not a
    regular file (``/dev/null``, a FIFO) is written into directly.

    Raise inside the ``with`` block (for example on a checksum mismatch) to
    discard what was written: ``path`` is then left exactly as it was.
    """
    # A symbolic link keeps pointing where it did: its target is what gets
    # replaced, not the link.
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        # A device, a FIFO or a socket (/dev/null, a pipe a reader waits on)
        # is written into, never renamed over: replacing it would turn it into
        # a plain file. Atomicity means nothing for those.
        with open(path, "wb") as f:
            yield f
        return
    if not path.parent.is_dir():
        # mkstemp would name its temporary file, which nobody asked for.
        raise FileNotFoundError(
            errno.ENOENT, f"no folder {str(path.parent)!r} to write it in", str(path)
        )
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".part"
    )
    try:
        # mkstemp makes the file private (0600); give it the permissions a
        # plain open() would, so a saved model is as readable as any file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename itself lives in the directory entry; fsync the directory so it
    # survives a power cut. Not possible on every platform (Windows), hence
    # best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
