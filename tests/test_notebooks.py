"""The notebooks in notebooks/ run top to bottom in a Jupyter kernel, their
claims asserted in their cells; and chainrule behaves in a kernel: the progress
bar is a widget, LivePlot updates one picture in place.

Needs the ``notebook`` extra (nbclient, nbformat, ipykernel, ipywidgets, tqdm,
matplotlib); skipped without it, except in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _requires import importorskip

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"


def execute(nb, cwd: Path, timeout: int = 300):
    """Run every cell of ``nb`` in a fresh kernel started in ``cwd``; a cell
    that raises (a failed assert) fails the test with the cell's traceback."""
    nbclient = importorskip("nbclient")
    for name in ("ipykernel", "ipywidgets", "tqdm", "matplotlib"):
        importorskip(name)
    # The kernel imports this checkout's chainrule, as the test process does.
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=env)
    return nb


def test_there_is_one_notebook_per_seed():
    assert [p.name[:3] for p in NOTEBOOKS] == ["000", "001", "002", "003", "004"]


def test_notebooks_are_committed_without_outputs():
    nbformat = importorskip("nbformat")
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    nbformat = importorskip("nbformat")
    nb = execute(nbformat.read(path, as_version=4), path.parent)
    errors = [
        o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert errors == []


FIT = """
import io, sys
import numpy as np
import chainrule as cr
L = cr.layers
model = cr.Sequential(L.Linear(3, 8, rng=0), L.ReLU(), L.Linear(8, 2, rng=0))
x = np.random.default_rng(0).normal(size=(400, 3)); y = (x[:, 0] > 0).astype(int)
live = cr.callbacks.LivePlot()
history = cr.fit(model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1), x, y,
                 epochs=4, batch_size=4, metrics=["accuracy"], validation_split=0.2,
                 callbacks=[live], seed=0)
assert live.redraws == 4, live.redraws
"""


def test_in_a_kernel_fit_shows_widgets_and_one_live_plot():
    nbformat = importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(FIT), nbformat.v4.new_code_cell("history")]
    execute(nb, ROOT, timeout=120)
    outputs = nb.cells[0].outputs
    widgets = [o for o in outputs if WIDGET in o.get("data", {})]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    streams = [o for o in outputs if o.output_type == "stream"]
    # One progress widget per epoch, no carriage-return text flooding the cell.
    assert len(widgets) == 4
    assert streams == []
    # One picture, first, updated in place (display_id) rather than repeated.
    assert len(pictures) == 1 and outputs[0] is pictures[0]
    shown = nb.cells[1].outputs[0]["data"]
    assert "text/html" in shown and "<img" in shown["text/html"]
