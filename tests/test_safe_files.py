"""Untrusted files cannot exhaust memory or crash the command line.

Each attack of issue 17, built for real: a decompression bomb in a model
file, architecture bombs, a huge ``.npy`` header, an ``.npz`` or IDX data
bomb, an image bomb; each is refused from its headers with a one-line error,
before anything large is allocated (measured: ``tracemalloc`` in process,
the peak resident size of a subprocess). Also the command line's closed pipe,
``MemoryError`` and a model saved before any forward pass.
(``test_fuzz_model_files.py`` mutates real files thousands of times.)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from _model_files import edit_manifest as _edit_manifest
from _model_files import manifest as _manifest
from _model_files import members as _members
from _model_files import npy as _npy
from _model_files import repack as _repack
from _model_files import set_manifest as _set_manifest
from _requires import importorskip
from _run_cli import ENV, REPO, cli

import chainrule as cr
from chainrule import layers as L
from chainrule.cli import main
from chainrule.io import ModelFileError, read_checkpoint

MiB = 1 << 20


# ---------------------------------------------------------------- helpers
def _npy_header(shape, descr="<f4", fortran=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}
    )
    return buf.getvalue()


def _peak_bytes(fn) -> int:
    """Peak bytes Python and NumPy allocated while ``fn()`` ran."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _refused(fn, match: str, error=ModelFileError, max_peak: int = 8 * MiB) -> None:
    def attempt():
        with pytest.raises(error, match=match):
            fn()

    assert _peak_bytes(attempt) < max_peak


def _one_line_error(result, match: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(match, lines[0]), lines[0]


def _adam_checkpoint(path: Path) -> Path:
    """A checkpoint of a Linear(3, 2) after one epoch of Adam (16 samples)."""
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = cr.Sequential(L.Linear(3, 2, rng=0))
    cr.fit(
        model, cr.losses.CrossEntropy(), cr.optim.Adam(model), x, y, epochs=1,
        batch_size=8, seed=0, verbose=0,
        callbacks=[cr.callbacks.ModelCheckpoint(path)],
    )  # fmt: skip
    return path


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "model.npz"
    model = cr.Sequential(L.Linear(4, 3, rng=0), L.ReLU(), L.Linear(3, 2, rng=1))
    model.save(path, metadata={"class_names": ["no", "yes"]})
    return path


# ------------------------------------------------------- decompression bombs
def test_a_deflated_bomb_member_is_refused_from_its_header(saved):
    # The weight member becomes 64 MiB of zeros, deflated to about 64 KiB,
    # with a consistent .npy header and zip entry: only the manifest disagrees.
    members = _members(saved)
    n = 16 * MiB
    bomb = _npy_header((4, n // 4)) + bytes(n * 4)
    members["param/0.weight.npy"] = bomb
    _repack(saved, members, zipfile.ZIP_DEFLATED)
    assert saved.stat().st_size < 2 * MiB
    _refused(
        lambda: cr.load(saved),
        r"array 'param/0.weight' .* has shape \(4, 4194304\) .* the manifest says "
        r"\[3, 4\]",
    )


def test_a_header_declaring_a_huge_shape_is_refused_before_allocating(saved):
    members = _members(saved)
    members["param/0.bias.npy"] = _npy_header((100_000, 100_000)) + bytes(12)
    _repack(saved, members)
    _refused(
        lambda: cr.load(saved),
        r"member 'param/0.bias.npy' .* declares 140 bytes uncompressed; its .npy "
        r"header \(shape \(100000, 100000\), float32\) implies 40,000,000,128",
    )


def _forge_size(path: Path, name: str, size: int) -> None:
    """Patch the uncompressed size the zip's central directory gives ``name``."""
    data = bytearray(path.read_bytes())
    at = data.find(name.encode(), data.find(b"PK\x01\x02")) - 46
    assert data[at : at + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, at + 24, size)
    path.write_bytes(bytes(data))


def test_zip_sizes_that_disagree_with_the_header_are_refused(saved):
    with zipfile.ZipFile(saved) as z:
        size = z.getinfo("param/2.bias.npy").file_size
    _forge_size(saved, "param/2.bias.npy", size + 4096)
    _refused(lambda: cr.load(saved), f"declares {size + 4096:,} bytes uncompressed")


def test_a_consistent_forged_shape_is_checked_against_the_architecture(saved):
    # Header, manifest and zip entry all claim 8 MiB; the architecture says 3.
    members = _members(saved)
    manifest = _manifest(members)
    manifest["arrays"]["param/0.bias"]["shape"] = [2 * MiB]
    _set_manifest(members, manifest)
    header = _npy_header((2 * MiB,))
    members["param/0.bias.npy"] = header + bytes(12)
    _repack(saved, members)
    _forge_size(saved, "param/0.bias.npy", len(header) + 8 * MiB)
    _refused(
        lambda: cr.load(saved),
        r"does not fit its architecture: param/0\.bias has shape \(2097152,\), "
        r"the architecture implies \(3,\)",
    )


def test_an_empty_member_with_huge_dimensions_is_refused(saved):
    # No data at all, but NumPy cannot allocate the shape (it multiplies
    # 2**31 - 1 by itself and the item size before it meets the 0): refused
    # from the header with the file's error, not NumPy's ValueError.
    members = _members(saved)
    members["param/0.bias.npy"] = _npy_header((2**31 - 1, 2**31 - 1, 0))
    _repack(saved, members)
    _refused(
        lambda: cr.load(saved),
        r"member 'param/0.bias.npy' .* declares the shape "
        r"\(2147483647, 2147483647, 0\), which no array can have",
    )


def test_the_hash_of_an_empty_array_is_the_hash_of_no_bytes():
    # As save() computes it (hashlib over tobytes()); memoryview cannot cast a
    # shape with a 0, which made reading an empty member a TypeError.
    from chainrule._safe_npz import sha256_c_order

    for a in (np.zeros(0, np.float32), np.zeros((2**31 - 1, 0)), np.zeros((0, 3)).T):
        assert sha256_c_order(a) == hashlib.sha256(b"").hexdigest()


def test_a_layer_axis_no_array_has_is_refused(tmp_path):
    # A Concat's axis edited to 2**64: the layer refuses it by name (NumPy
    # would raise OverflowError while the file is read).
    a, b = cr.Input((4,)), cr.Input((3,))
    model = cr.Graph([a, b], [L.Concat(axis=1)(L.Linear(4, 2, rng=0)(a), b)])
    path = tmp_path / "graph.npz"
    model.save(path)

    def edit(manifest):
        [layer] = [x for x in manifest["architecture"]["layers"] if x["type"] == "Concat"]
        layer["config"]["axis"] = 2**64

    _with_architecture(path, edit)
    with pytest.raises(ModelFileError, match=r"Concat: axis must be an integer from -64"):
        cr.load(path)


def test_a_nan_layer_setting_is_refused(saved):
    # JSON as Python reads it accepts NaN: a LeakyReLU slope of NaN would make
    # every negative input NaN, silently.
    model = cr.Sequential(L.Linear(4, 3, rng=0), L.LeakyReLU(0.1), L.Linear(3, 2, rng=1))
    model.save(saved)
    _with_architecture(
        saved,
        lambda m: m["architecture"]["layers"][1]["config"].update(negative_slope=float("nan")),
    )
    with pytest.raises(
        ModelFileError, match="LeakyReLU: negative_slope must be a finite real number; got nan"
    ):
        cr.load(saved)


def test_a_diverged_model_is_neither_saved_nor_loaded(saved, tmp_path):
    # NaN weights make every prediction NaN without an error: save refuses to
    # write them (nothing is left behind), and load refuses a file holding
    # them, forged with its hash agreeing (a NaN buffer or optimizer state is
    # refused by the same check of every float array).
    model = cr.load(saved)
    model[0].weight.data[1, 2] = np.inf
    model[2].bias.data[0] = np.nan
    target = tmp_path / "diverged.npz"
    with pytest.raises(ValueError, match=r"save: param/0.weight holds 1 NaN or infinite"):
        model.save(target)
    assert not target.exists()

    members = _members(saved)
    key = "param/2.bias"
    value = np.load(io.BytesIO(members[f"{key}.npy"]), allow_pickle=False)
    value[1] = np.nan
    members[f"{key}.npy"] = _npy(value)
    manifest = _manifest(members)
    manifest["arrays"][key]["sha256"] = hashlib.sha256(value.tobytes()).hexdigest()
    _set_manifest(members, manifest)
    _repack(saved, members)
    with pytest.raises(
        ModelFileError, match=r"array 'param/2.bias' in .* holds 1 NaN or infinite value\(s\) of 2"
    ):
        cr.load(saved)


def test_an_optimizer_state_reshaped_to_fit_its_manifest_is_refused(tmp_path):
    # The same bytes under another shape, manifest and hash agreeing: only the
    # parameter the state belongs to can tell (Adam's m of a (2, 3) weight).
    path = _adam_checkpoint(tmp_path / "ckpt.npz")
    members = _members(path)
    key = "optim/0.weight/m"
    m = np.load(io.BytesIO(members[f"{key}.npy"]), allow_pickle=False)
    assert m.shape == (2, 3)
    members[f"{key}.npy"] = _npy_header((6,)) + np.ascontiguousarray(m).tobytes()
    manifest = _manifest(members)
    manifest["arrays"][key]["shape"] = [6]
    _set_manifest(members, manifest)
    _repack(path, members)
    with pytest.raises(
        ModelFileError,
        match=r"optimizer state 'optim/0.weight/m' in .* has shape \(6,\); its "
        r"parameter '0.weight' has \(2, 3\)",
    ):
        read_checkpoint(path)


def test_a_consistent_forged_size_stops_at_the_real_data(tmp_path):
    path = tmp_path / "d.npz"
    header = _npy_header((8 * MiB,), "|u1")
    members = {
        "x_train.npy": _npy_header((1, 2), "<f4") + bytes(8),
        "y_train.npy": _npy_header((1,), "<i8") + bytes(8),
        "x_test.npy": _npy_header((1, 2), "<f4") + bytes(8),
        "y_test.npy": header + bytes(100),
    }
    _repack(path, members)
    _forge_size(path, "y_test.npy", len(header) + 8 * MiB)
    # Allocated (8 MiB, as declared and under the limit), then refused at the
    # end of the real data.
    _refused(
        lambda: cr.data.load(str(path)),
        r"array 'y_test' in .* ends after 100 of its 8,388,608 bytes",
        error=ValueError,
        max_peak=12 * MiB,
    )


def test_arrays_over_the_limit_are_refused_unless_the_caller_raises_it(tmp_path):
    path = tmp_path / "big.npz"
    cr.Sequential(L.Linear(1000, 500, rng=0)).save(path)  # 2 MB of weights
    with pytest.raises(
        ModelFileError,
        match=r"arrays of .* need 1\.9 MiB \(2,002,000 bytes\), over the limit of "
        r"1\.0 MiB; .*max_bytes=",
    ):
        cr.load(path, max_bytes=MiB)
    assert cr.load(path, max_bytes=4 * MiB)[0].weight.shape == (500, 1000)


def test_the_default_limit_is_documented():
    assert cr.io.MAX_BYTES == 2 << 30
    readme = (REPO / "README.md").read_text()
    assert "2 GiB" in readme and "max_bytes" in readme


# ----------------------------------------------------- architecture bombs
def _with_architecture(saved, change) -> Path:
    return _edit_manifest(saved, change)


def _load_in_a_fresh_process(saved) -> tuple[str, int]:
    """Load ``saved`` in a new interpreter: (the ModelFileError's message,
    MiB its peak resident memory grew by during the load)."""
    code = (
        "import resource, sys, chainrule as cr\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    cr.load({str(saved)!r})\n"
        "except cr.io.ModelFileError as e:\n"
        "    print(e)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) // 1024)\n"  # ru_maxrss is in KiB on Linux
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    message, grown_mib = out.stdout.splitlines()
    return message, int(grown_mib)


@pytest.mark.parametrize("size", [48_000, 200_000])
def test_an_architecture_bomb_is_refused_in_a_small_process(saved, size):
    """Linear(48000, 48000) is 9 GB of weights, Linear(200000, 200000) 149 GiB:
    refused, with the process's peak resident memory barely above its start."""
    _with_architecture(
        saved,
        lambda m: m["architecture"]["layers"][0]["config"].update(
            in_features=size, out_features=size
        ),
    )
    message, grown_mib = _load_in_a_fresh_process(saved)
    assert re.search(
        r"architecture implies at least [\d,]+ parameter values; the file holds 23"
        r"|the architecture needs more memory than this machine has",
        message,
    ), message
    assert grown_mib < 64


def test_a_layer_with_buffers_is_refused_before_it_fills_them(saved):
    """BatchNorm1D(10**9) would write 4 GB of ones into its weight and running
    variance if it filled them before the file's sizes were checked."""

    def bomb(m):
        m["architecture"]["layers"][1] = {
            "type": "BatchNorm1D",
            "config": {"num_features": 1_000_000_000},
        }

    _with_architecture(saved, bomb)
    message, grown_mib = _load_in_a_fresh_process(saved)
    assert "architecture implies at least" in message, message
    assert grown_mib < 64


def test_a_graph_whose_shapes_explode_is_refused_before_computing_them(tmp_path):
    """An Input of 2048 x 2048 pixels (4.2 million values, within the input
    limit) into Conv2D(1, 64, 1): 64 parameters, but one sample's output is
    268 million values (1 GiB). Shape inference answers from the layer's
    static shape and refuses it without running the convolution."""
    x = cr.Input((1, 8, 8))
    graph = cr.Graph(x, L.Conv2D(1, 64, 1, rng=0)(x))
    path = tmp_path / "graph.npz"
    graph.save(path)
    _with_architecture(
        path, lambda m: m["architecture"]["nodes"][0].update(shape=[1, 2048, 2048])
    )
    message, grown_mib = _load_in_a_fresh_process(path)
    assert re.search(
        r"Conv2D\(.*\) would output samples of shape \(64, 2048, 2048\) "
        r"\(268,435,456 values\); at most 16,777,216 are built",
        message,
    ), message
    assert grown_mib < 64


def test_weights_are_not_initialised_before_the_file_fills_them(saved, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a loaded model's weights were drawn at random")

    monkeypatch.setattr(cr.init, "initialize", never)
    model = cr.load(saved)
    assert model[0].weight.shape == (3, 4)
    # The weight keeps Linear's column-major layout, so training is as fast.
    assert model[0].weight.data.flags.f_contiguous
    # The gradient is zero when read, without having been filled at load.
    assert not model[0].weight.grad.any()


def test_a_float64_file_loads_as_float64_without_rounding(tmp_path):
    model = cr.Sequential(L.Linear(3, 2, rng=0)).to(np.float64)
    model[0].weight.data[0, 0] = 1 / 3
    model.save(tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    assert loaded[0].weight.dtype == np.float64
    assert loaded[0].weight.data[0, 0] == 1 / 3


def test_too_many_layers_are_refused(saved):
    _with_architecture(
        saved,
        lambda m: m["architecture"]["layers"].extend([{"type": "ReLU"}] * 20_000),
    )
    _refused(lambda: cr.load(saved), "has 20,004 layers; at most 10,000 are built")


@pytest.mark.parametrize("depth", [500, 5000])  # past build's recursion, json's
def test_a_deeply_nested_architecture_is_refused(saved, depth):
    members = _members(saved)
    manifest = _manifest(members)
    manifest["architecture"] = "@"
    nested = '{"type": "Sequential", "layers": [' * depth + '{"type": "ReLU"}'
    text = json.dumps(manifest).replace('"@"', nested + "]}" * depth)
    blob = np.frombuffer(text.encode(), np.uint8)
    buf = io.BytesIO()
    np.save(buf, blob)
    members["__manifest__.npy"] = buf.getvalue()
    _repack(saved, members)
    with pytest.raises(ModelFileError, match="not valid JSON|nested too deeply"):
        cr.load(saved)


def test_a_graph_input_too_large_to_trace_is_refused(tmp_path):
    x = cr.Input((4,))
    model = cr.Graph(x, L.ReLU()(x))
    path = tmp_path / "g.npz"
    model.save(path)

    def huge(m):
        m["architecture"]["nodes"][0]["shape"] = [100_000, 100_000]

    _with_architecture(path, huge)
    _refused(
        lambda: cr.load(path),
        r"a graph node in .* has samples of shape \(100000, 100000\) "
        r"\(10,000,000,000 values\); at most 16,777,216",
    )


def test_a_huge_input_shape_in_the_metadata_is_refused(saved):
    _with_architecture(saved, lambda m: m["metadata"].update(input_shape=[10**6] * 3))
    with pytest.raises(ModelFileError, match="at most 16,777,216 values per sample"):
        cr.load(saved)
    _with_architecture(saved, lambda m: m["metadata"].update(input_shape="28x28"))
    with pytest.raises(ModelFileError, match="expected a list of positive whole"):
        cr.load(saved)


def test_a_checkpoint_is_checked_against_its_architecture_before_reading(tmp_path):
    path = _adam_checkpoint(tmp_path / "ckpt.npz")
    _with_architecture(
        path, lambda m: m["architecture"]["layers"][0]["config"].update(in_features=4)
    )
    with pytest.raises(
        ModelFileError,
        match=r"resume: .* does not fit its architecture: .*architecture implies "
        r"at least 10 parameter values; the file holds 8",
    ):
        read_checkpoint(path)


# ------------------------------------------------------------- data files
def test_an_npz_data_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "d.npz"
    n = 16 * MiB
    members = {
        "x_train.npy": _npy_header((n // 784, 28, 28), "|u1") + bytes(n // 784 * 784),
        "y_train.npy": _npy_header((3,), "<i8") + bytes(24),
        "x_test.npy": _npy_header((1, 28, 28), "|u1") + bytes(784),
        "y_test.npy": _npy_header((1,), "<i8") + bytes(8),
    }
    _repack(path, members, zipfile.ZIP_DEFLATED)
    # Consistent sizes: this is 16 MiB of real (zero) data, under the limit;
    # the limit is what refuses it, before anything is decompressed.
    monkey = cr.data.idx
    old = monkey.MAX_FILE_BYTES
    monkey.MAX_FILE_BYTES = MiB
    try:
        _refused(
            lambda: cr.data.load(str(path)),
            r"arrays of .*d\.npz' need 16\.0 MiB .* over the limit of 1\.0 MiB",
            error=ValueError,
        )
    finally:
        monkey.MAX_FILE_BYTES = old


def test_an_idx_gzip_bomb_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + np.array([3_000_000, 1000, 1000], ">u4").tobytes()
    path.write_bytes(gzip.compress(header + bytes(MiB)))
    _refused(
        lambda: cr.data.read_idx(path),
        r"declares shape \(3000000, 1000, 1000\) of uint8 .* over the limit",
        error=ValueError,
    )


def test_an_idx_gzip_stream_shorter_than_its_header_stops_there(tmp_path):
    path = tmp_path / "short-idx1-ubyte.gz"
    header = bytes([0, 0, 8, 1]) + np.array([64 * MiB], ">u4").tobytes()
    path.write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(ValueError, match="needs 67108864 data bytes; got 1000"):
        cr.data.read_idx(path)


def test_idx_big_endian_values_come_back_native_and_writable(tmp_path):
    a = np.array([[1.5, -2.25], [3e38, -0.0]], np.float32)
    cr.data.write_idx(tmp_path / "f.gz", a)
    b = cr.data.read_idx(tmp_path / "f.gz")
    assert b.dtype == np.float32 and b.dtype.isnative and b.flags.writeable
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ command line
@pytest.fixture
def cli_model(tmp_path) -> Path:
    path = tmp_path / "model.npz"
    model = cr.Sequential(L.Flatten(), L.Linear(784, 10, rng=0))
    model.save(path, metadata={"input_shape": [1, 28, 28]})
    return path


def _png(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares width x height (the pixels never decode)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(64)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [8_000, 20_000])  # Pillow warns, Pillow refuses
def test_an_image_bomb_is_one_line_status_2(tmp_path, cli_model, capsys, side):
    importorskip("PIL")
    _png(tmp_path / "huge.png", side, side)
    assert main(["predict", str(cli_model), str(tmp_path / "huge.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.match(
        r"chainrule predict: error: image '.*huge.png' has more than 50,000,000 "
        r"pixels, the limit",
        err,
    ), err


def test_a_huge_npy_input_is_refused_from_its_header(tmp_path, cli_model, capsys):
    (tmp_path / "huge.npy").write_bytes(_npy_header((100_000, 100_000)) + bytes(16))
    assert main(["predict", str(cli_model), str(tmp_path / "huge.npy")]) == 2
    err = capsys.readouterr().err
    assert re.match(
        r"chainrule predict: error: '.*huge.npy' holds an array of shape "
        r"\(100000, 100000\) \(37\.3 GiB\), over the limit of 1\.0 GiB",
        err,
    ), err


def test_a_truncated_npy_input_is_refused(tmp_path, cli_model, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 28, 28), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:-10])
    assert main(["predict", str(cli_model), str(tmp_path / "x.npy")]) == 2
    assert "has 6,262 data bytes; its header (shape (2, 1, 28, 28), float32) needs " \
        "6,272" in capsys.readouterr().err  # fmt: skip


def test_model_bombs_on_the_command_line_are_one_line_status_2(saved):
    _with_architecture(
        saved,
        lambda m: m["architecture"]["layers"][0]["config"].update(
            in_features=200_000, out_features=200_000
        ),
    )
    _one_line_error(
        cli("info", saved), r"^chainrule info: error: load: .*architecture"
    )


def test_memory_error_is_one_line_status_2(monkeypatch, capsys, cli_model):
    import chainrule.cli.info as info

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 149. GiB for an array")

    monkeypatch.setattr(info, "load_model", exhausted)
    assert main(["info", str(cli_model)]) == 2
    assert capsys.readouterr().err == (
        "chainrule info: error: out of memory (Unable to allocate 149. GiB for an "
        "array)\n"
    )


def test_a_closed_stdout_ends_quietly(cli_model):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head`) is gone before anything is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "chainrule", "info", str(cli_model)],
            stdout=write_end, stderr=subprocess.PIPE, text=True, env=ENV, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, as a Unix tool would


def test_info_describes_a_model_saved_before_any_forward_pass(tmp_path, capsys):
    path = tmp_path / "fresh.npz"
    cr.Sequential(L.Flatten(), L.Linear(784, 32), L.ReLU(), L.Linear(32, 10)).save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^1\s+Linear\s+\?\s+25,120$", out, re.M), out
    assert "Total parameters: 25,450" in out
    with pytest.raises(ValueError, match="input_shape is needed"):
        cr.summary(cr.load(path))  # from Python the default still asks
