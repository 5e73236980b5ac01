"""Data parallelism over threads (chainrule/parallel.py): the step of a batch
in shares is the whole batch's step, and runs repeat and resume exactly."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr
from chainrule.spec import build_spec

L = cr.layers
threadpoolctl = importorskip("threadpoolctl")


def _data(n=130, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 6, 6))
    return x, rng.integers(0, 3, n)


def _fit(threads, spec="conv4x3-relu-maxpool2-flatten-linear3", loss=None, **kw):
    x, y = _data()
    model = build_spec(spec, input_shape=(1, 6, 6), rng=0).to(np.float64)
    history = cr.fit(
        model, loss or cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1, momentum=0.9),
        x, y, epochs=2, batch_size=64, verbose=0, seed=3, threads=threads, **kw,
    )  # fmt: skip
    return model, history


def _max_difference(a, b):
    return max(float(np.abs(p.data - q.data).max()) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("threads", [2, 3])
def test_the_step_in_shares_is_the_whole_batchs(threads):
    # 130 samples in batches of 64: the last batch of 2 leaves a share empty
    # with 3 threads. In float64 the weights agree to rounding.
    one, h_one = _fit(1)
    many, h_many = _fit(threads)
    assert _max_difference(one, many) < 1e-12
    np.testing.assert_allclose(h_many["loss"], h_one["loss"], rtol=1e-12)
    np.testing.assert_allclose(h_many["accuracy"], h_one["accuracy"])


def test_shares_are_weighted_as_the_loss_weights_samples():
    # Sample weights (a weighted mean per share) and a summed loss (SSE).
    w = np.random.default_rng(1).uniform(0.2, 2.0, 130)
    one, _ = _fit(1, sample_weight=w)
    two, _ = _fit(2, sample_weight=w)
    assert _max_difference(one, two) < 1e-12
    x, y = _data()
    t = np.eye(3)[y]
    models = []
    for threads in (1, 2):
        m = build_spec("flatten-linear3", input_shape=(1, 6, 6), rng=0).to(np.float64)
        cr.fit(m, cr.losses.SSE(), cr.optim.SGD(m, lr=1e-3), x, t, epochs=2,
               batch_size=64, verbose=0, seed=3, threads=threads)  # fmt: skip
        models.append(m)
    assert _max_difference(*models) < 1e-12


def test_dropout_in_threads_repeats_with_the_same_seed():
    spec = "conv4x3-relu-maxpool2-flatten-dropout0.5-linear3"
    cr.seed(0)
    a, _ = _fit(2, spec)
    cr.seed(0)
    b, _ = _fit(2, spec)
    assert _max_difference(a, b) == 0.0
    cr.seed(0)
    c, _ = _fit(1, spec)  # the other share draws other masks
    assert _max_difference(a, c) > 0


def test_blas_threads_are_put_back():
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()]
    _fit(2)
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info()] == before


def test_what_threads_cannot_split_is_refused(monkeypatch):
    x, y = _data()
    bn = build_spec("conv4x3-batchnorm2d-relu-flatten-linear3", input_shape=(1, 6, 6))
    with pytest.raises(ValueError, match=r"threads=2 splits each batch, and this model keeps statistics of the batch"):
        cr.fit(bn, cr.losses.CrossEntropy(), cr.optim.SGD(bn, lr=0.1), x, y,
               verbose=0, threads=2)  # fmt: skip
    with pytest.raises(ValueError, match="threads must be a positive integer; got 0"):
        _fit(0)
    # The other shares' masks are drawn from an integer seed, step by step.
    model = build_spec("flatten-linear3", input_shape=(1, 6, 6))
    with pytest.raises(TypeError, match="threads=2 needs an integer seed"):
        cr.fit(model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1), x, y,
               verbose=0, threads=2, seed=np.random.default_rng(0))  # fmt: skip
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    with pytest.raises(ImportError, match=r"threads=2 needs threadpoolctl"):
        _fit(2)


def test_a_run_in_threads_resumes_exactly_and_only_with_as_many(tmp_path):
    spec = "conv4x3-relu-flatten-dropout0.3-linear3"
    x, y = _data()

    class Crash(Exception):
        pass

    class CrashAt(cr.callbacks.Callback):
        runs_last = True

        def on_batch_end(self, trainer, loss):
            if (trainer.epoch, trainer.batches_done) == (1, 1):
                raise Crash

    def run(folder, threads=2, crash=False, resume=None):
        cr.seed(4)
        model = build_spec(spec, input_shape=(1, 6, 6), rng=0)
        cbs = [cr.callbacks.ModelCheckpoint(tmp_path / folder / "ck.npz", every_n_batches=1)]
        if crash:
            cbs.append(CrashAt())
        h = cr.fit(model, cr.losses.CrossEntropy(), cr.optim.Adam(model, lr=0.01), x, y,
                   epochs=3, batch_size=32, verbose=0, callbacks=cbs, resume=resume,
                   threads=threads)  # fmt: skip
        return model, h

    whole, h_whole = run("a")
    with pytest.raises(Crash):
        run("b", crash=True)
    resumed, h_resumed = run("c", resume=tmp_path / "b" / "ck.npz")
    assert _max_difference(whole, resumed) == 0.0
    assert h_resumed["loss"] == h_whole["loss"]
    with pytest.raises(cr.io.ModelFileError, match="written with threads 2; got 1"):
        run("d", threads=1, resume=tmp_path / "b" / "ck.npz")


def test_the_command_line_trains_in_threads(tmp_path, capsys):
    from chainrule.cli import main

    out = tmp_path / "run"
    assert main(["train", "--model", "conv4x5-relu-maxpool2-flatten-linear10",
                 "--epochs", "1", "--threads", "2", "--out", str(out), "--json"]) == 0  # fmt: skip
    assert cr.load(out / "model.npz").metadata["train_args"]["threads"] == 2
    capsys.readouterr()
    assert main(["train", "--model", "fashion-cnn", "--threads", "2", "--epochs", "1",
                 "--out", str(tmp_path / "bn")]) == 2  # fmt: skip
    assert "keeps statistics of the batch" in capsys.readouterr().err
