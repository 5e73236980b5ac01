"""ONNX export: ONNX Runtime must agree with cr.predict to 1e-5 in float32."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _requires import importorskip
from _run_cli import cli

onnx = importorskip("onnx")
ort = importorskip("onnxruntime")

import chainrule as cr  # noqa: E402 - after the skips
from chainrule import layers as L  # noqa: E402
from chainrule.onnx import export, to_onnx  # noqa: E402
from chainrule.spec import build_spec  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-5)


def run_onnx(path, *xs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, dict(zip(names, xs)))
    return out[0] if len(out) == 1 else out


def check(model, path, x, input_shape=None):
    proto = export(model, path, input_shape or x.shape[1:])
    expected = cr.predict(model, x)
    got = run_onnx(path, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOL)
    # The batch dimension is symbolic: another batch size runs too.
    np.testing.assert_allclose(run_onnx(path, x[:1]), cr.predict(model, x[:1]), **TOL)
    return proto


def images(n=5, c=2, h=9, w=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)


def vectors(n=6, d=7, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x + np.sign(x) * 0.05  # off 0, the thresholds of ReLU and Step(0)


# Every registered layer alone: tests/layers/test_registry.py.


@pytest.mark.parametrize("preset", ["mlp", "seed-cnn", "cnn"])
def test_cli_presets_agree(preset, tmp_path):
    model = build_spec(preset, rng=0)
    x = np.random.default_rng(1).random((4, 1, 28, 28)).astype(np.float32)
    check(model, tmp_path / f"{preset}.onnx", x)


def test_graph_with_skip_connection_concat_and_shared_layer(tmp_path):
    x = cr.Input((6,))
    shared = L.Linear(6, 6, rng=0)
    h = L.ReLU()(L.Linear(6, 6, rng=1)(x))
    skip = L.Add()(h, x)
    three = L.Add()(skip, shared(x), shared(h))  # Sum of three, weights once
    joined = L.Concat()(three, L.Tanh()(x))
    model = cr.Graph(x, L.Linear(12, 3, rng=2)(joined))
    proto = check(model, tmp_path / "graph.onnx", vectors(d=6))
    ops = [n.op_type for n in proto.graph.node]
    assert {"Add", "Sum", "Concat"} <= set(ops)
    # The shared layer's weight is stored once.
    weights = [i.name for i in proto.graph.initializer if i.name.endswith("weight")]
    assert len(weights) == len(set(weights)) == 3


def test_graph_with_two_inputs_and_two_outputs(tmp_path):
    a, b = cr.Input((1, 6, 6)), cr.Input((3,))
    img = L.Flatten()(L.MaxPool2D(2)(L.Conv2D(1, 2, 3, padding=1, rng=0)(a)))
    joined = L.Concat()(img, b)
    logits = L.Linear(21, 4, rng=1)(joined)
    model = cr.Graph([a, b], [logits, L.Softmax()(logits)])
    export(model, tmp_path / "two.onnx")
    xa = images(c=1, h=6, w=6)
    xb = vectors(n=5, d=3)
    got = run_onnx(tmp_path / "two.onnx", xa, xb)
    expected = model.eval()(xa, xb)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, **TOL)


def test_graph_whose_output_is_its_input_through_dropout(tmp_path):
    x = cr.Input((4,))
    model = cr.Graph(x, L.Dropout(0.3)(x))
    xs = vectors(d=4)
    export(model, tmp_path / "id.onnx")
    np.testing.assert_array_equal(run_onnx(tmp_path / "id.onnx", xs), xs)


def test_a_sequential_inside_a_sequential(tmp_path):
    # It saves and loads as one model; export named it a layer without an
    # ONNX lowering.
    inner = cr.Sequential(L.Linear(7, 5, rng=0), L.ReLU())
    model = cr.Sequential(inner, L.Linear(5, 3, rng=1), L.Softmax())
    check(model, tmp_path / "nested.onnx", vectors())


def test_float64_model_exports_float32(tmp_path):
    model = build_spec("flatten-linear16-tanh-linear3", input_shape=(2, 3), rng=0)
    model.to(np.float64)
    x = np.random.default_rng(0).random((4, 2, 3)).astype(np.float32)
    export(model, tmp_path / "m.onnx", (2, 3))
    got = run_onnx(tmp_path / "m.onnx", x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, cr.predict(model, x.astype(np.float64)), **TOL)


def test_errors(tmp_path):
    class Square(cr.Module):
        def forward(self, x):
            return x * x

    with pytest.raises(
        TypeError, match=r"layer 1 \(Square\) has no ONNX lowering; define its to_onnx"
    ):
        to_onnx(cr.Sequential(L.ReLU(), Square()), (3,))
    with pytest.raises(ValueError, match="input_shape must be given"):
        to_onnx(cr.Sequential(L.Linear(3, 2, rng=0)))
    with pytest.raises(ValueError, match="does not accept input of shape"):
        to_onnx(cr.Sequential(L.Linear(3, 2, rng=0)), (4,))
    with pytest.raises(TypeError, match="must be a chainrule Sequential or Graph"):
        to_onnx(L.ReLU(), (3,))
    for opset in (11, 99999):  # before Softmax took one axis; after the newest
        with pytest.raises(ValueError, match=f"opset must be from 13 to .*; got {opset}"):
            to_onnx(cr.Sequential(L.Softmax()), (3,), opset=opset)
    # A failed export leaves an existing file as it was.
    target = tmp_path / "keep.onnx"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        export(cr.Sequential(Square()), target, (3,))
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.onnx"]


def test_cli_export_end_to_end(tmp_path):
    model = build_spec("seed-cnn", rng=0)
    model.save(tmp_path / "model.npz", metadata={"input_shape": [1, 28, 28]})
    done = cli("export", "model.npz", "--onnx", "model.onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote model.onnx" in done.stdout
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(
        run_onnx(tmp_path / "model.onnx", x), cr.predict(model, x), **TOL
    )

    bad = cli("export", "missing.npz", "--onnx", "x.onnx", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("chainrule export: error:")
    assert len(bad.stderr.strip().splitlines()) == 1
    shape = cli(
        "export",
        "model.npz",
        "--onnx",
        "y.onnx",
        "--input-shape",
        "1,5,5",
        cwd=tmp_path,
    )
    assert shape.returncode == 2
    assert "does not accept input of shape (1, 5, 5)" in shape.stderr
    assert not (tmp_path / "y.onnx").exists()


# ------------------------------------------- export never overwrites (bug 1)
def test_cli_export_refuses_to_overwrite_its_model(tmp_path):
    model = build_spec("mlp", rng=0)
    model.save(tmp_path / "model.npz", metadata={"input_shape": [1, 28, 28]})
    before = (tmp_path / "model.npz").read_bytes()
    (tmp_path / "link.onnx").symlink_to(tmp_path / "model.npz")
    for target, force in [
        ("model.npz", []),
        ("./model.npz", ["--force"]),
        (str(tmp_path / "model.npz"), []),
        ("link.onnx", ["--force"]),
    ]:
        done = cli("export", "model.npz", "--onnx", target, *force, cwd=tmp_path)
        assert done.returncode == 2, (target, done.stdout)
        assert done.stderr == (
            f"chainrule export: error: --onnx {target!r} is the model file being "
            "exported; give another name, such as model.onnx.\n"
        )
    assert (tmp_path / "model.npz").read_bytes() == before
    cr.load(tmp_path / "model.npz")

    (tmp_path / "old.onnx").write_bytes(b"someone's file")
    done = cli("export", "model.npz", "--onnx", "old.onnx", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "chainrule export: error: --onnx 'old.onnx' already exists; pass --force "
        "to replace it.\n"
    )
    assert (tmp_path / "old.onnx").read_bytes() == b"someone's file"
    done = cli("export", "model.npz", "--onnx", "old.onnx", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    onnx.checker.check_model(str(tmp_path / "old.onnx"))


def test_cli_export_of_a_graph_reads_its_input_shape(tmp_path):
    x = cr.Input((6,))
    y = L.Linear(4, 3, rng=1)(L.ReLU()(L.Linear(6, 4, rng=0)(x)))
    model = cr.Graph(x, y)
    model.save(tmp_path / "graph.npz")  # no metadata: the Input says (6,)
    done = cli("export", "graph.npz", "--onnx", "graph.onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "input (N, 6))" in done.stdout
    v = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    np.testing.assert_allclose(
        run_onnx(tmp_path / "graph.onnx", v), cr.predict(model, v), **TOL
    )
