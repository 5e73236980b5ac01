"""The [fast] extra's compiled kernels give the NumPy path's results.

Each test runs the same inputs through both paths, ``cr.fast`` off (NumPy,
the reference) and on (numba), and requires the same outputs and gradients.
Max-pooling only copies and compares, so there "the same" is exact; batch
norm's kernels sum in float64, so there it means the same to float32 rounding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _requires import importorskip
from _run_cli import ENV, cli

import chainrule as cr
from chainrule.functional.conv import col2im, conv_output_size
from chainrule.functional.layout import as_batch_last
from chainrule.functional.pooling import maxpool2d_backward, maxpool2d_forward
from chainrule.spec import build_spec


@pytest.fixture
def fast():
    importorskip("numba")
    cr.fast.enable()
    yield cr.fast
    cr.fast.disable()


def both_paths(f):
    """f() with the NumPy path, then with the compiled one."""
    cr.fast.disable()
    reference = f()
    cr.fast.enable()
    try:
        return reference, f()
    finally:
        cr.fast.disable()


def five_sgd_steps(spec: str) -> dict:
    """A model built from ``spec`` after five SGD steps on fixed random digits."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    cr.seed(0)
    model = build_spec(spec)
    opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    cr.fit(model, cr.losses.CrossEntropy(), opt, x, y, epochs=1, batch_size=8,
           verbose=0, shuffle=False)  # fmt: skip
    return model.state_dict()


def ties(rng, shape, dtype):
    """Values from a handful of levels: most windows hold a tie, some all four."""
    return rng.integers(-2, 3, shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(64, 16, 24, 24), (3, 2, 7, 9), (2, 1, 2, 2), (1, 3, 5, 4)]
)
@pytest.mark.parametrize("values", ["normal", "ties"])
def test_maxpool2x2_same_outputs_winners_and_gradients(fast, rng, shape, dtype, values):
    x = (
        rng.standard_normal(shape).astype(dtype)
        if values == "normal"
        else ties(rng, shape, dtype)
    )
    (y0, w0), (y1, w1) = both_paths(lambda: maxpool2d_forward(x, (2, 2), (2, 2)))
    assert y1.dtype == y0.dtype == dtype
    np.testing.assert_array_equal(y1, y0)
    dy = rng.standard_normal(y0.shape).astype(dtype)
    dx0 = maxpool2d_backward(dy, w0, (2, 2), (2, 2))
    dx1 = maxpool2d_backward(dy, w1, (2, 2), (2, 2))
    assert dx1.shape == x.shape and dx1.dtype == dtype
    np.testing.assert_array_equal(dx1, dx0)
    # Every window sends its dy to exactly one pixel.
    assert np.count_nonzero(dx1) == np.count_nonzero(dy)


def test_maxpool2x2_propagates_nan_like_numpy(fast):
    x = np.zeros((1, 1, 2, 4), np.float32)
    x[0, 0, 1, 0] = np.nan
    x[0, 0, 0, 3] = 5.0
    (y0, _), (y1, _) = both_paths(lambda: maxpool2d_forward(x, (2, 2), (2, 2)))
    np.testing.assert_array_equal(y1, y0)  # NaN where NumPy has NaN
    assert np.isnan(y1[0, 0, 0, 0]) and y1[0, 0, 0, 1] == 5.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", [(2, 2), (3, 2), (1, 3)])
def test_maxpool_in_pool_order_same_outputs_and_gradients(fast, rng, dtype, kernel):
    # Pool order (functional/pooling.py): kH kW planes, one per window offset;
    # ties everywhere, and NaN in one pixel of six.
    x = ties(rng, (5, 3, kernel[0] * kernel[1] * 6, 7), dtype)
    x[rng.random(x.shape) < 1 / 6] = np.nan

    def run():
        y, winners = maxpool2d_forward(x, kernel, kernel, pool_order=True)
        dy = np.arange(y.size, dtype=dtype).reshape(y.shape) + 1
        return y, winners[0], maxpool2d_backward(dy, winners, kernel, kernel)

    reference, compiled = both_paths(run)
    assert (reference[1], compiled[1]) == ("pool order", "pool order compiled")
    np.testing.assert_array_equal(compiled[0], reference[0])
    np.testing.assert_array_equal(compiled[2], reference[2])
    assert compiled[2].shape == x.shape and compiled[2].dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 8, 14, 14), (3, 2, 7, 9), (5, 1, 2, 2)])
def test_maxpool2x2_in_batch_last_memory_same_as_numpy(fast, rng, shape, dtype):
    """Batch-last input (a wide Conv2D's output, functional/layout.py) runs a
    kernel of its own: the same output, winners and dx as NumPy's path, with
    ties everywhere and NaN in one pixel of six; dx in batch-last memory."""
    x = as_batch_last(ties(rng, shape, dtype))
    x[rng.random(shape) < 1 / 6] = np.nan

    def run():
        y, winners = maxpool2d_forward(x, (2, 2), (2, 2))
        dy = np.arange(y.size, dtype=dtype).reshape(y.shape) + 1
        return y, winners[0], maxpool2d_backward(dy, winners, (2, 2), (2, 2))

    reference, compiled = both_paths(run)
    assert (reference[1], compiled[1]) == ("tiled", "2x2 compiled batch last")
    assert compiled[0].flags.c_contiguous
    np.testing.assert_array_equal(compiled[0], reference[0])
    np.testing.assert_array_equal(compiled[2], reference[2])
    assert np.moveaxis(compiled[2], 0, -1).flags.c_contiguous  # (C, H, W, N) memory


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "x_shape, kernel, stride, padding",
    [
        ((64, 32, 14, 14), (3, 3), (1, 1), (1, 1)),  # the two-conv CNN's: "same"
        ((3, 2, 7, 6), (3, 2), (2, 1), (0, 1)),
        ((3, 2, 7, 6), (2, 3), (3, 2), (2, 0)),  # pixels no window reads
        ((3, 2, 7, 6), (3, 3), (1, 1), (3, 2)),  # offsets that miss the image
        ((2, 3, 4, 4), (1, 1), (1, 1), (0, 0)),
    ],
)
def test_col2im_same_bit_for_bit(fast, rng, dtype, x_shape, kernel, stride, padding):
    """The compiled col2im adds each pixel's column entries in the NumPy
    path's order, so dx is the same to the last bit, and C-contiguous."""
    n, c, h, w = x_shape
    oh = conv_output_size(h, kernel[0], stride[0], padding[0])
    ow = conv_output_size(w, kernel[1], stride[1], padding[1])
    d = rng.standard_normal((c * kernel[0] * kernel[1], oh * ow * n)).astype(dtype)
    reference, compiled = both_paths(lambda: col2im(d, x_shape, kernel, stride, padding))
    assert compiled.flags.c_contiguous and compiled.dtype == dtype
    np.testing.assert_array_equal(compiled, reference)


def test_maxpool2x2_takes_strided_input(fast, rng):
    x = rng.standard_normal((4, 6, 10, 10)).astype(np.float32)[:, ::2, 1:, 1:]
    (y0, _), (y1, _) = both_paths(lambda: maxpool2d_forward(x, (2, 2), (2, 2)))
    np.testing.assert_array_equal(y1, y0)


def test_other_windows_keep_the_numpy_path(fast, rng):
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    for kernel, stride in (((3, 3), (3, 3)), ((2, 2), (1, 1)), ((3, 2), (2, 2))):
        _, winners = maxpool2d_forward(x, kernel, stride)
        assert winners[0] != "2x2 compiled"


@pytest.mark.parametrize("spec", ["seed-cnn", "cnn"])
def test_a_training_run_is_the_same_with_the_compiled_kernels(fast, spec):
    """Five SGD steps of a preset CNN: the same parameters either way, to the
    last bit (the kernels only change how the winners are found)."""

    reference, compiled = both_paths(lambda: five_sgd_steps(spec))
    for name in reference:
        np.testing.assert_array_equal(compiled[name], reference[name], err_msg=name)


def test_gradcheck_passes_with_the_compiled_kernels(fast, distinct):
    layer = cr.layers.MaxPool2D(2)
    report = cr.gradcheck(layer, distinct(2, 3, 6, 6))
    assert report.passed, report


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 16, 24, 24), (5, 3, 4, 7), (32, 10)])
def test_batchnorm_same_results_to_rounding(fast, rng, shape, dtype):
    """Training-mode BatchNorm forward and backward: outputs, running
    statistics and all three gradients. The compiled sums run in float64, so
    float32 agrees to rounding and float64 to 1e-12."""
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    make = cr.layers.BatchNorm2D if len(shape) == 4 else cr.layers.BatchNorm1D

    def run():
        layer = make(shape[1]).to(dtype)
        layer.weight.data[...] = np.linspace(0.5, 2, shape[1])
        layer.bias.data[...] = np.linspace(-1, 1, shape[1])
        y = layer(x)
        dx = layer.backward(dy)
        return y, dx, layer.weight.grad, layer.bias.grad, layer.state_dict()

    reference, compiled = both_paths(run)
    tol = (
        {"rtol": 2e-5, "atol": 2e-5}
        if dtype == np.float32
        else {"rtol": 1e-12, "atol": 1e-12}
    )
    for name, a, b in zip(("y", "dx", "dweight", "dbias"), reference[:4], compiled[:4]):
        assert b.dtype == a.dtype == dtype, name
        np.testing.assert_allclose(b, a, err_msg=name, **tol)
    for key, value in reference[4].items():
        np.testing.assert_allclose(compiled[4][key], value, err_msg=key, **tol)


def test_batchnorm_eval_mode_keeps_the_numpy_path(fast, rng):
    layer = cr.layers.BatchNorm2D(3).eval()
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), both_paths(lambda: layer(x))[0])


def test_gradcheck_batchnorm_with_the_compiled_kernels(fast, rng):
    report = cr.gradcheck(cr.layers.BatchNorm2D(3), rng.standard_normal((4, 3, 3, 3)))
    assert report.passed, report


def test_a_batchnorm_cnn_trains_the_same_to_rounding(fast):
    spec = "conv8x5-batchnorm2d-relu-maxpool2-flatten-linear10"
    reference, compiled = both_paths(lambda: five_sgd_steps(spec))
    for name in reference:
        np.testing.assert_allclose(
            compiled[name], reference[name], rtol=1e-4, atol=1e-5, err_msg=name
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [
        {"momentum": 0.9},
        {"momentum": 0.0},
        {"momentum": 0.8, "nesterov": True},
        {"momentum": 0.9, "weight_decay": 1e-3},
    ],
)
def test_sgd_updates_are_the_same_bit_for_bit(fast, rng, dtype, options):
    """Five SGD steps of a Linear (column-major weight) and a Conv2D."""
    x = rng.standard_normal((8, 1, 6, 6)).astype(dtype)

    def run():
        cr.seed(0)
        model = cr.Sequential(
            cr.layers.Conv2D(1, 2, 3), cr.layers.Flatten(), cr.layers.Linear(32, 3)
        ).to(dtype)
        opt = cr.optim.SGD(model, lr=0.05, **options)
        target = np.sin(np.arange(24, dtype=dtype)).reshape(8, 3)
        for _ in range(5):
            opt.zero_grad()
            model.backward((model(x) - target) / 8)  # squared error's dL/dy
            opt.step()
        return [p.data.copy() for p in model.parameters()]

    reference, compiled = both_paths(run)
    for a, b in zip(reference, compiled):
        assert b.dtype == dtype
        np.testing.assert_array_equal(b, a)


def test_a_numpy_float64_rate_keeps_sgd_bit_for_bit(fast, rng):
    # A rate assigned as np.float64 made NumPy's float32 update run in
    # float64 (NumPy 2's promotion), a rounding away from the compiled one.
    x = rng.standard_normal((8, 5)).astype(np.float32)

    def run():
        cr.seed(0)
        model = cr.Sequential(cr.layers.Linear(5, 3))
        opt = cr.optim.SGD(model, lr=0.1)
        for s in range(5):
            opt.lr = np.float64(0.05) / (s + 1)
            opt.zero_grad()
            model.backward(model(x) / 8)
            opt.step()
        return [p.data.copy() for p in model.parameters()]

    for a, b in zip(*both_paths(run)):
        np.testing.assert_array_equal(b, a)


def test_other_float_dtypes_take_the_numpy_path(fast):
    # The kernels are compiled for float32 and float64: a float16 model
    # crashed in numba as soon as the extra was on.
    model = cr.Sequential(
        cr.layers.Conv2D(2, 2, 3, padding=1), cr.layers.MaxPool2D(2)
    ).to(np.float16)
    y = model(np.ones((2, 2, 4, 4), np.float16))
    model.backward(np.ones_like(y))
    cr.optim.SGD(model, lr=0.1, momentum=0.9).step()
    assert y.dtype == np.float16


def test_off_by_default_and_import_stays_numpy_only():
    code = (
        "import sys, chainrule as cr; "
        "assert not cr.fast.is_enabled(); "
        "assert 'numba' not in sys.modules, 'import chainrule imported numba'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_enable_without_numba_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    monkeypatch.delitem(sys.modules, "chainrule.functional.compiled", raising=False)
    monkeypatch.delattr(cr.functional, "compiled", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[fast\]'"):
        cr.fast.enable()
    assert not cr.fast.is_enabled()


# ----------------------------------------------------------- the command line
def train(tmp_path, *extra, env=None):
    """One epoch of the seed CNN on the embedded digits, with ``--json``."""
    args = ["train", "--data", "mnist5k", "--model", "seed-cnn", "--epochs", "1"]
    return cli(*args, "--json", *extra, cwd=tmp_path, env=env, timeout=300)


def test_train_fast_gives_the_same_run(tmp_path):
    importorskip("numba")
    plain = train(tmp_path, "--out", tmp_path / "plain")
    fast = train(tmp_path, "--out", tmp_path / "fast", "--fast")
    assert plain.returncode == 0, plain.stderr
    assert fast.returncode == 0, fast.stderr
    a, b = (json.loads(r.stdout.splitlines()[-1]) for r in (plain, fast))
    assert b["test_loss"] == a["test_loss"]
    assert b["test_accuracy"] == a["test_accuracy"] > 0.8


def test_train_fast_without_numba_is_one_line(tmp_path):
    stub = tmp_path / "stub" / "numba"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('not installed (stub)')\n")
    path = os.pathsep.join([str(stub.parent), ENV["PYTHONPATH"]])
    result = train(tmp_path, "--fast", env={**ENV, "PYTHONPATH": path})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "pip install 'chainrule[fast]'" in result.stderr
