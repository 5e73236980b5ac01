"""Training: ``fit`` and the ``Trainer`` behind it (``predict`` and ``evaluate``
are in ``inference.py``, the ``History`` in ``history.py``).

One epoch of mini-batch SGD (seeds 001 and 003), for each batch B:

    y  = model.forward(x_B)          # the forward pass
    L  = loss.forward(y, t_B)        # averaged over the batch
    dy = loss.backward()             # dL/dy
    optimizer.zero_grad()
    model.backward(dy)               # the chain rule, layer by layer
    optimizer.step()                 # theta <- theta - lr * dL/dtheta

Everything random (the shuffle, the validation split) comes from ``seed`` or,
without it, from the generator of ``cr.seed``, so a seeded run repeats bit for
bit, and a run resumed from a checkpoint continues exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
import warnings

import numpy as np

from ._checks import integer, real
from .backend import no_grad
from .callbacks import Callback
from .data.augment import batch_rng
from .data.batching import iterate_minibatches
from .history import History
from .inference import (
    _as_inputs,
    _batch_total,
    _check_pair,
    _check_weights,
    _metric_objects,
    _model_dtype,
    _one_in_one_out,
    _positive_int,
    _set_loss,
    evaluate,
)
from .losses import Loss
from .metrics import _true_labels
from .models.sequential import Sequential
from .module import Module
from .optim import Optimizer, _positive, clip_grad_norm
from .progress import ProgressBar
from .random import get_rng


def _backward(model: Module, dy) -> None:
    """Backward without the data's gradient, which nobody needs in training:
    ``skip_input_grad`` is the flag every module honours (containers pass it on
    to the layers nearest the input)."""
    model.skip_input_grad = True
    try:
        model.backward(dy)
    finally:
        model.skip_input_grad = False


def _fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """A short digest of the training data, from 64 rows spread over it (and
    the shapes): another data set of the same size, resumed by mistake, is
    told apart without reading all of it."""
    rows = np.unique(np.linspace(0, len(x) - 1, min(len(x), 64)).astype(np.int64))
    h = hashlib.sha256(repr((x.shape, y.shape)).encode())
    # In float32 whatever the model's dtype: a float64 checkpoint may resume
    # into a model built in float32 (resume converts it), whose x is cast so.
    h.update(np.ascontiguousarray(x[rows], dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(y[rows], dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------- trainer
class Trainer:
    """The state of one ``fit`` run: what callbacks see and checkpoints save.

    During a batch, ``epoch`` is the 0-based epoch and ``batch`` the 0-based
    batch; ``batches_done`` counts the batches finished in this epoch. In
    ``on_epoch_end``, ``epoch`` already counts the finished epochs.

    With several MPI ranks (``comm``), callbacks run on every rank and see
    the global batch's loss and gradients and the epoch's global logs; a
    callback that writes files should do so only where ``trainer.comm.is_root``
    (ModelCheckpoint does). The live progress line's running metrics are rank
    0's share of the epoch until its end; its running loss is global.
    """

    def __init__(
        self,
        model: Module,
        loss: Loss,
        optimizer: Optimizer,
        x,
        y,
        *,
        epochs: int,
        batch_size: int,
        shuffle: bool = True,
        validation_data=None,
        validation_split: float = 0.0,
        metrics=None,
        callbacks=None,
        seed=None,
        verbose: int = 1,
        sample_weight=None,
        class_weight=None,
        clip_norm: float | None = None,
        augment=None,
        stream=None,
        comm=None,
        threads: int = 1,
    ) -> None:
        from .distributed import Communicator

        if not isinstance(model, Module):
            raise TypeError(
                f"fit: model must be a chainrule Module; got {type(model).__name__}."
            )
        if not isinstance(loss, Loss):
            raise TypeError(
                f"fit: loss must be a chainrule Loss; got {type(loss).__name__}."
            )
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"fit: optimizer must be a chainrule optimizer; got {type(optimizer).__name__}."
            )
        _one_in_one_out("fit", model)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.epochs = _positive_int("fit", "epochs", epochs, allow_zero=True)
        self.batch_size = _positive_int("fit", "batch_size", batch_size)
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(
                f"fit: validation_split must be in [0, 1); got {validation_split!r}."
            )
        if validation_split and validation_data is not None:
            raise ValueError("fit: pass validation_data or validation_split, not both.")
        self.shuffle = bool(shuffle)
        self.validation_split = float(validation_split)
        if comm is not None and not isinstance(comm, Communicator):
            raise TypeError(
                "fit: comm must come from cr.distributed.init(); got "
                f"{type(comm).__name__}."
            )
        self.comm = comm or Communicator()
        self.threads = integer("fit", "threads", threads)
        if self.threads > 1 and not (
            seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool))
        ):
            # The other shares' dropout masks are drawn from it, step by step.
            raise TypeError(
                f"fit: threads={self.threads} needs an integer seed (or None); got "
                f"{type(seed).__name__}."
            )
        if self.threads > 1 and self.comm.size > 1:
            raise ValueError(
                "fit: threads > 1 splits each batch over this machine's cores; with "
                "several MPI ranks give each rank its cores as BLAS threads instead "
                "(cr.distributed.init(blas_threads=...))."
            )
        # Only rank 0 prints: the others' numbers are the same.
        if verbose not in (0, 1, 2):
            raise ValueError(f"fit: verbose must be 0, 1 or 2; got {verbose!r}.")
        self.verbose = int(verbose) if self.comm.is_root else 0
        self.stream = stream or sys.stdout
        # A norm of 0 would zero every gradient, a negative one turn each step
        # uphill: refused here, before the first batch, as clip_grad_norm does.
        self.clip_norm = (
            None if clip_norm is None else _positive("fit", "clip_norm", clip_norm)
        )
        if augment is not None and not callable(augment):
            raise TypeError(
                f"fit: augment must be callable as augment(x, rng); got "
                f"{type(augment).__name__}."
            )
        self.augment = augment
        self.callbacks: list[Callback] = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"fit: callbacks must be Callback objects; got {type(cb).__name__}."
                )
        # Callbacks that record the state of the batch or epoch (checkpoints)
        # must see what every other callback did with it: they run last.
        self._end_hooks_order = sorted(self.callbacks, key=lambda cb: cb.runs_last)
        self.metrics = _metric_objects(metrics, loss)

        dtype = _model_dtype(model)
        x = _as_inputs("fit", x, dtype)
        y = _check_pair("fit", x, y)
        w = self._sample_weights(y, sample_weight, class_weight, dtype)
        # The random stream for shuffles and splits: its own, seeded from `seed`,
        # or drawn from cr.seed's generator so that cr.seed alone fixes the run.
        # The seed is kept in checkpoints: a resumed run must split the same way.
        self.seed = seed if seed is not None else int(get_rng(None).integers(2**63))
        if self.comm.size > 1:
            # Every rank must draw rank 0's permutations and split.
            if not isinstance(self.seed, (int, np.integer)):
                raise TypeError(f"fit: seed must be an integer or None; got {seed!r}.")
            self.seed = self.comm.bcast_json(int(self.seed))
        self.rng = np.random.default_rng(self.seed)
        if validation_split:
            from .data.batching import stratified_split

            train_idx, val_idx = stratified_split(y, validation_split, seed=self.rng)
            if not len(train_idx) or not len(val_idx):
                # Rounded per class, a split of few samples can leave a part
                # empty: no step at all, or nothing to validate on.
                empty = "training" if not len(train_idx) else "validation"
                raise ValueError(
                    f"fit: validation_split={validation_split!r} leaves no {empty} "
                    f"samples of the {len(y)} given ({len(train_idx)} to train on, "
                    f"{len(val_idx)} to validate on, rounded class by class); "
                    "choose a split that leaves samples on both sides."
                )
            validation_data = (
                (x[val_idx], y[val_idx])
                if w is None
                else (x[val_idx], y[val_idx], w[val_idx])
            )
            x, y = x[train_idx], y[train_idx]
            w = None if w is None else w[train_idx]
        self.x, self.y, self.w = x, y, w
        # Checked at resume, written with every checkpoint: made once.
        self._data_digest = _fingerprint(x, y)
        self.validation_data = None
        if validation_data is not None:
            if len(validation_data) not in (2, 3):
                raise ValueError(
                    "fit: validation_data must be (x_val, y_val) or (x_val, y_val, w)."
                )
            xv = _as_inputs("fit (validation_data)", validation_data[0], dtype)
            yv = _check_pair("fit (validation_data)", xv, validation_data[1])
            wv = validation_data[2] if len(validation_data) == 3 else None
            self.validation_data = (xv, yv, wv)

        self.history = History()
        # Written into checkpoints (chainrule train keeps its settings here).
        self.metadata: dict = {}
        self.epoch = 0
        self.batch = 0
        self.batch_index = None
        self.batches_done = 0
        self.epoch_rng_state = None
        self.stop_training = False
        self.stop_reason: str | None = None
        # Set when a non-finite loss ended this run without a NaNGuard.
        self.diverged_unguarded: str | None = None
        self._loss_sum = 0.0
        self._count = 0
        self._epoch_seconds = 0.0
        # When the running part of the current epoch started (None between
        # epochs): a mid-epoch checkpoint adds it, so that a resumed epoch's
        # time counts both parts.
        self._epoch_started: float | None = None
        self._reducer = None  # the gradient Allreduce, with several ranks
        self._threaded = None  # the batch in shares over threads (threads > 1)
        self._checkpoint_metrics = None
        self._metrics_global = False  # summed over the ranks already (epoch end)

    @property
    def has_validation(self) -> bool:
        return self.validation_data is not None

    @property
    def n_batches(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    @staticmethod
    def _sample_weights(y, sample_weight, class_weight, dtype):
        w = _check_weights("fit", sample_weight, len(y), dtype)
        if class_weight is not None:
            labels = _true_labels(y)  # one-hot rows count as their class
            missing = sorted(set(np.unique(labels).tolist()) - set(class_weight))
            if missing:
                raise ValueError(
                    f"fit: class_weight has no weight for classes {missing}; give every "
                    "class present in y a weight."
                )
            table = np.zeros(labels.max() + 1, dtype=dtype)
            for c, cw in class_weight.items():
                cw = real("fit", f"class_weight[{c!r}]", cw)
                if cw < 0:
                    raise ValueError(
                        f"fit: class_weight[{c!r}] must be non-negative; got {cw!r}."
                    )
                if 0 <= int(c) < len(table):
                    table[int(c)] = cw
            cw_per_sample = table[labels]
            w = cw_per_sample if w is None else w * cw_per_sample
        return w

    # -------------------------------------------------------------- running
    def run(self) -> History:
        if self.comm.size > 1:
            self._start_distributed()
        if self.threads > 1:
            from .parallel import ThreadedStep

            self._threaded = ThreadedStep(self.model, self.loss, self.threads)
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            while self.epoch < self.epochs and not self.stop_training:
                self._run_epoch()
        finally:
            # Runs whatever ends training (also Ctrl-C), so EarlyStopping can
            # put the best weights back.
            for cb in self.callbacks:
                cb.on_train_end(self)
            self.model.train()
            if self._threaded is not None:
                self._threaded.close()
                self._threaded = None
        if self.stop_reason and not self.history.stop_reason:
            self.history.stop_reason = self.stop_reason
        return self.history

    def _start_distributed(self) -> None:
        """Check that the ranks agree, then start them from rank 0's state."""
        from . import distributed

        distributed.refuse_batch_statistics(self.model)
        distributed.check_ranks_agree(self)
        distributed.broadcast_state(self)
        distributed.split_random_streams(self.model, self.comm)
        self._reducer = distributed.GradientReducer(self.model, self.comm)

    def _run_epoch(self) -> None:
        if self.epoch_rng_state is None:
            self.epoch_rng_state = self.rng.bit_generator.state
        # Re-deriving the epoch's order from the state at its start is what
        # lets a run resumed mid-epoch visit the same remaining batches.
        self.rng.bit_generator.state = self.epoch_rng_state
        n = len(self.x)
        bs = self.batch_size
        # The epoch's batches as index arrays, the same for every MPI rank.
        batches = list(iterate_minibatches(n, bs, self.shuffle, rng=self.rng))
        if self.batches_done == 0:
            self._loss_sum, self._count, self._epoch_seconds = 0.0, 0, 0.0
            self._metrics_global = False
            for m in self.metrics:
                m.reset()
        for cb in self.callbacks:
            cb.on_epoch_begin(self)
        bar = None
        if self.verbose:
            # verbose=1 redraws on a terminal; verbose=2 only prints the epoch line.
            bar = ProgressBar(
                self.n_batches,
                self.epoch + 1,
                self.epochs,
                stream=self.stream,
                live=self.verbose == 1,
            )
        started = self._epoch_started = time.perf_counter()
        model, loss, optimizer = self.model, self.loss, self.optimizer
        model.train()
        x, y, w = self.x, self.y, self.w
        reducer = self._reducer
        if reducer is not None:
            from .distributed import local_part
        for b in range(self.batches_done, self.n_batches):
            if self.stop_training:
                # A callback asked in on_batch_end: the epoch ends here, with
                # the batches done so far (no further step is taken).
                break
            self.batch = b
            idx = batches[b]
            if reducer is not None:
                # This rank's share of the global batch (global batch semantics).
                idx, n_batch = local_part(idx, n, self.comm)
            # Kept so that NaNGuard can replay this batch's forward pass.
            self.batch_index = idx
            xb, yb, wb = x[idx], y[idx], (None if w is None else w[idx])
            if self.augment is not None and len(yb):
                xb = self.augment(xb, batch_rng(self.seed, self.epoch, b))
            out, value = None, 0.0
            if self._threaded is not None and len(yb):
                # The batch in shares, forward and backward in threads; the
                # gradients are summed into the model's.
                optimizer.zero_grad()
                key = (int(self.seed) % 2**63, self.epoch, b)
                out, value = self._threaded.forward_backward(xb, yb, wb, key)
            else:
                if len(yb):  # a rank's share of a tiny last batch may be empty
                    out = model.forward(xb)
                    value = loss.forward(out, yb, wb)
                    dy = loss.backward()
                optimizer.zero_grad()
                if out is not None:
                    _backward(model, dy)
            if reducer is None:
                n_batch = len(yb)
            else:
                mean = loss.reduction != "sum"
                value = reducer.reduce(value, len(yb), n_batch, mean)
            if self.clip_norm is not None:
                clip_grad_norm(model, self.clip_norm)
            go = True
            for cb in self.callbacks:
                go = cb.before_step(self, value) and go
            if go and not math.isfinite(value):
                # Without a NaNGuard to decide (it would have said no), a loss
                # of NaN or inf stops the run here: its gradients would make
                # every weight NaN, and no later step could undo that.
                self._stop_diverged(value)
                go = False
            if go:
                optimizer.step()
            if self.stop_training:
                self._epoch_seconds += time.perf_counter() - started
                self._epoch_started = None
                return
            if math.isfinite(value):
                self._loss_sum += _batch_total(self.loss, value, n_batch)
                self._count += n_batch
            if out is not None:
                for m in self.metrics:
                    m.update(out, yb)
            self.batches_done = b + 1
            if bar is not None:  # the running values are computed only when drawn
                bar.update(
                    self.batches_done, min(self.batches_done * bs, n), self._running
                )
            for cb in self._end_hooks_order:
                cb.on_batch_end(self, value)
        self._epoch_seconds += time.perf_counter() - started
        self._epoch_started = None
        self._end_epoch(bar)

    def _stop_diverged(self, value: float) -> None:
        """End the run at a non-finite loss (``fit`` warns with the message)."""
        self.stop_training = True
        self.stop_reason = self.history.diverged = self.diverged_unguarded = (
            f"fit: the loss became {value} at epoch {self.epoch + 1}, batch "
            f"{self.batch + 1}; training stopped before that batch's step, so the "
            "weights are those of the step before. Use a smaller learning rate, or "
            "callbacks=[NaNGuard(rollback=True)] to retry with one."
        )

    def _running(self) -> dict[str, float]:
        values = {"loss": _set_loss(self.loss, self._loss_sum, self._count)}
        for m in self.metrics:
            values[m.name] = m.result()
        return values

    def _end_epoch(self, bar) -> None:
        val = None
        if self.comm.size > 1:
            val = self._reduce_epoch()
        logs = self._running()
        if self.validation_data is not None:
            if val is None:
                xv, yv, wv = self.validation_data
                val = evaluate(
                    self.model,
                    self.loss,
                    xv,
                    yv,
                    batch_size=max(self.batch_size, 256),
                    metrics=[m.fresh() for m in self.metrics],
                    sample_weight=wv,
                )
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = self.optimizer.lr
        logs["time"] = self._epoch_seconds
        finished = self.epoch
        self.history.append(finished, logs)
        self.epoch += 1
        self.batches_done = 0
        self.epoch_rng_state = self.rng.bit_generator.state
        shown = {k: v for k, v in logs.items() if k not in ("lr", "time")}
        if bar is not None:
            bar.finish(len(self.x), shown)
        for cb in self._end_hooks_order:
            cb.on_epoch_end(self, logs)

    def _reduce_epoch(self) -> dict[str, float] | None:
        """With several ranks: sum the training metrics over the ranks, take
        the slowest rank's time, and evaluate the validation set in shares.

        One message at the end of the epoch: afterwards every rank holds the
        same logs, so every callback decides the same on every rank.
        """
        from .distributed import local_part, sum_states

        comm = self.comm
        val_metrics = [m.fresh() for m in self.metrics]
        val_total, val_n = 0.0, 0
        if self.validation_data is not None:
            xv, yv, wv = self.validation_data
            part, _ = local_part(slice(0, len(xv)), len(xv), comm)
            if len(yv[part]):
                val = evaluate(
                    self.model,
                    self.loss,
                    xv[part],
                    yv[part],
                    batch_size=max(self.batch_size, 256),
                    metrics=val_metrics,
                    sample_weight=None if wv is None else wv[part],
                )
                val_n = len(yv[part])
                val_total = _batch_total(self.loss, val["loss"], val_n)
        mine = {
            "metrics": [m.state_dict() for m in self.metrics],
            "val": [val_total, val_n, [m.state_dict() for m in val_metrics]],
            "time": self._epoch_seconds,
        }
        everyone = comm.allgather_json(mine)
        for i, m in enumerate(self.metrics):
            m.load_state_dict(sum_states([e["metrics"][i] for e in everyone]))
        self._metrics_global = True
        self._epoch_seconds = max(e["time"] for e in everyone)
        if self.validation_data is None:
            return None
        total = sum(e["val"][0] for e in everyone)
        count = sum(e["val"][1] for e in everyone)
        result = {"loss": _set_loss(self.loss, total, count)}
        for i, m in enumerate(val_metrics):
            m.load_state_dict(sum_states([e["val"][2][i] for e in everyone]))
            result[m.name] = m.result()
        return result

    def diagnose_non_finite(self, bad_grad: str | None) -> str:
        """Name where a non-finite value first appears, for NaNGuard's message."""
        for name, p in self.model.named_parameters():
            if not np.isfinite(p.data).all():
                return f"the weights {name} are already non-finite"
        # The forward pass first: a non-finite output there is the cause of
        # everything non-finite in the backward pass.
        last = ""
        if isinstance(self.model, Sequential) and self.batch_index is not None:
            # Replay the batch on a copy, with the random stream put back
            # afterwards: the diagnosis must not change the run it describes
            # (no Dropout draws, no update of BatchNorm's running statistics).
            from . import random

            replay, rng_state = self.model.copy(), random.state_dict()
            try:
                with no_grad():
                    h = self.x[self.batch_index]
                    for i, layer in enumerate(replay.layers):
                        h = layer.forward(h)
                        if not np.isfinite(h).all():
                            return f"first non-finite output: layer {i} ({type(layer).__name__})"
            finally:
                random.load_state_dict(rng_state)
            last = (
                f", up to {float(np.abs(h).max()):.3g} from layer {i} "
                f"({type(layer).__name__})"
            )
        if bad_grad is not None:
            return f"first non-finite gradient: {bad_grad}"
        # In the order backward visits them, so the first one found is the cause.
        for i, layer in reversed(list(enumerate(getattr(self.model, "layers", [])))):
            g = layer.output_grad
            if g is not None and not np.isfinite(g).all():
                return f"first non-finite gradient of an output: layer {i} ({type(layer).__name__})"
        return f"the loss itself overflowed (its inputs were finite{last})"

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything needed to resume: JSON-friendly scalars plus arrays."""
        from . import random

        return {
            "epoch": self.epoch,
            "batches_done": self.batches_done,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "epoch_rng_state": self.epoch_rng_state,
            "global_rng_state": random.state_dict(),
            "seed": int(self.seed)
            if isinstance(self.seed, (int, np.integer))
            else None,
            "history": self.history.to_dict(),
            "loss_sum": self._loss_sum,
            "count": self._count,
            "epoch_seconds": self._epoch_seconds
            + (
                0.0
                if self._epoch_started is None
                else time.perf_counter() - self._epoch_started
            ),
            "metrics": self._checkpoint_metrics
            or [m.state_dict() for m in self.metrics],
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            # What decides which samples train and which validate, in what
            # order: a resume with others would not continue this run.
            "settings": self._settings(),
            # A run that a callback ended (early stopping) stays ended: resumed
            # from its last checkpoint, it would train one epoch more.
            "stop_reason": self.stop_reason if self.stop_training else None,
        }

    def _settings(self) -> dict:
        return {
            "seed": int(self.seed) if isinstance(self.seed, (int, np.integer)) else None,
            "shuffle": self.shuffle,
            "validation_split": self.validation_split,
            # Other dropout masks with another number of shares.
            "threads": self.threads,
            "train_samples": len(self.x),
            "validation_samples": 0
            if self.validation_data is None
            else len(self.validation_data[0]),
            "train_data": self._data_digest,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (refusing other settings)."""
        from . import random

        if state["batch_size"] != self.batch_size:
            raise ValueError(
                f"resume: the checkpoint was written with batch_size {state['batch_size']}; "
                f"got {self.batch_size}. Resume with the same settings."
            )
        saved = state.get("settings")  # absent in checkpoints written before
        if saved is not None:
            now = self._settings()
            if not isinstance(saved, dict):
                raise ValueError(f"resume: settings must be an object; got {saved!r}.")
            for key, value in now.items():
                if key in saved and saved[key] != value:
                    raise ValueError(
                        f"resume: the checkpoint was written with {key} "
                        f"{saved[key]!r}; got {value!r}. Resume with the same data "
                        "and settings (seed=None takes the checkpoint's seed)."
                    )
        # Counts are whole and not negative, sums finite: a checkpoint is read
        # from disk, and a negative batch position or a NaN loss sum would
        # fail (or report) far from here.
        self.epoch = integer("resume", "the checkpoint's epoch", state["epoch"], 0)
        self.batches_done = integer(
            "resume", "the checkpoint's batches_done", state["batches_done"], 0
        )
        if self.batches_done > self.n_batches:
            raise ValueError(
                f"resume: the checkpoint's batches_done is {self.batches_done}; an "
                f"epoch here has {self.n_batches} batches."
            )
        self.epoch_rng_state = state["epoch_rng_state"]
        if self.epoch_rng_state is not None:
            # Tried now on a spare generator of the same kind, not first when
            # the epoch starts and sets it on the trainer's own.
            type(self.rng.bit_generator)().state = self.epoch_rng_state
        self.history = History.from_dict(state["history"])
        self._loss_sum = real("resume", "the checkpoint's loss_sum", state["loss_sum"])
        self._count = integer("resume", "the checkpoint's count", state["count"], 0)
        self._epoch_seconds = real(
            "resume", "the checkpoint's epoch_seconds", state["epoch_seconds"]
        )
        for m, s in zip(self.metrics, state["metrics"]):
            # The saved sums are the whole batch's: with several ranks, rank 0
            # carries them on and the others count only what they see next.
            if self.comm.is_root:
                m.load_state_dict(s)
            else:
                m.reset()
        for cb, s in zip(self.callbacks, state.get("callbacks", [])):
            cb.load_state_dict(s)
        stop_reason = state.get("stop_reason")
        if stop_reason is not None:
            if not isinstance(stop_reason, str):
                raise ValueError(f"resume: stop_reason must be text; got {stop_reason!r}.")
            self.stop_training, self.stop_reason = True, stop_reason
        # Last: the package's generator is global state, changed only once
        # everything else in the file was taken.
        random.load_state_dict(state["global_rng_state"])

    def save_checkpoint(self, path) -> None:
        """Write a checkpoint of the global state (rank 0 writes; with several
        ranks, every rank must call this, as ModelCheckpoint does)."""
        from .io import save_checkpoint

        if self.comm.size > 1 and not self._metrics_global:
            from .distributed import sum_states

            everyone = self.comm.allgather_json([m.state_dict() for m in self.metrics])
            self._checkpoint_metrics = [
                sum_states([e[i] for e in everyone]) for i in range(len(self.metrics))
            ]
        try:
            if self.comm.is_root:
                save_checkpoint(path, self)
        finally:
            self._checkpoint_metrics = None


# ------------------------------------------------------------------ the API
def fit(
    model: Module,
    loss: Loss,
    optimizer: Optimizer,
    x,
    y,
    epochs: int = 1,
    batch_size: int = 32,
    shuffle: bool = True,
    validation_data=None,
    validation_split: float = 0.0,
    metrics=None,
    callbacks=None,
    seed=None,
    verbose: int = 1,
    sample_weight=None,
    class_weight=None,
    clip_norm: float | None = None,
    resume=None,
    stream=None,
    augment=None,
    comm=None,
    threads: int = 1,
) -> History:
    """Train ``model`` on (x, y) by mini-batch gradient descent.

    Parameters
    ----------
    model : Module
        Usually a Sequential or Graph; trained in place.
    loss : Loss
        E.g. ``CrossEntropy()`` for logits and integer labels, ``MSE()`` for
        regression, ``BinaryCrossEntropy(from_logits=True)`` for one logit.
    optimizer : Optimizer
        Built over ``model`` (``SGD(model, lr=0.05, momentum=0.9)``).
    x : ndarray, shape (N, ...)
        Inputs; converted once to the model's dtype (float32 by default).
    y : ndarray, shape (N,) or (N, ...)
        Targets: integer labels or arrays shaped like the output.
    epochs, batch_size : int
        Passes over the data and samples per gradient step. The last batch of
        an epoch may be smaller. ``batch_size >= N`` is full-batch descent.
    shuffle : bool
        Visit the samples in a new random order each epoch.
    validation_data : (x_val, y_val) or (x_val, y_val, sample_weight), optional
    validation_split : float in [0, 1)
        Hold out this fraction of (x, y), stratified by class, for validation.
    metrics : list of str or Metric, optional
        "accuracy", "top5_accuracy", "mae", "r2"; defaults to accuracy for
        classification losses.
    callbacks : list of Callback, optional
        EarlyStopping, NaNGuard, ModelCheckpoint, LearningRateScheduler,
        GradientNorms, or your own. Without a NaNGuard, a loss that becomes
        NaN or infinite stops training before that batch's step (the weights
        stay finite) with a RuntimeWarning, and ``History.diverged`` says
        where; NaNGuard also watches the gradients and can roll back.
    seed : int, optional
        Seeds the shuffles and the split; without it they come from ``cr.seed``.
    verbose : {0, 1, 2}
        0 silent, 1 a progress bar (a plain line per epoch off a terminal),
        2 one line per epoch.
    sample_weight : ndarray, shape (N,), optional
        Per-sample weights w_i in the loss (1/N) sum_i w_i l_i.
    class_weight : dict of int -> float, optional
        Per-class weights, multiplied into the sample weights.
    clip_norm : float, optional
        Clip the gradients' global L2 norm to this before each step.
    augment : callable, optional
        ``augment(x_batch, rng) -> x_batch``, applied to each training batch
        only (e.g. ``cr.data.augment.RandomCrop(2)``). Its generator is derived
        from ``seed``, the epoch and the batch, so runs and resumed runs draw
        the same views.
    resume : path, optional
        A checkpoint written by ``ModelCheckpoint`` (or ``chainrule train``):
        the model, optimizer, position, history and random state are loaded
        from it and training continues where it stopped (with any number of
        ranks: a checkpoint holds the global state).
    comm : Communicator, optional
        From ``cr.distributed.init()``: train data-parallel on its ranks.
        ``batch_size`` is then the global batch; every rank draws the same
        permutation (the one a single process with this seed draws) and
        computes the gradient of its share, and one Allreduce per step sums
        the shares, so the weights match one process's to rounding. Only
        rank 0 prints and writes checkpoints; losses and metrics are reduced
        over the ranks, so every callback decides alike everywhere. Layers
        with batch statistics (BatchNorm) are refused; Dropout draws a
        different mask on every rank.
    threads : int
        Split each batch into this many shares and run their forward and
        backward passes in threads, one core each (``chainrule.parallel``;
        needs threadpoolctl). The step is the whole batch's; it pays for
        convolutional networks on large batches. Layers with batch statistics
        are refused.

    Returns
    -------
    History

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int64)
    >>> model = cr.Sequential(cr.layers.Linear(2, 2, rng=0))
    >>> h = cr.fit(model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.5), x, y,
    ...            epochs=5, batch_size=16, seed=0, verbose=0)
    >>> h["accuracy"][-1] > 0.9
    True
    """
    checkpoint = None
    if resume is not None:
        from .io import read_checkpoint

        checkpoint = read_checkpoint(resume)
        state = checkpoint[0].get("trainer")
        saved_seed = state.get("seed") if isinstance(state, dict) else None
        if not isinstance(state, dict) or not (
            saved_seed is None
            or (isinstance(saved_seed, int) and not isinstance(saved_seed, bool))
        ):
            from .io import ModelFileError

            raise ModelFileError(
                f"resume: {str(resume)!r}: the training state must be an object "
                "with an integer seed; the file was modified or damaged."
            )
        if seed is None:
            # Without it, validation_split would hold out other samples than
            # the interrupted run did (and train on the ones it validated on).
            seed = saved_seed
    trainer = Trainer(
        model,
        loss,
        optimizer,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=shuffle,
        validation_data=validation_data,
        validation_split=validation_split,
        metrics=metrics,
        callbacks=callbacks,
        seed=seed,
        verbose=verbose,
        sample_weight=sample_weight,
        class_weight=class_weight,
        clip_norm=clip_norm,
        augment=augment,
        stream=stream,
        comm=comm,
        threads=threads,
    )
    if resume is not None:
        from .io import load_checkpoint_into

        load_checkpoint_into(resume, trainer, checkpoint)
    history = trainer.run()
    if trainer.diverged_unguarded:
        warnings.warn(trainer.diverged_unguarded, RuntimeWarning, stacklevel=2)
    return history
