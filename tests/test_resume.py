"""Checkpoints and resuming: a run killed mid-training and resumed ends with the
same weights, bit for bit, as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import ModelFileError, read_checkpoint

L = cr.layers
REPO = Path(__file__).resolve().parents[1]
# One BLAS thread: the same sums in the same order in every process.
ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _assert_same_weights(a: cr.Module, b: cr.Module) -> None:
    """Parameters and buffers (running statistics), bit for bit."""
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype
        assert np.array_equal(sa[k], sb[k]), f"{k} differs"


def _assert_same_history(a: dict, b: dict) -> None:
    assert a["epoch"] == b["epoch"]
    for key in a["history"]:
        if key != "time":
            assert a["history"][key] == b["history"][key], key


# ------------------------------------------------------------ in process
class _Crash(Exception):
    pass


class _CrashAt(cr.callbacks.Callback):
    """Raise after a given batch, as a crash would stop the run there; like a
    checkpoint it runs last, so the batch's checkpoint is already on disk."""

    runs_last = True

    def __init__(self, epoch: int, batches_done: int):
        self.at = (epoch, batches_done)

    def on_batch_end(self, trainer, loss):
        if (trainer.epoch, trainer.batches_done) == self.at:
            raise _Crash


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).astype(np.int64) + (x[:, 2] > 1)
    return x, y


def _sequential():
    return cr.Sequential(
        L.Linear(6, 16), L.Tanh(), L.Dropout(0.3), L.Linear(16, 8), L.ReLU(),
        L.Linear(8, 3),
    )  # fmt: skip


def _batchnorm():
    """Running statistics (buffers) must resume bit for bit too."""
    return cr.Sequential(
        L.Linear(6, 16), L.BatchNorm1D(16), L.ReLU(), L.Dropout(0.3), L.Linear(16, 3)
    )


def _graph():
    x = cr.Input((6,))
    h = L.ReLU()(L.Linear(6, 6)(x))
    h = L.Add()(h, x)
    h = L.Dropout(0.2)(h)
    return cr.Graph(x, L.Linear(6, 3)(h))


def _run(
    tmp_path, make_model, make_opt, crash=None, resume=None, schedule=None, extra=(),
    **kw,
):
    cr.seed(11)
    batch_size = kw.pop("batch_size", 16)
    model = make_model()
    x, y = _data()
    optimizer = make_opt(model)
    callbacks = [
        cr.callbacks.ModelCheckpoint(tmp_path / "ckpt.npz", every_n_batches=3),
        cr.callbacks.GradientNorms(every=2),
        *extra,
    ]
    if schedule is not None:
        callbacks.append(cr.callbacks.LearningRateScheduler(schedule(optimizer)))
    if crash:
        callbacks.append(_CrashAt(*crash))
    history = cr.fit(
        model,
        cr.losses.CrossEntropy(),
        optimizer,
        x,
        y,
        epochs=3,
        batch_size=batch_size,
        verbose=0,
        callbacks=callbacks,
        resume=resume,
        **kw,
    )
    return model, history


OPTIMIZERS = {
    "sgd-momentum": lambda m: cr.optim.SGD(m, lr=0.05, momentum=0.9),
    "adam": lambda m: cr.optim.Adam(m, lr=0.01),
}


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize(
    "make_model", [_sequential, _graph, _batchnorm], ids=["seq", "graph", "batchnorm"]
)
@pytest.mark.parametrize(
    ("crash", "checkpoint", "extra"),
    [
        ((1, 4), (1, 3), {}),  # crash mid-epoch: resume from batch 3 of epoch 2
        # 6 batches: the checkpoint after the last batch comes before the
        # epoch's end (validation, history), which the resumed run must do.
        ((0, 6), (0, 6), {"validation_split": 0.2, "batch_size": 20}),
        ((2, 1), (2, 0), {"seed": 5}),  # from the checkpoint at an epoch's end
    ],
    ids=["mid-epoch", "last-batch", "epoch-end"],
)
def test_resume_after_a_crash_matches_an_uninterrupted_run(
    tmp_path, opt, make_model, crash, checkpoint, extra
):
    whole, h_whole = _run(tmp_path / "a", make_model, OPTIMIZERS[opt], **extra)
    with pytest.raises(_Crash):
        _run(tmp_path / "b", make_model, OPTIMIZERS[opt], crash=crash, **extra)
    state = read_checkpoint(tmp_path / "b" / "ckpt.npz")[0]["trainer"]
    assert (state["epoch"], state["batches_done"]) == checkpoint
    cr.seed(999)  # the checkpoint, not the current global state, decides
    resumed, h_resumed = _run(
        tmp_path / "c",
        make_model,
        OPTIMIZERS[opt],
        resume=tmp_path / "b" / "ckpt.npz",
        **extra,
    )
    _assert_same_weights(whole, resumed)
    _assert_same_history(h_whole.to_dict(), h_resumed.to_dict())
    # The callbacks' bookkeeping travels in the checkpoint too: the gradient
    # norms of an epoch cut in two are those of the whole epoch.
    assert h_resumed.grad_norms == h_whole.grad_norms


SCHEDULES = {
    "step-decay": lambda opt: cr.optim.StepDecay(opt, step_size=1, gamma=0.5),
    "plateau": lambda opt: cr.optim.ReduceOnPlateau(opt, factor=0.5, patience=0),
}


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_resume_carries_on_the_learning_rate_schedule(tmp_path, schedule):
    make_opt = OPTIMIZERS["sgd-momentum"]
    kw = {"schedule": SCHEDULES[schedule], "validation_split": 0.2}
    whole, h_whole = _run(tmp_path / "a", _sequential, make_opt, **kw)
    with pytest.raises(_Crash):
        _run(tmp_path / "b", _sequential, make_opt, crash=(1, 4), **kw)
    resumed, h_resumed = _run(
        tmp_path / "c", _sequential, make_opt, resume=tmp_path / "b" / "ckpt.npz", **kw
    )
    _assert_same_weights(whole, resumed)
    _assert_same_history(h_whole.to_dict(), h_resumed.to_dict())


def _crash_and_resume(tmp_path, make_extra, crash=(1, 4), **kw):
    """(uninterrupted, resumed): the same run whole, and crashed at ``crash``
    then resumed from its checkpoint; ``make_extra()`` gives fresh callbacks."""
    make_opt = OPTIMIZERS["sgd-momentum"]
    whole = _run(tmp_path / "a", _batchnorm, make_opt, extra=make_extra(), **kw)
    with pytest.raises(_Crash):
        _run(tmp_path / "b", _batchnorm, make_opt, crash=crash, extra=make_extra(), **kw)
    resumed = _run(
        tmp_path / "c", _batchnorm, make_opt, resume=tmp_path / "b" / "ckpt.npz",
        extra=make_extra(), **kw,
    )  # fmt: skip
    return whole, resumed


def test_resume_keeps_early_stoppings_best_weights(tmp_path):
    # The loss falls, so with mode "max" the best epoch is the first: the run
    # ends on its weights. The checkpoint must carry them (it carried only
    # the best value, and a resumed run ended on its last weights).
    def extra():
        return [cr.callbacks.EarlyStopping(monitor="loss", mode="max", patience=9)]

    (whole, h_whole), (resumed, h_resumed) = _crash_and_resume(tmp_path, extra)
    assert h_whole.best_epoch == h_resumed.best_epoch == 0
    _assert_same_weights(whole, resumed)


def test_a_run_that_stopped_early_stays_stopped_when_resumed(tmp_path):
    # Patience 1 with a loss that only falls (mode "max"): stopped after two
    # epochs; resumed from its last checkpoint it must not train a third.
    def extra():
        return [cr.callbacks.EarlyStopping(monitor="loss", mode="max", patience=1)]

    make_opt = OPTIMIZERS["sgd-momentum"]
    whole, h_whole = _run(tmp_path / "a", _sequential, make_opt, extra=extra())
    assert len(h_whole.epoch) == 2 and h_whole.stop_reason
    again, h_again = _run(
        tmp_path / "c", _sequential, make_opt, resume=tmp_path / "a" / "ckpt.npz",
        extra=extra(),
    )  # fmt: skip
    assert len(h_again.epoch) == 2
    _assert_same_weights(whole, again)


class _PoisonAt(cr.callbacks.Callback):
    """Make one gradient NaN before the step of one batch."""

    def __init__(self, epoch: int, batch: int):
        self.at = (epoch, batch)

    def before_step(self, trainer, loss):
        if (trainer.epoch, trainer.batch) == self.at:
            next(iter(trainer.model.parameters())).grad[0] = np.nan
        return True


def test_nanguard_rolls_back_to_the_epochs_start_after_a_mid_epoch_resume(tmp_path):
    # The snapshot of the epoch's start travels in the checkpoint; taken at
    # the resume point instead, the rollback went somewhere else.
    def extra():
        return [_PoisonAt(1, 6), cr.callbacks.NaNGuard(rollback=True, stream=None)]

    (whole, h_whole), (resumed, h_resumed) = _crash_and_resume(tmp_path, extra)
    _assert_same_weights(whole, resumed)
    _assert_same_history(h_whole.to_dict(), h_resumed.to_dict())


@pytest.mark.parametrize("change", [{"seed": 99}, {"validation_split": 0.5}, {"shuffle": False}])
def test_resume_with_another_split_seed_or_order_is_refused(tmp_path, change):
    # Each would train on samples the first part validated on, or in another
    # order, and call it the same run.
    kw = {"seed": 11, "validation_split": 0.2}
    with pytest.raises(_Crash):
        _run(tmp_path / "b", _sequential, OPTIMIZERS["adam"], crash=(1, 4), **kw)
    key = next(iter(change))
    with pytest.raises(ModelFileError, match=f"written with {key} "):
        _run(tmp_path / "c", _sequential, OPTIMIZERS["adam"],
             resume=tmp_path / "b" / "ckpt.npz", **{**kw, **change})  # fmt: skip
    x, y = _data()
    model = _sequential()
    with pytest.raises(ModelFileError, match=r"written with train_samples 120; got \d+"):
        cr.fit(model, cr.losses.CrossEntropy(), cr.optim.Adam(model), x[:100], y[:100],
               batch_size=16, verbose=0, resume=tmp_path / "b" / "ckpt.npz", **kw)  # fmt: skip
    # Other data of the same size: told apart by rows spread over it.
    with pytest.raises(ModelFileError, match="written with train_data "):
        cr.fit(model, cr.losses.CrossEntropy(), cr.optim.Adam(model), x[::-1].copy(), y[::-1].copy(),
               batch_size=16, verbose=0, resume=tmp_path / "b" / "ckpt.npz", **kw)  # fmt: skip


def test_a_per_batch_schedule_sized_by_the_run_stretches_to_more_epochs(tmp_path):
    # A schedule without total_steps runs over the whole run; resumed with more
    # epochs it must run over the longer run, not sit at its end (lr 0).
    x, y = _data()

    def run(epochs, resume=None, folder="a"):
        cr.seed(2)
        model = _sequential()
        opt = cr.optim.SGD(model, lr=0.1)
        sched = cr.optim.WarmupCosine(opt, warmup_steps=2)
        cbs = [cr.callbacks.ModelCheckpoint(tmp_path / folder / "ckpt.npz"),
               cr.callbacks.LearningRateScheduler(sched, interval="batch")]  # fmt: skip
        return cr.fit(model, cr.losses.CrossEntropy(), opt, x, y, epochs=epochs,
                      batch_size=30, verbose=0, callbacks=cbs, resume=resume)  # fmt: skip

    short = run(2)
    assert short["lr"][-1] == 0.0  # a cosine ends at 0
    longer = run(4, resume=tmp_path / "a" / "ckpt.npz")
    fresh = run(4, folder="b")
    assert longer["lr"][:2] == short["lr"]
    assert longer["lr"][2:] == pytest.approx(fresh["lr"][2:])  # the longer curve
    assert min(longer["lr"][2:-1]) > 0


def test_resume_carries_on_augmentation_and_a_per_batch_schedule(tmp_path):
    """A killed run with AdamW, a warm-up + cosine schedule stepped per batch
    and random crops continues bit-identically."""

    def make_opt(model):
        return cr.optim.AdamW(model, lr=0.01, weight_decay=0.05)

    def conv():
        return cr.Sequential(
            L.Conv2D(1, 3, 3), L.ReLU(), L.Flatten(), L.Linear(3 * 4 * 4, 3)
        )

    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 60)

    def run(d, crash=None, resume=None):
        cr.seed(5)
        model = conv()
        opt = make_opt(model)
        sched = cr.optim.WarmupCosine(opt, warmup_steps=3, total_steps=12)
        callbacks = [
            cr.callbacks.ModelCheckpoint(d / "ckpt.npz", every_n_batches=2),
            cr.callbacks.LearningRateScheduler(sched, interval="batch"),
        ]
        if crash:
            callbacks.append(_CrashAt(*crash))
        aug = cr.data.augment.Compose(
            cr.data.augment.RandomCrop(1), cr.data.augment.RandomHorizontalFlip()
        )
        h = cr.fit(
            model, cr.losses.CrossEntropy(label_smoothing=0.1), opt, x, y, epochs=3,
            batch_size=16, verbose=0, callbacks=callbacks, resume=resume, augment=aug,
        )  # fmt: skip
        return model, h

    whole, h_whole = run(tmp_path / "a")
    with pytest.raises(_Crash):
        run(tmp_path / "b", crash=(1, 3))
    resumed, h_resumed = run(tmp_path / "c", resume=tmp_path / "b" / "ckpt.npz")
    _assert_same_weights(whole, resumed)
    _assert_same_history(h_whole.to_dict(), h_resumed.to_dict())
    # and augmentation did change what was trained on
    cr.seed(5)
    plain = conv()
    opt = make_opt(plain)
    sched = cr.optim.WarmupCosine(opt, warmup_steps=3, total_steps=12)
    cr.fit(
        plain, cr.losses.CrossEntropy(label_smoothing=0.1), opt, x, y, epochs=3,
        batch_size=16, verbose=0,
        callbacks=[cr.callbacks.LearningRateScheduler(sched, interval="batch")],
    )  # fmt: skip
    assert not np.array_equal(plain.state_dict()["0.weight"], whole.state_dict()["0.weight"])


@pytest.fixture(autouse=True)
def _dirs(tmp_path):
    for d in "abc":
        (tmp_path / d).mkdir()


def test_checkpoint_holds_the_position(tmp_path):
    with pytest.raises(_Crash):
        _run(tmp_path / "b", _sequential, OPTIMIZERS["adam"], crash=(1, 4))
    manifest, arrays = read_checkpoint(tmp_path / "b" / "ckpt.npz")
    assert manifest["trainer"]["epoch"] == 1
    assert manifest["trainer"]["batches_done"] == 3
    assert any(k.startswith("optim/") for k in arrays)


def test_resume_with_other_settings_is_refused(tmp_path):
    with pytest.raises(_Crash):
        _run(tmp_path / "b", _sequential, OPTIMIZERS["adam"], crash=(1, 4))
    x, y = _data()
    model = _sequential()
    with pytest.raises(ValueError, match="written with batch_size 16; got 8"):
        cr.fit(
            model,
            cr.losses.CrossEntropy(),
            cr.optim.Adam(model),
            x,
            y,
            batch_size=8,
            verbose=0,
            resume=tmp_path / "b" / "ckpt.npz",
        )
    small = cr.Sequential(L.Linear(6, 3))
    with pytest.raises(ModelFileError, match="does not fit its architecture"):
        cr.fit(
            small,
            cr.losses.CrossEntropy(),
            cr.optim.Adam(small),
            x,
            y,
            batch_size=16,
            verbose=0,
            resume=tmp_path / "b" / "ckpt.npz",
        )


def _sgd_checkpoint_edited(tmp_path, edit) -> Path:
    """A checkpoint after one epoch of SGD with momentum, its manifest passed
    through ``edit`` (which changes it in place)."""
    from _model_files import edit_manifest

    x, y = _data()
    path = tmp_path / "ckpt.npz"
    model = _sequential()
    cr.fit(
        model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1, momentum=0.9),
        x, y, epochs=1, batch_size=16, verbose=0,
        callbacks=[cr.callbacks.ModelCheckpoint(path)],
    )  # fmt: skip
    return edit_manifest(path, edit)


@pytest.mark.parametrize(
    "part, edit, message",
    [
        ("optimizer", {"lr": float("nan")}, "SGD: lr must be a non-negative number; got nan"),
        ("optimizer", {"momentum": 5.0}, r"SGD: momentum must be in \[0, 1\); got 5.0"),
        ("optimizer", {"step": 1.0}, r"unknown hyperparameters \['step'\]"),
        ("optimizer", {"lr": "fast"}, "could not convert string to float"),
        ("trainer", {"epoch": -3}, "epoch must be a non-negative integer; got -3"),
        ("trainer", {"batches_done": -5}, "batches_done must be a non-negative integer"),
        ("trainer", {"loss_sum": float("nan")}, "loss_sum must be a finite real number; got nan"),
        ("trainer", {"count": "x"}, "count must be a non-negative integer; got 'x'"),
        ("trainer", {"epoch_rng_state": "zz"}, r"state must be a dict \(TypeError\)"),
        ("trainer", {"history": 5}, r"\(AttributeError\)"),
        ("trainer", {"metrics": [5]}, r"\(TypeError\)"),
        ("trainer", {"batches_done": 999}, r"batches_done is 999; an epoch here has \d+ batches"),
        ("trainer", {"seed": "abc"}, "the training state must be an object with an integer seed"),
    ],
)
def test_a_checkpoint_with_a_damaged_training_state_is_refused(tmp_path, part, edit, message):
    # The training state is read from disk like the weights: a NaN learning
    # rate, a name over the optimizer's step method, a negative batch position
    # or a random state that is not one would set itself as it is and fail
    # (or train on NaN) later, far from the file.
    path = _sgd_checkpoint_edited(
        tmp_path,
        lambda state: (
            state["optimizer"]["hyperparameters"] if part == "optimizer" else state["trainer"]
        ).update(edit),
    )
    x, y = _data()
    model = _sequential()
    with pytest.raises(ModelFileError, match=rf"resume: .*ckpt\.npz.*{message}"):
        cr.fit(
            model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1, momentum=0.9),
            x, y, epochs=2, batch_size=16, verbose=0, resume=path,
        )  # fmt: skip


def test_a_checkpoint_whose_schedule_stopped_the_rate_resumes(tmp_path):
    # A schedule can leave the rate at exactly 0 (a warm-up's first step, a
    # cosine's last), which the constructor refuses as a start: resumed as is.
    path = _sgd_checkpoint_edited(
        tmp_path, lambda state: state["optimizer"]["hyperparameters"].update(lr=0.0)
    )
    x, y = _data()
    model = _sequential()
    opt = cr.optim.SGD(model, lr=0.1, momentum=0.9)
    cr.fit(
        model, cr.losses.CrossEntropy(), opt, x, y, epochs=1, batch_size=16, verbose=0,
        resume=path,
    )  # fmt: skip
    assert opt.lr == 0.0


def test_resume_from_a_model_file_is_refused(tmp_path):
    model = _sequential()
    model.save(tmp_path / "m.npz")
    x, y = _data()
    with pytest.raises(ModelFileError, match="expected a chainrule-checkpoint"):
        cr.fit(
            model,
            cr.losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.1),
            x,
            y,
            verbose=0,
            resume=tmp_path / "m.npz",
        )


# ----------------------------------------------------- killed processes
_SCRIPT = """
import sys, time
from pathlib import Path
import chainrule as cr
L = cr.layers
out = Path(sys.argv[1])
resume = sys.argv[2] if len(sys.argv) > 2 else None
cr.seed(3)
(x, y), _ = cr.data.load("mnist5k")
x, y = x[:1200], y[:1200]
model = cr.Sequential(
    L.Flatten(), L.Linear(784, 32), L.BatchNorm1D(32), L.ReLU(), L.Dropout(0.2),
    L.Linear(32, 10)
)

class Tick(cr.callbacks.Callback):
    def on_batch_end(self, trainer, loss):
        print(trainer.epoch, trainer.batches_done, flush=True)
        time.sleep(0.003)  # time for the test to aim its kill

history = cr.fit(
    model, cr.losses.CrossEntropy(), cr.optim.Adam(model, lr=1e-3), x, y,
    epochs=3, batch_size=32, validation_split=0.1, verbose=0, resume=resume,
    callbacks=[cr.callbacks.ModelCheckpoint(out / "ckpt.npz", every_n_batches=4),
               Tick()],
)
model.save(out / "final.npz")
history.to_json(out / "history.json")
"""


def _kill_when(proc, ready, timeout=60.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` is true."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never got there"
            time.sleep(0.005)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_script_killed_and_resumed_matches_an_uninterrupted_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    whole = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(a)], env=ENV, stdout=subprocess.DEVNULL
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(b)],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    position = [0, 0]

    def ready():
        position[:] = map(int, proc.stdout.readline().split())
        # In epoch 2, with a checkpoint behind and a few batches past it.
        return position[0] == 1 and position[1] % 4 == 2

    _kill_when(proc, ready)
    proc.stdout.close()
    assert not (b / "final.npz").exists()
    manifest, _ = read_checkpoint(b / "ckpt.npz")
    # The kill lands at least where the test read the run's position (the run
    # may have got further while the test read its output): mid-run, at a
    # checkpoint boundary, and before the end.
    assert manifest["trainer"]["epoch"] >= 1
    assert manifest["trainer"]["batches_done"] % 4 == 0
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(b), str(b / "ckpt.npz")],
        env=ENV,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0
    assert whole.wait(timeout=120) == 0
    _assert_same_weights(cr.load(a / "final.npz"), cr.load(b / "final.npz"))
    _assert_same_history(
        json.loads((a / "history.json").read_text()),
        json.loads((b / "history.json").read_text()),
    )


def _no_matplotlib(tmp_path) -> dict:
    """An environment in which ``import matplotlib`` fails, as when it is not
    installed: the pictures (seconds each) are not what these tests are about."""
    stub = tmp_path / "stub" / "matplotlib"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        "raise ImportError('not installed (test stub)')\n"
    )
    return {**ENV, "PYTHONPATH": os.pathsep.join([str(stub.parent), str(REPO)])}


_WIDE_MLP = "flatten-linear1024-relu-linear1024-relu-linear10"


def _train(out: Path, env: dict, *extra: str, **kw) -> subprocess.Popen:
    # A wide MLP and a third epoch, so that the run is still going when the
    # test has seen its mid-epoch checkpoint (the plain mlp finishes in 0.3 s).
    args = ["--data", "mnist5k", "--model", _WIDE_MLP, "--epochs", "3"]
    args += ["--checkpoint-every", "5", "--seed", "1", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", *args, "--out", str(out), *extra],
        env=env,
        cwd=out.parent,
        **kw,
    )


@pytest.mark.slow
def test_cli_train_killed_and_resumed_matches_an_uninterrupted_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    env = _no_matplotlib(tmp_path)
    whole = _train(a, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = _train(b, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = b / "checkpoint.npz"

    def ready():
        if not checkpoint.exists():
            return False
        state = read_checkpoint(checkpoint)[0]["trainer"]
        # Mid-way through the second epoch (29 batches each).
        return state["epoch"] == 1 and state["batches_done"] >= 5

    _kill_when(proc, ready)
    assert not (b / "model.npz").exists()
    resumed = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "--resume", str(checkpoint)]
        + ["--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    out, err = whole.communicate(timeout=120)
    assert whole.returncode == 0, err
    _assert_same_weights(cr.load(a / "model.npz"), cr.load(b / "model.npz"))
    result_a = json.loads(out.strip().splitlines()[-1])
    result_b = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result_b["epochs"] == result_a["epochs"] == 3
    assert result_b["test_loss"] == result_a["test_loss"]
    assert result_b["test_accuracy"] == result_a["test_accuracy"]
    # Everything but the timings of the history matches too.
    _assert_same_history(
        json.loads((a / "history.json").read_text()),
        json.loads((b / "history.json").read_text()),
    )


class _Tick(cr.callbacks.Callback):
    """A clock that advances one second per batch: epoch times are then
    batch counts, whatever the machine's speed."""

    def __init__(self, clock: list[float]):
        self.clock = clock

    def on_batch_end(self, trainer, loss):
        self.clock[0] += 1.0


def test_a_resumed_epochs_time_counts_the_part_before_the_crash(
    tmp_path, monkeypatch
):
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    tick = [_Tick(clock)]
    _, h_whole = _run(tmp_path / "a", _sequential, OPTIMIZERS["adam"], extra=tick)
    assert h_whole.history["time"] == [10.0, 10.0, 10.0]  # 150 samples, 16 a batch
    with pytest.raises(_Crash):
        _run(tmp_path / "b", _sequential, OPTIMIZERS["adam"], crash=(1, 6), extra=tick)
    _, h_resumed = _run(
        tmp_path / "c",
        _sequential,
        OPTIMIZERS["adam"],
        resume=tmp_path / "b" / "ckpt.npz",
        extra=tick,
    )
    assert h_resumed.history["time"] == [10.0, 10.0, 10.0]


def test_a_float64_checkpoint_resumes_into_a_model_built_in_float32(tmp_path):
    # Resume converts the model to the checkpoint's dtype; the data digest in
    # the checkpoint must not depend on the dtype the data was cast to first.
    x, y = _data()

    def run(model, **kw):
        return cr.fit(model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1), x, y,
                      epochs=2, batch_size=32, verbose=0, seed=2, **kw)  # fmt: skip

    run(_sequential().to(np.float64), callbacks=[cr.callbacks.ModelCheckpoint(tmp_path / "c.npz")])
    model = _sequential()
    run(model, resume=tmp_path / "c.npz")
    assert model.dtype == np.float64


def test_an_incomplete_optimizer_state_is_refused_at_resume(tmp_path):
    # Adam without its second moment for one parameter failed with KeyError
    # at the first step after resuming.
    from _model_files import manifest, members, repack, set_manifest

    x, y = _data()
    model = _sequential()
    cr.fit(model, cr.losses.CrossEntropy(), cr.optim.Adam(model), x, y, epochs=1,
           batch_size=32, verbose=0, callbacks=[cr.callbacks.ModelCheckpoint(tmp_path / "c.npz")])  # fmt: skip
    items = members(tmp_path / "c.npz")
    key = next(k for k in items if k.startswith("optim/") and k.endswith("/v.npy"))
    del items[key]
    m = manifest(items)
    del m["arrays"][key[: -len(".npy")]]
    set_manifest(items, m)
    repack(tmp_path / "c.npz", items)
    fresh = _sequential()
    with pytest.raises(ModelFileError, match=r"holds \['m'\], expected \['m', 'v'\]"):
        cr.fit(fresh, cr.losses.CrossEntropy(), cr.optim.Adam(fresh), x, y, epochs=2,
               batch_size=32, verbose=0, resume=tmp_path / "c.npz")  # fmt: skip
