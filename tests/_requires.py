"""Optional packages in tests: skipped when missing, except in CI.

Every test that needs PyTorch, ONNX, scikit-learn, SciPy, matplotlib or
Pillow asks through :func:`importorskip` or :func:`has`, never through
``pytest.importorskip`` (``tests/test_requires.py`` checks that).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import pytest

#: In CI (CI=true, as GitHub Actions and most others set it) every optional
#: package the tests use is installed on purpose: a missing one is a broken
#: install, not a reason to skip 60 tests quietly.
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def importorskip(name: str):
    """``pytest.importorskip(name)``, except that with CI=true a missing module
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
