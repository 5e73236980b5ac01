"""The one integer check of the package, with the one message template:
``<owner>: <name> must be a positive integer; got <value>.``"""

from __future__ import annotations

import numbers


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
