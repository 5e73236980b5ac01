"""The package's checks of plain values, each with one message template:
``<owner>: <name> must be a positive integer; got <value>.`` for a count,
``<owner>: <name> must be a finite real number; got <value>.`` for a setting,
and, for what a saved state (a checkpoint) brings back,
``<owner>: <name> must be like <current>; got <value>.`` and
``<owner>: unknown <what> <names>; expected <names>.``
And one test of arrays: :func:`all_finite`."""

from __future__ import annotations

import math
import numbers

import numpy as np


def integer(owner: str, name: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming ``owner``.

    Booleans and floats are refused (``2.0`` is not a count); NumPy integers
    pass.

    Examples
    --------
    >>> integer("fit", "epochs", 0, minimum=0)
    0
    >>> integer("fit", "batch_size", 0)
    Traceback (most recent call last):
    ...
    ValueError: fit: batch_size must be a positive integer; got 0.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        kind = {1: "a positive integer", 0: "a non-negative integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
        raise ValueError(f"{owner}: {name} must be {kind}; got {value!r}.")
    return int(value)


def like(owner: str, name: str, now, value):
    """``value``, read from a saved state, when it is of the kind of ``now``,
    the value it replaces: a number (not NaN) for a number or for None (the
    "nothing yet" of a best-so-far), else the same type; or a ValueError
    naming ``owner``. What a checkpoint holds is read from disk."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (isinstance(now, (int, float)) and not isinstance(now, bool)) or now is None:
        ok = (value is None and now is None) or (number and value == value)
    else:
        ok = type(value) is type(now)
    if not ok:
        raise ValueError(f"{owner}: {name} must be like {now!r}; got {value!r}.")
    return value


def real(owner: str, name: str, value) -> float:
    """``value`` as a finite float, or a ValueError naming ``owner``: a NaN or
    an infinity (a model file's JSON can carry both, and so can a checkpoint)
    would spread through every result without an error."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
    ):
        raise ValueError(f"{owner}: {name} must be a finite real number; got {value!r}.")
    return float(value)


def known_names(owner: str, what: str, values, known) -> dict:
    """``values``, a saved dict, when it names nothing outside ``known``; else
    a ValueError naming ``owner`` (a name from a file set as an attribute could
    replace a method)."""
    extra = sorted(set(values) - set(known)) if isinstance(values, dict) else values
    if not isinstance(values, dict) or extra:
        raise ValueError(f"{owner}: unknown {what} {extra!r}; expected {sorted(known)}.")
    return values


def all_finite(x: np.ndarray) -> bool:
    """No NaN or inf in x (its dtype a float)."""
    # x . x, one BLAS call, is NaN or inf whenever x holds a NaN or inf. It can
    # also overflow for huge finite values, so only then is every element
    # looked at. For one sample this is half the cost of np.isfinite(x).all(),
    # and it needs no boolean temporary. vdot would copy a strided x, so that
    # takes the elementwise test; a column-major x is read as its transpose.
    flat = x if x.flags.c_contiguous else x.T if x.flags.f_contiguous else None
    if flat is not None and math.isfinite(np.vdot(flat, flat)):
        return True
    return bool(np.isfinite(x).all())
