"""Flatten (chainrule/layers/reshape.py)."""

import numpy as np
import pytest
from _examples import Example

import chainrule as cr
from chainrule.layers import Flatten

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [Example(lambda: Flatten(), ((2, 3, 4, 4),), onnx_op="Flatten")]


def test_flatten_keeps_the_batch_axis_and_backward_restores_the_shape():
    layer = Flatten()
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    y = layer(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(y[1], x[1].ravel())
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_flatten_needs_a_batch_axis():
    with pytest.raises(ValueError, match=r"Flatten\(\): input must have a batch axis"):
        Flatten()(np.float32(3.0))
    assert cr.registry.layer_name(Flatten) == "Flatten"
