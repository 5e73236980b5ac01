"""Folders of images, one sub-folder per class (torchvision's ImageFolder).

::

    DIR/cat/001.png            or     DIR/train/cat/001.png
    DIR/cat/002.jpg                   DIR/train/dog/...
    DIR/dog/...                       DIR/test/cat/...

Class names are the sub-folder names in sorted order (label 0 is the first);
files ending in .png, .jpg, .jpeg or .bmp (any case) anywhere below a class
folder belong to it. Pillow (the ``plots`` extra) reads them.

Every image becomes float32 pixels / 255 in [0, 1] (16-bit grey ones / 65535),
shape (C, H, W): resized (Lanczos) to one size, and converted to one mode,
grey (C = 1) or RGB (C = 3).
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

_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "La")
#: Grey modes with more than 8 bits a pixel: 16-bit ("I;16" and its byte
#: orders), 32-bit integers ("I", which is also how Pillow before 10 opens a
#: 16-bit grey PNG) and floats ("F"). Pillow's ``convert("L")`` (and "RGB")
#: clips their values to 0..255 instead of scaling them, which turns a 16-bit
#: picture white wherever it is lighter than 255/65535 of full scale; so
#: :func:`wide_grey_levels` scales them instead.
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


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


def wide_grey_levels(img) -> np.ndarray:
    """The pixels of a decoded picture in one of :data:`WIDE_GREY_MODES` as
    float32 fractions of full scale, shape (H, W), in [0, 1].

    A 16-bit level v is the fraction v / 65535 of full scale, as an 8-bit
    level is v / 255: a 16-bit copy of an 8-bit picture (each level times
    257) reads the same. The other two modes declare no full scale, so a
    convention:

    - "I" (32-bit integers) is read on the 16-bit scale, clipped to 0..65535:
      older versions of Pillow open 16-bit grey PNGs as "I", and TIFFs of
      16-bit signed samples too.
    - "F" (floats) is read as fractions when its values lie within [0, 1]
      (the convention of scientific image tools), else on the 0..255 scale
      that Pillow's ``convert("F")`` of an 8-bit picture keeps, clipped.
      NaN (no data, as in a damaged file) is 0, as ``convert("L")`` made it;
      infinities are clipped to 0 or 1 and do not decide the scale.
    """
    a = np.asarray(img)
    if img.mode != "F":  # "I;16" in any byte order, or "I"
        return (np.clip(a, 0, 65535) / np.float32(65535)).astype(np.float32)
    finite = a[np.isfinite(a)]
    scale = 1 if finite.size == 0 or float(finite.max()) <= 1.0 else 255
    a = np.nan_to_num(a / np.float32(scale), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def _resize_levels(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """Grey levels in [0, 1] resized (Lanczos) to (h, w) as Pillow resizes an
    8-bit picture: along the rows first, then the columns, clipped to [0, 1]
    after each pass (Lanczos overshoots at sharp edges, and an 8-bit picture
    cannot hold the overshoot between passes). So a 16-bit picture is resized
    as its 8-bit copy is, not several levels apart at its edges."""
    Image = _pil()
    for size in ((w, a.shape[0]), (w, h)):
        img = Image.fromarray(a.astype(np.float32))  # mode "F"
        a = np.clip(np.asarray(img.resize(size, Image.LANCZOS)), 0.0, 1.0)
    return a


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
                if img.mode != mode and not (img.mode in _GREY_MODES and mode == "L"):
                    converted[img.mode] += 1
                if img.size != (w, h):
                    resized += 1
                if img.mode in WIDE_GREY_MODES:
                    # Scaled here, not by Pillow's convert, which would clip
                    # them to 0..255; then resized as floats.
                    a = wide_grey_levels(img)
                    if img.size != (w, h):
                        a = _resize_levels(a, w, h)
                    if channels == 3:
                        a = np.repeat(a[..., None], 3, axis=2)
                else:
                    if _has_alpha(img):
                        alpha += 1
                        rgba = img.convert("RGBA")
                        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                        img2 = Image.alpha_composite(white, rgba)
                    else:
                        img2 = img
                    img2 = img2.convert(mode)
                    if img2.size != (w, h):
                        img2 = img2.resize((w, h), Image.LANCZOS)
                    a = np.asarray(img2, dtype=np.float32) / np.float32(255)
        except (OSError, ValueError, SyntaxError, TypeError) as exc:
            # Pillow's decoders raise all four on damaged files (TypeError
            # from a TIFF whose tags disagree).
            raise ImageFolderError(f"cannot read image {str(f)!r}: {exc}") from None
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
