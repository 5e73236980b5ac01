"""Shared fixtures: a seeded generator and inputs that keep clear of kinks;
:func:`importorskip`, which skips only outside CI."""

from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np
import pytest

#: In CI (CI=true, as GitHub Actions and most others set it) every optional
#: package the tests use is installed on purpose: a missing one is a broken
#: install, not a reason to skip 60 tests quietly.
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def importorskip(name: str):
    """``importorskip(name)``, except that with CI=true a missing module
    fails the run instead of skipping. Tests use this, never pytest's own."""
    if IN_CI:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            pytest.fail(
                f"CI=true but {name!r} cannot be imported ({exc}); install the "
                "test extras: pip install -e '.[test]' (and torch for the "
                "PyTorch comparisons).",
                pytrace=False,
            )
    return pytest.importorskip(name)


def has(name: str) -> bool:
    """Whether ``name`` is importable; with CI=true, always (so that tests
    marked ``skipif(not has(...))`` run, and fail, when it is missing)."""
    return IN_CI or importlib.util.find_spec(name) is not None


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def off_zero(rng):
    """Random float64 values with |v| >= margin: no ReLU input sits on its kink,
    even after a finite-difference step."""

    def make(*shape: int, margin: float = 0.1) -> np.ndarray:
        v = rng.uniform(margin, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
        return v

    return make


@pytest.fixture
def distinct(rng):
    """A float64 array of distinct values at least 0.01 apart (no max-pool ties)."""

    def make(*shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.01 - 0.005 * n).reshape(shape)

    return make
