"""PyTorch weights: exact round trips and forward agreement with torch."""

from __future__ import annotations

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr
from chainrule import layers as L
from chainrule.interop.torch import (
    load_torch_state_dict,
    to_torch_sequential,
    to_torch_state_dict,
)


def test_numpy_state_dict_without_torch():
    """The mapping itself needs no torch: parametrised layers matched in order."""
    net = cr.Sequential(L.Linear(2, 3, rng=0), L.ReLU(), L.Linear(3, 1, rng=1))
    rng = np.random.default_rng(0)
    sd = {
        "0.weight": rng.standard_normal((3, 2)),
        "0.bias": rng.standard_normal(3),
        "1.weight": rng.standard_normal((1, 3)),  # torch had no ReLU module between
        "1.bias": rng.standard_normal(1),
    }
    load_torch_state_dict(net, sd)
    np.testing.assert_array_equal(net[2].weight.data, sd["1.weight"].astype(np.float32))
    out = to_torch_state_dict(net, as_numpy=True)
    assert list(out) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    np.testing.assert_array_equal(out["0.bias"], sd["0.bias"].astype(np.float32))
    out["0.bias"][:] = 0  # a copy, not a view of the model
    assert net[0].bias.data.any()


def test_problems_reported_at_once_and_model_unchanged():
    net = cr.Sequential(L.Linear(2, 3, rng=0), L.ReLU(), L.Linear(3, 1, bias=False))
    before = net.state_dict()
    sd = {
        "0.weight": np.zeros((3, 5)),
        "0.bias": np.zeros(3),
        "2.weight": np.zeros((1, 3)),
        "2.bias": np.zeros(1),
        "4.weight": np.zeros((2, 2)),
        "5.running_mean": np.zeros(2),
    }
    with pytest.raises(ValueError) as info:
        load_torch_state_dict(net, sd)
    message = str(info.value)
    for part in (
        "the torch model has 4 layers with state (0, 2, 4, 5) but the chainrule "
        "model has 2 (0, 2)",
        "torch 0.weight has shape (3, 5), chainrule 0.weight expects (3, 2)",
        "torch 2.bias has no counterpart in chainrule layer 2",
    ):
        assert part in message
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


@pytest.fixture
def torch():
    """PyTorch, or a skip: the tests above need no torch, these do."""
    return importorskip("torch")


def torch_cnn(torch):
    nn = torch.nn
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, bias=False),
        nn.Tanh(),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(6 * 3 * 3, 16),
        nn.Hardtanh(-0.5, 0.5),
        nn.Linear(16, 5),
        nn.LogSoftmax(dim=1),
    ).eval()


def chainrule_cnn():
    return cr.Sequential(
        L.Conv2D(1, 4, 3, padding=1, rng=1),
        L.ReLU(),
        L.MaxPool2D(2),
        L.Conv2D(4, 6, 3, stride=2, bias=False, rng=2),
        L.Tanh(),
        L.Flatten(),
        L.Dropout(0.5),
        L.Linear(6 * 3 * 3, 16, rng=3),
        L.HardTanh(-0.5, 0.5),
        L.Linear(16, 5, rng=4),
        L.LogSoftmax(axis=1),
    )


def test_torch_to_chainrule_exact_and_same_outputs(torch):
    tnet = torch_cnn(torch)
    model = chainrule_cnn()
    load_torch_state_dict(model, tnet.state_dict())
    for (tk, tv), (ck, cv) in zip(
        tnet.state_dict().items(), model.state_dict().items()
    ):
        assert tk == ck
        np.testing.assert_array_equal(cv, tv.numpy())
    x = np.random.default_rng(0).standard_normal((8, 1, 14, 14)).astype(np.float32)
    with torch.no_grad():
        expected = tnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(cr.predict(model, x), expected, rtol=1e-5, atol=1e-5)


def test_round_trip_is_exact(torch):
    model = chainrule_cnn()
    tnet = torch_cnn(torch)
    tnet.load_state_dict(to_torch_state_dict(model))
    back = chainrule_cnn()
    load_torch_state_dict(back, tnet.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    sd = to_torch_state_dict(model)
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    assert sd["0.weight"].dtype == torch.float32


def test_indices_differ_when_torch_has_no_activation_modules(torch):
    nn = torch.nn
    tnet = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    model = cr.Sequential(L.Linear(4, 8), L.Identity(), L.Linear(8, 2))
    load_torch_state_dict(model, tnet.state_dict())
    np.testing.assert_array_equal(
        model.state_dict()["2.weight"], tnet.state_dict()["1.weight"].numpy()
    )


def test_float64_and_to_torch_sequential_forward(torch):
    model = cr.Sequential(
        L.Linear(5, 7, rng=0), L.Sigmoid(), L.Linear(7, 3, rng=1), L.Softmax()
    ).to(np.float64)
    tnet = to_torch_sequential(model)
    assert next(tnet.parameters()).dtype == torch.float64
    x = np.random.default_rng(0).standard_normal((4, 5))
    with torch.no_grad():
        got = tnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(cr.predict(model, x), got, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match=r"layer 0 \(Step\): .*has no torch.nn"):
        to_torch_sequential(cr.Sequential(L.Step()))


def test_a_sequential_inside_a_sequential_to_torch(torch):
    model = cr.Sequential(
        cr.Sequential(L.Linear(5, 4, rng=0), L.Tanh()), L.Linear(4, 2, rng=1)
    ).to(np.float64)
    tnet = to_torch_sequential(model)  # the inner one becomes an nn.Sequential
    assert isinstance(tnet[0], torch.nn.Sequential)
    x = np.random.default_rng(0).standard_normal((3, 5))
    with torch.no_grad():
        got = tnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(cr.predict(model, x), got, rtol=1e-12, atol=1e-12)


def test_nested_torch_prefixes(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
            self.head = nn.Linear(2 * 4 * 4, 3)

        def forward(self, x):
            return self.head(torch.flatten(self.features(x), 1))

    tnet = Net().eval()
    model = cr.Sequential(
        L.Conv2D(1, 2, 3), L.ReLU(), L.Flatten(), L.Linear(2 * 4 * 4, 3)
    )
    load_torch_state_dict(model, tnet.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        expected = tnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(cr.predict(model, x), expected, rtol=1e-5, atol=1e-5)


def test_batchnorm_running_statistics_both_ways(torch):
    nn = torch.nn
    torch.manual_seed(0)
    tnet = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
        nn.Linear(3 * 4 * 4, 5), nn.BatchNorm1d(5),
    ).double()  # fmt: skip
    x = torch.randn(8, 1, 6, 6, dtype=torch.float64)
    tnet.train()
    for _ in range(3):  # move the running statistics off their initial values
        tnet(x)
    tnet.eval()
    model = cr.Sequential(
        L.Conv2D(1, 3, 3), L.BatchNorm2D(3), L.ReLU(), L.Flatten(),
        L.Linear(3 * 4 * 4, 5), L.BatchNorm1D(5),
    ).to(np.float64)  # fmt: skip
    load_torch_state_dict(model, tnet.state_dict())
    assert int(model[1].num_batches_tracked) == 3
    np.testing.assert_array_equal(
        model[5].running_var, tnet.state_dict()["5.running_var"].numpy()
    )
    with torch.no_grad():
        expected = tnet(x).numpy()
    np.testing.assert_allclose(cr.predict(model, x.numpy()), expected, atol=1e-12)
    # And back: chainrule's state in torch's modules, and a whole nn.Sequential.
    again = to_torch_sequential(model).eval()
    with torch.no_grad():
        np.testing.assert_allclose(again(x).numpy(), expected, atol=1e-12)
    assert list(to_torch_state_dict(model)) == list(tnet.state_dict())
