"""The README's scikit-learn example runs and does what its comments say."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import warnings

import pytest
from _requires import importorskip

importorskip("sklearn")
importorskip("skl2onnx")
importorskip("onnxruntime")

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## scikit-learn\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the scikit-learn section should hold one example"
    return blocks[0]


@pytest.mark.slow
def test_readme_pipeline_grid_search_and_skl2onnx_example_runs():
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    namespace: dict = {}
    out = io.StringIO()
    # One BLAS thread: on a busy shared machine, two threads on these small
    # products cost several times the CPU (measured: 7 s against 55 s).
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(out),
        threadpool_limits(1),
    ):
        warnings.simplefilter("ignore")  # ConvergenceWarning of some grid points
        exec(compile(_example(), str(README), "exec"), namespace)
    assert namespace["search"].score(namespace["X_test"], namespace["y_test"]) > 0.95
    diff = abs(
        namespace["proba"] - namespace["search"].predict_proba(namespace["X_test"])
    )
    assert diff.max() < 1e-5
    assert (
        namespace["labels"] == namespace["search"].predict(namespace["X_test"])
    ).mean() > 0.99
    assert len(out.getvalue().splitlines()) == 2
