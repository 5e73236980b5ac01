"""What Jupyter shows: ``_repr_html_`` of models, histories and gradient-check
reports is well-formed HTML holding the same numbers as the text versions, and
LivePlot and the progress bar behave outside a notebook.

(In a real kernel: tests/test_notebooks.py.)
"""

from __future__ import annotations

import io
import os
import stat
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from _requires import has

import chainrule as cr
from chainrule import _html
from chainrule.gradcheck import GradcheckReport, TensorCheck
from chainrule.progress import ProgressBar

L = cr.layers


def parse(markup: str) -> ET.Element:
    """Parse as XML under one root: fails on any unclosed or stray tag."""
    return ET.fromstring(f"<root>{markup}</root>")


def table_rows(root: ET.Element) -> list[list[str]]:
    (tbody,) = root.iter("tbody")
    return [["".join(td.itertext()) for td in tr.iter("td")] for tr in tbody.iter("tr")]


def mlp() -> cr.Sequential:
    return cr.Sequential(L.Linear(3, 4), L.ReLU(), L.Linear(4, 2))


def test_sequential_html_is_its_summary_table():
    model = mlp()
    root = parse(model._repr_html_())
    rows = table_rows(root)
    assert rows == [
        ["0", "Linear", "(N, 4)", "16"],
        ["1", "ReLU", "(N, 4)", "0"],
        ["2", "Linear", "(N, 2)", "10"],
    ]
    assert "Total parameters: 26" in "".join(root.itertext())


def test_unknown_shapes_show_as_question_marks():
    model = cr.Sequential(L.Conv2D(1, 2, 3), L.ReLU())
    rows = table_rows(parse(model._repr_html_()))
    assert [r[2] for r in rows] == ["?", "?"]
    assert [r[3] for r in rows] == ["20", "0"]


def test_loaded_model_shows_the_same_table(tmp_path):
    model = mlp()
    cr.save_model(model, tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    assert table_rows(parse(loaded._repr_html_())) == table_rows(
        parse(model._repr_html_())
    )


def test_cells_are_escaped():
    markup = _html.table(["a<b"], [["<script>x</script>"]])
    root = parse(markup)
    assert table_rows(root) == [["<script>x</script>"]]
    assert "<script>" not in markup


def two_path_graph() -> cr.Graph:
    x = cr.Input((3,))
    h = L.Linear(3, 4)(x)
    y = L.Add()(L.Tanh()(h), L.Sigmoid()(h))
    return cr.Graph(x, y)


def test_graph_without_graphviz_shows_the_summary(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no `dot` to be found
    graph = two_path_graph()
    root = parse(graph._repr_html_())
    assert root.find(".//svg") is None
    rows = table_rows(root)
    assert rows[0][:2] == ["input", "Input"]
    assert [r[1] for r in rows[1:]] == ["Linear", "Tanh", "Sigmoid", "Add"]


def fake_dot(folder) -> None:
    """A `dot` that answers -Tsvg with an SVG naming how many nodes it read."""
    script = folder / "dot"
    script.write_text(
        "#!/bin/sh\n"
        'n=$(grep -c "label=" -)\n'
        'printf \'<?xml version="1.0"?>\\n<svg xmlns="http://www.w3.org/2000/svg">'
        '<text>%s nodes</text></svg>\' "$n"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_graph_with_graphviz_shows_the_drawing_from_its_dot_text(tmp_path, monkeypatch):
    fake_dot(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    graph = two_path_graph()
    markup = graph._repr_html_()
    assert "<?xml" not in markup  # the prologue is dropped for inline SVG
    root = parse(markup)
    (svg,) = root.iter("{http://www.w3.org/2000/svg}svg")
    n_labels = cr.to_dot(graph).count("label=")
    assert "".join(svg.itertext()) == f"{n_labels} nodes"
    assert len(table_rows(root)) == 5  # the table follows, folded


def test_a_failing_dot_falls_back_to_the_table(tmp_path, monkeypatch):
    script = tmp_path / "dot"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    root = parse(two_path_graph()._repr_html_())
    assert root.find(".//{http://www.w3.org/2000/svg}svg") is None
    assert len(table_rows(root)) == 5


def trained_history(**kw) -> cr.History:
    model = mlp()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    return cr.fit(
        model,
        cr.losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1),
        x,
        y,
        epochs=3,
        batch_size=8,
        metrics=["accuracy"],
        validation_split=0.25,
        verbose=0,
        seed=0,
        **kw,
    )


def test_history_html_has_one_row_per_epoch_and_the_curves():
    history = trained_history()
    root = parse(history._repr_html_())
    (thead,) = root.iter("thead")
    header = ["".join(th.itertext()) for th in thead.iter("th")]
    assert header[:3] == ["epoch", "loss", "accuracy"]
    rows = table_rows(root)
    assert [r[0] for r in rows] == ["1", "2", "3"]
    loss = history["loss"]
    assert [float(r[1]) for r in rows] == pytest.approx(loss, rel=1e-3)
    images = list(root.iter("img"))
    if has("matplotlib"):
        (img,) = images
        assert img.get("src").startswith("data:image/png;base64,iVBOR")
    else:
        assert images == []


def test_history_html_marks_the_best_epoch():
    history = cr.History()
    for e, v in enumerate([0.5, 0.3, 0.4]):
        history.append(e, {"loss": v, "val_loss": v + 0.1})
    history.best_epoch = 1
    history.stop_reason = "early stopping"
    root = parse(history._repr_html_())
    classes = [tr.get("class") for tr in next(root.iter("tbody")).iter("tr")]
    assert classes == [None, "best", None]
    text = "".join(root.itertext())
    assert "best epoch: 2" in text and "stopped: early stopping" in text


def test_empty_history_is_an_empty_table():
    root = parse(cr.History()._repr_html_())
    assert table_rows(root) == []
    assert list(root.iter("img")) == []


def check(name: str, passed: bool) -> TensorCheck:
    return TensorCheck(
        name, (2, 3), "elements", (1, 2), 0.5, 0.5 if passed else 0.7,
        0.0 if passed else 0.2, 0.0 if passed else 0.3, passed, scale=1.0,
    )  # fmt: skip


def test_gradcheck_html_highlights_failures():
    report = GradcheckReport([check("weight", True), check("bias", False)], 1e-7, 1e-5)
    markup = report._repr_html_()
    root = parse(markup)
    trs = list(next(root.iter("tbody")).iter("tr"))
    assert [tr.get("class") for tr in trs] == [None, "fail"]
    rows = table_rows(root)
    assert rows[1][0] == "bias" and rows[1][-1] == "FAIL" and rows[0][-1] == "ok"
    assert "gradient check FAILED" in "".join(root.itertext())
    assert "tr.fail td{background" in markup  # and the failures are styled


def test_gradcheck_html_of_a_real_check_passes():
    report = cr.gradcheck(mlp(), np.random.default_rng(1).normal(size=(4, 3)))
    root = parse(report._repr_html_())
    assert len(table_rows(root)) == len(report.checks)
    assert "gradient check passed" in "".join(root.itertext())


def test_liveplot_outside_a_notebook_says_so_and_training_goes_on():
    out = io.StringIO()
    live = cr.callbacks.LivePlot(stream=out)
    history = trained_history(callbacks=[live])
    assert len(history.epoch) == 3
    assert live.redraws == 0 and not live.active
    assert out.getvalue().count("\n") == 1
    assert "LivePlot: not running in a Jupyter kernel" in out.getvalue()


def test_liveplot_rejects_a_bad_interval():
    with pytest.raises(ValueError, match=r"LivePlot: every must be >= 1; got 0"):
        cr.callbacks.LivePlot(every=0)


def test_liveplot_does_not_break_checkpoints_and_resume(tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    quiet = io.StringIO()
    first = trained_history(
        callbacks=[
            cr.callbacks.LivePlot(stream=quiet),
            cr.callbacks.ModelCheckpoint(ckpt),
        ]
    )
    assert ckpt.exists()
    model = mlp()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    resumed = cr.fit(
        model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1), x, y,
        epochs=4, batch_size=8, metrics=["accuracy"], validation_split=0.25,
        verbose=0, seed=0, resume=ckpt,
        callbacks=[cr.callbacks.LivePlot(stream=quiet), cr.callbacks.ModelCheckpoint(ckpt)],
    )  # fmt: skip
    assert resumed.epoch == [0, 1, 2, 3]
    assert resumed["loss"][:3] == pytest.approx(first["loss"])


def test_progress_bar_stays_text_outside_a_notebook():
    out = io.StringIO()
    bar = ProgressBar(4, 1, 2, stream=out)
    assert bar.widget is None
    bar.update(2, 16, {"loss": 1.0})
    bar.finish(32, {"loss": 0.5})
    assert out.getvalue().startswith("epoch 1/2  4/4")
    assert out.getvalue().count("\n") == 1


def test_in_jupyter_is_false_here():
    assert _html.in_jupyter() is False
