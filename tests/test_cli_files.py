"""Files the command line reads and writes: ``--output`` and the files it
must not replace (a device, a pipe, a symbolic link, the model or the data it
read), JSON that every parser reads, nothing printed before an error, and data
files whose labels would make it allocate without bound."""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from _model_files import edit_manifest
from _run_cli import fails
from _run_cli import run_main as run

from chainrule._atomic import atomic_write
from chainrule.cli import main

FAST = ["--epochs", "2", "--hidden", "8"]


@pytest.fixture(scope="module")
def regression(tmp_path_factory) -> tuple[Path, Path]:
    """(a regression model file, the CSV it was trained on)."""
    d = tmp_path_factory.mktemp("regress")
    rng = np.random.default_rng(0)
    x = rng.random((60, 2))
    with open(d / "data.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "y"])
        w.writerows([[f"{a:.4f}", f"{b:.4f}", f"{a + 2 * b:.4f}"] for a, b in x])
    assert main(["train", "--data", str(d / "data.csv"), "--target", "y",
                 "--out", str(d / "run"), *FAST]) == 0  # fmt: skip
    return d / "run" / "model.npz", d / "data.csv"


# ------------------------------------------------------------ atomic_write
def test_atomic_write_replaces_a_links_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to("real.csv")
    with atomic_write(tmp_path / "link.csv") as f:
        f.write(b"new")
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text() == "new"


def test_atomic_write_writes_into_a_pipe_and_leaves_it_a_pipe(tmp_path):
    # Renamed over, the FIFO would become a plain file and its reader get
    # nothing (and /dev/null, the same way, a file every program writes into).
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with atomic_write(fifo) as f:
        f.write(b"rows")
    reader.join(timeout=10)
    assert got == [b"rows"]
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]  # no temp file


# ---------------------------------------------------------------- --output
def test_output_may_not_be_the_model_or_the_data(capsys, regression, tmp_path):
    model, data = regression
    before = model.read_bytes(), data.read_bytes()
    fails(capsys, r"--output '.*model\.npz' is '.*model\.npz', which this command reads",
          "predict", model, data, "--output", model)  # fmt: skip
    fails(capsys, r"--output '.*data\.csv' is '.*data\.csv', which this command reads",
          "predict", model, data, "--output", data)  # fmt: skip
    # Through a link to it, too.
    (tmp_path / "alias.npz").symlink_to(model)
    fails(capsys, r"which this command reads",
          "predict", model, data, "--output", tmp_path / "alias.npz")  # fmt: skip
    assert (model.read_bytes(), data.read_bytes()) == before


def test_output_that_cannot_be_written_is_named(capsys, regression):
    model, data = regression
    # Not the temporary file beside it, which the user never named.
    fails(capsys, r"^chainrule predict: error: --output '/proc/x\.csv': cannot write it",
          "predict", model, data, "--output", "/proc/x.csv")  # fmt: skip


def test_proba_is_refused_for_a_regression_model(capsys, regression):
    model, data = regression
    fails(capsys, r"--proba applies to classifiers; this model's task is 'regress'",
          "predict", model, data, "--proba")  # fmt: skip


# ------------------------------------------------------------------- JSON
def test_an_undefined_score_is_null_in_json(capsys, tmp_path):
    # ROC AUC of a test set holding one class is undefined: Python's json
    # would write the bare word NaN, which strict parsers refuse.
    rng = np.random.default_rng(0)
    rows = [[f"{a:.3f}", "yes" if a > 0.5 else "no"] for a in rng.random(60)]
    with open(tmp_path / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows([["a", "label"], *rows])
    with open(tmp_path / "one.csv", "w", newline="") as f:
        csv.writer(f).writerows([["a", "label"], ["0.9", "yes"], ["0.8", "yes"]])
    assert run(capsys, "train", "--data", tmp_path / "train.csv", "--target", "label",
               "--out", tmp_path / "run", *FAST)[0] == 0  # fmt: skip
    code, out, err = run(capsys, "evaluate", tmp_path / "run" / "model.npz",
                         tmp_path / "one.csv", "--json")  # fmt: skip
    assert code == 0, err
    assert "NaN" not in out
    scores = json.loads(out, parse_constant=lambda word: pytest.fail(f"{word} in JSON"))
    assert scores["roc_auc"] is None


# ----------------------------------------------- nothing before an error
def test_info_prints_nothing_before_its_error(capsys, tmp_path):
    assert run(capsys, "train", "--epochs", "1", "--model", "flatten-linear10",
               "--out", tmp_path / "run")[0] == 0  # fmt: skip
    path = edit_manifest(
        tmp_path / "run" / "model.npz",
        lambda m: m["metadata"].update(input_shape=[1, 28, 29]),
    )
    code, out, err = run(capsys, "info", path)
    assert code == 2 and out == ""
    assert "does not take the input_shape [1, 28, 29] its metadata gives" in err


# ---------------------------------------------------- labels of a data file
@pytest.mark.parametrize(
    "label, match",
    [
        (10**9, r"y_train: target labels must be integers in \[0, 1000\); got 1000000000 at row 0"),
        (-1, r"y_train: target labels must be integers in \[0, 1000\); got -1 at row 0"),
        (2.5, r"y_train: target labels must be integers; got 2.5 at row 0"),
    ],
)
def test_npz_labels_must_be_class_numbers(capsys, tmp_path, label, match):
    # One label of 10**9 in a file of 790 KB made train build a billion class
    # names (and an output layer as wide).
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 40).astype(type(label))
    y[0] = label
    np.savez(tmp_path / "d.npz", x_train=rng.random((40, 1, 8, 8), dtype=np.float32),
             y_train=y, x_test=rng.random((10, 1, 8, 8), dtype=np.float32),
             y_test=rng.integers(0, 10, 10))  # fmt: skip
    fails(capsys, match, "train", "--data", tmp_path / "d.npz", "--out", tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_npz_test_images_of_another_size_are_refused_before_training(capsys, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.random((40, 1, 8, 8), dtype=np.float32),
             y_train=rng.integers(0, 10, 40), x_test=rng.random((10, 1, 4, 4), dtype=np.float32),
             y_test=rng.integers(0, 10, 10))  # fmt: skip
    fails(capsys, r"d\.npz': x_train and x_test must hold samples of one shape; got "
          r"\(1, 8, 8\) and \(1, 4, 4\)", "train", "--data", tmp_path / "d.npz",
          "--out", tmp_path / "r")  # fmt: skip
    assert not (tmp_path / "r").exists()
