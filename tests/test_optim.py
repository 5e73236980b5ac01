"""Optimizers, learning-rate schedules and gradient clipping.

Each update rule is checked twice: one step worked by hand (the arithmetic in
the comments), and several steps against PyTorch's optimizer fed the same
gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr
from chainrule.optim import (
    SGD,
    Adam,
    CosineDecay,
    ReduceOnPlateau,
    StepDecay,
    clip_grad_norm,
)


def param(values, grad=None) -> cr.Parameter:
    p = cr.Parameter(np.array(values, dtype=np.float64))
    if grad is not None:
        p.grad[...] = grad
    return p


# ------------------------------------------------------------ hand-worked steps
def test_sgd_plain_step_by_hand():
    p = param([1.0, -2.0], grad=[0.5, -1.0])
    SGD([p], lr=0.1).step()
    # theta - lr g = [1 - 0.1 * 0.5, -2 - 0.1 * (-1)] = [0.95, -1.9]
    np.testing.assert_allclose(p.data, [0.95, -1.9])


def test_sgd_momentum_two_steps_by_hand():
    p = param([1.0, -2.0], grad=[0.5, -1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    # step 1: v = g = [0.5, -1];  theta = [1, -2] - 0.1 v = [0.95, -1.9]
    np.testing.assert_allclose(p.data, [0.95, -1.9])
    p.grad[...] = [1.0, 1.0]
    opt.step()
    # step 2: v = 0.9 [0.5, -1] + [1, 1] = [1.45, 0.1]
    #         theta = [0.95, -1.9] - 0.1 [1.45, 0.1] = [0.805, -1.91]
    np.testing.assert_allclose(p.data, [0.805, -1.91])
    np.testing.assert_allclose(opt.state["0"]["velocity"], [1.45, 0.1])


def test_sgd_nesterov_two_steps_by_hand():
    p = param([1.0], grad=[0.5])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.step()
    # step 1: v = g = 0.5;  update g + mu v = 0.5 + 0.45 = 0.95;  theta = 1 - 0.095
    np.testing.assert_allclose(p.data, [0.905])
    p.grad[...] = [1.0]
    opt.step()
    # step 2: v = 0.9 * 0.5 + 1 = 1.45;  update 1 + 0.9 * 1.45 = 2.305
    #         theta = 0.905 - 0.2305 = 0.6745
    np.testing.assert_allclose(p.data, [0.6745])


def test_sgd_weight_decay_step_by_hand():
    p = param([1.0, -2.0], grad=[0.5, -1.0])
    SGD([p], lr=0.1, weight_decay=0.01).step()
    # g + wd theta = [0.5 + 0.01, -1 - 0.02] = [0.51, -1.02]
    # theta - 0.1 [0.51, -1.02] = [0.949, -1.898]
    np.testing.assert_allclose(p.data, [0.949, -1.898])


def test_adam_two_steps_by_hand():
    p = param([1.0, -2.0], grad=[0.5, -1.0])
    opt = Adam([p], lr=0.1, eps=1e-8)
    opt.step()
    # step 1: m = 0.1 g, s = 0.001 g^2; m_hat = m / 0.1 = g, s_hat = s / 0.001 = g^2
    #         theta - 0.1 g / (|g| + eps) = theta - 0.1 sign(g) = [0.9, -1.9]
    np.testing.assert_allclose(p.data, [0.9, -1.9], rtol=1e-7)
    p.grad[...] = [1.0, 1.0]
    opt.step()
    # step 2, first element: m = 0.9 * 0.05 + 0.1 * 1 = 0.145
    #   s = 0.999 * 0.00025 + 0.001 * 1 = 0.00124975
    #   m_hat = 0.145 / (1 - 0.81) = 0.763157...
    #   s_hat = 0.00124975 / (1 - 0.998001) = 0.625187...; sqrt = 0.790688...
    #   theta = 0.9 - 0.1 * 0.763157 / 0.790688 = 0.9 - 0.096518 = 0.803482
    m = 0.9 * 0.05 + 0.1
    s = 0.999 * 0.00025 + 0.001
    expected = 0.9 - 0.1 * (m / 0.19) / (math.sqrt(s / (1 - 0.999**2)) + 1e-8)
    assert expected == pytest.approx(0.803482, abs=1e-6)
    assert p.data[0] == pytest.approx(expected, rel=1e-8)  # step 1 was 1 - 2e-8 of 0.1


def test_adam_adds_eps_outside_the_square_root():
    # A gradient as small as eps tells sqrt(s_hat) + eps from sqrt(s_hat + eps):
    # step 1 moves lr * g / (|g| + eps) = 0.1 * 1e-4 / 2e-4 = 0.05, where eps
    # inside the root would give 0.1 * 1e-4 / sqrt(1e-8 + 1e-4), about 0.001.
    p = param([1.0, -1.0], grad=[1e-4, -1e-4])
    Adam([p], lr=0.1, eps=1e-4).step()
    np.testing.assert_allclose(p.data, [0.95, -0.95], rtol=1e-10)


def test_adam_weight_decay_step_by_hand():
    p = param([2.0], grad=[0.0])
    Adam([p], lr=0.1, weight_decay=0.5).step()
    # g + wd theta = 0 + 0.5 * 2 = 1 > 0, so the first step is -lr sign(g) = -0.1
    np.testing.assert_allclose(p.data, [1.9], rtol=1e-7)


# ------------------------------------------------------------------ PyTorch
CONFIGS = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01}),
    ("adamw", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.3}),
]
OURS = {"sgd": SGD, "adam": Adam, "adamw": cr.optim.AdamW}


@pytest.mark.parametrize("kind, kwargs", CONFIGS)
def test_matches_pytorch_over_several_steps(kind, kwargs):
    torch = importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3)).astype(np.float32)
    b0 = rng.standard_normal(4).astype(np.float32)
    ours = [cr.Parameter(w0.copy()), cr.Parameter(b0.copy())]
    theirs = [
        torch.tensor(w0, requires_grad=True),
        torch.tensor(b0, requires_grad=True),
    ]
    opt = OURS[kind](ours, **kwargs)
    topt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[
        kind
    ](theirs, **kwargs)
    for _ in range(6):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in ours]
        for p, t, g in zip(ours, theirs, grads):
            p.grad[...] = g
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind, kwargs", CONFIGS)
def test_state_dict_round_trip_continues_identically(kind, kwargs):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    grads = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(6)]
    cls = OURS[kind]

    a = cr.Parameter(w0.copy())
    opt_a = cls([("w", a)], **kwargs)
    for g in grads[:3]:
        a.grad[...] = g
        opt_a.step()
    # A fresh optimizer over a copy of the weights, given the saved state.
    b = cr.Parameter(a.data.copy())
    opt_b = cls([("w", b)], lr=123.0)
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.hyperparameters() == opt_a.hyperparameters()
    for g in grads[3:]:
        a.grad[...] = g
        b.grad[...] = g
        opt_a.step()
        opt_b.step()
    assert np.array_equal(a.data, b.data)


def test_state_dict_is_a_copy():
    p = param([1.0], grad=[1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    state = opt.state_dict()
    opt.step()
    np.testing.assert_allclose(state["state"]["0"]["velocity"], [1.0])


def test_load_state_dict_rejects_other_optimizer_and_shapes():
    p = param([1.0, 2.0], grad=[1.0, 1.0])
    sgd = SGD([("w", p)], lr=0.1, momentum=0.9)
    sgd.step()
    with pytest.raises(
        ValueError, match=r"Adam.load_state_dict: the state is from a SGD"
    ):
        Adam([("w", p)]).load_state_dict(sgd.state_dict())
    other = SGD([("w", param([1.0, 2.0, 3.0]))], lr=0.1, momentum=0.9)
    with pytest.raises(
        ValueError, match=r"w.velocity has shape \(2,\), expected \(3,\)"
    ):
        other.load_state_dict(sgd.state_dict())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: SGD(p, lr=-1.0), r"SGD: lr must be a positive number; got -1.0"),
        (lambda p: SGD(p, lr=0.1, momentum=1.0), r"SGD: momentum must be in \[0, 1\)"),
        (
            lambda p: SGD(p, lr=0.1, nesterov=True),
            r"SGD: nesterov=True needs a momentum",
        ),
        (lambda p: Adam(p, betas=(0.9, 1.0)), r"Adam: betas must be in \[0, 1\)"),
        (
            lambda p: Adam(p, weight_decay=-1),
            r"Adam: weight_decay must be a non-negative",
        ),
        (lambda p: SGD([], lr=0.1), r"optimizer: params is empty"),
    ],
)
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make([param([1.0])])


def test_params_of_the_wrong_type():
    with pytest.raises(
        TypeError, match=r"optimizer: params must be a Module.*item 0 is ndarray"
    ):
        SGD([np.zeros(3)], lr=0.1)


# ---------------------------------------------------------------- schedules
def lrs(schedule, n, metrics=None):
    metrics = metrics or [None] * n
    return [schedule.step(m) for m in metrics]


def test_step_decay_values():
    opt = SGD([param([1.0])], lr=1.0)
    # lr = 1 * 0.5 ** (epoch // 2) for epochs 1..5
    assert lrs(StepDecay(opt, step_size=2, gamma=0.5), 5) == [1.0, 0.5, 0.5, 0.25, 0.25]
    assert opt.lr == 0.25


def test_cosine_decay_values():
    opt = SGD([param([1.0])], lr=1.0)
    # min_lr + (1 - min_lr) (1 + cos(pi e / 4)) / 2 with min_lr 0.1, held at e = 4
    got = lrs(CosineDecay(opt, total_epochs=4, min_lr=0.1), 6)
    c = [(1 + math.cos(math.pi * e / 4)) / 2 for e in (1, 2, 3, 4, 4, 4)]
    np.testing.assert_allclose(got, [0.1 + 0.9 * v for v in c])
    np.testing.assert_allclose(got[1], 0.55)  # half way
    assert got[-1] == pytest.approx(0.1)


def test_adamw_decays_apart_from_the_gradient():
    # With g = 0 Adam's step is 0, so only the decay acts: theta (1 - lr wd).
    p = param([2.0, -4.0], grad=[0.0, 0.0])
    opt = cr.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-7)
    # Adam's L2 form would instead have taken a full signed step of lr.
    q = param([2.0, -4.0], grad=[0.0, 0.0])
    Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.data, [1.9, -3.9], rtol=1e-6)


def test_warmup_cosine_values():
    opt = SGD([param([1.0])], lr=1.0)
    sched = cr.optim.WarmupCosine(opt, warmup_steps=4, total_steps=12, min_lr=0.1)
    assert opt.lr == 0.25  # the first batch already trains with the warm-up's rate
    got = [opt.lr] + lrs(sched, 13)
    # t = 0..3: (t + 1) / 4; t = 4..12: 0.1 + 0.9 (1 + cos(pi (t - 4) / 8)) / 2
    want = [0.25, 0.5, 0.75, 1.0] + [
        0.1 + 0.9 * (1 + math.cos(math.pi * min(1, (t - 4) / 8))) / 2
        for t in range(4, 14)
    ]
    np.testing.assert_allclose(got, want)
    assert max(got) == 1.0 and got[-1] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"warmup_steps": -1, "total_steps": 5}, "warmup_steps must be a non-negative integer"),
        ({"warmup_steps": 5, "total_steps": 5}, r"total_steps must be an integer > warmup_steps \(5\)"),
        ({"warmup_steps": 1.5, "total_steps": 5}, "warmup_steps must be a non-negative integer"),
    ],
)
def test_warmup_cosine_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cr.optim.WarmupCosine(SGD([param([1.0])], lr=1.0), **kwargs)


def test_per_batch_schedule_in_fit_sets_the_lr_of_each_batch():
    x = np.zeros((8, 1), np.float32)
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    opt = SGD(model, lr=1.0)
    seen = []

    class Record(cr.callbacks.Callback):
        def before_step(self, trainer, loss):
            seen.append(trainer.optimizer.lr)
            return True

    sched = cr.optim.WarmupCosine(opt, warmup_steps=2, total_steps=6)
    cr.fit(
        model, cr.losses.MSE(), opt, x, x, epochs=3, batch_size=3, verbose=0,
        callbacks=[Record(), cr.callbacks.LearningRateScheduler(sched, interval="batch")],
    )  # fmt: skip
    # 3 batches an epoch, 9 in all; the rate of batch t is the schedule's lr_at(t)
    np.testing.assert_allclose(seen, [sched.lr_at(t, None) for t in range(9)])
    assert seen[:3] == [0.5, 1.0, 1.0]


def test_scheduler_interval_is_checked():
    opt = SGD([param([1.0])], lr=1.0)
    with pytest.raises(ValueError, match="interval must be 'epoch' or 'batch'; got 'step'"):
        cr.callbacks.LearningRateScheduler(StepDecay(opt, 1), interval="step")


def test_reduce_on_plateau_values():
    opt = SGD([param([1.0])], lr=1.0)
    sched = ReduceOnPlateau(opt, factor=0.5, patience=1, min_lr=0.2)
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.5, 0.6, 0.6, 0.6, 0.6]
    # 1.0 and 0.9 improve; then 2 epochs without improvement exceed patience 1:
    # halve at the 2nd bad epoch, again 2 epochs later; 0.5 improves; the next
    # halving (0.25 -> 0.125) stops at min_lr 0.2.
    assert lrs(sched, len(losses), losses) == [
        1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2,
    ]  # fmt: skip


def test_reduce_on_plateau_max_mode_and_nan_metric():
    opt = SGD([param([1.0])], lr=1.0)
    sched = ReduceOnPlateau(opt, factor=0.1, patience=0, mode="max")
    # accuracy: 0.5 best, nan is ignored, 0.6 improves, 0.6 again does not
    got = lrs(sched, 4, [0.5, float("nan"), 0.6, 0.6])
    np.testing.assert_allclose(got, [1.0, 1.0, 1.0, 0.1])


def test_schedule_errors():
    opt = SGD([param([1.0])], lr=1.0)
    with pytest.raises(
        ValueError, match=r"StepDecay: step_size must be a positive integer; got 0"
    ):
        StepDecay(opt, step_size=0)
    with pytest.raises(
        ValueError, match=r"ReduceOnPlateau: factor must be in \(0, 1\); got 2"
    ):
        ReduceOnPlateau(opt, factor=2)
    with pytest.raises(
        ValueError, match=r"ReduceOnPlateau: mode must be 'min' or 'max'"
    ):
        ReduceOnPlateau(opt, mode="up")


def test_schedule_in_fit_sets_the_lr_of_each_epoch():
    x = np.zeros((8, 1), np.float32)
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    opt = SGD(model, lr=0.4)
    sched = cr.callbacks.LearningRateScheduler(StepDecay(opt, step_size=1, gamma=0.5))
    h = cr.fit(
        model, cr.losses.MSE(), opt, x, x, epochs=3, verbose=0, callbacks=[sched]
    )
    # history["lr"] is the rate each epoch trained with
    assert h["lr"] == [0.4, 0.2, 0.1]


def test_a_parameter_listed_twice_is_refused():
    # SGD([p, p]) updated p twice a step.
    p = param([1.0], grad=[1.0])
    with pytest.raises(ValueError, match=r"lists one parameter twice \(items 0 and 1\)"):
        SGD([p, p], lr=0.1)


# ------------------------------------------------------------------ clipping
def test_clip_grad_norm_scales_all_gradients_together():
    a = param([0.0, 0.0], grad=[3.0, 0.0])
    b = param([0.0], grad=[4.0])
    # ||g|| = sqrt(9 + 16) = 5 > 1: every gradient times 1/5, direction kept
    assert clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0])
    np.testing.assert_allclose(b.grad, [0.8])


def test_clip_grad_norm_leaves_small_and_non_finite_gradients():
    a = param([0.0], grad=[0.5])
    assert clip_grad_norm([a], 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad, [0.5])
    b = param([0.0, 0.0], grad=[np.inf, 1.0])
    assert clip_grad_norm([b], 1.0) == math.inf
    np.testing.assert_array_equal(b.grad, [np.inf, 1.0])


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_clip_norm_must_be_positive_and_finite(bad):
    # A norm of 0 zeroes every step, a negative one turns each step uphill.
    with pytest.raises(ValueError, match="clip_grad_norm: max_norm must be a positive"):
        clip_grad_norm([param([0.0], grad=[3.0])], bad)
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    with pytest.raises(ValueError, match="fit: clip_norm must be a positive number"):
        cr.fit(
            model,
            cr.losses.MSE(),
            SGD(model, lr=0.1),
            np.ones((4, 1), np.float32),
            np.ones((4, 1), np.float32),
            clip_norm=bad,
            verbose=0,
        )


def test_clip_norm_in_fit_bounds_each_step():
    # One weight, one sample, MSE: dL/dw = (w x - t) x = (0 - 100) * 1 = -100.
    # Clipped to norm 1, one SGD step with lr 1 moves w by exactly 1.
    model = cr.Sequential(cr.layers.Linear(1, 1, bias=False, init="zeros"))
    x = np.ones((1, 1), np.float32)
    t = np.full((1, 1), 100.0, np.float32)
    cr.fit(
        model,
        cr.losses.MSE(),
        SGD(model, lr=1.0),
        x,
        t,
        epochs=1,
        verbose=0,
        clip_norm=1.0,
    )
    np.testing.assert_allclose(model[0].weight.data, [[1.0]])


def test_a_schedule_takes_a_saved_state_of_its_own_kind_only():
    # A checkpoint's schedule state is read from disk: an "optimizer" entry
    # would replace the optimizer, a NaN base rate would train to NaN.
    opt = SGD([param([1.0])], lr=1.0)
    sched = ReduceOnPlateau(opt, factor=0.5, patience=1)
    for loss in (1.0, 0.9):
        sched.step(loss)
    saved = sched.state_dict()
    fresh = ReduceOnPlateau(SGD([param([1.0])], lr=1.0), factor=0.5, patience=1)
    fresh.load_state_dict(saved)  # best 0.9 over a fresh None: taken
    assert fresh.state_dict() == saved
    for bad, message in [
        ({**saved, "optimizer": 5}, r"unknown state \['optimizer'\]"),
        ({**saved, "base_lr": float("nan")}, "base_lr must be like 1.0; got nan"),
        ({**saved, "mode": 3}, "mode must be like 'min'; got 3"),
        ({**saved, "epoch": "2"}, "epoch must be like 0; got '2'"),
    ]:
        other = ReduceOnPlateau(SGD([param([1.0])], lr=1.0), factor=0.5, patience=1)
        with pytest.raises(ValueError, match=rf"ReduceOnPlateau.load_state_dict: {message}"):
            other.load_state_dict(bad)
    assert other.optimizer.lr == 1.0 and other.mode == "min"  # nothing taken
