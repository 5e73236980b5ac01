"""Argument checks shared by the layers, with one message template:
``<Layer>: <what> must be <expected>; got <actual>.``"""

from __future__ import annotations

import numbers

from .._checks import integer


def positive_int(owner: str, name: str, value) -> int:
    return integer(owner, name, value, minimum=1)


def pair(owner: str, name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``, as a pair."""
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
    return int(items[0]), int(items[1])


def probability(owner: str, name: str, value, high_open: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and 0 <= value and (value < 1 if high_open else value <= 1)
    if not ok:
        bound = "[0, 1)" if high_open else "[0, 1]"
        raise ValueError(f"{owner}: {name} must be a number in {bound}; got {value!r}.")
    return float(value)


def real(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a real number; got {value!r}.")
    return float(value)
