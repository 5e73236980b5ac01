"""Model files (chainrule/io.py): round trips, refusals, and saves that survive a crash."""

from __future__ import annotations

import io
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from _model_files import edit_manifest as _edit_manifest
from _model_files import manifest as _manifest
from _model_files import members as _members
from _model_files import npy as _npy
from _model_files import repack as _repack
from _model_files import set_manifest as _set_manifest

import chainrule as cr
from chainrule.io import ModelFileError, read_checkpoint

L = cr.layers
REPO = Path(__file__).resolve().parents[1]


def _randomize(model: cr.Module, seed: int = 0) -> cr.Module:
    """Fill every parameter with values that a fresh layer would not have (and,
    in float64, that float32 cannot hold), so a round trip has to carry them."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    return model


def _same_state(a: cr.Module, b: cr.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert np.array_equal(sa[k], sb[k]), k


def _outputs(model, *xs):
    model.eval()
    out = model(*xs)
    return out if isinstance(out, tuple) else (out,)


def _round_trip(model, path, *xs, metadata=None):
    model.save(path, metadata=metadata)
    loaded = cr.load(path)
    assert type(loaded) is type(model)
    # Graph node numbers come from a global counter; the rest must match.
    assert re.sub(r"\bn\d+", "n", repr(loaded)) == re.sub(r"\bn\d+", "n", repr(model))
    assert loaded.dtype == model.dtype
    _same_state(model, loaded)
    for a, b in zip(_outputs(model, *xs), _outputs(loaded, *xs)):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)
    assert not loaded.training  # loaded for inference
    return loaded


# ------------------------------------------------------------- round trips
# Every registered layer alone: tests/layers/test_registry.py.


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_cnn_with_every_layer_kind_round_trips(tmp_path, dtype):
    model = cr.Sequential(
        L.Conv2D(1, 4, 3, stride=2, padding=1, rng=0),
        L.ReLU(),
        L.MaxPool2D(2, stride=1),
        L.Dropout(0.5),
        L.Conv2D(4, 3, 2, rng=1),
        L.Tanh(),
        L.Flatten(),
        L.Linear(3 * 5 * 5, 8, rng=2),
        L.Sigmoid(),
        L.HardTanh(0.1, 0.9),
        L.LinearActivation(3.0),
        L.Step(0.5),
        L.Identity(),
        L.Linear(8, 4, bias=False, rng=3),
        L.Softmax(),
        L.LogSoftmax(),
    ).to(dtype)
    _randomize(model, seed=4)
    x = np.random.default_rng(5).random((3, 1, 14, 14)).astype(dtype)
    meta = {"class_names": ["a", "b", "c", "d"], "input_shape": [1, 14, 14], "é": "ü"}
    loaded = _round_trip(model, tmp_path / "cnn.npz", x, metadata=meta)
    assert loaded.metadata == meta
    assert loaded.layers[3].p == 0.5


def test_float64_values_are_not_rounded_through_float32(tmp_path):
    model = _randomize(cr.Sequential(L.Linear(4, 3, rng=0)).to(np.float64))
    w = model[0].weight.data.copy()
    assert not np.array_equal(w, w.astype(np.float32).astype(np.float64))
    model.save(tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    assert loaded[0].weight.dtype == np.float64
    assert np.array_equal(loaded[0].weight.data, w)


def _graph_model():
    """Two inputs, two outputs, a skip connection (Add), a Concat, a layer
    shared by two calls, and names on some layers."""
    a = cr.Input((6,))
    b = cr.Input((6,))
    shared = L.Linear(6, 6, rng=0)
    shared.name = "shared"
    encoder = L.Linear(6, 6, rng=1)
    encoder.name = "encoder"
    h = L.ReLU()(encoder(a))
    skip = L.Add()(h, a)  # the skip connection
    sa = shared(skip)
    sb = shared(b)  # the same weights a second time
    cat = L.Concat(axis=1)(sa, sb)
    head = L.Linear(12, 3, rng=2)
    head.name = "head"
    out1 = L.Softmax()(head(cat))
    out2 = L.Tanh()(sb)
    return cr.Graph([a, b], [out1, out2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_graph_round_trip(tmp_path, dtype):
    model = _randomize(_graph_model().to(dtype), seed=7)
    names = [n for n, _ in model.named_parameters()]
    # The shared layer is stored once.
    assert names.count("shared.weight") == 1
    rng = np.random.default_rng(8)
    xa = rng.standard_normal((5, 6)).astype(dtype)
    xb = rng.standard_normal((5, 6)).astype(dtype)
    loaded = _round_trip(model, tmp_path / "g.npz", xa, xb, metadata={"kind": "graph"})
    assert loaded.layer_names == model.layer_names
    assert [n for n, _ in loaded.named_parameters()] == names
    assert len(loaded.inputs) == 2 and len(loaded.outputs) == 2
    assert loaded.metadata == {"kind": "graph"}
    # Still one shared layer after loading: a change to it shows in both calls.
    shared = [m for m in loaded.layers if m.name == "shared"]
    assert len(shared) == 1
    assert sum(n.layer is shared[0] for n in loaded.order) == 2


def test_loading_a_float64_model_converts_no_uninitialised_memory(tmp_path, monkeypatch):
    # A model file's skeleton is built on np.empty and filled from the file.
    # Converted to float64 first, its garbage could hold a signalling-NaN bit
    # pattern, which NumPy reports as an invalid value: a load that failed,
    # under warnings as errors, once in a while. Here the garbage is made so.
    import types

    import chainrule.layers.batchnorm as bn_module

    def snan_empty(shape, dtype=float, **kw):
        a = np.empty(shape, dtype, **kw)
        if np.dtype(dtype) == np.float32:
            a.view(np.uint32)[...] = 0x7FA00000  # a signalling NaN
        return a

    model = cr.Sequential(L.Linear(3, 2, rng=0), L.BatchNorm1D(2)).to(np.float64)
    model.save(tmp_path / "m.npz")
    fake_np = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake_np.empty = snan_empty
    monkeypatch.setattr(bn_module, "np", fake_np)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = cr.load(tmp_path / "m.npz")
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded[1].running_var, model[1].running_var)


def test_metadata_that_json_cannot_hold_is_named(tmp_path):
    model = cr.Sequential(L.Linear(2, 2, rng=0))
    with pytest.raises(TypeError, match="save: metadata must hold JSON values only.*float32"):
        model.save(tmp_path / "m.npz", metadata={"mean": np.float32(0.5)})
    assert list(tmp_path.iterdir()) == []


def test_a_sequential_that_repeats_a_layer_round_trips(tmp_path):
    # One Linear at two depths: its weights are written once, and the loaded
    # model uses one layer object at both places again.
    lin = L.Linear(6, 6, rng=0)
    model = _randomize(cr.Sequential(lin, L.Tanh(), lin, L.Linear(6, 2, rng=1)))
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    loaded = _round_trip(model, tmp_path / "r.npz", x)
    assert loaded.layers[0] is loaded.layers[2]
    assert [n for n, _ in loaded.named_parameters()] == [
        "0.weight", "0.bias", "3.weight", "3.bias"
    ]


@pytest.mark.parametrize("same_as", [2, 3, -1, True, "0", None])
def test_a_repeat_must_name_an_earlier_layer(tmp_path, same_as):
    lin = L.Linear(4, 4, rng=0)
    path = tmp_path / "r.npz"
    cr.Sequential(lin, L.ReLU(), lin).save(path)
    _edit_manifest(
        path, lambda m: m["architecture"]["layers"][2].update(same_as=same_as)
    )
    with pytest.raises(ModelFileError, match=r"\[2\]: (same_as must name an earlier|a layer spec must)"):
        cr.load(path)


def test_loaded_graph_trains_like_the_original(tmp_path):
    model = _graph_model().to(np.float64)
    model.save(tmp_path / "g.npz")
    loaded = cr.load(tmp_path / "g.npz").train()
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    dys = rng.standard_normal((4, 3)), rng.standard_normal((4, 6))
    for m in (model, loaded):
        m.zero_grad()
        m(*xs)
        m.backward(dys)
    for (ka, pa), (kb, pb) in zip(model.named_parameters(), loaded.named_parameters()):
        assert ka == kb
        assert np.array_equal(pa.grad, pb.grad), ka


def test_model_without_parameters_round_trips(tmp_path):
    model = cr.Sequential(L.Flatten(), L.ReLU(), L.Softmax())
    x = np.random.default_rng(0).standard_normal((2, 2, 3)).astype(np.float32)
    _round_trip(model, tmp_path / "p.npz", x)


def test_save_refuses_a_custom_layer(tmp_path):
    class Custom(cr.Module):
        def forward(self, x):
            return x

    with pytest.raises(
        TypeError,
        match="layer type Custom is not registered; decorate its class with @cr.register_layer",
    ):
        cr.Sequential(Custom()).save(tmp_path / "c.npz")
    assert not (tmp_path / "c.npz").exists()
    assert list(tmp_path.iterdir()) == []


def test_save_to_a_directory_or_a_missing_directory(tmp_path):
    model = cr.Sequential(L.Linear(2, 2, rng=0))
    with pytest.raises(IsADirectoryError, match="is a directory; give a file name"):
        model.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.save(tmp_path / "nope" / "m.npz")


# ------------------------------------------------------------------ refusals
@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    model = cr.Sequential(L.Linear(4, 3, rng=0), L.ReLU(), L.Linear(3, 2, rng=1))
    model.save(path, metadata={"class_names": ["no", "yes"]})
    return path


class _Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_pickle_payload_is_live(tmp_path):
    # Without this, the refusal test below could pass with a dud payload.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker))).close()
    assert marker.exists()


def test_pickled_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    evil = np.array([_Payload(marker), None], dtype=object)
    np.savez(path, evil=evil)
    with pytest.raises(
        ModelFileError, match="contains a pickled object; chainrule never"
    ):
        cr.load(path)
    assert not marker.exists()


def test_pickled_array_hidden_in_a_valid_model_is_refused(saved, tmp_path):
    marker = tmp_path / "code-ran"
    members = _members(saved)
    buf = io.BytesIO()
    np.save(buf, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    members["param/0.weight.npy"] = buf.getvalue()
    _repack(saved, members)
    with pytest.raises(ModelFileError, match="pickled object"):
        cr.load(saved)
    with pytest.raises(ModelFileError, match="pickled object"):
        read_checkpoint(saved)
    assert not marker.exists()


def test_pickled_manifest_is_refused(saved, tmp_path):
    marker = tmp_path / "code-ran"
    members = _members(saved)
    buf = io.BytesIO()
    np.save(buf, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    members["__manifest__.npy"] = buf.getvalue()
    _repack(saved, members)
    with pytest.raises(ModelFileError, match="pickled object"):
        cr.load(saved)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["Lambda", "os.system", "builtins.eval", "Module"])
def test_unknown_layer_type_in_the_manifest_is_refused(saved, kind):
    members = _members(saved)
    manifest = _manifest(members)
    manifest["architecture"]["layers"].append({"type": kind, "config": {}})
    _set_manifest(members, manifest)  # the arrays and their hashes are untouched
    _repack(saved, members)
    with pytest.raises(
        ModelFileError,
        match=f"unknown layer '{kind}'; a model file names only registered layers",
    ):
        cr.load(saved)


def test_unknown_setting_in_the_manifest_is_refused(saved):
    members = _members(saved)
    manifest = _manifest(members)
    manifest["architecture"]["layers"][1]["config"] = {"__class__": "x"}
    _set_manifest(members, manifest)
    _repack(saved, members)
    with pytest.raises(
        ModelFileError, match=r"ReLU has no setting\(s\) \['__class__'\]"
    ):
        cr.load(saved)


MANIFEST_DAMAGE = [
    ("arrays-list", lambda m: m.update(arrays=[]), "does not describe its arrays"),
    (
        "array-info-string",
        lambda m: m["arrays"].update({"param/0.weight": "x"}),
        "does not describe its arrays",
    ),
    ("metadata-list", lambda m: m.update(metadata=[1, 2]), "metadata .* an object"),
    (
        "graph-name-int",
        lambda m: m.update(
            architecture={
                "type": "Graph",
                "layers": [{"name": 5, "type": "ReLU"}],
                "nodes": [],
                "inputs": [],
                "outputs": [],
            }
        ),
        "the graph description is incomplete",
    ),
    (
        "graph-missing-nodes",
        lambda m: m.update(architecture={"type": "Graph", "layers": []}),
        "the graph description is incomplete",
    ),
    (
        "bad-setting-value",
        lambda m: m["architecture"]["layers"][0]["config"].update(in_features="4"),
        r"invalid Linear settings: Linear: in_features must be a positive integer",
    ),
    (
        "layers-not-a-list",
        lambda m: m["architecture"].update(layers="abc"),
        "Sequential needs a list of layers",
    ),
    (
        "architecture-missing",
        lambda m: m.pop("architecture"),
        "a layer spec must be an object with a 'type'",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [t[1:] for t in MANIFEST_DAMAGE],
    ids=[t[0] for t in MANIFEST_DAMAGE],
)
def test_damaged_manifest_is_refused_with_a_model_file_error(saved, change, message):
    members = _members(saved)
    manifest = _manifest(members)
    change(manifest)
    _set_manifest(members, manifest)
    _repack(saved, members)
    with pytest.raises(ModelFileError, match=message):
        cr.load(saved)


def test_tampered_array_is_refused(saved):
    members = _members(saved)
    w = np.load(io.BytesIO(members["param/0.weight.npy"]), allow_pickle=False)
    w = w.copy()
    w[0, 0] += 1.0
    members["param/0.weight.npy"] = _npy(w)
    _repack(saved, members)
    with pytest.raises(
        ModelFileError,
        match=r"array 'param/0.weight' .* fails its SHA-256 check; the file was modified",
    ):
        cr.load(saved)


def test_array_of_the_wrong_shape_is_refused(saved):
    members = _members(saved)
    members["param/0.bias.npy"] = _npy(np.zeros(4, np.float32))
    _repack(saved, members)
    with pytest.raises(ModelFileError, match=r"'param/0.bias' .* has shape \(4,\)"):
        cr.load(saved)


def test_unlisted_or_missing_array_is_refused(saved):
    members = _members(saved)
    members["param/extra.npy"] = _npy(np.zeros(2, np.float32))
    _repack(saved, members)
    with pytest.raises(ModelFileError, match=r"unlisted: \['param/extra'\]"):
        cr.load(saved)
    del members["param/extra.npy"]
    del members["param/2.bias.npy"]
    _repack(saved, members)
    with pytest.raises(ModelFileError, match=r"missing: \['param/2.bias'\]"):
        cr.load(saved)


def test_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        saved.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="not an .npz archive, or truncated"):
            cr.load(saved)


def test_damaged_bytes_are_refused(saved):
    data = bytearray(saved.read_bytes())
    members = _members(saved)
    # Flip a byte inside the stored weights: the zip's CRC catches it.
    at = data.find(members["param/0.weight.npy"][-16:])
    assert at > 0
    data[at] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged"):
        cr.load(saved)


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ModelFileError, match="model file '.*empty.npz' is empty"):
        cr.load(tmp_path / "empty.npz")


def test_directory_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="is a directory, not a model file"):
        cr.load(tmp_path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="load: no such file '.*nope.npz'"):
        cr.load(tmp_path / "nope.npz")


def test_non_zip_file_is_refused(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello, this is not a model\n" * 20)
    with pytest.raises(ModelFileError, match="is not a chainrule model file"):
        cr.load(path)
    np.save(tmp_path / "bare.npy", np.zeros(3))
    with pytest.raises(ModelFileError, match="not an .npz archive"):
        cr.load(tmp_path / "bare.npy")


def test_npz_without_manifest_is_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", weight=np.zeros(3))
    with pytest.raises(
        ModelFileError,
        match=r"is not a chainrule model \(no manifest\); was it written",
    ):
        cr.load(tmp_path / "plain.npz")


def test_manifest_that_is_not_json_is_refused(saved):
    members = _members(saved)
    members["__manifest__.npy"] = _npy(np.frombuffer(b"{not json", np.uint8))
    _repack(saved, members)
    with pytest.raises(ModelFileError, match="manifest .* is not valid JSON"):
        cr.load(saved)


def test_newer_format_version_is_refused(saved):
    members = _members(saved)
    manifest = _manifest(members)
    manifest["format_version"] = 99
    _set_manifest(members, manifest)
    _repack(saved, members)
    with pytest.raises(
        ModelFileError, match="has format version 99; this chainrule reads"
    ):
        cr.load(saved)


def _checkpoint(path) -> None:
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = cr.Sequential(L.Linear(3, 2, rng=0))
    cb = cr.callbacks.ModelCheckpoint(path)
    cr.fit(
        model,
        cr.losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.1, momentum=0.9),
        x,
        y,
        epochs=1,
        batch_size=8,
        seed=0,
        verbose=0,
        callbacks=[cb],
    )


def test_checkpoint_loaded_as_a_model_is_refused(tmp_path, saved):
    path = tmp_path / "checkpoint.npz"
    _checkpoint(path)
    with pytest.raises(
        ModelFileError,
        match="is a chainrule-checkpoint file; expected a chainrule-model",
    ):
        cr.load(path)
    # ... and the other way round.
    with pytest.raises(
        ModelFileError,
        match="resume: .* is a chainrule-model file; expected a chainrule-checkpoint",
    ):
        read_checkpoint(saved)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


# ------------------------------------------------------- crash-safe saving
def _weights_of(path) -> tuple[float, ...]:
    return tuple(np.unique(cr.load(path)[0].weight.data).tolist())


def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    model = cr.Sequential(L.Linear(50, 40, rng=0))
    model.save(path)
    before = path.read_bytes()
    model[0].weight.data[...] = 7.0

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    for target, name in [(os, "fsync"), (np, "savez"), (os, "replace")]:
        with monkeypatch.context() as m:
            m.setattr(target, name, boom)
            with pytest.raises(OSError, match="No space left"):
                model.save(path)
        assert path.read_bytes() == before, name
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"], name
    cr.load(path)


def test_failed_first_save_leaves_no_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        cr.Sequential(L.Linear(2, 2, rng=0)).save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


_SAVE_LOOP = """
import sys, numpy as np, chainrule as cr
path = sys.argv[1]
model = cr.Sequential(cr.layers.Linear(1500, 1000, rng=0))
k = 0
while True:
    k += 1
    model[0].weight.data[...] = k  # every version is one constant
    model[0].bias.data[...] = k
    model.save(path, metadata={"version": k})
    print(k, flush=True)
"""


def test_save_killed_midway_leaves_a_whole_file(tmp_path):
    """SIGKILL a process that saves a 6 MB model over the same path again and
    again; after every kill the file loads and holds one whole version."""
    path = tmp_path / "big.npz"
    model = cr.Sequential(L.Linear(1500, 1000, rng=0))
    model[0].weight.data[...] = 0
    model[0].bias.data[...] = 0
    model.save(path, metadata={"version": 0})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rand = random.Random(0)
    seen = set()
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVE_LOOP, str(path)],
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            proc.stdout.readline()  # one save done: now it is saving again
            time.sleep(rand.uniform(0.0, 0.15))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        loaded = cr.load(path)
        k = loaded.metadata["version"]
        assert _weights_of(path) == (float(k),)
        assert np.all(loaded[0].bias.data == k)
        seen.add(k)
        # Only the model and perhaps the killed save's temporary file are there.
        for p in tmp_path.iterdir():
            assert p == path or (p.name.startswith(".big.npz.") and p.suffix == ".part")
    assert seen - {0}
