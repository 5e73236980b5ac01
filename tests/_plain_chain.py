"""The chain rule by hand, one layer at a time: the reference that tests of
Sequential's rewrites (tests/models/test_relu_pool_swap.py, test_pool_order.py)
compare a model's own forward and backward with."""

from __future__ import annotations

import numpy as np


def plain_chain(layers, x, dy):
    """Forward and backward in the written order, each layer's own methods
    and nothing else; returns y, dx and every layer's delta (dL/d output)."""
    h = x
    caches = []
    for layer in layers:
        h = layer.forward(h)
        caches.append(layer.cache)
    y = h
    deltas = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        layers[i].cache = caches[i]
        deltas[i] = dy
        dy = layers[i].backward(dy)
    return y, dy, deltas


def assert_matches_plain_chain(model, x, rng, skip_delta=()):
    """The model's own forward and backward (with its rewrites) against
    :func:`plain_chain` in float64: output, dL/dx, every parameter gradient
    and every delta but those of the layer types in ``skip_delta``."""
    y = model.forward(x)
    dy = rng.standard_normal(y.shape)
    model.zero_grad()
    dx = model.backward(dy)
    grads = [p.grad.copy() for p in model.parameters()]
    deltas = [layer.output_grad for layer in model.layers]

    model.zero_grad()
    y0, dx0, deltas0 = plain_chain(model.layers, x, dy)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx0, rtol=1e-12, atol=1e-12)
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_allclose(g, p.grad, rtol=1e-12, atol=1e-12)
    for i, (d, d0) in enumerate(zip(deltas, deltas0)):
        if isinstance(model[i], skip_delta):
            continue
        assert isinstance(d, np.ndarray) and d.shape == d0.shape, i
        np.testing.assert_allclose(d, d0, rtol=1e-12, atol=1e-12, err_msg=str(i))
