"""fit / evaluate / predict: end to end on each kind of task, sample and class
weights, History files, the progress output, the summary table, and the
errors fit raises for bad arguments."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.callbacks import Callback

L = cr.layers
losses = cr.losses


def mlp(*sizes, out=None, act=L.ReLU, rng=0):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(L.Linear(a, b, rng=rng + i))
        if i < len(sizes) - 2:
            layers.append(act())
    if out is not None:
        layers.append(out)
    return cr.Sequential(*layers)


# ------------------------------------------------------------- end to end
def test_regression_identity_output_and_mse():
    x, t = cr.data.polynomial(300, seed=0)
    xt, tt = cr.data.polynomial(200, seed=1)
    model = mlp(1, 32, 32, 1, out=L.Identity(), act=L.Tanh)
    h = cr.fit(
        model,
        losses.MSE(),
        cr.optim.Adam(model, lr=0.01),
        x,
        t,
        epochs=60,
        batch_size=32,
        metrics=["r2"],
        seed=0,
        verbose=0,
    )
    assert h["loss"][-1] < h["loss"][0] / 5
    r2 = cr.evaluate(model, losses.MSE(), xt, tt, metrics=["r2"])["r2"]
    assert r2 > 0.9


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_classification(from_logits):
    x, y = cr.data.two_moons(400, noise=0.1, seed=0)
    xt, yt = cr.data.two_moons(400, noise=0.1, seed=1)
    out = None if from_logits else L.Sigmoid()
    model = mlp(2, 32, 32, 1, out=out)
    loss = losses.BinaryCrossEntropy(from_logits=from_logits)
    h = cr.fit(
        model,
        loss,
        cr.optim.Adam(model, lr=0.02),
        x,
        y.astype(np.float32),
        epochs=40,
        batch_size=32,
        seed=0,
        verbose=0,
    )
    # the default metric is accuracy, thresholded at 0.5 for a probability and
    # at 0 for a logit
    assert h["accuracy"][-1] > 0.95
    assert cr.evaluate(model, loss, xt, yt)["accuracy"] > 0.95
    p = cr.predict(model, xt)[:, 0]
    pred = (p >= 0) if from_logits else (p >= 0.5)
    assert np.mean(pred == yt) > 0.95


@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = cr.data.load("mnist5k", flatten=True)
    return x[:1000], y[:1000], xt[:500], yt[:500]


@pytest.mark.parametrize("head", ["logits", "log_softmax"])
def test_multiclass_classification(digits, head):
    x, y, xt, yt = digits
    if head == "logits":
        model, loss = mlp(784, 64, 10), losses.CrossEntropy()
    else:
        model, loss = mlp(784, 64, 10, out=L.LogSoftmax()), losses.NLL()
    h = cr.fit(
        model,
        loss,
        cr.optim.SGD(model, lr=0.05, momentum=0.9),
        x,
        y,
        epochs=8,
        batch_size=32,
        seed=0,
        verbose=0,
    )
    assert h["accuracy"][-1] > 0.95
    assert cr.evaluate(model, loss, xt, yt)["accuracy"] > 0.85


def test_multiclass_on_spirals():
    x, y = cr.data.spirals(400, noise=0.02, seed=0)
    model = mlp(2, 64, 64, 2, act=L.Tanh)
    h = cr.fit(
        model,
        losses.CrossEntropy(),
        cr.optim.Adam(model, lr=0.01),
        x,
        y,
        epochs=60,
        batch_size=32,
        seed=0,
        verbose=0,
    )
    assert h["accuracy"][-1] > 0.95


def test_autoencoder_target_is_input(digits):
    x = digits[0][:500]
    model = mlp(784, 32, 784, out=L.Sigmoid())
    h = cr.fit(
        model,
        losses.MSE(),
        cr.optim.Adam(model, lr=0.003),
        x,
        x,
        epochs=8,
        batch_size=50,
        seed=0,
        verbose=0,
    )
    assert h["loss"][-1] < 0.6 * h["loss"][0]
    assert cr.predict(model, x[:3]).shape == (3, 784)


# --------------------------------------------------- validation and predict
@pytest.mark.parametrize(
    "y, split, empty",
    [
        (np.zeros(100, int), 0.999, "training"),
        (np.arange(3), 0.9, "training"),  # one sample per class, each held out
        (np.zeros(100, int), 1e-9, "validation"),
    ],
)
def test_a_validation_split_that_leaves_a_part_empty_is_refused(y, split, empty):
    # Rounded class by class, the split could leave nothing to train on (and
    # fit "succeeded" without a step) or nothing to validate on.
    model = mlp(2, 3)
    with pytest.raises(
        ValueError, match=f"validation_split={split!r} leaves no {empty} samples"
    ):
        cr.fit(
            model,
            losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.1),
            np.zeros((len(y), 2), np.float32),
            y,
            validation_split=split,
            verbose=0,
        )


@pytest.mark.parametrize(
    "w, error, match",
    [
        (np.ones(300), ValueError, r"sample_weight must have shape \(10,\), one weight per sample; got \(300,\)"),
        (np.array(["a"] * 10), TypeError, "sample_weight must be numeric; got dtype <U1"),
    ],
)  # fmt: skip
def test_evaluate_checks_sample_weight_against_the_whole_set(w, error, match):
    # Checked batch by batch, the message named a batch's shape: (256,) or (2,).
    model = mlp(2, 3)
    x, y = np.zeros((10, 2), np.float32), np.zeros(10, int)
    with pytest.raises(error, match="evaluate: " + match):
        cr.evaluate(model, losses.CrossEntropy(), x, y, sample_weight=w, batch_size=4)


def test_validation_split_is_stratified():
    # 300 of class 0, 100 of class 1, 50 of class 2
    y = np.repeat([0, 1, 2], [300, 100, 50])
    x = np.random.default_rng(0).standard_normal((450, 2)).astype(np.float32)
    seen = {}

    class Peek(Callback):
        def on_train_begin(self, trainer):
            seen["train"], seen["val"] = trainer.y, trainer.validation_data[1]

    model = mlp(2, 3)
    h = cr.fit(
        model,
        losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1),
        x,
        y,
        validation_split=0.2,
        epochs=1,
        verbose=0,
        callbacks=[Peek()],
    )
    np.testing.assert_array_equal(np.bincount(seen["val"]), [60, 20, 10])
    np.testing.assert_array_equal(np.bincount(seen["train"]), [240, 80, 40])
    assert {"val_loss", "val_accuracy"} <= set(h.history)


def test_validation_data_values_match_evaluate():
    x, y = cr.data.two_moons(100, seed=0)
    xv, yv = cr.data.two_moons(50, seed=1)
    model = mlp(2, 8, 2)
    h = cr.fit(
        model,
        losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1),
        x,
        y,
        validation_data=(xv, yv),
        epochs=2,
        verbose=0,
    )
    ev = cr.evaluate(model, losses.CrossEntropy(), xv, yv)
    assert h["val_loss"][-1] == pytest.approx(ev["loss"])
    assert h["val_accuracy"][-1] == ev["accuracy"]


def test_predict_is_eval_mode_and_batching_does_not_matter():
    x = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    model = cr.Sequential(
        L.Linear(4, 16, rng=0), L.ReLU(), L.Dropout(0.5), L.Linear(16, 3, rng=1)
    )
    model.eval()
    with cr.no_grad():
        expected = model.forward(x)
    model.train()
    for batch_size in (1, 7, 100, 1000):
        np.testing.assert_allclose(
            cr.predict(model, x, batch_size=batch_size), expected, rtol=1e-6, atol=1e-6
        )
    assert model.training  # predict put the training mode back
    # and in training mode, dropout does change the outputs
    assert not np.allclose(model.forward(x), expected)


def test_evaluate_loss_over_uneven_batches():
    x, t = cr.data.polynomial(10, seed=0)
    model = mlp(1, 1)
    y = cr.predict(model, x)
    # MSE = mean over all 10 samples, batches of 4 + 4 + 2 weighted by size
    got = cr.evaluate(model, losses.MSE(), x, t, batch_size=4)["loss"]
    assert got == pytest.approx(float(np.mean((y - t) ** 2) / 2), rel=1e-6)


# ------------------------------------------------- sample and class weights
WEIGHTED = [
    (losses.MSE(), "same"),
    (losses.SSE(), "same"),
    (losses.BinaryCrossEntropy(), "probs"),
    (losses.BinaryCrossEntropy(from_logits=True), "binary"),
    (losses.CrossEntropy(), "labels"),
    (losses.CrossEntropy(), "soft"),
    (losses.NLL(), "log_probs"),
]


def weighted_case(kind, rng, n=5, k=3):
    if kind == "same":
        return rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    if kind == "probs":
        return rng.uniform(0.1, 0.9, (n, 1)), rng.integers(0, 2, (n, 1)).astype(float)
    if kind == "binary":
        return rng.standard_normal((n, 1)), rng.integers(0, 2, (n, 1)).astype(float)
    if kind == "labels":
        return rng.standard_normal((n, k)), rng.integers(0, k, n)
    if kind == "soft":
        return rng.standard_normal((n, k)), rng.dirichlet(np.ones(k), n)
    z = rng.standard_normal((n, k))
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True)), rng.integers(0, k, n)


@pytest.mark.parametrize(
    "loss, kind", WEIGHTED, ids=lambda v: repr(v) if not isinstance(v, str) else v
)
def test_weighted_loss_gradients(loss, kind, rng):
    y, t = weighted_case(kind, rng)
    w = rng.uniform(0.0, 3.0, len(y))
    report = cr.gradcheck_loss(loss, y, t, sample_weight=w)
    assert report.passed


@pytest.mark.parametrize(
    "loss, kind", WEIGHTED, ids=lambda v: repr(v) if not isinstance(v, str) else v
)
def test_weight_two_is_a_duplicated_sample(loss, kind, rng):
    y, t = weighted_case(kind, rng, n=4)
    # weights (2, 1, 1, 0) on rows (0, 1, 2, 3) against rows (0, 0, 1, 2):
    # the same N = 4, so both are (2 l0 + l1 + l2) / 4 (SSE: without the / 4)
    dup = [0, 0, 1, 2]
    weighted = loss(y, t, sample_weight=[2.0, 1.0, 1.0, 0.0])
    g = loss.backward()
    duplicated = loss(y[dup], t[dup])
    gd = loss.backward()
    assert weighted == pytest.approx(duplicated, rel=1e-12)
    np.testing.assert_allclose(g[0], gd[0] + gd[1], rtol=1e-12)
    np.testing.assert_allclose(g[1:3], gd[2:4], rtol=1e-12)
    np.testing.assert_array_equal(g[3], 0)


def test_sample_weight_two_in_fit_is_a_duplicated_sample():
    x, t = cr.data.polynomial(4, seed=0)
    ends = []
    for xs, ts, w in (
        (x, t, [2.0, 1.0, 1.0, 0.0]),
        (x[[0, 0, 1, 2]], t[[0, 0, 1, 2]], None),
    ):
        model = mlp(1, 4, 1, act=L.Tanh)
        cr.fit(
            model,
            losses.MSE(),
            cr.optim.SGD(model, lr=0.1),
            xs,
            ts,
            epochs=5,
            batch_size=4,
            shuffle=False,
            sample_weight=w,
            verbose=0,
        )
        ends.append(model.state_dict())
    for name in ends[0]:
        np.testing.assert_allclose(ends[0][name], ends[1][name], rtol=1e-5, atol=1e-7)


def test_class_weight_is_a_per_class_sample_weight():
    x, y = cr.data.two_moons(64, seed=0)
    ends = []
    for kw in (
        {"class_weight": {0: 1.0, 1: 3.0}},
        {"sample_weight": np.where(y == 1, 3.0, 1.0)},
    ):
        model = mlp(2, 4, 2)
        cr.fit(
            model,
            losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.1),
            x,
            y,
            epochs=2,
            batch_size=16,
            seed=0,
            verbose=0,
            **kw,
        )
        ends.append(model.state_dict())
    for name in ends[0]:
        assert np.array_equal(ends[0][name], ends[1][name])


def test_class_weight_errors():
    x, y = cr.data.two_moons(20, seed=0)
    model = mlp(2, 2)
    # A bad class weight is named as one, not as a sample weight.
    for bad, match in ((-1.0, "must be non-negative"), (float("nan"), "must be a finite real")):
        with pytest.raises(ValueError, match=r"fit: class_weight\[1\] " + match):
            cr.fit(
                model,
                losses.CrossEntropy(),
                cr.optim.SGD(model, lr=0.1),
                x,
                y,
                class_weight={0: 1.0, 1: bad},
                verbose=0,
            )
    with pytest.raises(
        ValueError, match=r"fit: class_weight has no weight for classes \[1\]"
    ):
        cr.fit(
            model,
            losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.1),
            x,
            y,
            class_weight={0: 1.0},
            verbose=0,
        )
    with pytest.raises(
        ValueError, match=r"fit: sample_weight must have shape \(20,\), one weight per sample; got \(3,\)"
    ):
        cr.fit(
            model,
            losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.1),
            x,
            y,
            sample_weight=[1, 2, 3],
            verbose=0,
        )
    with pytest.raises(
        ValueError, match=r"fit: sample_weight must be finite and non-negative"
    ):
        cr.fit(
            model,
            losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.1),
            x,
            y,
            sample_weight=-np.ones(20),
            verbose=0,
        )


# ------------------------------------------------------------------ History
def small_history(tmp_path=None):
    x, y = cr.data.two_moons(60, seed=0)
    model = mlp(2, 4, 2)
    return cr.fit(
        model,
        losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1),
        x,
        y,
        epochs=3,
        validation_split=0.2,
        seed=0,
        verbose=0,
    )


def test_history_to_csv(tmp_path):
    h = small_history()
    path = tmp_path / "h.csv"
    h.save(path)
    rows = list(csv.reader(path.open()))
    assert rows[0] == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "time",
    ]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]  # 1-based, as printed
    for i, row in enumerate(rows[1:]):
        assert float(row[1]) == h["loss"][i]  # written with full precision
        assert float(row[3]) == h["val_loss"][i]


def test_history_to_json_round_trip(tmp_path):
    h = small_history()
    path = tmp_path / "h.json"
    h.save(path)
    d = json.loads(path.read_text())
    assert d["epoch"] == [0, 1, 2]
    assert d["history"]["loss"] == h["loss"]
    assert d["stop_reason"] is None and d["diverged"] is None
    back = cr.History.from_dict(d)
    assert back.history == h.history and back.epoch == h.epoch
    assert repr(h).startswith("History(epochs=3, last={'loss': ")


def test_history_save_needs_a_known_suffix(tmp_path):
    with pytest.raises(
        ValueError, match=r"History.save: path must end in .csv or .json; got 'h.txt'"
    ):
        small_history().save("h.txt")


# ------------------------------------------------------------------ progress
def fit_printing(verbose, epochs=2, **kw):
    x, y = cr.data.two_moons(64, seed=0)
    model = mlp(2, 4, 2)
    stream = io.StringIO()
    cr.fit(
        model,
        losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1),
        x,
        y,
        epochs=epochs,
        batch_size=16,
        verbose=verbose,
        stream=stream,
        **kw,
    )
    return stream.getvalue()


def test_verbose_0_prints_nothing(capsys):
    assert fit_printing(0) == ""
    assert capsys.readouterr() == ("", "")


LINE = re.compile(r"  loss \d\.\d{4}  acc \d\.\d{4}  [\d,]+ samples/s$")


@pytest.mark.parametrize("verbose", [1, 2])
def test_non_terminal_stream_gets_one_line_per_epoch(verbose):
    out = fit_printing(verbose, epochs=3)
    lines = out.splitlines()
    assert len(lines) == 3 and "\r" not in out
    for i, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {i}/3  4/4  ")
        assert LINE.search(line), line


def test_progress_line_shows_validation_values():
    out = fit_printing(1, epochs=1, validation_split=0.25, seed=0)
    assert re.search(
        r"loss \d\.\d{4}  acc \d\.\d{4}  val_loss \d\.\d{4}  val_acc \d\.\d{4}", out
    )


def test_terminal_stream_redraws_in_place():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    x, y = cr.data.two_moons(64, seed=0)
    model = mlp(2, 4, 2)
    stream = Tty()
    cr.fit(
        model,
        losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1),
        x,
        y,
        epochs=1,
        batch_size=16,
        verbose=1,
        stream=stream,
    )
    out = stream.getvalue()
    assert out.startswith("\r") and out.endswith("\n") and out.count("\n") == 1
    assert "[" in out and "ETA" in out
    assert "(run" not in out  # one epoch: nothing comes after it


def test_the_progress_line_shows_the_whole_run_remaining():
    from chainrule.progress import ProgressBar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar(10, epoch=2, epochs=5, stream=stream, interval=0.0)
    bar.start -= 4.0  # 4 s for the first 2 of 10 batches: 20 s an epoch
    bar.update(2, 64, {"loss": 1.0})
    # 16 s left of this epoch, then 3 epochs of 20 s
    assert re.search(r"ETA 16s \(run 1m16s\)", stream.getvalue()), stream.getvalue()


# ------------------------------------------------------------------- summary
def test_summary_table():
    model = cr.Sequential(L.Linear(784, 256, rng=0), L.ReLU(), L.Linear(256, 10, rng=1))
    assert model.summary() == (
        "name  layer   output shape   params\n"
        "-----------------------------------\n"
        "0     Linear  (N, 256)      200,960\n"
        "1     ReLU    (N, 256)            0\n"
        "2     Linear  (N, 10)         2,570\n"
        "-----------------------------------\n"
        "Total parameters: 203,530"
    )


def test_summary_of_a_cnn_needs_the_input_shape():
    model = cr.Sequential(
        L.Conv2D(1, 16, 5, rng=0),
        L.ReLU(),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Linear(2304, 10, rng=1),
    )
    with pytest.raises(
        ValueError,
        match=r"summary: input_shape is needed for this model \(it starts with Conv2D\)",
    ):
        model.summary()
    table = model.summary(input_shape=(1, 28, 28))
    assert "(N, 16, 24, 24)" in table and "(N, 2304)" in table
    # 16*1*5*5 + 16 = 416 and 2304*10 + 10 = 23,050
    assert table.endswith("Total parameters: 23,466")


# -------------------------------------------------------------- fit errors
def fit_args(**overrides):
    x, y = cr.data.two_moons(20, seed=0)
    model = mlp(2, 2)
    args = dict(
        model=model,
        loss=losses.CrossEntropy(),
        optimizer=cr.optim.SGD(model, lr=0.1),
        x=x,
        y=y,
        verbose=0,
    )
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (
            {"epochs": -1},
            ValueError,
            r"fit: epochs must be a non-negative integer; got -1\.",
        ),
        (
            {"epochs": 2.5},
            ValueError,
            r"fit: epochs must be a non-negative integer; got 2\.5\.",
        ),
        (
            {"batch_size": 0},
            ValueError,
            r"fit: batch_size must be a positive integer; got 0\.",
        ),
        (
            {"y": np.zeros(19, np.int64)},
            ValueError,
            r"fit: x and y must have the same number of samples; got 20 and 19\.",
        ),
        (
            {"x": np.full((20, 2), np.nan)},
            ValueError,
            r"fit: x contains NaN or inf \(first at row 0\)\.",
        ),
        (
            {"x": np.array([["a", "b"]] * 20)},
            TypeError,
            r"fit: x must be a numeric array; got dtype <U1\.",
        ),
        (
            {"x": np.zeros((0, 2))},
            ValueError,
            r"fit: x must hold at least one sample; got shape \(0, 2\)\.",
        ),
        ({"y": np.full(20, np.nan)}, ValueError, r"fit: y contains NaN or inf\."),
        (
            {"model": "mlp"},
            TypeError,
            r"fit: model must be a chainrule Module; got str\.",
        ),
        ({"loss": "mse"}, TypeError, r"fit: loss must be a chainrule Loss; got str\."),
        (
            {"optimizer": None},
            TypeError,
            r"fit: optimizer must be a chainrule optimizer; got NoneType\.",
        ),
        (
            {"validation_split": 1.0},
            ValueError,
            r"fit: validation_split must be in \[0, 1\); got 1\.0\.",
        ),
        (
            {"validation_split": 0.2, "validation_data": (np.zeros((2, 2)), [0, 1])},
            ValueError,
            r"fit: pass validation_data or validation_split, not both\.",
        ),
        ({"metrics": ["f1"]}, ValueError, r"metrics: unknown metric 'f1'"),
    ],
)
def test_fit_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        cr.fit(**fit_args(**overrides))


def test_fit_with_nan_in_x_names_the_row():
    args = fit_args()
    args["x"] = args["x"].copy()
    args["x"][7, 1] = np.inf
    with pytest.raises(ValueError, match=r"first at row 7"):
        cr.fit(**args)


def test_zero_epochs_trains_nothing():
    args = fit_args(epochs=0)
    before = args["model"].state_dict()
    h = cr.fit(**args)
    assert h.epoch == [] and h.history == {}
    assert all(
        np.array_equal(v, before[k]) for k, v in args["model"].state_dict().items()
    )


def test_fit_docstring_example_and_returned_history():
    x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = cr.Sequential(L.Linear(2, 2, rng=0))
    h = cr.fit(
        model,
        losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.5),
        x,
        y,
        epochs=5,
        batch_size=16,
        seed=0,
        verbose=0,
    )
    assert isinstance(h, cr.History) and h.epoch == [0, 1, 2, 3, 4]
    assert h["accuracy"][-1] > 0.9 and "loss" in h
    assert len(h["time"]) == 5 and all(t >= 0 for t in h["time"])


# ------------------------------------------------------ float32 end to end
@pytest.mark.parametrize("preset", ["mlp", "seed-cnn", "cnn"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_a_float32_step_never_promotes_to_float64(preset, opt):
    # Python-float learning rates, int64 labels and sample weights must not
    # turn any array of the step into float64: that doubles the memory traffic
    # of every later pass.
    from chainrule.spec import build_spec

    model = build_spec(preset, rng=0)
    x = np.random.default_rng(0).random((6, 1, 28, 28), dtype=np.float32)
    y = np.arange(6) % 10  # int64
    loss = losses.CrossEntropy()
    make = {
        "sgd": lambda: cr.optim.SGD(model, lr=0.05, momentum=0.9, weight_decay=1e-4),
        "adam": lambda: cr.optim.Adam(model, lr=1e-3),
    }[opt]
    optimizer = make()
    for _ in range(2):
        out = model.forward(x)
        assert out.dtype == np.float32
        loss.forward(out, y, sample_weight=np.linspace(0.5, 1.5, 6))
        dy = loss.backward()
        optimizer.zero_grad()
        model.backward(dy)
        optimizer.step()
    assert dy.dtype == np.float32
    for name, delta in model.deltas():
        assert delta is None or delta.dtype == np.float32, name
    for name, p in model.named_parameters():
        assert p.data.dtype == p.grad.dtype == np.float32, name
    for name, state in optimizer.state.items():
        assert all(v.dtype == np.float32 for v in state.values()), name


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("strided", [False, True])
def test_predict_finds_a_non_finite_input_anywhere(bad, strided):
    model = mlp(4, 2)
    x = np.zeros((6, 8) if strided else (6, 4), np.float32)
    x[3, 2] = bad
    x = x[:, ::2] if strided else x
    with pytest.raises(
        ValueError, match=r"predict: x contains NaN or inf \(first at row 3\)"
    ):
        cr.predict(model, x)


def test_predict_accepts_huge_finite_inputs():
    # x . x overflows to inf for these; the elementwise test must then clear them.
    x = np.full((2, 4), 1e20, np.float32)  # x . x = 4e40 > float32 max
    assert cr.predict(mlp(4, 2), x).shape == (2, 2)


def test_predict_refuses_an_output_that_overflows():
    # Finite inputs, finite weights, and an output of inf: the model overflows
    # float32 (a run that diverged leaves weights like these).
    model = mlp(4, 2)
    model[0].weight.data[...] = 1e30
    x = np.zeros((3, 4), np.float32)
    x[1:] = 1e10
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(
        ValueError,
        match=r"predict: the model's output for row 1 is NaN or infinite, from a "
        r"finite input; its weights reach 1e\+30 in size, and its computation "
        r"overflows float32\.$",
    ):
        cr.predict(model, x)


def _diverging_fit(callbacks=None):
    x = np.random.default_rng(0).standard_normal((256, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = mlp(4, 8, 2)
    with np.errstate(all="ignore"):
        h = cr.fit(
            model, losses.CrossEntropy(), cr.optim.SGD(model, lr=1e6), x, y,
            epochs=3, batch_size=32, seed=0, verbose=0, callbacks=callbacks,
        )  # fmt: skip
    return model, h


def test_a_diverging_fit_stops_before_the_step_that_would_poison_the_weights():
    # The loss turned NaN in epoch 1: that batch's step would make every weight
    # NaN for good. The run stops there, says so, and keeps finite weights.
    # (Before, it went on, and each later epoch's loss read 0.0.)
    with pytest.warns(
        RuntimeWarning,
        match=r"^fit: the loss became nan at epoch 1, batch 5; training stopped "
        r"before that batch's step, so the weights are those of the step before\.",
    ):
        model, h = _diverging_fit()
    assert h.diverged.startswith("fit: the loss became nan at epoch 1, batch 5")
    assert h.stop_reason == h.diverged and h.epoch == [] and "loss" not in h
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_with_a_nan_guard_it_decides_and_fit_adds_no_warning():
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _, h = _diverging_fit(callbacks=[cr.callbacks.NaNGuard(stream=io.StringIO())])
    assert h.diverged.startswith("NaNGuard: the loss became nan at epoch 1, batch 5")
    assert not [w for w in seen if str(w.message).startswith("fit:")]


def test_sse_training_loss_is_the_sum_over_the_epoch_as_evaluate_reports_it():
    # A learning rate of 1e-30 leaves the model as it is: the epoch's loss is
    # then the loss of the whole training set, in evaluate's convention.
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = cr.Sequential(L.Linear(3, 1, rng=0))
    opt = cr.optim.SGD(model, lr=1e-30)
    h = cr.fit(model, losses.SSE(), opt, x, y, epochs=1, batch_size=16, verbose=0)
    expected = cr.evaluate(model, losses.SSE(), x, y)["loss"]
    np.testing.assert_allclose(h["loss"][0], expected, rtol=1e-5)
