"""Shared fixtures: a seeded generator and inputs that keep clear of kinks.

Also puts this folder on ``sys.path``, so that tests in every sub-folder can
``from _requires import importorskip`` (which skips only outside CI).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
