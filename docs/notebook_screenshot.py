"""Render the README's notebook screenshot, headless, from a real run.

Runs notebooks/001 in a Jupyter kernel, keeps its "Training in the notebook"
section, converts it to HTML with nbconvert and photographs the page with
headless Chromium:

    pip install '.[notebook]' nbconvert && apt-get install -y chromium
    python docs/notebook_screenshot.py docs/images/notebook.png

Static HTML has no widget JavaScript (it would come from a CDN), so each
progress widget is drawn from its final saved state as plain HTML: the
epoch's label, a bar and tqdm's text, as the live widget shows them.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "001_gradient_descent_and_digits.ipynb"
SECTION = "Training in the notebook"
WIDGET = "application/vnd.jupyter.widget-view+json"


def static_widget(model_id: str, state: dict) -> str:
    """A tqdm widget (an HBox of label, progress bar and text) as HTML."""
    box = state[model_id]["state"]
    parts = []
    for child in box.get("children", []):
        model = state[child.removeprefix("IPY_MODEL_")]
        s = model["state"]
        if model["model_name"] == "FloatProgressModel":
            colour = "#5cb85c" if s.get("bar_style") == "success" else "#2196f3"
            width = 100.0 * s.get("value", 0) / (s.get("max") or 1)
            parts.append(
                '<span style="display:inline-block;width:200px;height:14px;'
                'background:#eee;vertical-align:middle;margin:0 6px">'
                f'<span style="display:block;height:100%;width:{width:.0f}%;'
                f'background:{colour}"></span></span>'
            )
        else:  # HTMLModel: its value is already HTML (tqdm escapes it)
            parts.append(f"<span>{s.get('value', '')}</span>")
    return f'<div style="font-family:monospace;font-size:12px;white-space:nowrap">{"".join(parts)}</div>'


def run_section(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    env = dict(
        os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    )
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute(env=env)
    start = next(
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and SECTION in c.source
    )
    nb.cells = nb.cells[start:]
    state = (
        nb.metadata.pop("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).pop(WIDGET, None)
            if view is not None and view["model_id"] in state:
                out["data"]["text/html"] = static_widget(view["model_id"], state)
            elif view is not None:
                out["data"]["text/html"] = html.escape(
                    out["data"].get("text/plain", "")
                )
    return nb


def main(argv: list[str]) -> None:
    target = Path(argv[0]) if argv else ROOT / "docs" / "images" / "notebook.png"
    nb = run_section(NOTEBOOK)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "notebook.html"
        page.write_text(body)
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--hide-scrollbars",
                "--window-size=1100,1330",
                f"--screenshot={target.resolve()}",
                page.as_uri(),
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
