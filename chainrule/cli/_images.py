"""Images for `chainrule predict`: read any picture Pillow reads, frame it like
the data the model was trained on.

MNIST's digits were made by cropping each to the bounding box of its ink,
scaling the longer side to 20 pixels (keeping the aspect ratio) and placing it
in a 28x28 field so that its centre of mass sits at the centre. A model trained
on them has only ever seen digits framed that way: a digit stretched to fill
the whole 28x28 square, or a tiny one in a corner of a wide canvas, looks like
nothing it knows. So a picture for a digits model is framed the same way; for
other models it is scaled to fit, keeping its aspect ratio.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..data.folders import (
    WIDE_GREY_MODES,
    more_pixels_than_the_file_holds,
    wide_grey_levels,
)
from ._common import CLIError

#: The first bytes of the image formats `predict` reads (through Pillow).
IMAGE_MAGIC = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"GIF8": "GIF",
}

#: What Pillow may decode a picture as (a camera's JPEG holding several
#: pictures, MPO, is read as a JPEG). Pillow goes by the content and has
#: decoders for many more formats, one of which hands PostScript to
#: Ghostscript, a program of its own.
PILLOW_FORMATS = tuple(dict.fromkeys(IMAGE_MAGIC.values()))

#: The most pixels (width x height) of an image ``predict`` decodes; the size
#: is read from the header, before decoding.
MAX_IMAGE_PIXELS = 50_000_000

#: Data sets whose images are digits framed as MNIST's are.
DIGIT_SETS = ("mnist5k", "mnist")


def image_format(head: bytes) -> str | None:
    """The image format that the file's first bytes announce, or None."""
    return next((f for m, f in IMAGE_MAGIC.items() if head.startswith(m)), None)


def read_image(path: Path, shape, digits: bool = False) -> np.ndarray:
    """One picture as a (1, *shape) float32 batch in [0, 1], light on dark.

    Transparent pixels are composited onto white first (a drawing app's black
    strokes on a transparent ground are black on white, not black on black);
    dark-on-light pictures are inverted, which the border tells. With
    ``digits`` (a model trained on 28x28 MNIST-style digits) the ink is framed
    as MNIST framed it; otherwise the picture is scaled to fit ``shape``
    keeping its aspect ratio.
    """
    try:
        from PIL import Image
    except ImportError:
        raise CLIError(
            "reading images needs Pillow: pip install 'chainrule[plots]'"
        ) from None
    if len(shape) == 3 and shape[0] != 1 or len(shape) not in (2, 3):
        raise CLIError(
            f"the model expects inputs of shape {tuple(shape)}; images are read as "
            "one grey channel, (1, H, W)."
        )
    too_big = (
        f"image {str(path)!r} has more than {MAX_IMAGE_PIXELS:,} pixels, the "
        "limit (chainrule.cli._images.MAX_IMAGE_PIXELS); scale it down first."
    )
    try:
        with warnings.catch_warnings():
            # Pillow warns, then refuses, at its own (higher) limits.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=PILLOW_FORMATS) as img:  # the header only
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise CLIError(too_big)
                overfull = more_pixels_than_the_file_holds(path, img.size)
                if overfull:
                    raise CLIError(overfull)
                grey = _grey_on_white(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CLIError(too_big) from None
    except Image.UnidentifiedImageError:
        raise CLIError(
            f"cannot read image {str(path)!r}: it is not a PNG, JPEG, BMP, TIFF "
            "or GIF picture."
        ) from None
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        # Pillow's decoders raise all four on damaged files (TypeError from
        # a TIFF whose tags disagree).
        raise CLIError(f"cannot read image {str(path)!r}: {exc}") from None
    # The digits are light strokes on a dark ground; a photo or a drawing is
    # usually the reverse, which the border tells.
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if border.mean() > 0.5:
        grey = 1.0 - grey
    h, w = shape[-2], shape[-1]
    if digits and (h, w) == (28, 28):
        a = frame_like_mnist(grey)
    else:
        a = _fit(grey, h, w)
    return a.reshape(1, *shape).astype(np.float32)


def _grey_on_white(img) -> np.ndarray:
    """The decoded picture as grey values in [0, 1], transparency on white."""
    from PIL import Image

    img.load()
    if img.mode in WIDE_GREY_MODES:
        # 16-bit, 32-bit and float pictures: Pillow's convert("L") would clip
        # their levels to 0..255, and a 16-bit picture would come out white.
        grey = wide_grey_levels(img)
        key = img.info.get("transparency")
        if isinstance(key, int):  # a PNG may name one level transparent
            grey[np.asarray(img) == key] = 1.0
        return grey
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(a.astype(np.float32), mode="F")
    return np.clip(np.asarray(img.resize((w, h), Image.LANCZOS)), 0.0, 1.0)


def _fit(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Scale ``a`` into an (h, w) field keeping its aspect ratio, centred, the
    margins dark (the ground, after inversion)."""
    scale = min(h / a.shape[0], w / a.shape[1])
    nh = min(h, max(1, round(a.shape[0] * scale)))
    nw = min(w, max(1, round(a.shape[1] * scale)))
    out = np.zeros((h, w), np.float32)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[top : top + nh, left : left + nw] = _resize(a, nh, nw)
    return out


def frame_like_mnist(a: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """Frame light-on-dark ink as MNIST did: crop to the ink, scale the longer
    side to ``box`` pixels keeping the aspect ratio, and centre the centre of
    mass in a ``size`` x ``size`` field.

    Parameters
    ----------
    a : ndarray, shape (H, W)
        Grey levels in [0, 1], ink light.

    Returns
    -------
    ndarray, shape (size, size), float32
    """
    peak = float(a.max())
    if peak <= 0.0:
        return np.zeros((size, size), np.float32)
    # A faint ground (paper, JPEG noise) is not ink: a fifth of the darkest
    # stroke's level separates them.
    rows, cols = np.nonzero(a > 0.2 * peak)
    ink = a[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = box / max(ink.shape)
    nh = max(1, round(ink.shape[0] * scale))
    nw = max(1, round(ink.shape[1] * scale))
    patch = _resize(ink, nh, nw)
    total = float(patch.sum())
    if total > 0:
        cy = float((patch.sum(axis=1) * np.arange(nh)).sum()) / total
        cx = float((patch.sum(axis=0) * np.arange(nw)).sum()) / total
    else:
        cy, cx = (nh - 1) / 2, (nw - 1) / 2
    centre = (size - 1) / 2
    top = int(np.clip(round(centre - cy), 0, size - nh))
    left = int(np.clip(round(centre - cx), 0, size - nw))
    out = np.zeros((size, size), np.float32)
    out[top : top + nh, left : left + nw] = patch
    return out
