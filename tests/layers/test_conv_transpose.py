import re

import numpy as np
import pytest
from _examples import Example
from _requires import importorskip

import chainrule as cr
from chainrule.layers import Conv2D, ConvTranspose2D

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(
        lambda: ConvTranspose2D(2, 3, 3, rng=0),
        ((2, 2, 3, 4),),
        onnx_op="ConvTranspose",
    ),
    Example(lambda: ConvTranspose2D(3, 2, 4, 2, 1, rng=0), ((2, 3, 3, 3),), "upsample"),
    Example(
        lambda: ConvTranspose2D(2, 2, 3, 2, 1, 1, rng=0), ((2, 2, 3, 2),), "out-pad"
    ),
    Example(
        lambda: ConvTranspose2D(2, 3, (3, 2), (2, 3), (1, 0), (1, 2), rng=0),
        ((2, 2, 3, 2),),
        "rectangular",
        spec=False,
    ),
    Example(
        lambda: ConvTranspose2D(1, 2, 2, 2, bias=False, rng=0),
        ((2, 1, 2, 3),),
        "no-bias",
        spec=False,
    ),
]


def naive_conv_transpose(x, w, b, stride, padding, output_padding):
    """The forward formula, one input pixel at a time: stamp x[s, ic, i, j]
    times the kernel w[ic] at (i sH, j sW) of the full output, then crop."""
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    n, _, h, wd = x.shape
    _, oc, kh, kw = w.shape
    full = np.zeros((n, oc, (h - 1) * sh + kh + oph, (wd - 1) * sw + kw + opw))
    for s in range(n):
        for i in range(h):
            for j in range(wd):
                patch = np.einsum("c,cokl->okl", x[s, :, i, j], w)
                full[s, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += patch
    oh, ow = full.shape[2] - 2 * ph, full.shape[3] - 2 * pw
    return full[:, :, ph : ph + oh, pw : pw + ow] + b[:, None, None]


CASES = [
    # (in_channels, out_channels, kernel, stride, padding, output_padding, H x W)
    (2, 3, 3, 1, 0, 0, (4, 5)),
    (2, 3, 4, 2, 1, 0, (3, 4)),  # the usual 2x upsampler
    (3, 2, (3, 2), (2, 3), (1, 0), (1, 2), (4, 3)),  # non-square, output_padding
    (1, 1, 1, 1, 0, 0, (2, 2)),  # 1x1
    (2, 2, 3, 3, 2, 1, (3, 3)),  # stride > kernel - padding: gaps in the output
    (2, 1, 2, 2, 0, 1, (2, 3)),  # output_padding rows that no input reaches
]


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "op", "hw"), CASES)
def test_forward_matches_naive_formula(rng, cin, cout, k, s, p, op, hw):
    layer = ConvTranspose2D(cin, cout, k, s, p, op, rng=0).to(np.float64)
    layer.bias.data[:] = rng.standard_normal(cout)
    x = rng.standard_normal((2, cin, *hw))
    expected = naive_conv_transpose(
        x,
        layer.weight.data,
        layer.bias.data,
        layer.stride,
        layer.padding,
        layer.output_padding,
    )
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "op", "hw"), CASES)
def test_gradcheck(rng, cin, cout, k, s, p, op, hw):
    layer = ConvTranspose2D(cin, cout, k, s, p, op, rng=1)
    layer.bias.data[:] = rng.standard_normal(cout)
    cr.gradcheck(layer, rng.standard_normal((2, cin, *hw)))


def test_gradcheck_without_bias(rng):
    cr.gradcheck(
        ConvTranspose2D(2, 3, 2, stride=2, bias=False, rng=0),
        rng.standard_normal((2, 2, 3, 2)),
    )


def test_is_the_adjoint_of_conv2d(rng):
    # <conv(u), v> = <u, convT(v)> with the same weight array and no bias:
    # the forward pass of each is the input gradient of the other.
    conv = Conv2D(3, 2, 3, stride=2, padding=1, bias=False, rng=0).to(np.float64)
    up = ConvTranspose2D(2, 3, 3, stride=2, padding=1, bias=False).to(np.float64)
    up.weight.data[...] = conv.weight.data
    u = rng.standard_normal((2, 3, 7, 7))
    v = rng.standard_normal((2, 2, 4, 4))
    assert up(v).shape == u.shape
    np.testing.assert_allclose(np.sum(conv(u) * v), np.sum(u * up(v)), rtol=1e-12)
    # and the backward of each is the forward of the other
    conv(u)
    np.testing.assert_allclose(conv.backward(v), up(v), rtol=1e-12, atol=1e-12)
    up(v)
    np.testing.assert_allclose(up.backward(u), conv(u), rtol=1e-12, atol=1e-12)


def test_output_shape_formula():
    up = ConvTranspose2D(16, 8, 4, stride=2, padding=1)
    # OH = (7 - 1) * 2 - 2 + 4 + 0 = 14
    assert up(np.zeros((2, 16, 7, 7), np.float32)).shape == (2, 8, 14, 14)
    assert up.output_shape((16, 7, 7)) == (8, 14, 14)
    # output_padding picks the other size a stride-2 Conv2D maps to 7: 15
    assert ConvTranspose2D(1, 1, 3, 2, 1, 1).output_shape((1, 7, 7)) == (1, 14, 14)
    assert ConvTranspose2D(1, 1, 3, 2, 1, 0).output_shape((1, 7, 7)) == (1, 13, 13)


def test_weight_layout_is_in_out_kh_kw():
    layer = ConvTranspose2D(3, 5, (2, 4))
    assert layer.weight.shape == (3, 5, 2, 4)
    assert layer.bias.shape == (5,)


def test_he_init_counts_in_channels_times_kernel():
    layer = ConvTranspose2D(64, 4, 3, rng=0)
    # He: std = sqrt(2 / (in_channels kH kW)) = sqrt(2 / 576)
    assert abs(layer.weight.data.std() - np.sqrt(2 / 576)) < 0.006
    assert not layer.bias.data.any()


def test_backward_adds_into_grad(rng):
    layer = ConvTranspose2D(1, 2, 2, stride=2, rng=0).to(np.float64)
    x = rng.standard_normal((1, 1, 3, 3))
    dy = rng.standard_normal((1, 2, 6, 6))
    layer(x)
    layer.backward(dy)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)


def test_skip_input_grad_still_fills_parameter_grads(rng):
    layer = ConvTranspose2D(2, 2, 3, rng=0).to(np.float64)
    x, dy = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((1, 2, 5, 5))
    layer(x)
    dx = layer.backward(dy)
    expected = layer.weight.grad.copy()
    layer.zero_grad()
    layer.skip_input_grad = True
    layer(x)
    assert layer.backward(dy) is None
    np.testing.assert_allclose(layer.weight.grad, expected)
    assert dx.shape == x.shape


def test_float32_in_float32_out():
    y = ConvTranspose2D(1, 1, 2, 2)(np.ones((1, 1, 2, 2), np.float32))
    assert y.dtype == np.float32


def test_repr():
    assert repr(ConvTranspose2D(16, 8, 4, stride=2, padding=1)) == (
        "ConvTranspose2D(in_channels=16, out_channels=8, kernel_size=(4, 4), "
        "stride=(2, 2), padding=(1, 1), output_padding=(0, 0), bias=True)"
    )


def test_wrong_channels_message():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "input must have shape (batch, 3, height, width); got (2, 1, 8, 8)."
        ),
    ):
        ConvTranspose2D(3, 4, 3)(np.zeros((2, 1, 8, 8)))


def test_padding_that_crops_everything():
    with pytest.raises(
        ValueError, match=re.escape("input of 1x1 pixels gives an output of -1x-1")
    ):
        ConvTranspose2D(1, 1, 1, padding=1)(np.zeros((1, 1, 1, 1)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"in_channels": 0, "out_channels": 1, "kernel_size": 3},
            "ConvTranspose2D: in_channels must be a positive integer; got 0.",
        ),
        (
            {"in_channels": 1, "out_channels": 1, "kernel_size": (2, 0)},
            "ConvTranspose2D: kernel_size must be an integer >= 1 or a pair of "
            "them; got (2, 0).",
        ),
        (
            {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": -1},
            "ConvTranspose2D: padding must be an integer >= 0 or a pair of them; "
            "got -1.",
        ),
        (
            {
                "in_channels": 1,
                "out_channels": 1,
                "kernel_size": 3,
                "stride": 2,
                "output_padding": 2,
            },
            "ConvTranspose2D: output_padding must be smaller than the stride "
            "(2, 2) in each dimension; got 2.",
        ),
        (
            {
                "in_channels": 1,
                "out_channels": 1,
                "kernel_size": 3,
                "output_padding": 1,
            },
            "ConvTranspose2D: output_padding must be smaller than the stride "
            "(1, 1) in each dimension; got 1.",
        ),
    ],
)
def test_invalid_constructor_args(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ConvTranspose2D(**kwargs)


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "op", "hw"), CASES)
def test_matches_pytorch_in_float64(rng, cin, cout, k, s, p, op, hw):
    torch = importorskip("torch")
    ours = ConvTranspose2D(cin, cout, k, s, p, op, rng=0).to(np.float64)
    ours.bias.data[:] = rng.standard_normal(cout)
    theirs = torch.nn.ConvTranspose2d(cin, cout, k, s, p, op).double()
    theirs.load_state_dict(
        {k: torch.from_numpy(v) for k, v in ours.state_dict().items()}
    )
    x = rng.standard_normal((2, cin, *hw))
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    dy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(dy))
    y, dx = ours(x), ours.backward(dy)
    pairs = [
        ("y", y, yt),
        ("dx", dx, xt.grad),
        ("weight.grad", ours.weight.grad, theirs.weight.grad),
        ("bias.grad", ours.bias.grad, theirs.bias.grad),
    ]
    for what, a, t in pairs:
        t = t.detach().numpy()
        assert a.shape == t.shape, what
        err = np.abs(a - t).max() / np.abs(t).max()
        assert err <= 1e-10, f"{what}: relative error {err:.3e}"
