"""Building a model's structure without filling its weights.

Loading a file first builds the architecture it describes, then puts the
file's arrays in. Inside :func:`deferred_init`, the parameters a layer
creates are counted against a budget (the elements the file actually holds)
and left uninitialised: ``np.empty`` memory that the operating system does not
back until it is written, a gradient marked zero without being filled, and no
random draws. An architecture that implies more parameters than the file
holds is refused as soon as its first excess parameter is created, before
anything is drawn or copied, whatever the layer type: the count is of the
layer's own ``Parameter`` objects.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar


class ParameterBudgetError(Exception):
    """More parameter elements were created than the budget allows."""


#: The most values per sample a layer's output may have while a file is
#: loaded (as ``chainrule.io.MAX_SAMPLE_ELEMENTS`` for a graph's inputs).
MAX_SAMPLE_ELEMENTS = 1 << 24


class _Budget:
    def __init__(self, max_elements: int) -> None:
        self.max_elements = max_elements
        self.used = 0

    def check_sample(self, layer, shape: tuple[int, ...]) -> tuple[int, ...]:
        """``shape`` if one sample of it is within MAX_SAMPLE_ELEMENTS, else
        a ValueError naming the layer (the loader makes it a ModelFileError)."""
        n = 1
        for d in shape:
            n *= max(int(d), 0)
        if n > MAX_SAMPLE_ELEMENTS:
            raise ValueError(
                f"{layer!r} would output samples of shape {tuple(shape)} ({n:,} "
                f"values); at most {MAX_SAMPLE_ELEMENTS:,} are built"
            )
        return tuple(shape)

    def charge(self, n: int) -> None:
        self.used += int(n)
        if self.used > self.max_elements:
            raise ParameterBudgetError(
                f"the architecture implies at least {self.used:,} parameter "
                f"values; the file holds {self.max_elements:,}"
            )


_BUDGET: ContextVar[_Budget | None] = ContextVar("chainrule_deferred", default=None)


@contextmanager
def deferred_init(max_elements: int):
    """Within this block, new parameters are counted and left uninitialised.

    Parameters
    ----------
    max_elements : int
        Raise :class:`ParameterBudgetError` once the parameters created in the
        block hold more elements than this.
    """
    token = _BUDGET.set(_Budget(max_elements))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def current() -> _Budget | None:
    """The active budget, or None outside :func:`deferred_init`."""
    return _BUDGET.get()
