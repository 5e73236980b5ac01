"""Argument checks shared by the layers, with one message template:
``<Layer>: <what> must be <expected>; got <actual>.``"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import integer
from ..functional.conv import conv_output_size

#: The largest size, channel count, kernel, stride or padding a layer takes:
#: past it NumPy cannot index the arrays (or overflows a C long) and would
#: fail with errors of its own, naming no layer.
MAX_SIZE = 2**31 - 1


def positive_int(owner: str, name: str, value) -> int:
    value = integer(owner, name, value, minimum=1)
    if value > MAX_SIZE:
        raise ValueError(f"{owner}: {name} must be at most {MAX_SIZE:,}; got {value!r}.")
    return value


def pair(owner: str, name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each from ``minimum`` to MAX_SIZE, as a pair."""
    items = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    ok = len(items) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
        for v in items
    )
    if not ok:
        raise ValueError(
            f"{owner}: {name} must be an integer >= {minimum} or a pair of them; "
            f"got {value!r}."
        )
    if max(items) > MAX_SIZE:
        raise ValueError(f"{owner}: {name} must be at most {MAX_SIZE:,}; got {value!r}.")
    return int(items[0]), int(items[1])


def probability(owner: str, name: str, value, high_open: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and 0 <= value and (value < 1 if high_open else value <= 1)
    if not ok:
        bound = "[0, 1)" if high_open else "[0, 1]"
        raise ValueError(f"{owner}: {name} must be a number in {bound}; got {value!r}.")
    return float(value)


#: NumPy's most dimensions: an axis index is at least -MAX_AXES, below MAX_AXES.
MAX_AXES = 64


def axis_index(owner: str, value) -> int:
    """An axis index (negative ones count from the end). Booleans and floats
    are refused, and so is an integer no array can have as an axis (one read
    from a model file may be any size)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not -MAX_AXES <= value < MAX_AXES:
        raise ValueError(
            f"{owner}: axis must be an integer from -{MAX_AXES} to {MAX_AXES - 1}; "
            f"got {value!r}."
        )
    return int(value)


def missing_axis(owner, axis: int, x) -> ValueError:
    """The error for an input ``x`` without axis ``axis``, naming ``owner``:
    raised from NumPy's AxisError, so that forward checks nothing when the
    axis is there."""
    return ValueError(
        f"{owner!r}: axis {axis} does not exist in an input of shape {np.shape(x)}."
    )


def require_image_shape(owner: str, input_shape: tuple) -> None:
    """A SPEC token's input shape must be one image's (C, H, W)."""
    if len(input_shape) != 3:
        raise ValueError(
            f"{owner} needs (channels, height, width) input; the shape here is "
            f"{input_shape}"
        )


def window_output_size(
    layer, x, kernel, stride, padding, channels=None, window: str = "kernel"
) -> tuple[int, int]:
    """(OH, OW) of a window sliding over the NCHW batch ``x`` (with
    ``channels`` channels, when given), or a ValueError naming ``layer``."""
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        raise ValueError(
            f"{layer!r}: input must have shape (batch, "
            f"{'channels' if channels is None else channels}, height, width); "
            f"got {x.shape}."
        )
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh = conv_output_size(x.shape[2], kh, sh, ph)
    ow = conv_output_size(x.shape[3], kw, sw, pw)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"{layer!r}: input of {x.shape[2]}x{x.shape[3]} pixels is smaller than "
            f"the {kh}x{kw} {window} with padding {tuple(padding)}."
        )
    return oh, ow
