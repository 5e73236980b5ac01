import numpy as np

import chainrule as cr


def test_sequential_forward_backward_shapes():
    net = cr.Sequential(
        cr.layers.Linear(4, 8, rng=0), cr.layers.ReLU(), cr.layers.Linear(8, 3, rng=1)
    )
    x = np.ones((2, 4), np.float32)
    y = net(x)
    assert y.shape == (2, 3) and y.dtype == np.float32
    dx = net.backward(np.ones_like(y))
    assert dx.shape == x.shape
