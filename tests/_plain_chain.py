"""The chain rule by hand, one layer at a time: the reference that tests of
Sequential's rewrites (tests/models/test_relu_pool_swap.py, test_pool_order.py)
compare a model's own forward and backward with."""

from __future__ import annotations


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
