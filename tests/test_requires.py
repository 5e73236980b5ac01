"""With CI=true a missing optional package fails the run; elsewhere it skips."""

from __future__ import annotations

import re
from pathlib import Path

import _requires
import pytest
from _requires import has, importorskip

TESTS = Path(__file__).resolve().parent


def test_missing_module_fails_in_ci(monkeypatch):
    monkeypatch.setattr(_requires, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true but 'no_such_mod_q'"):
        importorskip("no_such_mod_q")
    assert has("no_such_mod_q")  # so that skipif(not has(...)) does not skip


def test_missing_module_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(_requires, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception):
        importorskip("no_such_mod_q")
    assert not has("no_such_mod_q")
    assert importorskip("json").dumps([]) == "[]"


def test_no_test_skips_around_it():
    """Every optional import goes through _requires, so CI=true covers it."""
    direct = re.compile(r"pytest\.importorskip\(|find_spec\(")
    offenders = [
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("*.py")
        if p.name not in ("_requires.py", "test_requires.py")
        and direct.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
