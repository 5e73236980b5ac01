"""Fuzzing the model file reader: mutated files load identical or are refused.

From real files (an MLP, a CNN and a two-input Graph, saved as models; the
MLP and the CNN also as checkpoints, with SGD momentum and Adam state), each
test makes mutated copies (bit flips, truncations at every zip boundary,
swapped and duplicated members, edited manifests, huge declared shapes and
zip sizes) and reads every one. Each must either

- load to exactly what the original holds (the same weights, bit for bit,
  and, when the manifest was not edited, the same architecture and metadata
  or checkpoint manifest), or
- raise ``cr.io.ModelFileError``,

and nothing else: no other exception, no read over :data:`SECONDS_PER_FILE`,
no growth of the process's peak resident memory over :data:`PEAK_BYTES`
(measured on Linux, where the kernel's peak can be reset per file).

About 2,600 files run in CI in well under a minute. ``CHAINRULE_FUZZ_SCALE=20``
multiplies every hypothesis test's examples by 20 for a longer hunt.
"""

from __future__ import annotations

import functools
import io
import json
import signal
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _fuzz import bounded, fuzz, given, st
from _model_files import manifest as _manifest
from _model_files import npy as _npy

import chainrule as cr
from chainrule import layers as L
from chainrule.io import ModelFileError, layer_spec, read_checkpoint

SECONDS_PER_FILE = 5.0
PEAK_BYTES = 16 << 20


# ------------------------------------------------------------- originals
class Original:
    """A real file and what chainrule reads from it."""

    def __init__(self, name: str, kind: str, data: bytes, weights, rest) -> None:
        self.name = name
        self.kind = kind  # "model" or "checkpoint"
        self.data = data
        self.weights = weights  # array key -> (dtype, shape, bytes)
        self.rest = rest  # (architecture, metadata) or the checkpoint manifest

    def __repr__(self) -> str:  # hypothesis prints its arguments
        return f"<{self.kind} {self.name}>"

    @functools.cached_property
    def members(self) -> dict[str, bytes]:
        return _members(self.data)

    @functools.cached_property
    def boundaries(self) -> list[int]:
        return _boundaries(self.data)


def _mlp():
    return cr.Sequential(L.Linear(6, 5, rng=0), L.ReLU(), L.Linear(5, 3, rng=1))


def _cnn():
    return cr.Sequential(
        L.Conv2D(1, 2, 3, rng=0), L.ReLU(), L.MaxPool2D(2), L.Flatten(),
        L.Linear(2 * 3 * 3, 3, rng=1),
    )  # fmt: skip


def _graph():
    a, b = cr.Input((4,)), cr.Input((3,))
    shared = L.Linear(4, 4, rng=0)
    h = L.Add()(L.ReLU()(shared(a)), a)
    cat = L.Concat(axis=1)(h, L.Linear(3, 2, rng=1)(b))
    return cr.Graph([a, b], [L.Linear(6, 3, rng=2)(cat)])


def _weights(arrays: dict) -> dict:
    return {k: (str(a.dtype), a.shape, np.ascontiguousarray(a).tobytes()) for k, a in arrays.items()}  # fmt: skip


def _canonical(spec: dict) -> dict:
    """A graph's spec with its nodes numbered from 0 (node ids are global
    counters, different in every process and load)."""
    if spec.get("type") != "Graph":
        return spec
    ids = {node["id"]: i for i, node in enumerate(spec["nodes"])}
    nodes = [
        {**n, "id": ids[n["id"]], "parents": [ids[p] for p in n.get("parents", [])]}
        for n in spec["nodes"]
    ]
    return {
        **spec,
        "nodes": nodes,
        "inputs": [ids[i] for i in spec["inputs"]],
        "outputs": [ids[i] for i in spec["outputs"]],
    }


def _read(kind: str, path: Path):
    """(weights, rest) of a file, read the way chainrule reads it."""
    if kind == "model":
        model = cr.load(path)
        weights = _weights({f"param/{k}": p.data for k, p in model.named_parameters()})
        return weights, (_canonical(layer_spec(model)), model.metadata)
    manifest, arrays = read_checkpoint(path)
    model, _ = cr.io.load_checkpoint_model(path)
    for k, p in model.named_parameters():  # the rebuilt model holds the same
        assert np.array_equal(p.data, arrays[f"param/{k}"]), k
    return _weights(arrays), manifest


def _checkpoint(model, x, y, path: Path, optimizer) -> None:
    cr.fit(
        model, cr.losses.CrossEntropy(), optimizer, x, y, epochs=1, batch_size=4,
        seed=0, verbose=0, callbacks=[cr.callbacks.ModelCheckpoint(path)],
    )  # fmt: skip


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Original]:
    base = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    files = {}
    for name, make in (("mlp", _mlp), ("cnn", _cnn), ("graph", _graph)):
        path = base / f"{name}.npz"
        make().save(path, metadata={"class_names": ["a", "b", "c"], "seed": 0})
        files[name] = ("model", path)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    mlp = _mlp()
    _checkpoint(
        mlp, x, y, base / "mlp-ckpt.npz", cr.optim.SGD(mlp, lr=0.1, momentum=0.9)
    )
    files["mlp-ckpt"] = ("checkpoint", base / "mlp-ckpt.npz")
    x = rng.random((8, 1, 8, 8)).astype(np.float32)
    cnn = _cnn()
    _checkpoint(cnn, x, y, base / "cnn-ckpt.npz", cr.optim.Adam(cnn))
    files["cnn-ckpt"] = ("checkpoint", base / "cnn-ckpt.npz")
    out = {}
    for name, (kind, path) in files.items():
        weights, rest = _read(kind, path)
        out[name] = Original(name, kind, path.read_bytes(), weights, rest)
    return out


NAMES = ("mlp", "cnn", "graph", "mlp-ckpt", "cnn-ckpt")


# ---------------------------------------------------------------- oracle
class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


@pytest.fixture(scope="module")
def check(tmp_path_factory):
    """check(original, data, manifest_edited) -> "loaded" or "refused"."""
    path = tmp_path_factory.mktemp("mutant") / "mutant.npz"
    previous = signal.signal(signal.SIGALRM, _alarm)

    def attempt(kind: str):
        """((weights, the rest), "loaded") or (None, "refused"), within the time limit."""
        signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_FILE)
        try:
            return _read(kind, path), "loaded"
        except ModelFileError:
            return None, "refused"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def run(
        original: Original, data: bytes, manifest_edited: bool = False, expected=None
    ) -> str:
        path.write_bytes(data)
        # Resident memory, which is what takes a machine down (and not the
        # untouched address space a refused architecture may reserve).
        try:
            got, outcome = bounded(
                lambda: attempt(original.kind), PEAK_BYTES, f"{original.name}: a read"
            )
        except _Timeout:
            pytest.fail(f"{original.name}: reading a mutant took over {SECONDS_PER_FILE} s")
        if outcome == "loaded":
            weights, rest = got
            # Whatever the mutation, the weights are the original's, bit for bit.
            assert weights == original.weights, original.name
            if not manifest_edited:
                assert rest == original.rest, original.name
            elif expected is not None:  # what the edited file says, faithfully
                assert rest == expected(), original.name
        return outcome

    yield run
    signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------- archive structure
def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _pack(items: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names, on purpose
        with zipfile.ZipFile(buf, "w") as z:
            for name, blob in items:
                z.writestr(name, blob)
    return buf.getvalue()


def _boundaries(data: bytes) -> list[int]:
    """Every offset where a zip structure starts or ends, and one either side."""
    cuts = {0, len(data)}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            start = info.header_offset
            name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
            body = start + 30 + name_len + extra_len
            cuts |= {start, start + 30, body, body + info.compress_size}
            cuts.add(body + 10)  # inside the magic and the .npy header length
    end = data.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", data, end + 12)
    at = cd_offset
    while at < cd_offset + cd_size:
        cuts.add(at)
        n, m, k = struct.unpack_from("<HHH", data, at + 28)
        at += 46 + n + m + k
    cuts |= {end, end + 12, end + 20}
    return sorted({c + d for c in cuts for d in (-1, 0, 1) if 0 <= c + d < len(data)})


def test_truncation_at_every_zip_boundary_is_refused(originals, check):
    count = 0
    for original in originals.values():
        for cut in original.boundaries:
            # A file cut anywhere loses its end record: refused, never loaded.
            assert check(original, original.data[:cut]) == "refused", cut
            count += 1
    assert count > 300


def test_the_originals_load(originals, check):
    for original in originals.values():
        assert check(original, original.data) == "loaded"


# ------------------------------------------------------------ bit flips
@fuzz(800)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_bit_flips_load_identical_or_are_refused(originals, check, name, data):
    original = originals[name]
    blob = bytearray(original.data)
    # Half the flips land in the zip's structures, where they are most telling.
    cuts = original.boundaries
    where = data.draw(
        st.one_of(
            st.integers(0, len(blob) - 1),
            st.sampled_from(cuts).flatmap(
                lambda c: st.integers(max(0, c - 4), min(len(blob) - 1, c + 60))
            ),
        )
    )
    flips = data.draw(st.integers(1, 3))
    for i in range(flips):
        at = min(len(blob) - 1, where + i * data.draw(st.integers(0, 200)))
        blob[at] ^= 1 << data.draw(st.integers(0, 7))
    check(original, bytes(blob))


# -------------------------------------------------- members: swap, duplicate
@fuzz(200)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_swapped_or_duplicated_members_are_refused(originals, check, name, data):
    original = originals[name]
    items = list(original.members.items())
    i = data.draw(st.integers(0, len(items) - 1))
    j = data.draw(st.integers(0, len(items) - 1).filter(lambda k: k != i))
    how = data.draw(st.sampled_from(["swap", "duplicate", "copy-over", "drop"]))
    if how == "swap":  # each name now holds the other's array
        (ni, bi), (nj, bj) = items[i], items[j]
        items[i], items[j] = (ni, bj), (nj, bi)
    elif how == "duplicate":  # the same name twice, either content
        items.insert(
            j, (items[i][0], data.draw(st.sampled_from([items[i][1], items[j][1]])))
        )
    elif how == "copy-over":
        items[j] = (items[j][0], items[i][1])
    else:
        del items[i]
    if data.draw(st.booleans()):
        items = data.draw(st.permutations(items))  # member order never matters
    outcome = check(original, _pack(items))
    if how == "drop" or how == "duplicate":
        assert outcome == "refused"


def test_member_order_does_not_matter(originals, check):
    for original in originals.values():
        items = list(original.members.items())[::-1]
        assert check(original, _pack(items)) == "loaded"


# ------------------------------------------------------ edited manifests
def _with_manifest(members: dict, manifest: dict | str) -> bytes:
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    members = dict(members)
    members["__manifest__.npy"] = _npy(np.frombuffer(text.encode(), np.uint8))
    return _pack(list(members.items()))


def _leaves(node, path=()):
    """Every (path, value) in a JSON document, containers included."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))


HUGE = [2**31 - 1, 2**32, 2**40, 2**62, 2**63 - 1, 2**64, 10**30]
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from(HUGE),
        st.floats(allow_nan=False), st.text(max_size=8),
        st.sampled_from(["float64", "float16", "int64", "bool", "object", "<U4",
                         "V8", "Linear", "Conv2D", "Graph", "Sequential", "ReLU"]),
    ),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@fuzz(500)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_edited_manifests_load_faithfully_or_are_refused(originals, check, name, data):
    original = originals[name]
    members = dict(original.members)
    manifest = _manifest(members)
    # Where the attacks are: the arrays' descriptions and the architecture.
    scope = data.draw(st.sampled_from(["arrays", "architecture", "anywhere"]))
    leaves = [
        (p, v)
        for p, v in _leaves(manifest)
        if p and (scope == "anywhere" or p[0] == scope)
    ]
    path, value = data.draw(st.sampled_from(leaves))
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    how = data.draw(st.sampled_from(["replace", "delete", "huge", "scale"]))
    if how == "delete":
        del parent[path[-1]]
    elif how == "replace":
        parent[path[-1]] = data.draw(JSON_VALUES)
    elif how == "huge" or not isinstance(value, int):
        parent[path[-1]] = data.draw(st.sampled_from(HUGE))
    else:  # a plausible neighbour: the shape or size an attacker would try
        parent[path[-1]] = value * data.draw(st.sampled_from([0, 2, 10, 1000, -1]))

    def described():  # what a faithful reader returns for the edited file
        if original.kind == "checkpoint":
            return manifest
        # The edited architecture as chainrule builds it (defaults filled in).
        spec = layer_spec(cr.io.build(manifest["architecture"]))
        return _canonical(spec), manifest.get("metadata", {})

    outcome = check(
        original, _with_manifest(members, manifest), manifest_edited=True,
        expected=described,
    )  # fmt: skip
    if path[0] == "arrays" and outcome == "loaded":
        # An array's description can only change to something equal.
        assert _manifest(members)["arrays"] == manifest["arrays"] or (
            how == "replace" and json.dumps(value) == json.dumps(parent.get(path[-1]))
        )


def test_manifest_bombs_are_refused(originals, check):
    original = originals["mlp"]
    members = dict(original.members)
    manifest = _manifest(members)
    deep = '{"a": ' * 100_000 + "1" + "}" * 100_000
    big_list = json.dumps({**manifest, "pad": [0] * (5 << 20)})
    for text in (deep, "[" * 200_000, big_list):
        assert check(original, _with_manifest(members, text)) == "refused"


# --------------------------------------------- huge declared shapes and sizes
def _header(dtype: str, shape, fortran=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)}
    )
    return buf.getvalue()


def _patch_sizes(blob: bytes, name: str, usize: int | None, csize: int | None) -> bytes:
    data = bytearray(blob)
    at = data.find(name.encode(), data.find(b"PK\x01\x02")) - 46
    if usize is not None:
        struct.pack_into("<I", data, at + 24, usize)
    if csize is not None:
        struct.pack_into("<I", data, at + 20, csize)
    return bytes(data)


@fuzz(350)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_huge_declared_shapes_and_sizes_are_refused(originals, check, name, data):
    original = originals[name]
    members = dict(original.members)
    manifest = _manifest(members)
    key = data.draw(st.sampled_from(sorted(members)))
    array = np.load(io.BytesIO(members[key]), allow_pickle=False)
    dims = data.draw(
        st.lists(
            st.one_of(st.sampled_from(HUGE[:5] + [2**20, 2**24]), st.integers(0, 2**16)),
            min_size=1, max_size=4,
        )
    )  # fmt: skip
    fortran = data.draw(st.booleans())
    header = _header(array.dtype.str, dims, fortran)
    keep = data.draw(st.sampled_from(["data", "none", "some"]))
    body = {"data": array.tobytes(), "none": b"", "some": bytes(64)}[keep]
    # The draw can give the member back as it was (its own shape, its own
    # data, in the same order): that file may load, with the original weights.
    unchanged = (
        tuple(dims) == array.shape and keep == "data" and (array.ndim < 2 or not fortran)
    )
    members[key] = header + body
    if key != "__manifest__.npy" and data.draw(st.booleans()):
        manifest["arrays"][key[: -len(".npy")]]["shape"] = dims  # the manifest agrees
        members["__manifest__.npy"] = _npy(
            np.frombuffer(json.dumps(manifest).encode(), np.uint8)
        )
    blob = _pack(list(members.items()))
    if data.draw(st.booleans()):  # and the zip entry's sizes agree too
        need = len(header) + int(np.prod(dims, dtype=object)) * array.itemsize
        usize = min(need, 2**32 - 1)
        csize = data.draw(st.sampled_from([None, usize, 2**32 - 1]))
        blob = _patch_sizes(blob, key, usize, csize)
    outcome = check(original, blob, manifest_edited=True)  # loaded: the same weights
    assert unchanged or outcome == "refused"


@fuzz(200)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_forged_zip_sizes_are_refused_or_harmless(originals, check, name, data):
    original = originals[name]
    key = data.draw(st.sampled_from(sorted(original.members)))
    sizes = st.one_of(
        st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 1])
    )
    usize = data.draw(st.none() | sizes)
    csize = data.draw(st.none() | sizes)
    check(original, _patch_sizes(original.data, key, usize, csize))
