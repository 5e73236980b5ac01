"""Fetch full MNIST, only when asked, with every file checked before it is kept.

The four gzip files are taken from the mirrors PyTorch and TensorFlow use
(Yann LeCun's own site now refuses most automated downloads). Each file is
streamed to a temporary file next to its target while its SHA-256 is computed;
it is renamed into place only when the size and the digest match the values
below, so a failed or tampered download leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from .._atomic import atomic_write

#: Mirrors tried in order; each holds the four files under their standard names.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: name -> (size in bytes, SHA-256) of the original MNIST gzip files. These are
#: the digests published with the files by TensorFlow Datasets, Keras and
#: several independent loaders, and agree with torchvision's MD5s.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (
        9_912_422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train-labels-idx1-ubyte.gz": (
        28_881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "t10k-images-idx3-ubyte.gz": (
        1_648_877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        4_542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_mnist(
    directory: str | os.PathLike,
    mirrors: tuple[str, ...] | list[str] = MNIST_MIRRORS,
    timeout: float = 60.0,
) -> Path:
    """Download the four MNIST IDX files into ``directory`` and verify them.

    Files already there with the right SHA-256 are kept (nothing is fetched);
    a file with the wrong digest is fetched again. Each download goes to a
    temporary file that is fsync'ed and renamed only after its size and SHA-256
    match :data:`MNIST_FILES`.

    Parameters
    ----------
    directory : str or path-like
        Where the files go; created (with parents) if missing.
    mirrors : sequence of str
        Base URLs tried in order for each file (default :data:`MNIST_MIRRORS`).
    timeout : float
        Seconds to wait for each connection.

    Returns
    -------
    directory : pathlib.Path
        The directory, ready for ``cr.data.load("mnist", path=directory)``.

    Raises
    ------
    ValueError
        If every mirror served a file with the wrong size or checksum.
    ConnectionError
        If no mirror could be reached for a file.
    """
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(
            f"download_mnist: {str(directory)!r} is a file, not a folder to put "
            "the MNIST files in."
        )
    # Folders this call made are removed again if nothing lands in them.
    made = [p for p in (directory, *directory.parents) if not p.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    try:
        _fetch_all(directory, mirrors, timeout)
    except BaseException:
        for folder in made:  # innermost first; rmdir only removes empty ones
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return directory


def _fetch_all(directory: Path, mirrors, timeout: float) -> None:
    for name, (size, sha256) in MNIST_FILES.items():
        target = directory / name
        if target.is_file() and sha256_file(target) == sha256:
            continue
        corrupt, unreachable = [], []
        for base in mirrors:
            url = base.rstrip("/") + "/" + name
            try:
                _fetch(url, target, size, sha256, timeout)
                break
            except _ChecksumError as e:
                corrupt.append(f"{url}: {e}")
            except (urllib.error.URLError, OSError) as e:
                unreachable.append(f"{url}: {getattr(e, 'reason', e)}")
        else:
            if corrupt:
                # A wrong file is worse news than no network: say so first.
                raise ValueError(
                    f"download_mnist: {name} must have SHA-256 {sha256}; got "
                    f"{'; '.join(corrupt + unreachable)}. Nothing was written; "
                    "try again later or copy the files by hand."
                )
            raise ConnectionError(
                f"download_mnist: could not download {name} "
                f"({'; '.join(unreachable)}). Check the network, or copy the four "
                f"MNIST files into '{directory}' by hand."
            )


class _ChecksumError(Exception):
    pass


def _fetch(url: str, target: Path, size: int, sha256: str, timeout: float) -> None:
    digest = hashlib.sha256()
    n = 0
    # urllib.request.urlopen is looked up at call time so tests can serve files
    # offline by monkeypatching it.
    with urllib.request.urlopen(url, timeout=timeout) as response:
        with atomic_write(target) as f:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                n += len(chunk)
                f.write(chunk)
            # Raising inside atomic_write discards the temporary file.
            if n != size:
                raise _ChecksumError(f"expected {size} bytes; got {n}")
            if digest.hexdigest() != sha256:
                raise _ChecksumError(
                    f"checksum mismatch, expected SHA-256 {sha256}; got "
                    f"{digest.hexdigest()}"
                )
