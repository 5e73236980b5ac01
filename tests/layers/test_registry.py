"""Every registered layer passes every check, driven by the registry itself.

The examples come from each layer's own test module (``EXAMPLES``, see
``_examples.py``); a registered built-in layer without one, or without any of
the protocol's hooks, fails here by its name.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _examples import all_examples, builtin_layers
from _requires import importorskip

import chainrule as cr
from chainrule.interop.torch import load_torch_state_dict, to_torch_state_dict
from chainrule.spec import SpecError, build_spec

EXAMPLES = all_examples()
BY_ID = {e.name: e for e in EXAMPLES}
LAYERS = builtin_layers()
ids = sorted(BY_ID)


def _layer(example, dtype=np.float64, seed=3):
    """The example's layer in ``dtype`` with random (not initial) state."""
    layer = example.make().to(dtype)
    rng = np.random.default_rng(seed)
    for p in layer.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    for _, b in layer.named_buffers():
        if b.dtype.kind == "f":
            # Positive: running variances must stay valid.
            b[...] = rng.uniform(0.5, 1.5, b.shape)
        else:
            b[...] = rng.integers(1, 9, b.shape)
    return layer


def _run(model, xs):
    """The model's eval-mode output for the inputs (several for a merge layer)."""
    model.eval()
    with cr.no_grad():
        return model(*xs)


def test_ids_are_unique():
    assert len(BY_ID) == len(EXAMPLES)


def protocol_problems(name: str, cls: type) -> list[str]:
    """What the registry's tests find missing in a layer class, by name."""
    problems = []
    if not any(type(e.make()) is cls for e in EXAMPLES):
        problems.append(
            f"{name} has no example: add EXAMPLES to its tests/layers/test_*.py"
        )
    missing = [
        h for h in ("spec_pattern", "to_onnx", "to_torch") if not hasattr(cls, h)
    ]
    if missing:
        problems.append(f"{name} lacks {', '.join(missing)} (see docs/extending.md)")
    if getattr(cls, "spec_pattern", None) is not None:
        if not isinstance(getattr(cls, "spec_usage", None), str):
            problems.append(f"{name} has a spec_pattern but no spec_usage")
        if not any(type(e.make()) is cls and e.spec for e in EXAMPLES):
            problems.append(
                f"{name} has a spec_pattern but no example with a spec token"
            )
    return problems


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_registered_layer_has_an_example_and_every_hook(name):
    assert protocol_problems(name, LAYERS[name]) == []


def test_a_layer_without_the_hooks_is_named():
    class Bare(cr.Module):
        def forward(self, x):
            return x

    assert protocol_problems("Bare", Bare) == [
        "Bare has no example: add EXAMPLES to its tests/layers/test_*.py",
        "Bare lacks spec_pattern, to_onnx, to_torch (see docs/extending.md)",
    ]


@pytest.mark.parametrize("eid", ids)
def test_config_is_json_and_rebuilds(eid):
    layer = BY_ID[eid].make()
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer)(**config)
    assert json.loads(json.dumps(again.get_config())) == config
    assert repr(again) == repr(layer)


@pytest.mark.parametrize("eid", ids)
def test_gradcheck(eid):
    example = BY_ID[eid]
    layer = _layer(example)
    layer.train()
    report = cr.gradcheck(layer, *example.inputs(), raise_on_failure=False)
    assert report.passed, str(report)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eid", ids)
def test_model_file_round_trip(eid, dtype, tmp_path):
    example = BY_ID[eid]
    layer = _layer(example, dtype)
    xs = [x.astype(dtype) for x in example.inputs()]
    layer.save(tmp_path / "layer.npz")
    loaded = cr.load(tmp_path / "layer.npz")
    assert type(loaded) is type(layer)
    assert loaded.get_config() == layer.get_config()
    a, b = layer.state_dict(), loaded.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    np.testing.assert_array_equal(_run(layer, xs), _run(loaded, xs))
    if len(xs) == 1:  # inside a Sequential, with metadata
        meta = {"layer": eid, "nested": {"list": [1, 2.5, None], "ok": True}}
        cr.Sequential(layer).save(tmp_path / "seq.npz", metadata=meta)
        loaded = cr.load(tmp_path / "seq.npz")
        assert loaded.metadata == meta
        np.testing.assert_array_equal(_run(layer, xs), _run(loaded, xs))


def _graph(layer, shapes):
    inputs = [cr.Input(s[1:]) for s in shapes]
    return cr.Graph(inputs, layer(*inputs))


@pytest.mark.parametrize("eid", ids)
def test_onnx_agrees_with_onnx_runtime(eid, tmp_path):
    importorskip("onnx")
    ort = importorskip("onnxruntime")
    from chainrule.onnx import export

    example = BY_ID[eid]
    layer = _layer(example, np.float32).eval()
    xs = [x.astype(np.float32) for x in example.inputs()]
    model = _graph(layer, example.shapes)
    proto = export(model, tmp_path / "m.onnx")
    ops = [n.op_type for n in proto.graph.node]
    if example.onnx_op is not None:
        assert example.onnx_op in ops
    assert "Dropout" not in ops  # the inference graph
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    session = ort.InferenceSession(
        str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, xs)))[0]
    np.testing.assert_allclose(got, _run(model, xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eid", ids)
def test_spec_token_round_trip(eid):
    example = BY_ID[eid]
    layer = example.make()
    if type(layer).spec_pattern is None:
        assert len(example.shapes) > 1, (
            f"{eid}: a one-input layer needs a spec token (spec_pattern)"
        )
        return
    if not example.spec:
        with pytest.raises((TypeError, SpecError)):
            build_spec(layer.spec_token(), input_shape=example.shapes[0][1:])
        return
    token = layer.spec_token()
    built = build_spec(token, input_shape=example.shapes[0][1:], rng=0)
    assert len(built) == 1 and type(built[0]) is type(layer), token
    assert built[0].get_config() == layer.get_config(), token
    # The token matches its own layer's pattern only.
    import re

    owners = [
        n
        for n, c in cr.registry.registered_layers().items()
        if getattr(c, "spec_pattern", None) and re.fullmatch(c.spec_pattern, token)
    ]
    assert owners == [cr.registry.layer_name(layer)], (token, owners)


# Examples with a torch.nn twin, and which of them to compare in training
# mode too (not the random ones: Dropout has its own fixed-mask test).
TORCH_IDS = [e.name for e in EXAMPLES if e.torch]
NO_TORCH_IDS = [e.name for e in EXAMPLES if not e.torch]
PARITY = [(i, True) for i in TORCH_IDS if BY_ID[i].train] + [
    (i, False) for i in TORCH_IDS
]


@pytest.mark.parametrize("eid", NO_TORCH_IDS)
def test_a_layer_without_a_torch_twin_says_so(eid):
    layer = _layer(BY_ID[eid])
    with pytest.raises(TypeError, match=r"no torch\.nn|torch\.nn has no"):
        layer.to_torch()


def _torch_pair(example, train: bool):
    torch = importorskip("torch")
    layer = _layer(example)
    module = layer.to_torch().to(torch.float64)
    module.load_state_dict(to_torch_state_dict(layer))
    layer.train(train)
    module.train(train)
    return torch, layer, module


@pytest.mark.parametrize(
    ("eid", "train"), PARITY, ids=[f"{i}-{'train' if t else 'eval'}" for i, t in PARITY]
)
def test_pytorch_parity(eid, train):
    example = BY_ID[eid]
    torch, layer, module = _torch_pair(example, train)
    rng = np.random.default_rng(7)
    for step in range(3):  # several steps: running statistics move
        xs = example.inputs(seed=step)
        y = layer(*xs)
        tx = [torch.from_numpy(x).requires_grad_(True) for x in xs]
        ty = module(*tx)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        dy = rng.standard_normal(y.shape)
        layer.zero_grad()
        dx = layer.backward(dy)
        ty.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(dx, tx[0].grad.numpy(), rtol=1e-10, atol=1e-10)
        tparams = dict(module.named_parameters())
        for name, p in layer.named_parameters():
            theirs = tparams[name].grad.numpy()
            np.testing.assert_allclose(p.grad, theirs, rtol=1e-10, atol=1e-10)
        module.zero_grad()
        theirs = module.state_dict()
        for name, b in layer.named_buffers():
            np.testing.assert_allclose(b, theirs[name].numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("eid", TORCH_IDS)
def test_torch_state_dict_both_ways(eid):
    example = BY_ID[eid]
    torch, layer, module = _torch_pair(example, train=False)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.25)
    fresh = example.make().to(np.float64)
    load_torch_state_dict(fresh, module.state_dict())
    theirs = module.state_dict()
    for name, a in fresh.state_dict().items():
        np.testing.assert_array_equal(a, theirs[name].numpy(), err_msg=name)
    back = to_torch_state_dict(fresh)
    assert list(back) == list(theirs)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda n: cr.layers.Linear(n, 2), "Linear: in_features"),
        (lambda n: cr.layers.Conv2D(1, n, 3), "Conv2D: out_channels"),
        (lambda n: cr.layers.Conv2D(1, 1, 3, stride=(1, n)), "Conv2D: stride"),
        (lambda n: cr.layers.Conv2D(1, 1, 3, padding=n), "Conv2D: padding"),
        (lambda n: cr.layers.ConvTranspose2D(1, 1, n), "ConvTranspose2D: kernel_size"),
        (lambda n: cr.layers.MaxPool2D(n), "MaxPool2D: kernel_size"),
        (lambda n: cr.layers.AvgPool2D(2, stride=n), "AvgPool2D: stride"),
        (lambda n: cr.layers.BatchNorm2D(n), "BatchNorm2D: num_features"),
    ],
)
def test_sizes_past_what_numpy_can_index_are_refused_by_name(make, name):
    # 2**31 and up: NumPy would fail with an error naming no layer (an
    # overflow, "Maximum allowed dimension exceeded", "array is too big").
    for n in (2**31, 2**64):
        with pytest.raises(ValueError, match=rf"^{name} must be at most 2,147,483,647; got"):
            make(n)
    make(3)  # a size in range is taken
