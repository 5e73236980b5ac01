"""One source of randomness for a whole run, like ``torch.manual_seed``.

Every layer, data split and shuffle that is not handed an explicit
``np.random.Generator`` draws from the default generator here, so
``cr.seed(n)`` at the top of a script makes the whole run repeat bit for bit.
"""

from __future__ import annotations

import numpy as np

from ._checks import integer

_default_rng = np.random.default_rng()


def seed(n: int) -> np.random.Generator:
    """Reset the default generator to ``np.random.default_rng(n)`` and return it.

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.seed(0).random()
    >>> b = cr.seed(0).random()
    >>> a == b
    True
    """
    global _default_rng
    _default_rng = np.random.default_rng(integer("seed", "n", n, minimum=0))
    return _default_rng


def get_rng(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """Resolve an ``rng=`` argument: a Generator, an int seed, or the default."""
    if rng is None:
        return _default_rng
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None; got "
        f"{type(rng).__name__}."
    )


def state_dict() -> dict:
    """The default generator's state (JSON-friendly), for checkpoints."""
    return _default_rng.bit_generator.state


def load_state_dict(state: dict) -> None:
    """Restore the default generator's state saved by :func:`state_dict`."""
    _default_rng.bit_generator.state = state
