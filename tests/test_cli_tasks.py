"""Your own data on the command line: every task, every data kind, every bad
input of issue 12, end to end (in-process through ``main`` for speed, plus a
subprocess check of the one-line error)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _model_files import edit_manifest
from _requires import has, importorskip
from _run_cli import fails
from _run_cli import run_main as run

import chainrule as cr
from chainrule.cli import main

REPO = Path(__file__).resolve().parents[1]
HAS_MPL = has("matplotlib")
HAS_PIL = has("PIL")
FAST = ["--epochs", "3", "--hidden", "8,8"]


def write_csv(path: Path, header, rows) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    n = 80
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    y = 2 * a - b + (colour == "red") + rng.normal(scale=0.1, size=n)
    rows = []
    for i in range(n):
        rows.append(
            [
                f"id{i}",
                "" if i == 3 else f"{a[i]:.4f}",  # a missing number
                f"{b[i]:.4f}",
                "" if i == 5 else colour[i],  # a missing category
                f"{y[i]:.4f}",
                f"{a[i] + b[i]:.4f}",
                "yes" if a[i] + b[i] > 0 else "no",
                ["cat", "dog", "cow"][int(np.argmax([a[i], b[i], -a[i] - b[i]]))],
            ]
        )
    header = ["id", "a", "b", "colour", "y", "z", "yesno", "animal"]
    out = {"main": write_csv(d / "main.csv", header, rows)}
    # The same rows as TSV, columns reordered and an extra column.
    with open(d / "other.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["extra", "colour", "b", "a", "id"])
        for r in rows:
            w.writerow(["?", r[3], r[2], r[1], r[0]])
    out["other"] = d / "other.tsv"
    return out


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """Three digit classes as PNG files, train/ and test/ folders."""
    Image = importorskip("PIL.Image")
    root = tmp_path_factory.mktemp("digits")
    (x, y), (xt, yt) = cr.data.load("mnist5k")
    for split, (xs, ys), per in (("train", (x, y), 20), ("test", (xt, yt), 6)):
        for c in range(3):
            folder = root / split / f"digit{c}"
            folder.mkdir(parents=True)
            for i, k in enumerate(np.flatnonzero(ys == c)[:per]):
                img = (xs[k, 0] * 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------- the tasks
def test_regress_end_to_end(capsys, tables, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--target", "y",
        "--features", "a,b,colour", "--out", out, *FAST, "--epochs", "60", "--lr", "0.01",
    )
    assert code == 0
    train_text = text
    assert "task: regress (target 'y' is numeric)" in text
    assert "model: mlp 5-8-8-1 (hidden sizes 8, 8" in text
    assert "filled 1 missing value(s) of 'a' with the training rows' median" in text
    assert "most frequent" in text
    assert "test RMSE" in text and "R\u00b2" in text
    meta = cr.load(out / "model.npz").metadata
    assert meta["task"] == "regress" and meta["loss"] == "mse"
    prep = meta["preprocessing"]
    assert [i["name"] for i in prep["inputs"]] == ["a", "b", "colour"]
    assert prep["inputs"][2]["categories"] == ["blue", "green", "red"]
    if HAS_MPL:
        assert (out / "predicted_vs_true.png").is_file()

    # predict applies the saved transform: the same rows in a TSV with the
    # columns reordered and an extra one give the same predictions.
    assert run(capsys, "predict", out / "model.npz", tables["main"], "--id", "id",
               "--output", tmp_path / "p1.csv")[0] == 0
    code, text, _ = run(capsys, "predict", out / "model.npz", tables["other"], "--id", "id")
    assert code == 0
    p1 = read_rows(tmp_path / "p1.csv")
    p2 = list(csv.DictReader(text.splitlines()))
    assert len(p1) == 80 and list(p1[0]) == ["id", "y"]
    assert p1 == p2
    assert p1[0]["id"] == "id0"

    trained = re.search(r"test (RMSE \S+  MAE \S+)", train_text).group(1)
    code, text, _ = run(capsys, "evaluate", out / "model.npz")
    assert code == 0 and "test split (16 rows)" in text and trained in text
    code, text, _ = run(capsys, "evaluate", out / "model.npz", tables["main"], "--json")
    scores = json.loads(text)
    assert scores["task"] == "regress" and scores["r2"] > 0.5


def test_regress_several_targets_and_sse(capsys, tables, tmp_path):
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--target", "y", "--target", "z",
        "--features", "a,b", "--loss", "sse", "--out", tmp_path / "r", *FAST, "--json",
    )
    assert code == 0
    result = json.loads(text.splitlines()[-1])
    assert result["task"] == "regress"
    assert set(result["test"]["per_target"]) == {"y", "z"}
    code, text, _ = run(capsys, "predict", tmp_path / "r" / "model.npz", tables["main"])
    assert text.splitlines()[0] == "row,y,z"


def test_binary_end_to_end(capsys, tables, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--target", "yesno",
        "--features", "a,b", "--out", out, *FAST, "--epochs", "20",
    )
    assert code == 0
    assert "task: binary (target 'yesno' has 2 distinct values)" in text
    assert "positive class 'yes'" in text and "loss bce" in text
    assert "ROC AUC" in text and "F1" in text
    model = cr.load(out / "model.npz")
    assert type(model[len(model) - 1]).__name__ == "Sigmoid"  # one sigmoid output
    if HAS_MPL:
        assert (out / "roc_curve.png").is_file()
        assert (out / "confusion_matrix.png").is_file()
    code, text, _ = run(capsys, "predict", out / "model.npz", tables["main"], "--proba")
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == ["row", "yesno", "p_no", "p_yes"]
    for r in rows:
        assert float(r["p_no"]) + float(r["p_yes"]) == pytest.approx(1, abs=1e-5)
        assert r["yesno"] == ("yes" if float(r["p_yes"]) >= 0.5 else "no")
    code, text, _ = run(capsys, "evaluate", out / "model.npz", "--json")
    assert set(json.loads(text)) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}


def test_classify_text_classes_and_nll(capsys, tables, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--target", "animal",
        "--features", "a,b", "--out", out, *FAST,
    )
    assert code == 0 and "task: classify" in text and "(cat, cow, dog)" in text
    code, text, _ = run(capsys, "predict", out / "model.npz", tables["main"])
    assert {r["animal"] for r in csv.DictReader(text.splitlines())} <= {"cat", "cow", "dog"}
    code, text, _ = run(capsys, "evaluate", out / "model.npz")
    assert "confusion matrix" in text
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--target", "animal",
        "--features", "a,b", "--loss", "nll", "--out", tmp_path / "nll", *FAST,
    )
    assert code == 0 and "loss nll" in text
    code, text, _ = run(
        capsys, "predict", tmp_path / "nll" / "model.npz", tables["main"], "--proba"
    )
    row = next(csv.DictReader(text.splitlines()))
    assert sum(float(row[f"p_{k}"]) for k in ("cat", "cow", "dog")) == pytest.approx(1, abs=1e-5)


def test_autoencode_table_encode_and_label(capsys, tables, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--task", "autoencode",
        "--features", "a,b,colour,z", "--label", "animal", "--out", out, *FAST,
    )
    assert code == 0
    assert "task: autoencode (--task autoencode): code size 2" in text
    assert "model: mlp 6-8-8-2-8-8-6" in text
    assert "PCA with 2 component(s)" in text
    if HAS_MPL:
        assert (out / "codes.png").is_file()
    code, text, _ = run(
        capsys, "encode", out / "model.npz", tables["main"], "--id", "id",
        "--output", tmp_path / "codes.csv",
    )
    assert code == 0
    rows = read_rows(tmp_path / "codes.csv")
    assert list(rows[0]) == ["id", "code_1", "code_2"] and len(rows) == 80
    code, text, _ = run(capsys, "predict", out / "model.npz", tables["main"])
    assert text.splitlines()[0] == "row,reconstruction_mse"
    code, text, _ = run(capsys, "evaluate", out / "model.npz")
    assert "reconstruction MSE" in text


@pytest.mark.skipif(not HAS_PIL, reason="needs Pillow")
def test_image_folder_classify_predict_evaluate(capsys, digits, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(capsys, "train", "--data", digits, "--out", out, *FAST)
    assert code == 0
    assert "60 images" not in text  # 60 train + 18 test
    assert "78 images in 3 class folder(s) (digit0, digit1, digit2), train/ and test/" in text
    assert "read as 1x28x28" in text and "task: classify (3 class folders)" in text
    meta = cr.load(out / "model.npz").metadata
    assert meta["preprocessing"]["class_names"] == ["digit0", "digit1", "digit2"]
    code, text, _ = run(capsys, "predict", out / "model.npz", digits / "test", "--proba")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 18 and list(rows[0]) == ["file", "class", "p_digit0", "p_digit1", "p_digit2"]
    assert rows[0]["file"].endswith("0.png")
    code, text, _ = run(capsys, "predict", out / "model.npz", digits / "test" / "digit1" / "0.png")
    assert len(text.splitlines()) == 2
    code, text, _ = run(capsys, "evaluate", out / "model.npz", digits)
    assert code == 0 and "18 images" in text and "accuracy" in text
    fails(capsys, r"scoring needs labelled images: give a folder of class folders",
          "evaluate", out / "model.npz", digits / "test" / "digit1")


@pytest.mark.skipif(not HAS_PIL, reason="needs Pillow")
def test_image_folder_binary_rgb_and_resize(capsys, digits, tmp_path):
    two = tmp_path / "two"
    for c in ("digit0", "digit1"):
        (two / c).mkdir(parents=True)
        for f in sorted((digits / "train" / c).iterdir()):
            (two / c / f.name).write_bytes(f.read_bytes())
    code, text, _ = run(
        capsys, "train", "--data", two, "--channels", "3", "--image-size", "14", "14",
        "--model", "seed-cnn", "--out", tmp_path / "run", "--epochs", "2",
        "--validation-split", "0.2", "--test-split", "0.25",
    )
    assert code == 0, text
    assert "converted 40 L images to RGB" in text and "resized 40 of 40 images to 14x14" in text
    assert "task: binary (2 class folders)" in text
    assert cr.load(tmp_path / "run" / "model.npz").metadata["input_shape"] == [3, 14, 14]
    # evaluate splits the folder again exactly as train did: the same scores.
    trained = re.search(r"test accuracy (\S+)", text).group(1)
    code, text, _ = run(capsys, "evaluate", tmp_path / "run" / "model.npz")
    assert code == 0 and f"accuracy {trained}" in text and "test split (10 images)" in text
    code, text, _ = run(
        capsys, "train", "--data", two, "--task", "autoencode", "--out", tmp_path / "ae",
        *FAST, "--test-split", "0.25", "--validation-split", "0.2",
    )
    trained = re.search(r"test reconstruction MSE (\S+)", text).group(1)
    code, text, _ = run(capsys, "evaluate", tmp_path / "ae" / "model.npz")
    assert f"reconstruction MSE {trained}" in text


@pytest.mark.skipif(not HAS_PIL, reason="needs Pillow")
def test_image_autoencoder(capsys, digits, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(
        capsys, "train", "--data", digits, "--task", "autoencode", "--code-size", "4",
        "--out", out, *FAST,
    )
    assert code == 0 and "784-8-8-4-8-8-784" in text
    if HAS_MPL:
        assert (out / "reconstructions.png").is_file() and (out / "codes.png").is_file()
    code, text, _ = run(capsys, "encode", out / "model.npz", digits / "test")
    assert text.splitlines()[0] == "file,code_1,code_2,code_3,code_4"
    assert len(text.splitlines()) == 19


def test_builtin_autoencoder_and_resume(capsys, tables, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--target", "y", "--features",
        "a,b", "--out", out, *FAST, "--epochs", "2",
    )
    assert code == 0
    code, text, _ = run(capsys, "train", "--resume", out / "checkpoint.npz", "--epochs", "4")
    assert code == 0 and "resuming from" in text and "epoch 4/4" in text


# ------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("a,b\n")
    (d / "ragged.csv").write_text("a,b\n1,2\n3,4\n5\n")
    rows = [[i, i % 2] for i in range(60)]
    write_csv(d / "ok.csv", ["x", "y"], rows)
    rows[12] = ["twelve", 0]
    write_csv(d / "text.csv", ["x", "y"], rows)
    write_csv(d / "const.csv", ["x", "y"], [[i, 7] for i in range(60)])
    write_csv(d / "ten.csv", ["x", "y"], [[i, i % 2] for i in range(10)])
    write_csv(d / "miss.csv", ["x", "y"], [[("" if i == 4 else i), i % 2] for i in range(60)])
    return d


@pytest.mark.parametrize(
    "args, match",
    [
        (["--target", "nope"], r"unknown target column 'nope' in .*; the columns are x, y"),
        (["--target", "y", "DATA=const.csv"], r"target column 'y' has one distinct value"),
        (["--target", "y", "DATA=empty.csv"], r"empty\.csv' is empty"),
        (["--target", "y", "DATA=header.csv"], r"has a header but no data rows"),
        (["--target", "y", "DATA=ragged.csv"], r"line 4 has 1 fields; the header has 2"),
        (["--target", "y", "DATA=text.csv"], r"line 14, column 'x': 'twelve' is not a number"),
        (["--target", "y", "DATA=ten.csv"], r"--test-split 0.2 of the 10 rows of 'ten.csv' is 2"),
        (
            ["--target", "y", "DATA=ten.csv", "--test-split", "0", "--validation-split", "0.2"],
            r"--validation-split 0.2 of the 10 training rows .* is 2 row\(s\); validation "
            r"needs at least 5. Use --validation-split 0.45 or more, or --validation-split 0",
        ),
        (["--target", "y", "DATA=miss.csv", "--missing", "refuse"], r"line 6, column 'x': the value is missing"),
        (["--target", "y", "--loss", "mse"], r"--loss mse does not fit --task binary.*\(the task was inferred: target 'y' has 2"),
        (["--target", "y", "--task", "binary", "--loss", "ce"], r"--loss ce does not fit --task binary"),
        (["--target", "y", "--task", "autoencode"], r"--task autoencode .* has no target"),
        ([], r"name the column to predict with --target; the columns of .* are x, y"),
        (["--target", "y", "--image-size", "8", "8"], r"--image-size applies to image folders"),
        (["--target", "y", "--code-size", "2"], r"--code-size applies to --task autoencode"),
        (["--target", "y", "--model", "linear4-relu-linear2"], r"end the spec with linear1-sigmoid"),
    ],
)
def test_bad_tables(capsys, bad, tmp_path, args, match):
    data = bad / "ok.csv"
    rest = []
    for a in args:
        if a.startswith("DATA="):
            data = bad / a[5:]
        else:
            rest.append(a)
    out = tmp_path / "run"
    fails(capsys, match, "train", "--data", data, "--out", out, *rest, *FAST)
    assert not out.exists()  # nothing written


@pytest.mark.skipif(not HAS_PIL, reason="needs Pillow")
def test_bad_image_folders(capsys, digits, tmp_path):
    one = tmp_path / "one" / "cats"
    one.mkdir(parents=True)
    for i in range(6):
        (one / f"{i}.png").write_bytes((digits / "train" / "digit0" / f"{i}.png").read_bytes())
    fails(capsys, r"has one class \('cats'\); classification needs at least two",
          "train", "--data", one.parent, "--out", tmp_path / "r")
    broken = tmp_path / "broken"
    for c in ("a", "b"):
        (broken / c).mkdir(parents=True)
        for i in range(5):
            (broken / c / f"{i}.png").write_bytes(
                (digits / "train" / "digit0" / f"{i}.png").read_bytes()
            )
    (broken / "b" / "9.png").write_bytes(b"not an image at all")
    fails(capsys, r"cannot read image '.*b/9.png'", "train", "--data", broken,
          "--out", tmp_path / "r")
    fails(capsys, r"--task regress needs numeric targets from a CSV",
          "train", "--data", digits, "--task", "regress", "--out", tmp_path / "r")
    fails(capsys, r"--target names CSV columns; .* is an image folder",
          "train", "--data", digits, "--target", "x", "--out", tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_bad_predict_inputs(capsys, tables, bad, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, "train", "--data", tables["main"], "--target", "y",
               "--features", "a,b,colour", "--out", out, *FAST)[0] == 0
    model = out / "model.npz"
    target = tmp_path / "pred.csv"
    fails(capsys, r"lacks columns 'a', 'b', 'colour' \(it has x, y\)",
          "predict", model, bad / "ok.csv", "--output", target)
    write_csv(tmp_path / "wrong.csv", ["a", "b", "colour"], [[1, 2, "red"], [1, "two", "red"]])
    fails(capsys, r"line 3, column 'b': 'two' is not a number",
          "predict", model, tmp_path / "wrong.csv", "--output", target)
    write_csv(tmp_path / "cat.csv", ["a", "b", "colour"], [[1, 2, "purple"]])
    fails(capsys, r"column 'colour': category 'purple' is not one the model knows",
          "predict", model, tmp_path / "cat.csv", "--output", target)
    fails(capsys, r"lacks column 'nope'", "predict", model, tables["main"], "--id", "nope")
    fails(capsys, r"is not an autoencoder", "encode", model, tables["main"])
    assert not target.exists()  # nothing half-written


def test_one_line_error_in_a_subprocess(bad, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "--data", str(bad / "ragged.csv"),
         "--target", "b", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "line 4 has 1 fields" in r.stderr


def test_csv_options_refused_for_digit_models(capsys, tmp_path):
    from chainrule.spec import build_spec

    path = tmp_path / "digits.npz"
    build_spec("mlp", rng=0).save(path)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 28, 28), np.float32))
    fails(capsys, r"--output applies to models trained on your own data",
          "predict", path, x, "--output", tmp_path / "p.csv")
    fails(capsys, r"is not an autoencoder", "encode", path, x)
    assert not (tmp_path / "p.csv").exists()


def test_patience_stops_early_and_keeps_the_best_epoch(capsys, tables, tmp_path):
    code, text, _ = run(
        capsys, "train", "--data", tables["main"], "--target", "y", "--features",
        "a,b", "--out", tmp_path / "r", *FAST, "--epochs", "200", "--lr", "0.05",
        "--patience", "2",
    )
    assert code == 0
    assert "early stopping: val_loss did not improve for 2 epochs" in text
    assert "the model keeps that epoch's weights" in text
    epochs = len((tmp_path / "r" / "history.csv").read_text().splitlines()) - 1
    assert epochs < 200


# ------------------------------------------- model files with bad metadata
# A model file is untrusted: its metadata may come from model.save(path,
# metadata={...}) in Python or from an edited file. Every case is refused
# with one line that names the file and the field, before any output.
def _train_quietly(*args) -> Path:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([str(a) for a in ("train", *args)]) == 0
    return Path(args[args.index("--out") + 1]) / "model.npz"


@pytest.fixture(scope="module")
def task_models(tmp_path_factory, tables) -> dict[str, Path]:
    """A model file written by train on a table, for each task."""
    d = tmp_path_factory.mktemp("task_models")
    runs = {
        "regress": ["--target", "y", "--features", "a,b,colour"],
        "binary": ["--target", "yesno", "--features", "a,b"],
        "classify": ["--target", "animal", "--features", "a,b"],
        "autoencode": ["--task", "autoencode", "--features", "a,b,colour,z"],
    }
    return {
        task: _train_quietly("--data", tables["main"], *args, "--out", d / task, *FAST)
        for task, args in runs.items()
    }


@pytest.fixture(scope="module")
def image_model(tmp_path_factory, digits) -> Path:
    """A 3-class image-folder classifier written by train."""
    out = tmp_path_factory.mktemp("image_model") / "run"
    return _train_quietly("--data", digits, "--out", out, *FAST)


def _set(key: str, value):
    """An edit of a manifest: its metadata's ``key`` (dotted, with list
    indices: "preprocessing.inputs.0.scale") set to ``value``."""

    def change(manifest):
        node = manifest["metadata"]
        *parents, last = [int(k) if k.isdigit() else k for k in key.split(".")]
        for k in parents:
            node = node[k]
        node[last] = value

    return change


# (the model file, the command, what the one line must say). The file is a
# dict: an MLP for digits (10 outputs) saved from Python with that metadata;
# or (model, key, value): a file train wrote with one metadata field edited.
BAD_METADATA = [
    # "task" read as a task model's, whatever it says
    ({"task": "digits", "input_shape": [1, 28, 28]}, ["predict", "NPY"],
     r"'task' is 'digits'; expected one of regress, binary, classify, autoencode"),
    ({"task": "digits", "input_shape": [1, 28, 28]}, ["evaluate"], r"'task' is 'digits'"),
    # class names that do not fit the outputs
    ({"class_names": ["zero", "one"], "input_shape": [1, 28, 28]}, ["predict", "NPY"],
     r"'class_names' is \['zero', 'one'\]; expected 10 names, one per output"),
    ({"class_names": ["zero", "one"], "input_shape": [1, 28, 28]}, ["evaluate"],
     r"'class_names' is \['zero', 'one'\]; expected 10 names"),
    ({"class_names": "0123456789"}, ["predict", "NPY"], r"'class_names' is '0123456789'"),
    ({"data": 5}, ["evaluate"], r"'data' is 5; expected the name of a data set"),
    # a table preprocessing without its columns
    ({"task": "classify", "preprocessing": {"kind": "table"}}, ["predict", "CSV"],
     r"'preprocessing\.inputs' is missing"),
    # one field of a file train wrote, edited
    (("autoencode", "code_layer", 1000000), ["encode", "CSV"],
     r"'code_layer' is 1000000; expected the index of a layer before the output layer"),
    (("regress", "preprocessing.kind", "weird"), ["predict", "CSV"],
     r"'preprocessing\.kind' is 'weird'; expected one of table, images, builtin"),
    (("classify", "class_names", None), ["predict", "CSV"],
     r"'class_names' is null; expected a list of 3 names"),
    (("classify", "class_names", None), ["evaluate"], r"'class_names' is null"),
    (("binary", "task", "weird"), ["predict", "CSV"], r"'task' is 'weird'"),
    (("images", "preprocessing.size", [100000, 100000]), ["predict", "PNG"],
     r"'preprocessing\.size' is \[100000, 100000\]; expected \[height, width\], each "
     r"from 1 to 1024"),
    (("images", "preprocessing.channels", 2), ["predict", "PNG"],
     r"'preprocessing\.channels' is 2"),
    (("images", "preprocessing.class_names", ["a", "b", "c"]), ["evaluate"],
     r"'preprocessing\.class_names' is \['a', 'b', 'c'\]; expected the class_names"),
    (("binary", "class_names", ["no", "yes", "maybe"]), ["predict", "CSV"],
     r"'class_names' is \['no', 'yes', 'maybe'\]; expected a list of 2 names"),
    (("binary", "task", "classify"), ["predict", "CSV"],
     r"'task' is 'classify'; expected another task for a model of 1 output"),
    (("regress", "task", "autoencode"), ["predict", "CSV"],
     r"'task' is 'autoencode'; expected another task for a model of 1 outputs"),
    (("regress", "target_names", ["y", "z"]), ["predict", "CSV"],
     r"'target_names' is \['y', 'z'\]; expected 1 names, one per output"),
    (("regress", "preprocessing.inputs.0.scale", 0), ["predict", "CSV"],
     r"'preprocessing\.inputs\[0\]\.scale' is 0; expected a number above 0"),
    (("regress", "preprocessing.inputs.2.fill", "purple"), ["predict", "CSV"],
     r"'preprocessing\.inputs\[2\]\.fill' is 'purple'; expected one of its categories"),
    (("regress", "preprocessing.inputs.2.categories", ["blue", "green", "red", "pink"]),
     ["predict", "CSV"],
     r"the model does not take inputs of shape \(6,\), which its metadata field "
     r"'preprocessing\.inputs' describes"),
    (("regress", "preprocessing.targets", []), ["predict", "CSV"],
     r"'preprocessing\.targets' is \[\]; expected 1 numeric targets"),
    (("classify", "preprocessing.targets.0.classes", ["cat", "dog", "cow"]), ["evaluate"],
     r"'preprocessing\.targets' is .*; expected one class target whose classes are"),
    (("classify", "loss", "mse"), ["predict", "CSV"], r"'loss' is 'mse'; expected one of ce, nll"),
    (("classify", "train_args.seed", -1), ["evaluate"], r"'train_args\.seed' is -1"),
    (("autoencode", "code_size", 7), ["evaluate"], r"'code_size' is 7; expected 2, the width"),
    (("autoencode", "code_layer", True), ["encode", "CSV"], r"'code_layer' is True"),
]


def _case_id(case) -> str:
    model, command, _ = case
    what = "-".join(map(str, model[:2])) if isinstance(model, tuple) else "saved-" + "-".join(model)
    return f"{command[0]}-{what}"


@pytest.mark.parametrize("model, command, says", BAD_METADATA, ids=map(_case_id, BAD_METADATA))
def test_bad_metadata_is_one_line_naming_the_file_and_field(
    capsys, request, tables, tmp_path, model, command, says
):
    path = tmp_path / "model.npz"
    if isinstance(model, dict):
        from chainrule.spec import build_spec

        build_spec("mlp", rng=0).save(path, metadata=model)
    else:
        source, key, value = model
        if source == "images":
            importorskip("PIL.Image")
            made = request.getfixturevalue("image_model")
        else:
            made = request.getfixturevalue("task_models")[source]
        shutil.copy(made, path)
        edit_manifest(path, _set(key, value))
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((2, 1, 28, 28), np.float32))
    inputs = {"CSV": tables["main"], "NPY": npy}
    if "PNG" in command:
        inputs["PNG"] = request.getfixturevalue("digits") / "test" / "digit1" / "0.png"
    name, *rest = command
    line = fails(
        capsys,
        f"^chainrule {name}: error: {re.escape(repr(str(path)))}: "
        + ("" if says.startswith("the model") else "metadata field ")
        + says,
        name, path, *(inputs.get(a, a) for a in rest),
    )  # fmt: skip
    assert "--image-size" not in line  # an option the user never gave


def test_predict_refuses_a_builtin_autoencoder(capsys, tmp_path):
    """Its preprocessing has no image size: predict says what to use instead."""
    model = _train_quietly(
        "--task", "autoencode", "--out", tmp_path / "run", "--epochs", "1",
        "--hidden", "8",
    )  # fmt: skip
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((1, 1, 28, 28), np.float32))
    fails(capsys, r"predict reads CSV files and images; this autoencoder was trained on "
          r"a built-in data set", "predict", model, npy)
