"""``load(name)``: the embedded digits, full MNIST, Fashion-MNIST, or your files.

Every data set comes back the same way, ready for a network::

    (x_train, y_train), (x_test, y_test) = cr.data.load("mnist5k")

- images float32 in [0, 1], shape (N, 1, 28, 28) (NCHW, for Conv2D), or
  (N, 784) with ``flatten=True`` (for Linear);
- labels int64 class indices, shape (N,).

Nothing is cached between calls except the decoded embedded digits, so loading
never hands out arrays that another caller has modified.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from .._checks import all_finite
from .._safe_npz import NpzReader
from . import idx as _idx
from .download import download_mnist
from .idx import parse_idx, read_idx

#: The names ``load`` knows; anything else must be a path.
DATASETS = ("mnist5k", "mnist", "fashion-mnist")

_DIGITS = [str(d) for d in range(10)]

#: Human-readable class names, indexed by label.
CLASS_NAMES: dict[str, list[str]] = {
    "mnist5k": _DIGITS,
    "mnist": list(_DIGITS),
    "fashion-mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}

#: Seed of the fixed mnist5k shuffle: the 4,000/1,000 split is the same on
#: every machine and in every run, whatever cr.seed() says.
MNIST5K_SEED = 0
MNIST5K_TEST_PER_CLASS = 100

MNIST5K_DIR = Path(__file__).resolve().parent / "mnist5k"
#: SHA-256 of the embedded files (also in mnist5k/README.md).
MNIST5K_SHA256 = {
    "images-idx3-ubyte.gz": (
        "35c4442b3738be6b58df4ff21f19341f0368e1c3d24840252fb3ff06ba646387"
    ),
    "labels-idx1-ubyte.gz": (
        "abdbe68beb8b8e1983d8086fdcb07e198f851fb0c1af91276c18f154ef0b67d8"
    ),
}

DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_MNIST_DIR = Path("~/.cache/chainrule/mnist")

#: The four standard IDX file stems, in the order load returns them.
IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

Split = tuple[np.ndarray, np.ndarray]


def load(
    name: str | os.PathLike,
    flatten: bool = False,
    path: str | os.PathLike | None = None,
    download: bool = False,
) -> tuple[Split, Split]:
    """Load a data set as ``((x_train, y_train), (x_test, y_test))``.

    Parameters
    ----------
    name : str or path-like
        One of :data:`DATASETS`:

        - ``"mnist5k"``: 5,000 real MNIST digits shipped inside chainrule,
          split 4,000 train / 1,000 test, 400 / 100 of each digit, shuffled with
          the fixed seed :data:`MNIST5K_SEED` (the same split everywhere).
        - ``"fashion-mnist"``: 60,000 / 10,000 from ``path`` or
          /usr/share/datasets/fashion-mnist (``apt-get install
          dataset-fashion-mnist``).
        - ``"mnist"``: 60,000 / 10,000 from ``path`` or ~/.cache/chainrule/mnist;
          with ``download=True`` missing files are fetched and checksummed.

        Or a path (names win, so write ``./mnist`` for a folder called
        mnist): a directory holding the four standard IDX files
        (``train-images-idx3-ubyte[.gz]`` ...), or a ``.npz`` file with arrays
        ``x_train``, ``y_train``, ``x_test``, ``y_test``.
    flatten : bool
        Return images as (N, H*W) instead of (N, 1, H, W).
    path : str or path-like, optional
        Directory to read "mnist" or "fashion-mnist" from.
    download : bool
        For "mnist" only: download missing files into the directory.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        x float32 in [0, 1] of shape (N, 1, 28, 28) or (N, 784); y int64 (N,).
        From a .npz, uint8 images are scaled by 1/255, float images are kept as
        they are, and float targets stay float32 (regression).

    Raises
    ------
    ValueError
        Unknown name, damaged files, or arrays that do not fit together.
    FileNotFoundError
        The files are not there; the message says how to get them.

    Examples
    --------
    >>> import chainrule as cr
    >>> (x, y), (xt, yt) = cr.data.load("mnist5k", flatten=True)
    >>> x.shape, x.dtype, y.shape, y.dtype, xt.shape
    ((4000, 784), dtype('float32'), (4000,), dtype('int64'), (1000, 784))
    """
    if not isinstance(flatten, (bool, np.bool_)):
        raise TypeError(f"load: flatten must be a bool; got {type(flatten).__name__}.")
    key = os.fspath(name) if isinstance(name, os.PathLike) else name
    if not isinstance(key, str):
        raise TypeError(
            f"load: name must be a data set name or a path; got {type(name).__name__}."
        )
    if key in DATASETS and isinstance(name, str):
        if key == "mnist5k":
            if path is not None:
                raise ValueError(
                    "load: path= must be None for 'mnist5k' (it is embedded in "
                    f"chainrule); got {path!r}. Use load({str(path)!r}) to read a "
                    "directory of IDX files."
                )
            arrays = _mnist5k_split()
        elif key == "fashion-mnist":
            if download:
                raise ValueError(
                    "load: download=True is only available for 'mnist'. Get "
                    "Fashion-MNIST with `apt-get install dataset-fashion-mnist`, or "
                    "pass path= a directory holding its four IDX files."
                )
            directory = Path(path or DEFAULT_FASHION_MNIST_DIR).expanduser()
            arrays = _load_idx_dir(
                directory,
                "fashion-mnist",
                "Install it with `apt-get install dataset-fashion-mnist` (puts the "
                f"files in {DEFAULT_FASHION_MNIST_DIR}), or pass path= a directory "
                "holding the four Fashion-MNIST IDX files",
            )
        else:
            directory = Path(path or DEFAULT_MNIST_DIR).expanduser()
            if download and _missing(directory):
                download_mnist(directory)
            arrays = _load_idx_dir(
                directory,
                "mnist",
                "Pass download=True to fetch them (about 11 MB, checksummed), or "
                "path= a directory holding the four MNIST IDX files",
            )
    else:
        if path is not None:
            raise ValueError(
                f"load: path= only applies to 'mnist' and 'fashion-mnist'; got "
                f"name={key!r} with path={path!r}. Pass the path as the name."
            )
        arrays = _load_path(key)
    return _finish(arrays, flatten)


# -- embedded digits -----------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    # Decoding and checksumming 0.8 MB once per process is cheap; caching it
    # keeps repeated loads (tests, notebooks) instant. Callers get copies.
    arrays = []
    for fname, expected in MNIST5K_SHA256.items():
        file = MNIST5K_DIR / fname
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"load: embedded file '{file}' is missing; the chainrule install is "
                "incomplete. Reinstall chainrule."
            ) from None
        got = hashlib.sha256(data).hexdigest()
        if got != expected:
            raise ValueError(
                f"load: embedded file '{file}' must have SHA-256 {expected}; got "
                f"{got}. The file is damaged; reinstall chainrule."
            )
        arrays.append(parse_idx(data, str(file)))
    images, labels = arrays
    for a in arrays:
        a.flags.writeable = False
    return images, labels


def _mnist5k_split() -> tuple[np.ndarray, ...]:
    images, labels = _mnist5k_raw()
    # The file is sorted by label, so a plain cut would put whole digits in one
    # part: take 100 of each digit for test, then shuffle each part.
    rng = np.random.default_rng(MNIST5K_SEED)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:MNIST5K_TEST_PER_CLASS])
        train.append(idx[MNIST5K_TEST_PER_CLASS:])
    train = rng.permutation(np.concatenate(train))
    test = rng.permutation(np.concatenate(test))
    # Fancy indexing copies, so callers may modify what they get.
    return images[train], labels[train], images[test], labels[test]


# -- directories of IDX files and .npz files --------------------------------------


def _find(directory: Path, stem: str) -> Path | None:
    # Accept the standard names with or without .gz, and the dotted variant some
    # mirrors use (train-images.idx3-ubyte).
    dotted = stem.replace("-idx", ".idx")
    for fname in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        candidate = directory / fname
        if candidate.is_file():
            return candidate
    return None


def _missing(directory: Path) -> list[str]:
    return [stem for stem in IDX_STEMS if _find(directory, stem) is None]


def _load_idx_dir(directory: Path, what: str, how: str) -> tuple[np.ndarray, ...]:
    if not directory.is_dir():
        raise FileNotFoundError(
            f"load: {what} directory '{directory}' does not exist. {how}."
        )
    files = [_find(directory, stem) for stem in IDX_STEMS]
    missing = [stem for stem, f in zip(IDX_STEMS, files) if f is None]
    if missing:
        raise FileNotFoundError(
            f"load: {what} directory '{directory}' must hold the four IDX files; "
            f"missing {', '.join(s + '[.gz]' for s in missing)}. {how}."
        )
    arrays = [read_idx(f) for f in files]
    for xi, yi in ((0, 1), (2, 3)):
        x, y = arrays[xi], arrays[yi]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"load: '{files[xi]}' and '{files[yi]}' must hold images (N, H, W) "
                f"and labels (N,); got shapes {x.shape} and {y.shape}."
            )
    return tuple(arrays)


def _load_path(key: str) -> tuple[np.ndarray, ...]:
    p = Path(key).expanduser()
    if p.is_dir():
        return _load_idx_dir(
            p,
            "data",
            "Put train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] there",
        )
    if p.is_file():
        return _load_npz(p)
    looks_like_path = os.sep in key or "/" in key or key.startswith((".", "~"))
    if looks_like_path or key.endswith(".npz"):
        raise FileNotFoundError(
            f"load: data path '{key}' does not exist; expected a directory with the "
            "four IDX files or a .npz file."
        )
    raise ValueError(
        f"load: name must be one of {', '.join(DATASETS)} or a path to a directory "
        f"of IDX files or a .npz file; got {key!r}."
    )


_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(p: Path) -> tuple[np.ndarray, ...]:
    # Read with the checks model files get (chainrule._safe_npz): no pickle,
    # every header against its zip entry, the sizes against the limit, before
    # anything is decompressed or allocated.
    with open(p, "rb") as f:
        is_npy = f.read(6) == b"\x93NUMPY"
    if is_npy:  # a bare .npy array
        raise ValueError(
            f"load: '{p}' must be a .npz file with arrays {', '.join(_NPZ_KEYS)}; "
            "got a single ndarray. Save with np.savez(path, x_train=..., "
            "y_train=..., x_test=..., y_test=...)."
        )
    try:
        npz = NpzReader(p, "load", ValueError, ".npz file")
    except ValueError as e:
        detail = str(e).removeprefix("load: ")
        if "pickled" in detail:
            raise ValueError(
                f"load: '{p}' must be a .npz file of plain arrays; reading it "
                f"failed ({detail})"
            ) from None
        what = (
            "is not an .npz archive."
            if "not an .npz archive" in detail
            else f"cannot be read ({detail})"
        )
        raise ValueError(
            f"load: '{p}' must be a .npz file or a directory of IDX files; got a "
            f"file that {what}"
        ) from None
    with npz:
        names = list(npz.members)
        missing = [k for k in _NPZ_KEYS if k not in names]
        if missing:
            raise ValueError(
                f"load: '{p}' must contain arrays {', '.join(_NPZ_KEYS)}; missing "
                f"{', '.join(missing)} (it has {', '.join(names) or 'none'})."
            )
        npz.check_limit(
            _idx.MAX_FILE_BYTES,
            "chainrule.data.idx.MAX_FILE_BYTES is the limit for data files.",
            keys=_NPZ_KEYS,
        )
        arrays = tuple(npz.read(k) for k in _NPZ_KEYS)
    for xi, yi in ((0, 1), (2, 3)):
        x, y = arrays[xi], arrays[yi]
        if x.ndim < 2 or y.ndim < 1 or len(x) != len(y):
            raise ValueError(
                f"load: '{p}': {_NPZ_KEYS[xi]} and {_NPZ_KEYS[yi]} must have the same "
                f"number of rows; got shapes {x.shape} and {y.shape}."
            )
    for name, a in zip(_NPZ_KEYS, arrays):
        if not a.size:
            raise ValueError(f"load: '{p}': {name} is empty (shape {a.shape}).")
        if a.dtype.kind == "f" and not all_finite(a):
            # A NaN pixel or label would reach training (or the test scores
            # after training) as a NaN loss, far from the file that held it.
            rows = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
            raise ValueError(
                f"load: '{p}': {name} holds NaN or inf (first at row "
                f"{int(np.flatnonzero(rows)[0])})."
            )
    return arrays


# -- common conversion -------------------------------------------------------------


def _finish(arrays, flatten: bool) -> tuple[Split, Split]:
    x_train, y_train, x_test, y_test = arrays
    return (
        (_images(x_train, flatten), _labels(y_train)),
        (_images(x_test, flatten), _labels(y_test)),
    )


def _images(x: np.ndarray, flatten: bool) -> np.ndarray:
    if x.dtype == np.uint8:
        # Divide (not multiply by 1/255) so 255 maps to exactly 1.0.
        x = np.divide(x, np.float32(255), dtype=np.float32)
    elif x.dtype.kind in "iub":
        raise ValueError(
            f"load: images must be uint8 (0-255) or floating point; got {x.dtype}. "
            "Scale them to [0, 1] floats first."
        )
    else:
        x = x.astype(np.float32, copy=False)
    if flatten:
        return x.reshape(len(x), -1)
    if x.ndim == 3:  # (N, H, W) grey images -> (N, 1, H, W)
        return x[:, None]
    return x


def _labels(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    return y.astype(np.float32)
