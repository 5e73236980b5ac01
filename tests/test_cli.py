"""The command line end to end, in subprocesses: ``python -m chainrule ...``.

Every command on the embedded digits with small settings; every error path
exits with status 2 and exactly one line on stderr, no traceback (unless
``--debug``), and leaves what is on disk as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _requires import IN_CI, has
from _run_cli import ENV, REPO, cli

import chainrule as cr
from chainrule.cli import build_parser, main
from chainrule.io import read_checkpoint

HAS_MATPLOTLIB = has("matplotlib")
HAS_PIL = has("PIL")


def assert_fails(result: subprocess.CompletedProcess, match: str) -> str:
    """Exit status 2, one line on stderr matching ``match``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    assert re.search(match, lines[0]), lines[0]
    return lines[0]


def _digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


def _no_matplotlib(directory: Path) -> dict:
    """An environment where ``import matplotlib`` fails, as when not installed."""
    stub = directory / "stub" / "matplotlib"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text("raise ImportError('not installed (stub)')\n")
    return {**ENV, "PYTHONPATH": os.pathsep.join([str(stub.parent), str(REPO)])}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real training run shared by the tests: (run dir, its --json result)."""
    base = tmp_path_factory.mktemp("cli")
    out = base / "run"
    result = cli(
        "train", "--data", "mnist5k", "--model", "mlp", "--epochs", "1",
        "--seed", "1", "--json", "--out", out, cwd=base,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def model_file(run) -> Path:
    return run[0] / "model.npz"


@pytest.fixture(scope="module")
def test_set():
    return cr.data.load("mnist5k")[1]


# ------------------------------------------------------------------- train
def test_train_writes_the_run(run):
    out, result = run
    for name in ("model.npz", "checkpoint.npz", "history.csv", "history.json"):
        assert (out / name).is_file(), name
    assert set(result) >= {
        "test_accuracy",
        "test_loss",
        "epochs",
        "seconds",
        "samples_per_second",
    }
    assert result["epochs"] == 1
    assert 0.5 < result["test_accuracy"] <= 1.0
    assert result["test_loss"] > 0 and result["seconds"] > 0
    assert result["samples_per_second"] > 0
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "loss", "accuracy"]
    assert "val_loss" in rows[0]
    assert len(rows) == 2 and rows[1].startswith("1,")
    if HAS_MATPLOTLIB:
        pictures = list(out.glob("*.png"))
        assert pictures
        assert all(p.read_bytes().startswith(b"\x89PNG") for p in pictures)
    model = cr.load(out / "model.npz")
    assert model.num_parameters() == 235_146
    assert model.metadata["input_shape"] == [1, 28, 28]
    assert model.metadata["train_args"]["seed"] == 1


def test_train_text_output_and_no_pictures_without_matplotlib(tmp_path):
    result = cli(
        "train", "--model", "flatten-linear10", "--epochs", "1", "--batch-size",
        "256", "--optimizer", "adam", "--out", tmp_path / "run",
        env=_no_matplotlib(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "epoch 1/1" in result.stdout
    assert "(pip install 'chainrule[plots]' for pictures)" in result.stdout
    assert re.search(r"test accuracy 0\.\d{4}  test loss \d\.\d{4}", result.stdout)
    assert not list((tmp_path / "run").glob("*.png"))
    assert (tmp_path / "run" / "model.npz").is_file()


def test_train_on_an_npz_then_evaluate_from_elsewhere(tmp_path):
    """A model trained on a data file remembers it by an absolute path."""
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "small.npz",
        x_train=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8),
        y_train=np.arange(40) % 3,
        x_test=rng.integers(0, 256, (12, 8, 8), dtype=np.uint8),
        y_test=np.arange(12) % 3,
    )
    result = cli(
        "train", "--data", "small.npz", "--model", "flatten-linear3",
        "--epochs", "1", "--out", "run", "--json",
        env=_no_matplotlib(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("evaluate", tmp_path / "run" / "model.npz", "--json", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n"] == 12
    # ... and the 8x8 model refuses the 28x28 digits.
    result = cli("evaluate", tmp_path / "run" / "model.npz", "--data", "mnist5k")
    assert_fails(
        result,
        r"^chainrule evaluate: error: the model expects inputs of shape "
        r"\(1, 8, 8\); data 'mnist5k' has \(1, 28, 28\)\.$",
    )


# ---------------------------------------------------------------- evaluate
def test_evaluate_text(run, model_file):
    result = cli("evaluate", model_file)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "on mnist5k test set (1,000 images)" in text
    assert f"accuracy {run[1]['test_accuracy']:.4f}" in text
    assert "class  precision  recall" in text
    assert "confusion matrix (rows: true class, columns: predicted)" in text
    rows = [line for line in text.splitlines() if re.match(r"^\d +\d", line)]
    assert len(rows) == 20  # ten precision/recall rows, ten matrix rows


def test_evaluate_json(run, model_file, test_set):
    result = cli("evaluate", model_file, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["data"] == "mnist5k" and report["n"] == 1000
    assert report["accuracy"] == pytest.approx(run[1]["test_accuracy"])
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 1000
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(test_set[1]))
    assert np.trace(cm) / 1000 == pytest.approx(report["accuracy"])
    per_class = report["per_class"]
    assert [c["class"] for c in per_class] == [str(i) for i in range(10)]
    for i, c in enumerate(per_class):
        assert c["recall"] == pytest.approx(cm[i, i] / cm[i].sum())
        assert c["precision"] == pytest.approx(cm[i, i] / cm[:, i].sum())


@pytest.mark.skipif(
    not (IN_CI or cr.data.datasets.DEFAULT_FASHION_MNIST_DIR.is_dir()),
    reason="apt-get install dataset-fashion-mnist",
)
def test_evaluate_warns_when_the_classes_differ(model_file, tmp_path, monkeypatch, capsys):
    """A digits model scored on Fashion-MNIST: the numbers, and a warning."""
    result = _main(["evaluate", model_file, "--data", "fashion-mnist"], tmp_path, monkeypatch, capsys)
    assert result.returncode == 0
    assert result.stderr == (
        "chainrule evaluate: warning: the model was trained on 'mnist5k' (classes 0, "
        "1, 2, ...); 'fashion-mnist' has other classes (T-shirt/top, Trouser, "
        "Pullover, ...), so these scores compare different things.\n"
    )
    same = _main(["evaluate", model_file, "--data", "mnist5k"], tmp_path, monkeypatch, capsys)
    assert same.returncode == 0 and same.stderr == ""


# ----------------------------------------------------------------- predict
def _clear_digits(model_file, test_set, k: int = 3):
    """Indices of test digits of ``k`` different classes that the model gets
    right with confidence."""
    x, y = test_set
    probs = cr.functional.softmax(cr.predict(cr.load(model_file), x).astype(float))
    chosen = {}
    for i in np.argsort(-probs.max(axis=1)):
        if probs[i].argmax() == y[i] and y[i] not in chosen:
            chosen[int(y[i])] = int(i)
        if len(chosen) == k:
            break
    return list(chosen.values())


@pytest.mark.skipif(not HAS_PIL, reason="reading PNG needs Pillow")
def test_predict_png_of_another_size_dark_on_light(tmp_path, model_file, test_set):
    from PIL import Image

    x, y = test_set
    paths, labels = [], []
    for i in _clear_digits(model_file, test_set):
        # Black digit on a white ground, 100x80, as a drawing or a scan would be.
        ink = (255 - np.round(x[i, 0] * 255)).astype(np.uint8)
        digit = Image.fromarray(ink).resize((80, 80), Image.BILINEAR)
        canvas = Image.new("L", (100, 80), 255)
        canvas.paste(digit, (10, 0))
        path = tmp_path / f"digit{y[i]}.png"
        canvas.convert("RGB").save(path)
        paths.append(path)
        labels.append(int(y[i]))
    result = cli("predict", model_file, *paths, "--json")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["class"] for a in answers] == labels
    for a, path in zip(answers, paths):
        assert a["input"] == str(path)
        assert a["label"] == str(a["class"])
        assert len(a["probabilities"]) == 10
        assert a["probability"] == pytest.approx(max(a["probabilities"]), abs=1e-6)
    text = cli("predict", model_file, paths[0])
    assert text.returncode == 0, text.stderr
    assert re.match(
        rf"^{re.escape(str(paths[0]))}: {labels[0]} \(\d\.\d{{3}}\); next: ",
        text.stdout,
    )


def test_predict_npy_and_idx(tmp_path, model_file, test_set):
    x, _ = test_set
    batch = x[:6]
    expected = cr.predict(cr.load(model_file), batch).argmax(axis=1).tolist()
    np.save(tmp_path / "float.npy", batch)  # (6, 1, 28, 28) in [0, 1]
    grey = np.round(batch[:, 0] * 255).astype(np.uint8)
    np.save(tmp_path / "grey.npy", grey)  # (6, 28, 28) raw grey levels
    cr.data.write_idx(tmp_path / "images-idx3-ubyte", grey)
    for name in ("float.npy", "grey.npy", "images-idx3-ubyte"):
        result = cli("predict", model_file, tmp_path / name, "--json")
        assert result.returncode == 0, result.stderr
        answers = json.loads(result.stdout)
        assert [a["input"] for a in answers] == [
            f"{tmp_path / name}[{i}]" for i in range(6)
        ]
        got = [a["class"] for a in answers]
        assert sum(g == e for g, e in zip(got, expected)) >= 5, name


def test_predict_with_a_model_that_overflows_is_one_line(tmp_path):
    # Finite weights so large that the output overflows: predict's own error,
    # and no NumPy warning lines beside it (in a real process, where they show).
    model = cr.Sequential(cr.layers.Flatten(), cr.layers.Linear(784, 10, rng=0))
    model[1].weight.data[...] = 3e38
    model.save(tmp_path / "huge.npz")
    np.save(tmp_path / "x.npy", np.ones((2, 1, 28, 28), np.float32))
    assert_fails(
        cli("predict", tmp_path / "huge.npz", tmp_path / "x.npy"),
        r"^chainrule predict: error: predict: the model's output for row 0 is NaN or "
        r"infinite, from a finite input; its weights reach 3e\+38 in size",
    )


# --------------------------------------------------------- gradcheck, info
@pytest.mark.parametrize(
    "model", ["seed-cnn", "conv2x3s2p1-tanh-maxpool2-flatten-linear5-sigmoid"]
)
def test_gradcheck(model):
    result = cli("gradcheck", "--model", model, "--batch", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gradient check passed" in result.stdout
    assert result.stderr == ""


def test_gradcheck_of_a_model_file(model_file):
    result = cli("gradcheck", "--model", model_file, "--batch", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


def test_info(model_file):
    result = cli("info", model_file)
    assert result.returncode == 0, result.stderr
    assert "dtype float32" in result.stdout
    assert "Linear(in_features=784, out_features=256, bias=True)" in result.stdout
    assert "235,146" in result.stdout or "235146" in result.stdout
    assert "class_names" in result.stdout
    report = json.loads(cli("info", model_file, "--json").stdout)
    assert report["parameters"] == 235_146
    assert report["layers"]["1.weight"] == 256 * 784
    assert report["metadata"]["spec"] == "mlp"


# ----------------------------------------------------------- entry points
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: chainrule {command}")
    assert "--debug" in result.stdout


def test_help_and_no_command():
    result = cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
    assert_fails(cli(), r"^chainrule: error: the following arguments are required")
    assert_fails(cli("bogus"), r"^chainrule: error: argument COMMAND: invalid choice")


def test_console_script(model_file):
    script = shutil.which("chainrule")
    if script is None:
        pytest.skip("the chainrule console script is not installed")
    result = subprocess.run(
        [script, "info", model_file, "--json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["parameters"] == 235_146
    result = subprocess.run([script, "evaluate"], capture_output=True, text=True)
    assert_fails(result, "the following arguments are required: model")


# ------------------------------------------------------------- error paths
def _tampered(model_file: Path, path: Path) -> Path:
    with zipfile.ZipFile(model_file) as z:
        members = {n: z.read(n) for n in z.namelist()}
    w = np.load(io.BytesIO(members["param/1.bias.npy"]), allow_pickle=False).copy()
    w[0] += 1
    buf = io.BytesIO()
    np.save(buf, w)
    members["param/1.bias.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return path


@pytest.fixture
def files(tmp_path, model_file):
    (tmp_path / "text.npz").write_text("not a model\n")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    np.save(tmp_path / "small.npy", np.zeros((2, 8, 8)))
    (tmp_path / "notes.txt").write_text("hello\n")
    np.savez(
        tmp_path / "d8.npz",
        x_train=np.zeros((20, 8, 8), np.uint8),
        y_train=np.arange(20) % 10,
        x_test=np.zeros((10, 8, 8), np.uint8),
        y_test=np.arange(10) % 10,
    )
    _tampered(model_file, tmp_path / "tampered.npz")
    shutil.copy(model_file, tmp_path / "model.npz")
    _tampered(model_file.parent / "checkpoint.npz", tmp_path / "tampered-ckpt.npz")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY\x01\x00" + bytes(40))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    (tmp_path / "blob.dat").write_bytes(bytes(range(256)))
    # A checkpoint from cr.fit in Python: no chainrule-train settings in it.
    net = cr.Sequential(cr.layers.Flatten(), cr.layers.Linear(64, 10, rng=0))
    cr.fit(
        net, cr.losses.CrossEntropy(), cr.optim.SGD(net, lr=0.1),
        np.zeros((20, 1, 8, 8), np.float32), np.arange(20) % 10, verbose=0,
        callbacks=[cr.callbacks.ModelCheckpoint(tmp_path / "python-ckpt.npz")],
    )  # fmt: skip
    return tmp_path


ERRORS = [
    # missing files and directories where a file belongs
    (["evaluate", "nope.npz"], r"^chainrule evaluate: error: load: no such file 'nope.npz'\.$"),
    (["info", "nope.npz"], "^chainrule info: error: load: no such file"),
    (["predict", "nope.npz", "x.png"], "^chainrule predict: error: load: no such file"),
    (["predict", "model.npz", "x.png"], r"^chainrule predict: error: no such file 'x.png'\.$"),
    (["train", "--resume", "nope.npz"], "^chainrule train: error: resume: no such file"),
    (["evaluate", "."], r"'\.' is a directory, not a model file"),
    (["predict", "model.npz", "."], r"'\.' is a directory; give image, .npy or IDX files"),
    (["train", "--out", "model.npz"], r"--out 'model.npz' is a file, not a directory"),
    # files that are not models, or damaged ones
    (["evaluate", "text.npz"], r"'text.npz' is not a chainrule model file \(not an .npz"),
    (["info", "empty.npz"], "model file 'empty.npz' is empty"),
    (["evaluate", "tampered.npz"], r"array 'param/1.bias' .* fails its SHA-256 check"),
    (["predict", "tampered.npz", "small.npy"], "fails its SHA-256 check"),
    (["train", "--resume", "model.npz"], "is a chainrule-model file; expected a chainrule-checkpoint"),
    (["gradcheck", "--model", "text.npz"], "is not a chainrule model file"),
    # inputs that do not fit the model
    (["evaluate", "model.npz", "--data", "d8.npz"], r"expects inputs of shape \(1, 28, 28\); data 'd8.npz' has \(1, 8, 8\)"),
    (["predict", "model.npz", "small.npy"], r"'small.npy' has shape \(2, 8, 8\); expected samples of shape \(1, 28, 28\)"),
    (["predict", "model.npz", "words.npy"], "'words.npy' holds <U1 values, not numbers"),
    (["predict", "model.npz", "broken.png"], r"^chainrule predict: error: cannot read image 'broken.png'"),
    (["predict", "model.npz", "broken.npy"], r"^chainrule predict: error: cannot read 'broken.npy'"),
    (["predict", "model.npz", "objects.npy"], r"'objects.npy' holds Python objects \(a pickle\); chainrule never unpickles, so it is refused\.$"),
    (["train", "--data", "blob.dat"], r"load: '.*blob.dat' must be a .npz file or a directory of IDX files; got a file that is not an .npz archive\.$"),
    (["train", "--resume", "tampered-ckpt.npz"], r"array 'param/1.bias' .* fails its SHA-256 check"),
    (["train", "--resume", "python-ckpt.npz"], r"'python-ckpt.npz' was not written by 'chainrule train'; resume it from Python with cr.fit\(\.\.\., resume=\.\.\.\)\.$"),
    (["predict", "model.npz", "notes.txt"], r"'notes.txt' is not an image \(PNG, JPEG, BMP, TIFF, GIF\), .npy or IDX file"),
    # bad arguments
    (["train", "--model", "flatten-relu-foo-linear10"], r"token 3 'foo' \(at character 14\): not a layer"),
    (["train", "--model", "linear10"], r"token 1 'linear10' .*put 'flatten' before it"),
    (["train", "--model", "flatten-linear5"], r"output has shape \(5,\) but the data has 10 classes"),
    (["gradcheck", "--model", "conv4x99"], r"token 1 'conv4x99' .*does not fit"),
    (["train", "--epochs", "-1"], r"argument --epochs: must not be negative; got -1$"),
    (["train", "--epochs", "0"], r"argument --epochs: must be positive; got 0$"),
    (["train", "--epochs", "two"], r"argument --epochs: must be a whole number; got 'two'"),
    (["train", "--batch-size", "0"], r"argument --batch-size: must be positive; got 0"),
    (["train", "--data", "nosuchdata"], r"load: name must be one of mnist5k, .*got 'nosuchdata'"),
    (["train", "--data", "missing/dir"], "data path 'missing/dir' does not exist"),
    (["train", "--lr", "abc"], r"argument --lr: must be a number; got 'abc'"),
    (["train", "--lr", "0"], r"argument --lr: must be a positive number; got 0"),
    (["train", "--lr", "-1"], r"argument --lr: must be a positive number; got -1"),
    (["train", "--lr", "nan"], "argument --lr: must be a positive number; got nan"),
    (["train", "--lr", "inf"], "argument --lr: must be a positive number; got inf"),
    (["train", "--momentum", "1"], r"argument --momentum: must be in \[0, 1\); got 1"),
    (["train", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice"),
    (["train", "--validation-split", "1"], r"argument --validation-split: must be in \[0, 1\); got 1$"),
    (["train", "--validation-split", "x"], r"argument --validation-split: must be a number; got 'x'$"),
    (["train", "--checkpoint-every", "-5"], r"argument --checkpoint-every: must not be negative; got -5$"),
    (["gradcheck", "--batch", "0"], r"argument --batch: must be positive; got 0$"),
    (["gradcheck", "--max-elements", "many"], r"argument --max-elements: must be a whole number; got 'many'$"),
    (["gradcheck", "--directions", "0"], r"argument --directions: must be positive; got 0$"),
    (["gradcheck", "--seed", "-1"], r"argument --seed: must not be negative; got -1$"),
    (["train", "--model", "flatten-linear10-softmax"], r"the model 'flatten-linear10-softmax' ends in softmax, but training uses CrossEntropy, which takes logits .*drop the last '-softmax'"),
    (["train", "--model", "mlp", "--lr", "1e4", "--epochs", "1"], r"NaNGuard: the loss became nan at epoch 1, batch \d+; .* Try a smaller --lr; nothing was saved\.$"),
    (["train", "--out", "notes.txt/run", "--epochs", "1"], r"cannot write into 'notes.txt/run': Not a directory\.$"),
    (["evaluate", "model.npz", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["train", "--augment", "rotate15"], r"--augment: augment: unknown augmentation 'rotate15' in 'rotate15'; expected cropP .*flip, or none\.$"),
    (["train", "--optimizer", "adam", "--nesterov"], r"--nesterov needs --optimizer sgd with a --momentum above 0\.$"),
    (["train", "--schedule", "step"], "argument --schedule: invalid choice"),
    (["train", "--label-smoothing", "1"], r"argument --label-smoothing: must be in \[0, 1\); got 1$"),
    (["train", "--weight-decay", "-1"], r"argument --weight-decay: must be a number >= 0; got -1$"),
]  # fmt: skip


if has("onnx"):  # export checks its target after making sure onnx is there
    ERRORS += [
        (["export", "model.npz", "--onnx", "model.npz"], r"--onnx 'model.npz' is the model file being exported; give another name"),
        (["export", "model.npz", "--onnx", "notes.txt"], r"--onnx 'notes.txt' already exists; pass --force to replace it\.$"),
        (["export", "model.npz", "--onnx", "."], r"--onnx '\.' is a directory; give a file name\.$"),
        (["export", "model.npz", "--onnx", "no/such/m.onnx"], r"--onnx 'no/such/m.onnx': folder 'no/such' does not exist\.$"),
        (["export", "model.npz", "--onnx", "m.onnx", "--input-shape", "1,x"], r"--input-shape must be whole numbers joined by commas, such as 1,28,28; got '1,x'\.$"),
        (["export", "model.npz", "--onnx", "m.onnx", "--input-shape", "0,28,28"], r"--input-shape must be positive whole numbers; got '0,28,28'\.$"),
        (["export", "model.npz", "--onnx", "m.onnx", "--input-shape", "1,5,5"], r"does not accept input of shape \(1, 5, 5\)"),
    ]  # fmt: skip

# The error paths the issue names, each also in a real process; the rest of
# the table runs in process (same code, without a second per interpreter start).
IN_SUBPROCESS = {
    "evaluate nope.npz",
    "evaluate .",
    "evaluate tampered.npz",
    "evaluate model.npz --data d8.npz",
    "train --model flatten-relu-foo-linear10",
    "train --epochs -1",
    "train --data nosuchdata",
    "train --lr abc",
}


def _main(args, cwd, monkeypatch, capsys) -> subprocess.CompletedProcess:
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        code = main(list(map(str, args)))
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


@pytest.mark.parametrize(
    ("args", "message"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS]
)
def test_errors_are_one_line_with_status_2(files, args, message, monkeypatch, capsys):
    before = _digest(files)
    assert_fails(_main(args, files, monkeypatch, capsys), message)
    if " ".join(args) in IN_SUBPROCESS:
        assert_fails(cli(*args, cwd=files), message)
    assert _digest(files) == before  # nothing on disk was touched
    assert not (files / "runs").exists()


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("PIL", ["predict", "model.npz", "broken.png"], r"reading images needs Pillow: pip install 'chainrule\[plots\]'$"),
        ("onnx", ["export", "model.npz", "--onnx", "m.onnx"], r"exporting to ONNX needs onnx: pip install 'chainrule\[onnx\]'$"),
    ],
)  # fmt: skip
def test_a_missing_extra_says_how_to_install_it(
    files, module, args, message, monkeypatch, capsys
):
    # None in sys.modules makes `import name` raise ImportError, as when the
    # package is not installed; chainrule.onnx is dropped so that it is
    # imported (and fails) afresh.
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "chainrule.onnx", raising=False)
    before = _digest(files)
    assert_fails(_main(args, files, monkeypatch, capsys), message)
    assert _digest(files) == before


def test_the_subprocess_cases_are_in_the_table():
    assert IN_SUBPROCESS <= {" ".join(a) for a, _ in ERRORS}


@pytest.mark.parametrize(
    "args",
    [["--debug", "evaluate", "nope.npz"], ["evaluate", "nope.npz", "--debug"]],
)
def test_debug_shows_the_traceback(tmp_path, args):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "FileNotFoundError: load: no such file 'nope.npz'." in result.stderr


def test_failed_train_leaves_an_existing_run_intact(tmp_path, run):
    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    before = _digest(out)
    for args in (
        ["--model", "flatten-foo-linear10"],
        ["--data", "nosuchdata"],
        ["--model", "flatten-linear7"],
        ["--resume", out / "model.npz"],
        ["--lr", "-1"],
    ):
        assert_fails(cli("train", "--out", out, "--epochs", "1", *args), "error")
        assert _digest(out) == before, args
    # A model that fails its check is refused, and stays as it was.
    _tampered(out / "model.npz", out / "model.npz")
    tampered = _digest(out)
    assert_fails(cli("evaluate", out / "model.npz"), "SHA-256")
    assert_fails(cli("info", out / "model.npz"), "SHA-256")
    assert _digest(out) == tampered


def test_resume_refuses_options_that_would_change_the_run(tmp_path):
    ckpt = tmp_path / "checkpoint.npz"
    ckpt.write_bytes(b"")  # never read: the options are checked first
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--resume",
            str(ckpt),
            "--lr",
            "0.1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--lr cannot change them" in result.stderr


def test_resume_with_more_epochs_records_them_for_the_next_resume(tmp_path, run):
    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    result = cli("train", "--resume", out / "checkpoint.npz", "--epochs", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["epochs"] == 2
    manifest = read_checkpoint(out / "checkpoint.npz")[0]
    assert manifest["trainer"]["epoch"] == 2
    assert manifest["metadata"]["train_args"]["epochs"] == 2


def test_a_preset_brings_its_training_recipe():
    from chainrule.cli import build_parser
    from chainrule.cli.train import _settings
    from chainrule.spec import RECIPES

    args = build_parser().parse_args(["train", "--model", "fashion-cnn"])
    settings, _ = _settings(args)
    for key, value in RECIPES["fashion-cnn"].items():
        assert settings[key] == value, key
    # what the command line says wins over the recipe
    args = build_parser().parse_args(
        ["train", "--model", "fashion-cnn", "--epochs", "3", "--augment", "none"]
    )
    settings, _ = _settings(args)
    assert (settings["epochs"], settings["augment"]) == (3, "none")
    assert settings["schedule"] == "warmup-cosine"
    # Another optimizer takes its own rate and no Nesterov (the recipe's are
    # SGD's); --momentum 0 turns the recipe's Nesterov off. Both were refused
    # with "--nesterov needs --optimizer sgd", an option nobody gave.
    settings, _ = _settings(
        build_parser().parse_args(["train", "--model", "fashion-cnn", "--optimizer", "adamw"])
    )
    assert (settings["lr"], settings["nesterov"], settings["weight_decay"]) == (1e-3, False, 0.01)
    assert settings["schedule"] == "warmup-cosine"  # the rest of the recipe stays
    settings, _ = _settings(
        build_parser().parse_args(["train", "--model", "fashion-cnn", "--momentum", "0"])
    )
    assert (settings["lr"], settings["nesterov"]) == (0.1, False)
    # other presets keep the plain defaults
    settings, _ = _settings(build_parser().parse_args(["train", "--model", "cnn"]))
    assert (settings["schedule"], settings["augment"], settings["nesterov"]) == (
        "constant",
        "none",
        False,
    )


def test_train_with_the_recipe_tools_and_resume(tmp_path):
    """AdamW, warm-up + cosine per batch, label smoothing and augmentation from
    the command line; the resumed run keeps every one of them."""
    spec = "conv4x3p1-batchnorm2d-relu-maxpool2-flatten-linear10"
    first = cli(
        "train", "--model", spec, "--epochs", "1", "--optimizer", "adamw",
        "--lr", "0.01", "--schedule", "warmup-cosine", "--warmup-epochs", "0.5",
        "--label-smoothing", "0.1", "--augment", "crop1,flip", "--out", "r",
        "--json", cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["test_accuracy"] > 0.5
    args = read_checkpoint(tmp_path / "r" / "checkpoint.npz")[0]["metadata"]["train_args"]
    assert args["optimizer"] == "adamw" and args["augment"] == "crop1,flip"
    assert args["label_smoothing"] == 0.1 and args["schedule"] == "warmup-cosine"
    again = cli("train", "--resume", "r/checkpoint.npz", "--epochs", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "recipe: adamw lr 0.01, weight decay 0.01, warmup-cosine (0.5 epoch warm-up), label smoothing 0.1, augment crop1,flip" in again.stdout
