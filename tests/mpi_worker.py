"""What each rank runs in tests/test_distributed.py, under ``mpiexec -n K``.

    python mpi_worker.py SCENARIO OUT_DIR [options]

equivalence DTYPE OPT   train 20 steps; every rank writes its weights
fail                    rank 1 raises at its 4th batch
kill                    rank 1 SIGKILLs itself at its 5th batch
mismatch WHAT           rank 1 differs in WHAT (data, model, version)
dropout                 train with Dropout; every rank writes its weights and
                        its next draws from the default generator
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

import chainrule as cr
from chainrule import layers as L


def problem(dtype=np.float32, n=190):
    """190 samples, global batch 20: 9 full batches and one of 10 per epoch;
    with 3 ranks the shares are 6, 7, 7 (and 3, 3, 4): uneven on purpose."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 12)).astype(dtype)
    y = (x[:, :3].argmax(axis=1) + (x[:, 3] > 1)).astype(np.int64) % 3
    return x, y


def network(dtype=np.float32, hidden=16):
    model = cr.Sequential(
        L.Linear(12, hidden, rng=0), L.Tanh(), L.Linear(hidden, 3, rng=1)
    )
    return model.to(dtype)


def optimizer(model, name):
    if name == "sgd":
        return cr.optim.SGD(model, lr=0.1, momentum=0.9)
    return cr.optim.Adam(model, lr=0.01)


class Hook(cr.callbacks.Callback):
    def __init__(self, action) -> None:
        self.action = action

    def on_batch_end(self, trainer, loss) -> None:
        self.action(trainer)


def main(argv) -> None:
    scenario, out = argv[1], argv[2]
    comm = cr.distributed.init()
    if scenario == "equivalence":
        dtype = np.float64 if argv[3] == "float64" else np.float32
        x, y = problem(dtype)
        model = network(dtype)
        history = cr.fit(
            model,
            cr.losses.CrossEntropy(),
            optimizer(model, argv[4]),
            x,
            y,
            epochs=2,  # 2 x 10 batches: 20 steps
            batch_size=20,
            seed=3,
            verbose=0,
            comm=comm,
        )
        np.savez(
            os.path.join(out, f"rank{comm.rank}.npz"),
            loss=np.array(history["loss"]),
            accuracy=np.array(history["accuracy"]),
            **{k: v for k, v in model.state_dict().items()},
        )
        return

    x, y = problem()
    model = network()
    if scenario == "dropout":
        cr.seed(0)  # the same on every rank: the split must make them differ
        model = cr.Sequential(
            L.Linear(12, 16, rng=0), L.ReLU(), L.Dropout(0.5), L.Linear(16, 3, rng=1)
        )
        cr.fit(model, cr.losses.CrossEntropy(), optimizer(model, "sgd"), x, y,
               epochs=1, batch_size=20, seed=3, verbose=0, comm=comm)  # fmt: skip
        np.savez(
            os.path.join(out, f"rank{comm.rank}.npz"),
            draws=cr.random.get_rng().random(4),
            **model.state_dict(),
        )
        return
    callbacks = []
    if scenario == "fail":

        def fail(trainer):
            if comm.rank == 1 and trainer.batches_done == 4:
                raise ValueError("rank one cannot go on")

        callbacks = [Hook(fail)]
    elif scenario == "kill":
        path = os.path.join(out, "checkpoint.npz")

        def kill(trainer):
            if comm.rank == 1 and trainer.batches_done == 5:
                os.kill(os.getpid(), signal.SIGKILL)

        # Rank 1 dies in batch 5's hooks, before that batch's checkpoint (which
        # runs last): the checkpoint on disk is batch 4's, and rank 0 is left
        # waiting for rank 1 until the launcher ends the job.
        callbacks = [cr.callbacks.ModelCheckpoint(path, every_n_batches=1), Hook(kill)]
    elif scenario == "mismatch":
        if comm.rank == 1:
            what = argv[3]
            if what == "data":
                x = x.copy()
                x[7, 3] += 1
            elif what == "model":
                model = network(hidden=17)
            elif what == "version":
                cr.__version__ = "0.0.0-elsewhere"
    cr.fit(
        model,
        cr.losses.CrossEntropy(),
        optimizer(model, "sgd"),
        x,
        y,
        epochs=3,
        batch_size=20,
        seed=3,
        verbose=0,
        callbacks=callbacks,
        comm=comm,
    )


if __name__ == "__main__":
    main(sys.argv)
