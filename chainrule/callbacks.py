"""Callbacks: code that runs at fixed points of ``cr.fit``.

Each hook receives the :class:`~chainrule.training.Trainer`, which exposes the
model, optimizer, history, current epoch and batch, and ``stop_training``.
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import numpy as np

from ._checks import all_finite, integer, like
from .optim import LRSchedule, ReduceOnPlateau, _improved


class Callback:
    """Base class; override the hooks you need."""

    def on_train_begin(self, trainer) -> None: ...

    def on_epoch_begin(self, trainer) -> None: ...

    def before_step(self, trainer, loss: float) -> bool:
        """After backward, before the optimizer step. Return False to skip the step."""
        return True

    def on_batch_end(self, trainer, loss: float) -> None: ...

    def on_epoch_end(self, trainer, logs: dict[str, float]) -> None: ...

    def on_train_end(self, trainer) -> None: ...

    #: Run this callback's ``on_batch_end`` and ``on_epoch_end`` after every
    #: other callback's (in list order otherwise): what records the state of a
    #: batch or an epoch, such as a checkpoint, must come after what changes it.
    runs_last = False

    #: Attributes saved in checkpoints, so that a resumed run carries on with
    #: the same bookkeeping (best value so far, patience count...).
    _resumable: tuple[str, ...] = ()

    def state_dict(self) -> dict:
        """The JSON-friendly bookkeeping named in ``_resumable``."""
        return {k: getattr(self, k) for k in self._resumable}

    def load_state_dict(self, state: dict) -> None:
        owner = f"{type(self).__name__}.load_state_dict"
        for k in self._resumable:
            if k in state:
                setattr(self, k, like(owner, k, getattr(self, k), state[k]))

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        """Arrays a checkpoint keeps beside :meth:`state_dict` (the weights of
        the best epoch, say); none by default."""
        return {}

    def load_checkpoint_arrays(self, trainer, arrays: dict[str, np.ndarray]) -> None:
        """Take back, from a checkpoint, what :meth:`checkpoint_arrays` gave.
        Raise ValueError for arrays that do not fit the run."""


def _monitored(owner: str, monitor: str, logs: dict) -> float:
    """The epoch's value of ``monitor``; a name the logs lack is an error (it
    would otherwise quietly turn the callback off)."""
    value = logs.get(monitor)
    if value is None:
        raise ValueError(
            f"{owner}: monitor {monitor!r} is not among the epoch logs "
            f"({', '.join(logs)})."
        )
    return value


def _weights_like(model, arrays: dict[str, np.ndarray], what: str) -> dict:
    """``arrays`` in the order of ``model.state_dict()``, when they are its
    names with its shapes and dtypes (read from a checkpoint: checked before
    a callback keeps them to load into the model later)."""
    now = model.state_dict()
    if set(arrays) != set(now) or any(
        arrays[k].shape != now[k].shape or arrays[k].dtype != now[k].dtype for k in now
    ):
        raise ValueError(
            f"{what} does not fit the model (other names, shapes or dtypes)."
        )
    return {k: arrays[k] for k in now}


def _without_validation(monitor: str, mode: str, trainer) -> tuple[str, str]:
    """A "val_" monitor falls back to the training value when fit has no
    validation data (with the mode that value calls for)."""
    if monitor.startswith("val_") and not trainer.has_validation:
        monitor = monitor[4:]
        return monitor, _monitor_mode(monitor, "auto")
    return monitor, mode


def _monitor_mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto'; got {mode!r}.")
        return mode
    return "max" if ("acc" in monitor or monitor.endswith("r2")) else "min"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best_weights`` (the default) the weights of the best epoch
    are put back when training ends, whatever ends it: this callback, the last
    epoch, another callback, or an exception such as Ctrl-C.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs: "val_loss" (default), "loss", "val_accuracy"...
        Falls back to "loss" when there is no validation data.
    patience : int
    min_delta : float
        An improvement must exceed this.
    mode : {"auto", "min", "max"}
    """

    _resumable = ("best", "best_epoch", "wait")

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ) -> None:
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = _monitor_mode(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.wait = 0

    def on_train_begin(self, trainer) -> None:
        self.monitor, self.mode = _without_validation(self.monitor, self.mode, trainer)

    def on_epoch_end(self, trainer, logs) -> None:
        value = _monitored("EarlyStopping", self.monitor, logs)
        if _improved(value, self.best, self.mode, self.min_delta):
            # during on_epoch_end, trainer.epoch counts the epochs completed
            self.best, self.best_epoch, self.wait = value, trainer.epoch - 1, 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True
                trainer.stop_reason = (
                    f"early stopping: {self.monitor} did not improve for "
                    f"{self.patience} epochs (best {self.best:.4f} at epoch "
                    f"{(self.best_epoch or 0) + 1})"
                )

    def on_train_end(self, trainer) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)
            trainer.history.best_epoch = self.best_epoch

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        # The best epoch's weights: without them a resumed run would end on
        # its last epoch's weights, not the best.
        return dict(self.best_weights or {})

    def load_checkpoint_arrays(self, trainer, arrays: dict[str, np.ndarray]) -> None:
        if not arrays:
            self.best_weights = None
            return
        self.best_weights = _weights_like(
            trainer.model, arrays, "EarlyStopping: the best epoch's weights in the checkpoint"
        )


class NaNGuard(Callback):
    """Stop (or roll back) at the batch where the loss or a gradient turns
    non-finite, before the optimizer step can poison the weights.

    The message names the epoch, the batch and the first layer whose output or
    gradient is not finite. With ``rollback=True`` the weights and optimizer
    state from the start of the epoch are restored, the learning rate is
    multiplied by ``lr_factor``, and training goes on (at most
    ``max_rollbacks`` times; then it stops).

    The bad batch is undone entirely: its optimizer step is skipped, and the
    buffers its forward pass changed (BatchNorm's running statistics, already
    non-finite) are put back as they were before it.

    Without a NaNGuard, ``fit`` still stops before the step of a batch whose
    loss is NaN or infinite, with a RuntimeWarning; it does not look at the
    gradients (a finite loss can have an overflowing gradient), nor roll back.
    """

    _resumable = ("rollbacks",)

    def __init__(
        self,
        rollback: bool = False,
        lr_factor: float = 0.5,
        max_rollbacks: int = 3,
        stream=None,
    ) -> None:
        self.rollback = rollback
        self.lr_factor = float(lr_factor)
        self.max_rollbacks = int(max_rollbacks)
        self.rollbacks = 0
        self.stream = stream
        self._snapshot = None
        self.events: list[str] = []

    def on_train_begin(self, trainer) -> None:
        # Looked at before every step: list them once (a rollback loads
        # weights in place, so these stay the model's parameters).
        self._params = list(trainer.model.named_parameters())
        # Buffers are updated in place, so these references stay valid; a
        # copy before each batch (small: running statistics) undoes a bad one.
        self._buffers = [b for _, b in trainer.model.named_buffers()]
        self._keep_buffers()

    def _keep_buffers(self) -> None:
        self._buffers_before = [b.copy() for b in self._buffers]

    def on_batch_end(self, trainer, loss: float) -> None:
        if self._buffers:
            self._keep_buffers()

    def on_epoch_begin(self, trainer) -> None:
        # A run resumed mid-epoch brought the snapshot of the epoch's start
        # from its checkpoint; the weights now are the resume point's.
        if self.rollback and (trainer.batches_done == 0 or self._snapshot is None):
            self._snapshot = (
                trainer.model.state_dict(),
                trainer.optimizer.state_dict(),
            )

    # The snapshot travels in checkpoints: arrays (the weights, the optimizer's
    # per-parameter state) beside the optimizer's other settings in the JSON.
    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.rollback and self._snapshot is not None:
            opt = self._snapshot[1]
            state["snapshot_optimizer"] = {k: v for k, v in opt.items() if k != "state"}
        return state

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        self._pending_optimizer = state.pop("snapshot_optimizer", None)
        super().load_state_dict(state)

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        if not (self.rollback and self._snapshot is not None):
            return {}
        weights, opt = self._snapshot
        arrays = {f"weights/{k}": a for k, a in weights.items()}
        for name, s in opt["state"].items():
            arrays.update((f"optim/{name}/{k}", a) for k, a in s.items())
        return arrays

    def load_checkpoint_arrays(self, trainer, arrays: dict[str, np.ndarray]) -> None:
        opt = getattr(self, "_pending_optimizer", None)
        self._pending_optimizer = None
        if not (self.rollback and opt is not None):
            return
        weights = _weights_like(
            trainer.model,
            {k[len("weights/") :]: a for k, a in arrays.items() if k.startswith("weights/")},
            "NaNGuard: the snapshot of the epoch's start in the checkpoint",
        )
        state: dict[str, dict[str, np.ndarray]] = {}
        for key, a in arrays.items():
            if key.startswith("optim/"):
                name, _, sub = key[len("optim/") :].rpartition("/")
                state.setdefault(name, {})[sub] = a
        snapshot_opt = {**opt, "state": state}
        # Checked now, on a copy, rather than at a rollback in mid-run.
        probe = copy.copy(trainer.optimizer)
        probe.load_state_dict(snapshot_opt)
        self._snapshot = (weights, snapshot_opt)

    def before_step(self, trainer, loss: float) -> bool:
        bad_grad = next((n for n, p in self._params if not all_finite(p.grad)), None)
        if bad_grad is None and math.isfinite(loss):
            return True
        where = trainer.diagnose_non_finite(bad_grad)
        for b, before in zip(self._buffers, self._buffers_before):
            b[...] = before  # the batch is skipped: so is its statistics update
        what = (
            f"the loss became {loss}"
            if not math.isfinite(loss)
            else "a gradient became non-finite"
        )
        msg = (
            f"NaNGuard: {what} at epoch {trainer.epoch + 1}, batch {trainer.batch + 1}; "
            f"{where}."
        )
        if (
            self.rollback
            and self._snapshot is not None
            and self.rollbacks < self.max_rollbacks
        ):
            self.rollbacks += 1
            weights, opt_state = self._snapshot
            # The snapshot holds the lr of the epoch's start: reduce the current
            # one, so that repeated rollbacks in one epoch keep reducing it.
            lr = trainer.optimizer.lr
            trainer.model.load_state_dict(weights)
            trainer.optimizer.load_state_dict(opt_state)
            trainer.optimizer.lr = lr * self.lr_factor
            msg += (
                f" Rolled back to the weights at the start of epoch {trainer.epoch + 1} "
                f"and reduced the learning rate to {trainer.optimizer.lr:g}."
            )
            self.events.append(msg)
            self._say(trainer, msg)
            return False
        trainer.stop_training = True
        trainer.stop_reason = msg
        trainer.history.diverged = msg
        self.events.append(msg)
        self._say(trainer, msg)
        return False

    def _say(self, trainer, msg: str) -> None:
        if trainer.verbose:
            stream = self.stream or sys.stderr
            stream.write("\n" + msg + "\n")
            stream.flush()


class LearningRateScheduler(Callback):
    """Apply a schedule at the end of every epoch, or of every batch.

    ``schedule`` is an ``optim.LRSchedule`` (StepDecay, CosineDecay,
    ReduceOnPlateau, which reads ``monitor`` from the logs, WarmupCosine) or
    a function ``epoch -> lr`` (epoch counted from 0, for the next epoch).
    With ``interval="batch"`` the schedule steps after every batch instead
    (a function then gets the number of batches done in the whole run).
    """

    def __init__(
        self, schedule, monitor: str = "val_loss", interval: str = "epoch"
    ) -> None:
        if interval not in ("epoch", "batch"):
            raise ValueError(
                f"LearningRateScheduler: interval must be 'epoch' or 'batch'; got "
                f"{interval!r}."
            )
        self.schedule = schedule
        self.monitor = monitor
        self.interval = interval
        # Whether this callback gave the schedule its length (the run's).
        self._sized_by_run = False

    def on_train_begin(self, trainer) -> None:
        self.monitor, _ = _without_validation(self.monitor, "min", trainer)
        # A per-batch schedule told nothing of its length runs over the whole
        # run; resumed with more epochs, over the longer run (else the added
        # epochs would train at the schedule's final rate, 0 for a cosine).
        if (
            self.interval == "batch"
            and self._schedule_object()
            and (
                getattr(self.schedule, "total_steps", 0) is None
                or self._sized_by_run
            )
        ):
            self.schedule.set_total_steps(trainer.epochs * trainer.n_batches)
            self._sized_by_run = True

    def on_batch_end(self, trainer, loss: float) -> None:
        if self.interval != "batch":
            return
        if self._schedule_object():
            self.schedule.step()
        else:
            done = trainer.epoch * trainer.n_batches + trainer.batches_done
            trainer.optimizer.lr = float(self.schedule(done))

    def on_epoch_end(self, trainer, logs) -> None:
        if self.interval != "epoch":
            return
        if isinstance(self.schedule, ReduceOnPlateau):  # reads the metric
            self.schedule.step(_monitored("LearningRateScheduler", self.monitor, logs))
        elif self._schedule_object():
            self.schedule.step(logs.get(self.monitor))
        else:
            trainer.optimizer.lr = float(self.schedule(trainer.epoch + 1))

    def _schedule_object(self) -> bool:
        return isinstance(self.schedule, LRSchedule)

    # A schedule object counts epochs (and ReduceOnPlateau its best value and
    # patience): a resumed run must go on from there, not from epoch 0.
    def state_dict(self) -> dict:
        if not self._schedule_object():
            return {}
        return {**self.schedule.state_dict(), "sized_by_run": self._sized_by_run}

    def load_state_dict(self, state: dict) -> None:
        if self._schedule_object() and state:
            state = dict(state)
            sized = state.pop("sized_by_run", False)  # absent before it was kept
            self._sized_by_run = like(
                "LearningRateScheduler.load_state_dict", "sized_by_run", False, sized
            )
            self.schedule.load_state_dict(state)


class GradientNorms(Callback):
    """Record each parameter's gradient L2 norm, averaged over every ``every``-th
    batch of an epoch, into ``history.grad_norms[name]`` (one value per epoch):
    where gradients vanish or explode, layer by layer."""

    def __init__(self, every: int = 10) -> None:
        self.every = integer("GradientNorms", "every", every)
        self._sums: dict[str, float] = {}
        self._n = 0

    _resumable = ("_sums", "_n")

    def on_epoch_begin(self, trainer) -> None:
        if trainer.batches_done == 0:  # not when resuming mid-epoch
            self._sums, self._n = {}, 0

    def before_step(self, trainer, loss: float) -> bool:
        if trainer.batch % self.every == 0:
            for name, p in trainer.model.named_parameters():
                self._sums[name] = self._sums.get(name, 0.0) + float(
                    np.linalg.norm(p.grad)
                )
            self._n += 1
        return True

    def on_epoch_end(self, trainer, logs) -> None:
        for name, total in self._sums.items():
            trainer.history.grad_norms.setdefault(name, []).append(
                total / max(self._n, 1)
            )


class ModelCheckpoint(Callback):
    """Save a resumable checkpoint (model, optimizer, position, History and
    random state) to ``path`` at the end of every epoch, and every
    ``every_n_batches`` batches if given. Written atomically; weights that are
    not finite are never saved.

    With ``save_best_only`` it writes only when ``monitor`` improves.

    It ``runs_last``: its end-of-batch and end-of-epoch hooks come after every
    other callback's, so a checkpoint holds their bookkeeping for that batch or
    epoch (gradient norms, the best value so far).
    """

    _resumable = ("best", "saved")
    runs_last = True

    def __init__(
        self,
        path,
        every_n_batches: int | None = None,
        save_best_only: bool = False,
        monitor: str = "val_loss",
        mode: str = "auto",
    ) -> None:
        self.path = path
        self.every_n_batches = every_n_batches
        self.save_best_only = save_best_only
        self.monitor = monitor
        self.mode = _monitor_mode(monitor, mode)
        self.best: float | None = None
        self.saved = 0

    def on_train_begin(self, trainer) -> None:
        self.monitor, self.mode = _without_validation(self.monitor, self.mode, trainer)
        # Found now, not after the first epoch has trained: a folder that is
        # missing is made (as Keras does), a file where the folder should be
        # is an error.
        folder = Path(self.path).parent
        if trainer.comm.is_root and not folder.is_dir():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OSError(
                    f"ModelCheckpoint: cannot make the folder {str(folder)!r} for "
                    f"{str(self.path)!r} ({exc.strerror or exc})."
                ) from None

    def _save(self, trainer) -> None:
        if not all(all_finite(p.data) for p in trainer.model.parameters()):
            return  # a poisoned model is never written
        trainer.save_checkpoint(self.path)
        self.saved += 1

    def on_batch_end(self, trainer, loss: float) -> None:
        n = self.every_n_batches
        if n and not self.save_best_only and trainer.batches_done % n == 0:
            self._save(trainer)

    def on_epoch_end(self, trainer, logs) -> None:
        if self.save_best_only:
            value = _monitored("ModelCheckpoint", self.monitor, logs)
            if not _improved(value, self.best, self.mode):
                return
            self.best = value
        self._save(trainer)


class LivePlot(Callback):
    """Redraw the training curves in place after every ``every`` epochs, in a
    Jupyter notebook: loss on the left, the first metric (accuracy, say) on the
    right, training and validation, as ``cr.plots.plot_history`` draws them.

    The picture is one output that is updated (an IPython display handle), not
    a new one per epoch. Outside a Jupyter kernel, or without matplotlib, it
    says once why it draws nothing and training goes on. It keeps no state of
    its own: it draws ``trainer.history``, which checkpoints hold, so a resumed
    run shows its whole curve.

    Parameters
    ----------
    every : int, default 1
        Redraw after every ``every``-th epoch (and always after the last).
    stream : file, default sys.stderr
        Where the "nothing drawn" message goes.

    Attributes
    ----------
    redraws : int
        How many times the picture was drawn in this run.

    Examples
    --------
    >>> import chainrule as cr
    >>> live = cr.callbacks.LivePlot()
    >>> live.redraws
    0
    """

    def __init__(self, every: int = 1, stream=None) -> None:
        if int(every) < 1:
            raise ValueError(f"LivePlot: every must be >= 1; got {every}.")
        self.every = integer("LivePlot", "every", every)
        self.stream = stream
        self.redraws = 0
        self.active = False
        self._handle = None
        self._drawn = -1

    def on_train_begin(self, trainer) -> None:
        from ._html import _has_matplotlib, in_jupyter

        self.redraws, self._handle, self._drawn = 0, None, -1
        self.active = False
        if not trainer.comm.is_root:  # under MPI one rank draws
            return
        if not in_jupyter():
            why = "not running in a Jupyter kernel"
        elif not _has_matplotlib():
            why = "matplotlib is not installed (pip install 'chainrule[notebook]')"
        else:
            from IPython.display import HTML, display

            # Held from the start, so the picture sits above the epochs'
            # progress bars, and each redraw replaces it where it is.
            self.active = True
            self._handle = display(
                HTML("<i>LivePlot: the curves appear after the first epoch.</i>"),
                display_id=True,
            )
            return
        print(
            f"LivePlot: {why}, so no live plot is drawn; after training, "
            "cr.plots.plot_history(history, 'history.png') draws the same curves.",
            file=self.stream or sys.stderr,
        )

    def on_epoch_end(self, trainer, logs) -> None:
        last = trainer.epoch >= trainer.epochs
        if self.active and (trainer.epoch % self.every == 0 or last):
            self._draw(trainer.history)

    def on_train_end(self, trainer) -> None:
        # Stopped early between two redraws: show where it ended.
        if self.active and self._drawn != len(trainer.history.epoch):
            self._draw(trainer.history)

    def _draw(self, history) -> None:
        from IPython.display import Image, display

        from ._html import history_png

        png = history_png(history)
        if png is None:
            return
        image = Image(data=png, format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
        self.redraws += 1
        self._drawn = len(history.epoch)
