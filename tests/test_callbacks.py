"""Callbacks: EarlyStopping, NaNGuard, ModelCheckpoint, GradientNorms."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.callbacks import (
    Callback,
    EarlyStopping,
    GradientNorms,
    ModelCheckpoint,
    NaNGuard,
)
from chainrule.io import read_checkpoint


def line_data():
    """t = 2x + 1, no noise: a Linear(1, 1) fits it exactly."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
    xv = rng.uniform(-1, 1, (32, 1)).astype(np.float32)
    return x, 2 * x + 1, xv, 2 * xv + 1


class RaiseLR(Callback):
    """From epoch ``at`` on, full-batch descent with lr 2.5 > 2 / lambda_max
    overshoots more each step: the loss grows by about 1.5^2 an epoch."""

    def __init__(self, at: int = 4, lr: float = 2.5) -> None:
        self.at, self.lr = at, lr

    def on_epoch_end(self, trainer, logs) -> None:
        if trainer.epoch == self.at:
            trainer.optimizer.lr = self.lr


class RecordWeights(Callback):
    def __init__(self) -> None:
        self.weights = []

    def on_epoch_end(self, trainer, logs) -> None:
        self.weights.append(trainer.model.state_dict())


class Interrupt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, trainer, logs) -> None:
        if trainer.epoch == self.at:
            raise KeyboardInterrupt


def fit_line(epochs, callbacks, lr=0.5):
    x, t, xv, tv = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    record = RecordWeights()
    h = cr.fit(
        model,
        cr.losses.MSE(),
        cr.optim.SGD(model, lr=lr),
        x,
        t,
        epochs=epochs,
        batch_size=64,
        validation_data=(xv, tv),
        verbose=0,
        callbacks=[record, RaiseLR(), *callbacks],
    )
    return model, h, record


def assert_best_restored(model, h, record):
    best = int(np.argmin(h["val_loss"]))
    assert h["val_loss"][-1] > 10 * h["val_loss"][best]  # it did get worse
    assert h.best_epoch == best
    for name, value in model.state_dict().items():
        assert np.array_equal(value, record.weights[best][name])


# ------------------------------------------------------------ EarlyStopping
def test_early_stopping_stops_and_restores_the_best_epoch():
    stop = EarlyStopping(patience=3)
    model, h, record = fit_line(50, [stop])
    best = int(np.argmin(h["val_loss"]))
    assert len(h.epoch) == best + 1 + 3  # stopped after 3 epochs without progress
    assert h.stop_reason.startswith("early stopping: val_loss did not improve for 3")
    assert_best_restored(model, h, record)


def test_early_stopping_restores_when_the_epochs_run_out():
    model, h, record = fit_line(10, [EarlyStopping(patience=100)])
    assert len(h.epoch) == 10 and h.stop_reason is None
    assert_best_restored(model, h, record)


def test_early_stopping_restores_after_an_interrupt():
    x, t, xv, tv = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    record, stop = RecordWeights(), EarlyStopping(patience=100)
    with pytest.raises(KeyboardInterrupt):
        cr.fit(
            model,
            cr.losses.MSE(),
            cr.optim.SGD(model, lr=0.5),
            x,
            t,
            epochs=50,
            batch_size=64,
            validation_data=(xv, tv),
            verbose=0,
            callbacks=[record, RaiseLR(), stop, Interrupt(at=9)],
        )
    assert len(record.weights) == 9
    # the epoch with the lowest val_loss of the 9 that ran
    for name, value in model.state_dict().items():
        assert np.array_equal(value, record.weights[stop.best_epoch][name])
    assert stop.best_epoch < 8


def test_early_stopping_without_validation_monitors_loss():
    x, t, _, _ = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    stop = EarlyStopping()  # monitor="val_loss"
    cr.fit(
        model,
        cr.losses.MSE(),
        cr.optim.SGD(model, lr=0.1),
        x,
        t,
        epochs=2,
        verbose=0,
        callbacks=[stop],
    )
    assert stop.monitor == "loss"


@pytest.mark.parametrize(
    "make, owner",
    [
        (lambda p, opt: ModelCheckpoint(p, save_best_only=True, monitor="val_acc"),
         "ModelCheckpoint"),
        (lambda p, opt: cr.callbacks.LearningRateScheduler(
            cr.optim.ReduceOnPlateau(opt, patience=0), monitor="val_los"),
         "LearningRateScheduler"),
    ],
    ids=["checkpoint", "plateau"],
)  # fmt: skip
def test_a_monitor_the_logs_lack_is_an_error(tmp_path, make, owner):
    # It quietly turned the callback off: no checkpoint, the rate never cut.
    x, t, xv, tv = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    opt = cr.optim.SGD(model, lr=0.1)
    with pytest.raises(ValueError, match=f"{owner}: monitor '.*' is not among the epoch logs"):
        cr.fit(model, cr.losses.MSE(), opt, x, t, validation_data=(xv, tv), verbose=0,
               callbacks=[make(tmp_path / "c.npz", opt)])  # fmt: skip


def test_stopping_in_on_batch_end_takes_no_further_step():
    # The next batch was trained (forward, backward and step) before the stop
    # was looked at, and never recorded.
    class StopAfter(Callback):
        def on_batch_end(self, trainer, loss):
            if trainer.batches_done == 2:
                trainer.stop_training = True

    class CountSteps(Callback):
        steps = 0

        def before_step(self, trainer, loss):
            CountSteps.steps += 1
            return True

    x, t, _, _ = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    h = cr.fit(model, cr.losses.MSE(), cr.optim.SGD(model, lr=0.1), x, t, epochs=3,
               batch_size=8, verbose=0, callbacks=[CountSteps(), StopAfter()])  # fmt: skip
    assert CountSteps.steps == 2
    assert len(h.epoch) == 1  # the epoch ends there, with the batches done


def test_early_stopping_unknown_monitor():
    x, t, _, _ = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    with pytest.raises(
        ValueError,
        match=r"EarlyStopping: monitor 'val_auc' is not among the epoch logs",
    ):
        cr.fit(
            model,
            cr.losses.MSE(),
            cr.optim.SGD(model, lr=0.1),
            x,
            t,
            validation_split=0.25,
            verbose=0,
            callbacks=[EarlyStopping(monitor="val_auc")],
        )


# ----------------------------------------------------------------- NaNGuard
def exploding(lr, callbacks, epochs=3, shuffle=True):
    """Regression with a learning rate that makes the outputs overflow float32."""
    x, t = cr.data.polynomial(200, seed=0)
    model = cr.Sequential(
        cr.layers.Linear(1, 16, rng=0), cr.layers.Tanh(), cr.layers.Linear(16, 1, rng=1)
    )
    opt = cr.optim.SGD(model, lr=lr)
    batches = []

    class Count(Callback):
        def on_batch_end(self, trainer, loss):
            batches.append(trainer.batch)

    h = cr.fit(
        model,
        cr.losses.MSE(),
        opt,
        x,
        t,
        epochs=epochs,
        batch_size=20,
        shuffle=shuffle,
        seed=0,
        verbose=0,
        callbacks=[Count(), *callbacks],
    )
    return model, opt, h, batches


# overflow is the point of these tests: numpy's warnings about it are expected
overflow_expected = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@overflow_expected
@pytest.mark.parametrize("shuffle", [True, False])
def test_nan_guard_stops_within_the_batch(shuffle):
    guard = NaNGuard()
    model, opt, h, batches = exploding(1e6, [guard], shuffle=shuffle)
    msg = h.diverged
    assert msg is not None and msg == h.stop_reason
    m = re.match(r"NaNGuard: .* at epoch 1, batch (\d+); (.*)\.$", msg)
    assert m, msg
    # it names where: a parameter (0.weight) or a layer (layer 2 (Linear))
    assert re.search(r"\d\.(weight|bias)|layer \d \(\w+\)", m.group(2)), msg
    # stopped in the batch it names: the earlier batches stepped, that one did not
    assert int(m.group(1)) == len(batches) + 1 == opt.steps + 1
    assert h.epoch == []  # the epoch never finished
    for p in model.parameters():
        assert np.isfinite(p.data).all()
    assert guard.events == [msg]


@overflow_expected
def test_nan_guard_rollback_restores_and_reduces_the_lr():
    guard = NaNGuard(rollback=True, lr_factor=0.1, max_rollbacks=20)
    model, opt, h, _ = exploding(1e6, [guard], epochs=3)
    epochs = [re.search(r"at epoch (\d+)", e).group(1) for e in guard.events]
    assert len(set(epochs)) < len(epochs)  # two rollbacks in one epoch
    assert guard.rollbacks >= 2 and h.diverged is None
    assert len(h.epoch) == 3  # training went on to the end
    # each rollback multiplies the current lr by 0.1, also twice in one epoch
    assert opt.lr == pytest.approx(1e6 * 0.1**guard.rollbacks)
    assert all(
        "Rolled back to the weights at the start of epoch" in e for e in guard.events
    )
    for p in model.parameters():
        assert np.isfinite(p.data).all()
    assert np.isfinite(h["loss"][-1])


@overflow_expected
def test_nan_guard_rollback_puts_back_the_epoch_start_weights():
    x, t = cr.data.polynomial(40, seed=0)
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    opt = cr.optim.SGD(model, lr=0.01)
    start = model.state_dict()

    class Poison(Callback):
        """Batch 2 of the first epoch gets a NaN gradient."""

        def before_step(self, trainer, loss):
            if trainer.epoch == 0 and trainer.batch == 1:
                trainer.model[0].weight.grad[...] = np.nan
            return True

    seen = {}

    class After(Callback):
        def before_step(self, trainer, loss):
            if trainer.epoch == 0 and trainer.batch == 1:
                seen.update(trainer.model.state_dict())
            return True

    guard = NaNGuard(rollback=True, lr_factor=0.5)
    cr.fit(
        model,
        cr.losses.MSE(),
        opt,
        x,
        t,
        epochs=1,
        batch_size=20,
        verbose=0,
        callbacks=[Poison(), guard, After()],
    )
    assert guard.rollbacks == 1
    assert "first non-finite gradient: 0.weight" in guard.events[0]
    for name in start:
        assert np.array_equal(seen[name], start[name])
    assert opt.lr == 0.005


@overflow_expected
def test_nan_guard_gives_up_after_max_rollbacks():
    guard = NaNGuard(rollback=True, lr_factor=0.9, max_rollbacks=2)
    model, opt, h, _ = exploding(1e6, [guard])
    assert guard.rollbacks == 2
    assert h.diverged is not None and len(guard.events) == 3
    assert opt.lr == pytest.approx(1e6 * 0.81)


def test_nan_guard_is_silent_on_healthy_training():
    guard = NaNGuard()
    _, opt, h, batches = exploding(0.01, [guard], epochs=2)
    assert h.diverged is None and guard.events == []
    assert opt.steps == len(batches) == 20


@overflow_expected
def test_nan_guard_prints_when_verbose():
    stream = io.StringIO()
    x, t = cr.data.polynomial(100, seed=0)
    model = cr.Sequential(
        cr.layers.Linear(1, 16, rng=0), cr.layers.Tanh(), cr.layers.Linear(16, 1, rng=1)
    )
    cr.fit(
        model,
        cr.losses.MSE(),
        cr.optim.SGD(model, lr=1e6),
        x,
        t,
        epochs=2,
        batch_size=20,
        verbose=1,
        stream=io.StringIO(),
        callbacks=[NaNGuard(stream=stream)],
    )
    assert stream.getvalue().strip().startswith("NaNGuard: the loss became")


# ---------------------------------------------------------- ModelCheckpoint
@overflow_expected
class _OverflowAfterBatch(Callback):
    """A weight turns inf at the end of batch ``b`` (0-based), as an update
    from a gradient that overflowed with a finite loss would leave it: fit
    stops by itself only at a non-finite loss."""

    def __init__(self, b: int) -> None:
        self.b = b

    def on_batch_end(self, trainer, loss):
        if trainer.batch == self.b:
            trainer.model[0].weight.data[0, 0] = np.inf


def test_model_checkpoint_never_writes_non_finite_weights(tmp_path):
    path = tmp_path / "ckpt.npz"
    ckpt = ModelCheckpoint(path, every_n_batches=1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # fit may stop, later
        model, opt, h, batches = exploding(0.01, [_OverflowAfterBatch(2), ckpt], epochs=1)
    assert not all(np.isfinite(p.data).all() for p in model.parameters())
    assert ckpt.saved == 2  # after batches 0 and 1, not after the inf of batch 2
    _, arrays = read_checkpoint(path)
    params = {k: v for k, v in arrays.items() if k.startswith("param/")}
    assert params and all(np.isfinite(v).all() for v in params.values())


def test_model_checkpoint_makes_its_folder_before_training(tmp_path):
    # A missing folder failed after the first epoch had trained.
    path = tmp_path / "runs" / "a" / "ck.npz"
    fit_line(1, [ModelCheckpoint(path)])
    assert path.is_file()
    (tmp_path / "file").write_text("x")
    seen = RecordWeights()
    with pytest.raises(OSError, match="ModelCheckpoint: cannot make the folder"):
        fit_line(1, [seen, ModelCheckpoint(tmp_path / "file" / "ck.npz")])
    assert seen.weights == []  # refused before the first epoch


def test_model_checkpoint_save_best_only(tmp_path):
    path = tmp_path / "best.npz"
    ckpt = ModelCheckpoint(path, save_best_only=True)
    model, h, record = fit_line(10, [ckpt])
    losses = h["val_loss"]
    improvements = sum(
        1 for i, v in enumerate(losses) if v < min(losses[:i], default=np.inf)
    )
    assert ckpt.saved == improvements
    best = int(np.argmin(losses))
    model2, manifest = cr.io.load_checkpoint_model(path)
    for name, value in model2.state_dict().items():
        assert np.array_equal(value, record.weights[best][name])
    assert manifest["trainer"]["epoch"] == best + 1


# ------------------------------------------------------------ GradientNorms
def test_gradient_norms_one_value_per_parameter_and_epoch():
    x, t, _, _ = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    h = cr.fit(
        model,
        cr.losses.MSE(),
        cr.optim.SGD(model, lr=0.1),
        x,
        t,
        epochs=3,
        batch_size=8,
        verbose=0,
        callbacks=[GradientNorms(every=2)],
    )
    assert set(h.grad_norms) == {"0.weight", "0.bias"}
    assert all(len(v) == 3 and all(n > 0 for n in v) for v in h.grad_norms.values())
    assert h.grad_norms["0.bias"][-1] < h.grad_norms["0.bias"][0]


def test_gradient_norms_are_l2_norms_averaged_over_the_sampled_batches():
    """Mixed-sign gradients of several elements: an L1 norm, a plain sum or a
    sum over batches instead of a mean would each give another number."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 3))
    t = rng.standard_normal((8, 2))
    model = cr.Sequential(cr.layers.Linear(3, 2, rng=0)).to(np.float64)
    # The gradient of every batch at the initial weights, replayed by hand.
    expected = {"0.weight": [], "0.bias": []}
    for b in (0, 2):  # every=2 samples batches 0 and 2 of the four
        loss = cr.losses.MSE()
        model.zero_grad()
        loss.forward(model(x[2 * b : 2 * b + 2]), t[2 * b : 2 * b + 2])
        model.backward(loss.backward())
        for name, p in model.named_parameters():
            expected[name].append(np.sqrt((p.grad**2).sum()))
    opt = cr.optim.SGD(model, lr=1e-300)  # steps too small to change a weight
    h = cr.fit(
        model, cr.losses.MSE(), opt, x, t, epochs=1, batch_size=2, shuffle=False,
        verbose=0, callbacks=[GradientNorms(every=2)],
    )  # fmt: skip
    for name, norms in expected.items():
        assert h.grad_norms[name] == [pytest.approx(np.mean(norms), rel=1e-12)]


def test_callbacks_must_be_callbacks():
    x, t, _, _ = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    with pytest.raises(
        TypeError, match=r"fit: callbacks must be Callback objects; got str"
    ):
        cr.fit(
            model,
            cr.losses.MSE(),
            cr.optim.SGD(model, lr=0.1),
            x,
            t,
            callbacks=["early"],
            verbose=0,
        )


def test_nan_guard_finds_a_nan_in_a_column_major_weight_gradient():
    # Linear stores its weight column-major; the finiteness test must read it.
    from chainrule._checks import all_finite

    g = np.asfortranarray(np.zeros((3, 4), np.float32))
    assert all_finite(g)
    g[2, 1] = np.nan
    assert not all_finite(g) and not all_finite(g.T) and not all_finite(g[::2])


def test_a_callback_takes_a_saved_state_of_its_own_kind_only():
    # What a checkpoint holds is read from disk: a patience count that is not
    # a number would fail mid-run, a NaN best would never be beaten.
    stop = cr.callbacks.EarlyStopping(patience=2)
    stop.load_state_dict({"best": 0.5, "best_epoch": 3, "wait": 1})
    assert (stop.best, stop.best_epoch, stop.wait) == (0.5, 3, 1)
    for bad, message in [
        ({"wait": "1"}, "wait must be like 0; got '1'"),
        ({"best": float("nan")}, "best must be like None; got nan"),
    ]:
        fresh = cr.callbacks.EarlyStopping(patience=2)
        with pytest.raises(ValueError, match=f"EarlyStopping.load_state_dict: {message}"):
            fresh.load_state_dict(bad)


def test_counts_and_verbosity_are_checked():
    # verbose=3 printed as 1, every=1.5 became 1, every=0 became 1: silently.
    with pytest.raises(ValueError, match="LivePlot: every must be a positive integer; got 1.5"):
        cr.callbacks.LivePlot(every=1.5)
    with pytest.raises(ValueError, match="GradientNorms: every must be a positive integer; got 0"):
        cr.callbacks.GradientNorms(every=0)
    x, t, _, _ = line_data()
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    with pytest.raises(ValueError, match="fit: verbose must be 0, 1 or 2; got 3"):
        cr.fit(model, cr.losses.MSE(), cr.optim.SGD(model, lr=0.1), x, t, verbose=3)
