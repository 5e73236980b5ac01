"""Folders of images, one sub-folder per class (torchvision's ImageFolder).

::

    DIR/cat/001.png            or     DIR/train/cat/001.png
    DIR/cat/002.jpg                   DIR/train/dog/...
    DIR/dog/...                       DIR/test/cat/...

Class names are the sub-folder names in sorted order (label 0 is the first);
files ending in .png, .jpg, .jpeg or .bmp (any case) anywhere below a class
folder belong to it. Pillow (the ``plots`` extra) reads them.

Every image becomes float32 pixels / 255 in [0, 1], shape (C, H, W): resized
(Lanczos) to one size, and converted to one mode, grey (C = 1) or RGB (C = 3).
Without ``channels`` the folder decides: grey when every image is grey, else
RGB. Images with transparency are composited onto white first. What was
converted or resized is counted and reported, never done silently.

Limits: images of at most :data:`MAX_IMAGE_PIXELS` pixels each, and of at most
:data:`PIXELS_PER_FILE_BYTE` per byte of their file (read from the header,
before decoding), sizes of at most :data:`MAX_SIDE` pixels a side,
and at most :data:`MAX_ARRAY_BYTES` bytes for the resulting array.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._progress import ReadProgress

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: What Pillow may decode a file as, whatever its name: the formats those
#: names stand for (a camera's JPEG holding several pictures, MPO, is read
#: as a JPEG). Pillow goes by the content, so without this a file named .png
#: that holds PostScript would be handed to Ghostscript, a program of its own.
PILLOW_FORMATS = ("PNG", "JPEG", "BMP")
#: Largest source image, in pixels (Pillow's own bomb limit is about 89 M).
MAX_IMAGE_PIXELS = 40_000_000
#: The most pixels a picture may declare per byte of its file. Deflate (PNG's
#: compression) packs at most about 1,032 bytes into one, 8,256 pixels of a
#: 1-bit image (measured: a blank 6000x6000 1-bit PNG holds 8,097 a byte, a
#: grey one 1,026, a JPEG 85); only blank fax pages (CCITT TIFF) go beyond. A
#: header that declares more describes data its file cannot hold, and decoding
#: it would have Pillow allocate the declared size first, up to 4 bytes a
#: pixel, for a file of a few hundred bytes.
PIXELS_PER_FILE_BYTE = 8192


#: Largest --image-size side.
MAX_SIDE = 1024
#: Largest float32 array a folder may become (8 GiB).
MAX_ARRAY_BYTES = 8 * 2**30
#: Folders with more files than this show a progress line.
PROGRESS_MIN_FILES = 2000

_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "La")


class ImageFolderError(ValueError):
    """A folder or image that cannot be used; the message names the file."""


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()


def image_files(directory) -> list[Path]:
    """Every image file below ``directory``, sorted (hidden files skipped)."""
    directory = Path(directory)
    return sorted(
        p
        for p in directory.rglob("*")
        if _is_image(p)
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def looks_like_image_folder(path) -> bool:
    """A directory whose sub-folders (or ``train/``'s) hold image files."""
    path = Path(path)
    if not path.is_dir():
        return False
    root = path / "train" if (path / "train").is_dir() else path
    return any(
        d.is_dir() and any(_is_image(p) for p in d.rglob("*")) for d in root.iterdir()
    )


@dataclass
class FolderListing:
    """The files of an image folder and their class labels."""

    root: Path
    classes: list[str]
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]] | None = None
    notes: list[str] = field(default_factory=list)


def _class_folders(directory: Path, classes: list[str] | None = None):
    if not directory.is_dir():
        raise ImageFolderError(f"no such folder {str(directory)!r}.")
    subdirs = sorted(
        d for d in directory.iterdir() if d.is_dir() and not d.name.startswith(".")
    )
    if not subdirs:
        loose = [p for p in directory.iterdir() if _is_image(p)]
        raise ImageFolderError(
            f"{str(directory)!r} has no class folders"
            + (f" ({len(loose)} images lie directly in it)" if loose else "")
            + "; put each class's images in a sub-folder named after the class "
            "(DIR/cat/1.png, DIR/dog/2.png)."
        )
    names = [d.name for d in subdirs]
    if classes is not None:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise ImageFolderError(
                f"{str(directory)!r} has class folder {unknown[0]!r} that the "
                f"training classes lack ({', '.join(classes)})."
            )
    else:
        classes = names
    items = []
    for d in subdirs:
        files = image_files(d)
        if not files:
            raise ImageFolderError(
                f"class folder {str(d)!r} holds no images (.png, .jpg, .jpeg, .bmp)."
            )
        items += [(f, classes.index(d.name)) for f in files]
    return classes, items


def list_image_folder(root, classes: list[str] | None = None) -> FolderListing:
    """The classes and files of ``root`` (with ``train/`` and ``test/`` when present).

    Parameters
    ----------
    classes : list of str, optional
        The class names a model knows: a class folder not among them is an error.

    Raises
    ------
    ImageFolderError
        No class folders, an empty class folder, an unknown class.
    """
    root = Path(root)
    if (root / "train").is_dir():
        classes, train = _class_folders(root / "train", classes)
        test = None
        if (root / "test").is_dir():
            _, test = _class_folders(root / "test", classes)
        return FolderListing(root, classes, train, test)
    classes, items = _class_folders(root, classes)
    return FolderListing(root, classes, items)


# ------------------------------------------------------------------ reading
def more_pixels_than_the_file_holds(path: Path, size: tuple[int, int]) -> str | None:
    """Why a picture whose header declares ``size`` (width, height) is not
    decoded, when that is more than :data:`PIXELS_PER_FILE_BYTE` per byte of
    its file; else None."""
    w, h = size
    n = path.stat().st_size
    if w * h <= PIXELS_PER_FILE_BYTE * n:
        return None
    return (
        f"image {str(path)!r} declares {w}x{h} pixels in a file of {n:,} bytes, more "
        f"than {PIXELS_PER_FILE_BYTE:,} a byte: compression packs that much only into "
        "a blank page, so its header is damaged or forged."
    )


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "reading image folders needs Pillow: pip install 'chainrule[plots]'"
        ) from None
    return Image


def _has_alpha(img) -> bool:
    return img.mode in ("RGBA", "LA", "La", "RGBa") or (
        img.mode == "P" and "transparency" in img.info
    )


@dataclass
class ImageHeaders:
    """What the headers say: sizes and modes, before any pixel is decoded."""

    sizes: list[tuple[int, int]]
    modes: list[str]

    def default_channels(self) -> int:
        return 1 if all(m in _GREY_MODES for m in self.modes) else 3

    def default_size(self) -> tuple[int, int]:
        """The most common (height, width), capped at MAX_SIDE a side."""
        w, h = Counter(self.sizes).most_common(1)[0][0]
        return min(h, MAX_SIDE), min(w, MAX_SIDE)


def read_headers(files: list[Path]) -> ImageHeaders:
    """Sizes and modes of every file, from the headers only.

    Raises
    ------
    ImageFolderError
        An unreadable file or one over :data:`MAX_IMAGE_PIXELS` (named).
    """
    Image = _pil()
    sizes, modes = [], []
    for f in files:
        try:
            with Image.open(f, formats=PILLOW_FORMATS) as img:
                sizes.append(img.size)
                modes.append(img.mode)
        except Image.UnidentifiedImageError:
            raise ImageFolderError(
                f"cannot read image {str(f)!r}: it is not a PNG, JPEG or BMP picture."
            ) from None
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageFolderError(f"cannot read image {str(f)!r}: {exc}") from None
        if sizes[-1][0] * sizes[-1][1] > MAX_IMAGE_PIXELS:
            raise ImageFolderError(
                f"image {str(f)!r} has {sizes[-1][0]}x{sizes[-1][1]} pixels; at most "
                f"{MAX_IMAGE_PIXELS:,} are read. Shrink it first."
            )
        overfull = more_pixels_than_the_file_holds(f, sizes[-1])
        if overfull:
            raise ImageFolderError(overfull)
    return ImageHeaders(sizes, modes)


def check_image_size(size, channels: int, n: int) -> tuple[int, int]:
    """Validate --image-size and the array it would make for ``n`` images."""
    h, w = (int(s) for s in size)
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ImageFolderError(
            f"--image-size must be two sides in [1, {MAX_SIDE}]; got {h} {w}."
        )
    need = n * channels * h * w * 4
    if need > MAX_ARRAY_BYTES:
        raise ImageFolderError(
            f"{n:,} images of {channels}x{h}x{w} would need {need / 2**30:.1f} GiB "
            f"as float32; the limit is {MAX_ARRAY_BYTES / 2**30:.0f} GiB. Use a "
            "smaller --image-size."
        )
    return h, w


def read_images(
    files: list[Path], size: tuple[int, int], channels: int, headers=None
) -> tuple[np.ndarray, list[str]]:
    """Decode, convert and resize images into float32 (N, C, H, W) in [0, 1].

    Returns
    -------
    x : ndarray, float32, shape (N, channels, H, W)
    notes : list of str
        What was converted, composited or resized, with counts.

    Raises
    ------
    ImageFolderError
        An unreadable image (named), or a size or channel count out of range.
    """
    Image = _pil()
    if channels not in (1, 3):
        raise ImageFolderError(f"--channels must be 1 or 3; got {channels}.")
    headers = headers or read_headers(files)
    h, w = check_image_size(size, channels, len(files))
    mode = "L" if channels == 1 else "RGB"
    x = np.empty((len(files), channels, h, w), np.float32)
    converted: Counter = Counter()
    alpha = resized = 0
    progress = ReadProgress(
        "reading images", len(files), len(files) >= PROGRESS_MIN_FILES, unit="files"
    )
    for i, f in enumerate(files):
        try:
            with Image.open(f, formats=PILLOW_FORMATS) as img:
                img.load()
                if _has_alpha(img):
                    alpha += 1
                    rgba = img.convert("RGBA")
                    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    img2 = Image.alpha_composite(white, rgba)
                else:
                    img2 = img
                if img.mode != mode and not (img.mode in _GREY_MODES and mode == "L"):
                    converted[img.mode] += 1
                img2 = img2.convert(mode)
                if img2.size != (w, h):
                    resized += 1
                    img2 = img2.resize((w, h), Image.LANCZOS)
                a = np.asarray(img2, dtype=np.float32)
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageFolderError(f"cannot read image {str(f)!r}: {exc}") from None
        a = a / np.float32(255)
        x[i] = a[None] if channels == 1 else a.transpose(2, 0, 1)
        progress.update(i + 1)
    progress.finish()
    notes = [
        f"converted {k:,} {m} image{'s' if k > 1 else ''} to {mode}"
        for m, k in sorted(converted.items())
    ]
    if alpha:
        notes.append(f"composited {alpha:,} image(s) with transparency onto white")
    if resized:
        notes.append(f"resized {resized:,} of {len(files):,} images to {h}x{w}")
    return x, notes
