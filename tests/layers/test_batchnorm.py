"""BatchNorm1D and BatchNorm2D (chainrule/layers/batchnorm.py): the formulas,
the running statistics, and the buffers travelling wherever the weights go."""

import numpy as np
import pytest
from _examples import Example

import chainrule as cr
from chainrule.layers import BatchNorm1D, BatchNorm2D
from chainrule.random import state_dict as rng_state
from chainrule.spec import SpecError, build_spec

L = cr.layers

# For the registry-driven checks (tests/layers/test_registry.py): gradcheck of
# the full batch-statistics backward, PyTorch in train and eval mode with the
# running statistics after several steps, model files, ONNX, spec, state dicts.
EXAMPLES = [
    Example(lambda: BatchNorm1D(5), ((8, 5),), onnx_op="BatchNormalization"),
    Example(
        lambda: BatchNorm1D(3, eps=1e-3, momentum=0.3),
        ((4, 3),),
        "settings",
        spec=False,
    ),
    Example(lambda: BatchNorm2D(3), ((4, 3, 5, 4),), onnx_op="BatchNormalization"),
    Example(
        lambda: BatchNorm2D(2, momentum=1.0), ((2, 2, 3, 3),), "momentum1", spec=False
    ),
]


def test_training_forward_and_backward_by_the_formulas(rng):
    bn = BatchNorm1D(3).to(np.float64)
    bn.weight.data[...] = [0.5, 2.0, -1.0]
    bn.bias.data[...] = [0.1, 0.0, 3.0]
    x = rng.standard_normal((6, 3)) * [1.0, 5.0, 0.1] + [0.0, 2.0, -1.0]
    y = bn(x)
    mu, var = x.mean(axis=0), x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(y, bn.weight.data * xhat + bn.bias.data, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mu, atol=1e-15)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1))
    assert bn.num_batches_tracked == 1 and bn.num_batches_tracked.dtype == np.int64
    dy = rng.standard_normal(y.shape)
    dx = bn.backward(dy)
    expected = (bn.weight.data / np.sqrt(var + 1e-5)) * (
        dy - dy.mean(axis=0) - xhat * (dy * xhat).mean(axis=0)
    )
    np.testing.assert_allclose(dx, expected, atol=1e-12)
    np.testing.assert_allclose(bn.weight.grad, (dy * xhat).sum(axis=0), atol=1e-12)
    np.testing.assert_allclose(bn.bias.grad, dy.sum(axis=0), atol=1e-12)


def test_eval_mode_uses_the_running_statistics_and_leaves_them(rng):
    bn = BatchNorm2D(2).to(np.float64)
    for _ in range(3):
        bn(rng.standard_normal((4, 2, 3, 3)) + 5)
    state = bn.state_dict()
    bn.eval()
    x = rng.standard_normal((1, 2, 3, 3))  # one sample is fine in eval mode
    y = bn(x)
    rm, rv = state["running_mean"], state["running_var"]
    expected = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, atol=1e-12)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


def test_first_layer_skips_the_input_gradient(rng):
    bn = BatchNorm1D(4)
    bn(rng.standard_normal((5, 4)).astype(np.float32))
    bn.skip_input_grad = True
    assert bn.backward(np.ones((5, 4), np.float32)) is None
    assert bn.bias.grad.tolist() == [5.0] * 4


@pytest.mark.parametrize(
    ("make", "x", "message"),
    [
        (
            lambda: BatchNorm1D(3),
            np.zeros((4, 2)),
            r"input must have shape \(batch, 3\); got \(4, 2\)",
        ),
        (
            lambda: BatchNorm2D(3),
            np.zeros((4, 3)),
            r"shape \(batch, 3, height, width\); got \(4, 3\)",
        ),
        (
            lambda: BatchNorm1D(3),
            np.zeros((1, 3)),
            "training needs more than one value per channel",
        ),
    ],
)
def test_input_errors(make, x, message):
    with pytest.raises(ValueError, match=message):
        make()(x)


def test_argument_errors():
    with pytest.raises(
        ValueError, match="BatchNorm1D: num_features must be a positive integer; got 0"
    ):
        BatchNorm1D(0)
    for eps in (0, float("inf"), float("nan")):
        with pytest.raises(
            ValueError, match=f"BatchNorm2D: eps must be a positive finite number; got {eps}"
        ):
            BatchNorm2D(3, eps=eps)
    with pytest.raises(
        ValueError, match=r"momentum must be a number in \[0, 1\]; got 1.5"
    ):
        BatchNorm1D(3, momentum=1.5)


def test_buffers_in_the_state_under_torch_names_and_dtypes():
    net = cr.Sequential(L.Linear(3, 4, rng=0), L.BatchNorm1D(4), L.ReLU())
    assert list(net.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias",
        "1.running_mean", "1.running_var", "1.num_batches_tracked",
    ]  # fmt: skip
    assert [n for n, _ in net.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias"
    ]  # fmt: skip
    net.to(np.float64)
    assert net[1].running_var.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64  # a counter stays one
    copy = net.copy()
    copy[1].running_mean[...] = 7
    assert not net[1].running_mean.any()  # a copy shares no arrays
    bad = dict(net.state_dict(), **{"1.running_var": np.ones(3)})
    with pytest.raises(
        ValueError, match=r"1.running_var has shape \(3,\), expected \(4,\)"
    ):
        net.load_state_dict(bad)


def test_spec_token_and_summary():
    net = build_spec(
        "conv4x3-batchnorm2d-relu-flatten-linear8-batchnorm1d", input_shape=(1, 6, 6)
    )
    assert isinstance(net[1], BatchNorm2D) and net[1].num_features == 4
    assert isinstance(net[5], BatchNorm1D) and net[5].num_features == 8
    table = net.summary((1, 6, 6))
    assert "BatchNorm2D" in table and "BatchNorm1D" in table
    with pytest.raises(SpecError, match="BatchNorm2D needs"):
        build_spec("flatten-batchnorm2d")


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 5)).astype(np.float32) * 3 + 1
    y = (x[:, 0] + x[:, 1] > 2).astype(np.int64)
    return x, y


def _net():
    return cr.Sequential(
        L.Linear(5, 8, rng=0), L.BatchNorm1D(8), L.ReLU(), L.Dropout(0.2),
        L.Linear(8, 2, rng=1),
    )  # fmt: skip


class _Snapshots(cr.callbacks.Callback):
    def __init__(self):
        self.states = []

    def on_epoch_end(self, trainer, logs):
        self.states.append(trainer.model.state_dict())


def test_early_stopping_restores_the_best_running_statistics():
    cr.seed(0)
    x, y = _data()
    net, snaps = _net(), _Snapshots()
    # "max" of the training loss: the first epoch is the best, so the restore
    # has to go back several epochs.
    stop = cr.callbacks.EarlyStopping(monitor="loss", mode="max", patience=2)
    history = cr.fit(
        net, cr.losses.CrossEntropy(), cr.optim.SGD(net, lr=0.1), x, y,
        epochs=10, batch_size=16, verbose=0, callbacks=[snaps, stop],
    )  # fmt: skip
    assert history.best_epoch == 0 and len(snaps.states) == 3
    best = snaps.states[0]
    assert not np.array_equal(
        best["1.running_mean"], snaps.states[-1]["1.running_mean"]
    )
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, best[k], err_msg=k)


def test_nanguard_rollback_restores_the_running_statistics():
    cr.seed(0)
    x, y = _data()
    x[40] = 3e38  # finite, but the third batch of 16 overflows the first layer
    net = _net()
    net[0].weight.data[...] = 1  # ... so: 5 * 3e38 = inf, then NaN statistics
    guard = cr.callbacks.NaNGuard(rollback=True, max_rollbacks=5, stream=False)
    with np.errstate(over="ignore", invalid="ignore"):
        cr.fit(
            net, cr.losses.CrossEntropy(), cr.optim.SGD(net, lr=0.1), x, y,
            epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[guard],
        )  # fmt: skip
    assert guard.rollbacks == 2
    assert np.isfinite(net[1].running_mean).all()
    assert np.isfinite(net[1].running_var).all()


def test_nanguard_stopping_leaves_the_statistics_of_the_last_good_batch():
    cr.seed(0)
    x, y = _data()
    x[40] = 3e38
    net = _net()
    net[0].weight.data[...] = 1
    stats = []

    class Record(cr.callbacks.Callback):
        def on_batch_end(self, trainer, loss):
            stats.append(trainer.model[1].running_mean.copy())

    guard = cr.callbacks.NaNGuard(stream=False)
    with np.errstate(over="ignore", invalid="ignore"):
        history = cr.fit(
            net, cr.losses.CrossEntropy(), cr.optim.SGD(net, lr=0.1), x, y,
            epochs=1, batch_size=16, shuffle=False, verbose=0,
            callbacks=[guard, Record()],
        )  # fmt: skip
    assert history.diverged and len(stats) == 2  # stopped in the third batch
    np.testing.assert_array_equal(net[1].running_mean, stats[-1])


class _Watch(cr.callbacks.NaNGuard):
    """Records the random stream and the state around the diagnosis of the
    first bad batch (0.weight's gradient is the one that turns NaN here)."""

    def before_step(self, trainer, loss):
        if all(np.isfinite(p.grad).all() for _, p in self._params):
            return super().before_step(trainer, loss)
        before = (rng_state(), trainer.model.state_dict())
        trainer.diagnose_non_finite(None)
        self.seen = (before, (rng_state(), trainer.model.state_dict()))
        return super().before_step(trainer, loss)


class _NaNGrad(cr.Module):
    """Forward: the identity; backward: NaN (a finite batch, a broken gradient)."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy * np.nan


def test_diagnosing_a_non_finite_batch_changes_nothing():
    # The forward pass is finite, so the diagnosis replays it through every
    # layer: Dropout must not draw and BatchNorm must not update its statistics.
    cr.seed(0)
    x, y = _data()
    net, watch = _net(), _Watch(stream=False)
    net.layers.insert(4, _NaNGrad())
    with np.errstate(invalid="ignore"):
        history = cr.fit(
            net, cr.losses.CrossEntropy(), cr.optim.SGD(net, lr=0.1), x, y,
            epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[watch],
        )  # fmt: skip
    assert "first non-finite gradient: 0.weight" in history.stop_reason
    (rng_before, state_before), (rng_after, state_after) = watch.seen
    assert rng_before == rng_after  # no Dropout draw
    for k, v in state_before.items():  # no running-statistics update
        np.testing.assert_array_equal(v, state_after[k], err_msg=k)


def test_batchnorm2d_on_a_strided_input_equals_a_contiguous_copy():
    # The per-channel sums run on (N C, H W) rows; a view must give the same.
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 5, 3, 4)) * 2 + 1
    x = base.transpose(0, 1, 3, 2)  # (6, 5, 4, 3), not C-contiguous
    dy = rng.standard_normal(x.shape)
    a, b = BatchNorm2D(5).to(np.float64), BatchNorm2D(5).to(np.float64)
    ya, yb = a.forward(x), b.forward(np.ascontiguousarray(x))
    dxa, dxb = (
        a.backward(dy[..., ::-1]),
        b.backward(np.ascontiguousarray(dy[..., ::-1])),
    )
    np.testing.assert_allclose(ya, yb, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dxa, dxb, rtol=1e-12, atol=1e-13)
    mean = x.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(a.running_mean, 0.1 * mean, rtol=1e-13)
    np.testing.assert_allclose(a.weight.grad, b.weight.grad, rtol=1e-12)
