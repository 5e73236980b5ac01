"""Rich display in Jupyter: what ``_repr_html_`` returns for models, histories
and gradient-check reports.

Jupyter calls an object's ``_repr_html_`` to show it in a cell's output; this
module builds that HTML, every value escaped, with no dependency beyond the
standard library (matplotlib for curves and Graphviz's ``dot`` for drawings
are used when present, and left out quietly when not).
"""

from __future__ import annotations

import base64
import html
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

#: One style for every table: compact, monospace numbers, failures in red.
_STYLE = (
    "<style>"
    ".chainrule-table{border-collapse:collapse;font-family:monospace;font-size:12px}"
    ".chainrule-table th,.chainrule-table td{border:1px solid #ccc;padding:2px 8px;"
    "text-align:left}"
    ".chainrule-table td.num{text-align:right}"
    ".chainrule-table tr.fail td{background:#fdd;color:#900;font-weight:bold}"
    ".chainrule-table tr.best td{font-weight:bold}"
    "</style>"
)

#: Seconds ``dot`` may take to draw a model before the drawing is left out.
_DOT_TIMEOUT = 10.0


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    row_classes: Sequence[str] | None = None,
    numeric: Sequence[bool] | None = None,
    caption: str | None = None,
    footer: Sequence[str] = (),
) -> str:
    """An HTML table; row ``i`` gets the CSS class ``row_classes[i]`` when it is
    not empty (``fail``: red, ``best``: bold).

    Every cell is text and is escaped, so a layer named ``<b>`` shows as typed.
    """
    numeric = numeric or [False] * len(header)
    out = [_STYLE, '<table class="chainrule-table">']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        + "</tr></thead><tbody>"
    )
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{html.escape(str(c))}</td>'
            if numeric[j]
            else f"<td>{html.escape(str(c))}</td>"
            for j, c in enumerate(row)
        )
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</tbody></table>")
    for line in footer:
        out.append(f"<p>{html.escape(line)}</p>")
    return "".join(out)


def model_html(model) -> str:
    """A Sequential's or Graph's summary as an HTML table (``?`` for shapes
    that cannot be inferred yet)."""
    from .models.summary import _summary_rows

    cells, footer = _summary_rows(model, unknown_shapes=True)
    return table(
        cells[0],
        cells[1:],
        numeric=[False, False, False, True],
        caption=type(model).__name__,
        footer=footer,
    )


def dot_svg(dot_text: str) -> str | None:
    """The SVG Graphviz draws for ``dot_text``; None when ``dot`` is not
    installed or fails (the caller shows something else)."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "-Tsvg"],
            input=dot_text.encode(),
            capture_output=True,
            timeout=_DOT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    svg = done.stdout.decode("utf-8", errors="replace")
    # Drop the XML prologue and DOCTYPE: the <svg> element alone goes inline.
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else None


def graph_html(model) -> str:
    """A Graph's drawing (SVG, when Graphviz is installed) above its summary
    table; the table alone otherwise."""
    from .models.summary import to_dot

    summary = model_html(model)
    svg = dot_svg(to_dot(model))
    if svg is None:
        return summary
    return f"<div>{svg}</div><details><summary>layers</summary>{summary}</details>"


def png_img(data: bytes, alt: str) -> str:
    """An ``<img>`` element holding the PNG ``data`` inline (base64)."""
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"/>'


def history_png(history) -> bytes | None:
    """The training curves of ``history`` as PNG bytes (``cr.plots.plot_history``);
    None without matplotlib or without any epoch."""
    if not history.epoch or "matplotlib" not in sys.modules and not _has_matplotlib():
        return None
    from .plots.training import plot_history

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.png"
        plot_history(history, path)
        return path.read_bytes()


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def history_html(history) -> str:
    """A History as its per-epoch table, with the curves above it when
    matplotlib is installed."""
    keys = list(history.history)
    rows = []
    for i, e in enumerate(history.epoch):
        row = [str(e + 1)]
        for k in keys:
            values = history.history[k]
            row.append(f"{values[i]:.4g}" if i < len(values) else "")
        rows.append(row)
    footer = []
    if history.best_epoch is not None:
        footer.append(f"best epoch: {history.best_epoch + 1}")
    if history.stop_reason:
        footer.append(f"stopped: {history.stop_reason}")
    if history.diverged:
        footer.append(f"diverged: {history.diverged}")
    best = history.best_epoch
    tab = table(
        ["epoch", *keys],
        rows,
        row_classes=["best" if e == best else "" for e in history.epoch],
        numeric=[True] * (len(keys) + 1),
        caption=f"History ({len(history.epoch)} epochs)",
        footer=footer,
    )
    png = history_png(history)
    picture = "" if png is None else f"<div>{png_img(png, 'training curves')}</div>"
    # A long run scrolls inside its box instead of filling the notebook.
    return f'{picture}<div style="max-height:320px;overflow:auto">{tab}</div>'


def gradcheck_html(report) -> str:
    """A gradient-check report as a table, failed tensors highlighted in red."""
    return table(
        list(report.COLUMNS),
        [list(row) for row in report.rows()],
        row_classes=["" if c.passed else "fail" for c in report.checks],
        numeric=[False, False, False, False, True, True, True, True, True, False],
        caption=report.verdict,
    )


def in_jupyter() -> bool:
    """Whether this code runs inside a Jupyter kernel (not a terminal IPython).

    IPython is looked up in ``sys.modules`` and never imported here: a kernel
    has always imported it already, and a plain script should not pay for it.
    """
    # getattr: a module half-way through its own import lacks the function.
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return getattr(shell, "kernel", None) is not None
