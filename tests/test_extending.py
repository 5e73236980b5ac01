"""docs/extending.md's Swish, run as written, and loaded in fresh processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import ModelFileError

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "extending.md").read_text(encoding="utf-8")
CODE = re.search(r"```python\n(.*?)```", DOC, re.S).group(1)
# The class alone: what another program defines before loading the file.
CLASS = CODE[: CODE.index("cr.seed(0)")]


def _run(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, *args] if args else [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_swish_is_short():
    lines = [line for line in CODE.splitlines() if line.strip()]
    assert len(lines) < 40


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Run the documented block in a fresh process: it trains, gradchecks,
    summarises, saves and loads, and leaves swish.npz behind."""
    where = tmp_path_factory.mktemp("swish")
    done = _run(CODE, where)
    assert done.returncode == 0, done.stderr
    return where, done.stdout


def test_the_documented_swish_trains_checks_and_summarises(saved):
    _, out = saved
    first, last = map(float, re.search(r"loss (\S+) -> (\S+)", out).groups())
    assert last < first / 5
    assert "gradient check passed" in out
    assert re.search(r"1\s+Swish\s+\(N, 32\)\s+1\n", out)


def test_a_fresh_process_that_registers_swish_loads_it(saved):
    where, _ = saved
    code = CLASS + (
        "m = cr.load('swish.npz')\n"
        "print(type(m[1]).__name__, m[1].beta.data.dtype, m.num_parameters())\n"
    )
    done = _run(code, where)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Swish", "float32", "98"]


def test_a_process_without_swish_is_told_how_to_register_it(saved):
    where, _ = saved
    with pytest.raises(
        ModelFileError, match=r"unknown layer 'Swish'; .*cr\.register_layer"
    ):
        # This process has no Swish registered (the block ran elsewhere).
        assert "Swish" not in cr.registry.registered_layers()
        cr.load(where / "swish.npz")
    done = _run("", where, "-m", "chainrule", "info", "swish.npz")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(
        r"chainrule info: error: .*unknown layer 'Swish'; .*cr\.register_layer",
        lines[0],
    )


def test_registering_checks_its_argument():
    with pytest.raises(TypeError, match="expected a subclass of chainrule.Module"):
        cr.register_layer(int)

    class Linear(cr.Module):  # a user class that takes a built-in's name
        pass

    with pytest.raises(ValueError, match="name 'Linear' is taken by chainrule"):
        cr.register_layer(Linear)

    class Twice(cr.Module):
        def forward(self, x):
            return 2 * x

    try:
        assert cr.register_layer(Twice, name="Twice2") is Twice
        assert cr.registry.layer_name(Twice()) == "Twice2"
        decorated = cr.register_layer(name="Twice3")(Twice)
        assert decorated is Twice
    finally:  # leave the registry as the other tests expect it
        for name in ("Twice2", "Twice3"):
            cr.registry._LAYERS.pop(name, None)
    with pytest.raises(ValueError, match="must be a Python identifier"):
        cr.register_layer(Twice, name="two words")


def test_a_registered_user_layer_round_trips_in_this_process(tmp_path):
    @cr.register_layer
    class Scale(cr.Module):
        def __init__(self, k: float = 1.0):
            super().__init__()
            self.k = k

        def forward(self, x):
            return x * self.k

        def get_config(self):
            return {"k": self.k}

    try:
        model = cr.Sequential(cr.layers.Linear(3, 2, rng=0), Scale(2.5))
        model.save(tmp_path / "m.npz")
        loaded = cr.load(tmp_path / "m.npz")
        assert loaded[1].k == 2.5
        x = np.ones((2, 3), np.float32)
        np.testing.assert_array_equal(cr.predict(loaded, x), cr.predict(model, x))
    finally:
        cr.registry._LAYERS.pop("Scale", None)
