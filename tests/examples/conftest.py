"""Loading the example scripts, which live in examples/, outside the package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def load_example():
    """A function: the example script ``stem`` (e.g. "07_momentum") as a module."""
    # The scripts import their shared command line (examples/_cli.py) as a
    # sibling, as they do when run from the command line.
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))

    def load(stem: str):
        path = EXAMPLES / f"{stem}.py"
        spec = importlib.util.spec_from_file_location(f"example_{stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
