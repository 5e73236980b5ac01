"""A seeded run repeats bit for bit: cr.seed fixes the initial weights, the
Dropout masks, the shuffles and the validation split; a run resumed from a
checkpoint ends where the uninterrupted run ends."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.callbacks import Callback, ModelCheckpoint


def data():
    return cr.data.spirals(240, seed=0)


def build():
    L = cr.layers
    return cr.Sequential(L.Linear(2, 32), L.ReLU(), L.Dropout(0.3), L.Linear(32, 2))


def run(seed: int, **kwargs):
    x, y = data()
    cr.seed(seed)
    model = build()
    opt = cr.optim.Adam(model, lr=0.01)
    h = cr.fit(
        model,
        cr.losses.CrossEntropy(),
        opt,
        x,
        y,
        epochs=3,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        **kwargs,
    )
    return model.state_dict(), h


def test_same_seed_gives_bit_identical_weights_and_history():
    w1, h1 = run(7)
    w2, h2 = run(7)
    for name in w1:
        assert np.array_equal(w1[name], w2[name]), name
    assert h1["loss"] == h2["loss"] and h1["val_loss"] == h2["val_loss"]


def test_different_seed_differs():
    w1, _ = run(7)
    w2, _ = run(8)
    assert not np.array_equal(w1["0.weight"], w2["0.weight"])


def test_fit_seed_fixes_the_shuffle_alone():
    x, y = data()
    ends = []
    for global_seed in (1, 2):
        model = cr.Sequential(cr.layers.Linear(2, 2, rng=0))
        cr.seed(global_seed)
        cr.fit(
            model,
            cr.losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.1),
            x,
            y,
            epochs=2,
            batch_size=16,
            seed=3,
            verbose=0,
        )
        ends.append(model.state_dict())
    assert np.array_equal(ends[0]["0.weight"], ends[1]["0.weight"])


class StopAt(Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch_end(self, trainer, loss) -> None:
        if (trainer.epoch, trainer.batch) == self.at:
            raise KeyboardInterrupt


def test_resumed_run_ends_bit_identical(tmp_path):
    full, h_full = run(5)
    path = tmp_path / "ckpt.npz"
    with pytest.raises(KeyboardInterrupt):
        run(5, callbacks=[ModelCheckpoint(path, every_n_batches=1), StopAt(1, 2)])
    # A fresh process would rebuild the model and optimizer; the checkpoint
    # brings back the weights, moments, position and random state.
    cr.seed(999)
    x, y = data()
    model = build()
    h = cr.fit(
        model,
        cr.losses.CrossEntropy(),
        cr.optim.Adam(model, lr=0.01),
        x,
        y,
        epochs=3,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        resume=path,
    )
    for name, value in model.state_dict().items():
        assert np.array_equal(value, full[name]), name
    assert h["loss"] == h_full["loss"]


def test_seed_rejects_bad_values():
    with pytest.raises(
        ValueError, match=r"seed: n must be a non-negative integer; got -1"
    ):
        cr.seed(-1)
    with pytest.raises(
        ValueError, match=r"seed: n must be a non-negative integer; got 1.5"
    ):
        cr.seed(1.5)
