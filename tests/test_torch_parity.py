"""Forward and backward against PyTorch in float64, with the same weights, to a
relative error of 1e-10. Skipped when PyTorch is not installed."""

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr
from chainrule import layers as L
from chainrule import losses

torch = importorskip("torch")
F = torch.nn.functional

RTOL = 1e-10


def assert_rel(ours, theirs, what=""):
    """max |ours - theirs| <= RTOL * max |theirs| (a relative error of the tensor)."""
    if isinstance(theirs, torch.Tensor):
        theirs = theirs.detach().numpy()
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, what
    scale = max(float(np.abs(theirs).max(initial=0.0)), 1e-300)
    err = float(np.abs(ours - theirs).max(initial=0.0)) / scale
    assert err <= RTOL, f"{what}: relative error {err:.3e} > {RTOL:g}"


def leaf(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def copy_weights(ours, theirs):
    theirs.double()
    theirs.load_state_dict(
        {
            k: torch.from_numpy(v.astype(np.float64))
            for k, v in ours.state_dict().items()
        }
    )


def compare(ours, theirs, x, rng, torch_module=None):
    """Run both on x with one random dy; compare y, dx and every parameter grad."""
    ours.to(np.float64)
    xt = leaf(x)
    yt = theirs(xt)
    dy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(dy))
    y = ours(x)
    dx = ours.backward(dy)
    assert_rel(y, yt, "y")
    assert_rel(dx, xt.grad, "dx")
    if torch_module is not None:
        grads = dict(torch_module.named_parameters())
        names = [n for n, _ in ours.named_parameters()]
        assert names == list(grads)
        for name, p in ours.named_parameters():
            assert_rel(p.grad, grads[name].grad, name)


# ---------------------------------------------------------------- layers
@pytest.mark.parametrize("bias", [True, False])
def test_linear(rng, bias):
    ours = L.Linear(5, 3, bias=bias, rng=0).to(np.float64)
    if bias:
        ours.bias.data[:] = rng.standard_normal(3)
    theirs = torch.nn.Linear(5, 3, bias=bias)
    copy_weights(ours, theirs)
    compare(ours, theirs, rng.standard_normal((4, 5)), rng, theirs)


@pytest.mark.parametrize(
    ("cin", "cout", "k", "s", "p", "hw"),
    [
        (2, 3, 3, 1, 0, (6, 5)),
        (2, 3, 3, 2, 1, (7, 6)),
        (1, 2, (3, 2), (2, 1), (1, 0), (6, 5)),
        (3, 4, 5, 2, 2, (9, 11)),
        (2, 2, 2, 3, 1, (5, 4)),
    ],
)
def test_conv2d(rng, cin, cout, k, s, p, hw):
    ours = L.Conv2D(cin, cout, k, stride=s, padding=p, rng=0).to(np.float64)
    ours.bias.data[:] = rng.standard_normal(cout)
    theirs = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p)
    copy_weights(ours, theirs)
    compare(ours, theirs, rng.standard_normal((2, cin, *hw)), rng, theirs)


@pytest.mark.parametrize(
    ("k", "s", "hw"),
    [
        (2, 2, (4, 6)),
        (3, 2, (7, 6)),
        (2, 1, (5, 5)),
        ((2, 3), (1, 2), (5, 7)),
        (3, 3, (8, 7)),
    ],
)
def test_maxpool2d(distinct, rng, k, s, hw):
    compare(L.MaxPool2D(k, s), torch.nn.MaxPool2d(k, s), distinct(2, 3, *hw), rng)


def test_maxpool2d_ties_match(rng):
    # Whole windows of equal values, overlapping: both pick the first maximum.
    x = np.round(rng.standard_normal((2, 2, 6, 6)))
    x[0, 0] = 1.0
    compare(L.MaxPool2D(3, 1), torch.nn.MaxPool2d(3, 1), x, rng)
    compare(L.MaxPool2D(2), torch.nn.MaxPool2d(2), x, rng)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (L.ReLU, torch.nn.ReLU),
        (L.Sigmoid, torch.nn.Sigmoid),
        (L.Tanh, torch.nn.Tanh),
        (L.HardTanh, torch.nn.Hardtanh),
        (lambda: L.HardTanh(-0.5, 2.0), lambda: torch.nn.Hardtanh(-0.5, 2.0)),
        (L.Softmax, lambda: torch.nn.Softmax(dim=-1)),
        (L.LogSoftmax, lambda: torch.nn.LogSoftmax(dim=-1)),
        (lambda: L.Softmax(axis=1), lambda: torch.nn.Softmax(dim=1)),
        (lambda: L.LogSoftmax(axis=1), lambda: torch.nn.LogSoftmax(dim=1)),
        (L.Flatten, torch.nn.Flatten),
    ],
    ids=[
        "ReLU",
        "Sigmoid",
        "Tanh",
        "Hardtanh",
        "Hardtanh(-0.5,2)",
        "Softmax",
        "LogSoftmax",
        "Softmax(dim=1)",
        "LogSoftmax(dim=1)",
        "Flatten",
    ],
)
def test_activations(rng, ours, theirs):
    x = rng.standard_normal((3, 4, 2, 5)) * 3
    # The kinks too: the conventions there (gradient 0) are PyTorch's.
    x[0, 0, 0, :5] = [0.0, -1.0, 1.0, -0.5, 2.0]
    compare(ours(), theirs(), x, rng)


@pytest.mark.parametrize("make", [L.Sigmoid, L.Tanh, L.Softmax, L.LogSoftmax])
def test_activations_huge_inputs(rng, make):
    x = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, 1e4, 1e4, -2.0]])
    theirs = {
        L.Sigmoid: torch.nn.Sigmoid(),
        L.Tanh: torch.nn.Tanh(),
        L.Softmax: torch.nn.Softmax(dim=-1),
        L.LogSoftmax: torch.nn.LogSoftmax(dim=-1),
    }[make]
    compare(make(), theirs, x, rng)


def test_dropout_with_the_same_mask(rng):
    x = rng.uniform(0.5, 1.5, (4, 6))  # nonzero, so the mask can be read off y
    xt = leaf(x)
    torch.manual_seed(0)
    yt = F.dropout(xt, p=0.4, training=True)
    dy = rng.standard_normal(x.shape)
    yt.backward(torch.from_numpy(dy))
    ours = L.Dropout(0.4)
    ours.mask = yt.detach().numpy() != 0
    assert 0 < ours.mask.sum() < ours.mask.size
    assert_rel(ours(x), yt, "y")
    assert_rel(ours.backward(dy), xt.grad, "dx")


def test_small_cnn_end_to_end(rng):
    ours = cr.Sequential(
        L.Conv2D(1, 3, 3, stride=2, padding=1, rng=0),
        L.ReLU(),
        L.MaxPool2D(2, stride=1),
        L.Flatten(),
        L.Linear(3 * 3 * 2, 5, rng=1),
        L.Tanh(),
        L.Linear(5, 4, rng=2),
    ).to(np.float64)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2, stride=1),
        torch.nn.Flatten(),
        torch.nn.Linear(18, 5),
        torch.nn.Tanh(),
        torch.nn.Linear(5, 4),
    )
    for p in ours.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    copy_weights(ours, theirs)
    x = rng.standard_normal((3, 1, 8, 6))
    labels = np.array([0, 3, 1])

    xt = leaf(x)
    lt = F.cross_entropy(theirs(xt), torch.from_numpy(labels))
    lt.backward()
    loss = losses.CrossEntropy()
    value = loss(ours(x), labels)
    dx = ours.backward(loss.backward())
    assert_rel(value, lt, "loss")
    assert_rel(dx, xt.grad, "dx")
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_rel(p.grad, grads[name].grad, name)


# ---------------------------------------------------------------- losses
def loss_case(name, rng):
    """(our loss, predictions, targets, torch per-sample loss function)."""
    n, k = 5, 3
    if name == "MSE":
        # Ours keeps the seeds' 1/2: 0.5 * sum of squares / N.
        y, t = rng.standard_normal((n, k)), rng.standard_normal((n, k))
        return (
            losses.MSE(),
            y,
            t,
            lambda yt, tt: 0.5 * F.mse_loss(yt, tt, reduction="none").sum(1),
        )
    if name == "SSE":
        y, t = rng.standard_normal((n, k)), rng.standard_normal((n, k))
        return (
            losses.SSE(),
            y,
            t,
            lambda yt, tt: F.mse_loss(yt, tt, reduction="none").sum(1),
        )
    if name == "BCE":
        y, t = rng.uniform(0.05, 0.95, (n, k)), rng.uniform(0, 1, (n, k))
        return (
            losses.BinaryCrossEntropy(),
            y,
            t,
            lambda yt, tt: F.binary_cross_entropy(yt, tt, reduction="none").sum(1),
        )
    if name == "BCEWithLogits":
        z, t = rng.standard_normal((n, k)) * 4, (rng.random((n, k)) > 0.5) * 1.0
        return (
            losses.BinaryCrossEntropy(from_logits=True),
            z,
            t,
            lambda yt, tt: F.binary_cross_entropy_with_logits(
                yt, tt, reduction="none"
            ).sum(1),
        )
    if name == "CrossEntropy(labels)":
        z, t = rng.standard_normal((n, k)) * 3, np.array([0, 2, 1, 2, 0])
        return (
            losses.CrossEntropy(),
            z,
            t,
            lambda yt, tt: F.cross_entropy(yt, tt, reduction="none"),
        )
    if name == "CrossEntropy(probs)":
        z, t = rng.standard_normal((n, k)) * 3, rng.dirichlet(np.ones(k), n)
        return (
            losses.CrossEntropy(),
            z,
            t,
            lambda yt, tt: F.cross_entropy(yt, tt, reduction="none"),
        )
    if name.startswith("CrossEntropy(smoothed"):
        z = rng.standard_normal((n, k)) * 3
        t = np.array([0, 2, 1, 2, 0]) if "labels" in name else rng.dirichlet(np.ones(k), n)
        return (
            losses.CrossEntropy(label_smoothing=0.1),
            z,
            t,
            lambda yt, tt: F.cross_entropy(yt, tt, reduction="none", label_smoothing=0.1),
        )
    if name == "NLL":
        y = np.log(rng.dirichlet(np.ones(k), n))
        t = np.array([1, 1, 0, 2, 2])
        return losses.NLL(), y, t, lambda yt, tt: F.nll_loss(yt, tt, reduction="none")
    raise KeyError(name)


LOSSES = [
    "MSE",
    "SSE",
    "BCE",
    "BCEWithLogits",
    "CrossEntropy(labels)",
    "CrossEntropy(probs)",
    "CrossEntropy(smoothed labels)",
    "CrossEntropy(smoothed probs)",
    "NLL",
]


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("name", LOSSES)
def test_losses(rng, name, weighted):
    loss, y, t, per_sample = loss_case(name, rng)
    n = y.shape[0]
    w = rng.uniform(0, 2, n) if weighted else np.ones(n)
    yt = leaf(y)
    per = per_sample(yt, torch.from_numpy(t))
    total = (per * torch.from_numpy(w)).sum()
    lt = total if name == "SSE" else total / n
    lt.backward()
    value = loss(y, t, sample_weight=w if weighted else None)
    assert_rel(value, lt, "loss")
    assert_rel(loss.backward(), yt.grad, "dL/dy")


def test_mse_matches_the_documented_convention(rng):
    y, t = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    torch_value = (
        F.mse_loss(torch.from_numpy(y), torch.from_numpy(t), reduction="sum") / 4
    )
    assert_rel(losses.MSE()(y, t), 0.5 * torch_value)


@pytest.mark.parametrize("labels", [True, False], ids=["labels", "probs"])
def test_cross_entropy_huge_logits(labels):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]])
    t = np.array([1, 2]) if labels else np.array([[0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    zt = leaf(z)
    lt = F.cross_entropy(zt, torch.from_numpy(t))
    lt.backward()
    loss = losses.CrossEntropy()
    assert_rel(loss(z, t), lt, "loss")
    assert_rel(loss.backward(), zt.grad, "dL/dz")


def test_bce_with_logits_huge_logits():
    z = np.array([[1e4, -1e4], [-1e4, 3.0]])
    t = np.array([[0.0, 1.0], [0.0, 1.0]])
    zt = leaf(z)
    lt = (
        F.binary_cross_entropy_with_logits(zt, torch.from_numpy(t), reduction="sum") / 2
    )
    lt.backward()
    loss = losses.BinaryCrossEntropy(from_logits=True)
    assert_rel(loss(z, t), lt, "loss")
    assert_rel(loss.backward(), zt.grad, "dL/dz")


# --- optimizers: the same gradients, the same steps ---------------------------

OPTIMIZERS = {
    "SGD": (
        lambda ps: cr.optim.SGD(ps, lr=0.1),
        lambda ts: torch.optim.SGD(ts, lr=0.1),
    ),
    "SGD(momentum, weight decay)": (
        lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4),
        lambda ts: torch.optim.SGD(ts, lr=0.1, momentum=0.9, weight_decay=5e-4),
    ),
    "SGD(Nesterov, weight decay)": (
        lambda ps: cr.optim.SGD(
            ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
        ),
        lambda ts: torch.optim.SGD(
            ts, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
        ),
    ),
    "Adam(weight decay)": (
        lambda ps: cr.optim.Adam(ps, lr=0.01, weight_decay=0.1),
        lambda ts: torch.optim.Adam(ts, lr=0.01, weight_decay=0.1),
    ),
    "AdamW": (
        lambda ps: cr.optim.AdamW(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
        lambda ts: torch.optim.AdamW(ts, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps(rng, name):
    """Six steps with the same gradients (new ones each step, one of them zero
    for a step) and a learning rate changed halfway, as a schedule would."""
    ours_of, theirs_of = OPTIMIZERS[name]
    shapes = [(4, 3), (3,)]
    start = [rng.standard_normal(s) for s in shapes]
    ps = [cr.Parameter(a.copy()) for a in start]
    ts = [leaf(a) for a in start]
    ours, theirs = ours_of(ps), theirs_of(ts)
    for step in range(6):
        if step == 3:
            ours.lr = 0.05
            for group in theirs.param_groups:
                group["lr"] = 0.05
        for p, t in zip(ps, ts):
            g = rng.standard_normal(p.shape) * (0.0 if step == 2 else 1.0)
            p.zero_grad()
            p.accumulate(g)
            t.grad = torch.from_numpy(g.copy())
        ours.step()
        theirs.step()
        for i, (p, t) in enumerate(zip(ps, ts)):
            assert_rel(p.data, t, f"{name}: parameter {i} after step {step + 1}")
