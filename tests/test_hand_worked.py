"""Seed 004's example worked by hand: the 4-2-3-1 network, all sigmoid, with
C = 1/2 (y - yhat)^2 for one example, and one backward pass.

The weights are chosen so that every weighted input z is 0 or +-ln 3, where the
sigmoid is a simple fraction: sigma(0) = 1/2, sigma(ln 3) = 3/4,
sigma(-ln 3) = 1/4, and sigma' = sigma (1 - sigma) is 1/4 or 3/16. Every
number below is then exact, and can be checked with pencil and paper.

Note on signs: the seed writes dC/dyhat = y - yhat; differentiating
1/2 (y - yhat)^2 with respect to yhat gives dC/dyhat = yhat - y.
"""

import numpy as np

import chainrule as cr
from chainrule.layers import Linear, Sigmoid

LN3 = np.log(3.0)


def seed_004_network():
    l1, l2, l3 = Linear(4, 2), Linear(2, 3), Linear(3, 1)
    net = cr.Sequential(l1, Sigmoid(), l2, Sigmoid(), l3, Sigmoid()).to(np.float64)
    # W1 x = 0 for x = (1, 0, -1, 2); the biases then set z2 = (0, ln 3).
    l1.weight.data[:] = [[0.5, 1.0, 1.5, 0.5], [1.0, -1.0, -1.0, -1.0]]
    l1.bias.data[:] = [0.0, LN3]
    # W2 a2 = (0, 0, 2) for a2 = (1/2, 3/4); the biases set z3 = (0, ln 3, 0).
    l2.weight.data[:] = [[1.5, -1.0], [-1.5, 1.0], [1.0, 2.0]]
    l2.bias.data[:] = [0.0, LN3, -2.0]
    # W3 a3 = 0 for a3 = (1/2, 3/4, 1/2); the bias sets z4 = -ln 3.
    l3.weight.data[:] = [[2.0, -2.0, 1.0]]
    l3.bias.data[:] = [-LN3]
    return net


def test_seed_004_one_backward_pass():
    net = seed_004_network()
    l1, l2, l3 = net[0], net[2], net[4]
    x = np.array([[1.0, 0.0, -1.0, 2.0]])
    y = np.array([[1.0]])

    # ---- forward
    # z2 = W1 x + b1 = (0.5 - 1.5 + 1.0, 1 + 1 - 2 + ln 3) = (0, ln 3)
    # a2 = sigma(z2) = (1/2, 3/4)
    # z3 = W2 a2 + b2 = (0.75 - 0.75, -0.75 + 0.75 + ln 3, 0.5 + 1.5 - 2) = (0, ln 3, 0)
    # a3 = (1/2, 3/4, 1/2)
    # z4 = W3 a3 + b3 = 1 - 1.5 + 0.5 - ln 3 = -ln 3
    # yhat = a4 = sigma(-ln 3) = 1/4
    # C = 1/2 (1 - 1/4)^2 = 9/32
    loss = cr.losses.MSE()  # 1/(2N) sum (y - yhat)^2, here N = 1
    yhat = net(x)
    np.testing.assert_allclose(yhat, [[1 / 4]], rtol=1e-14)
    np.testing.assert_allclose(net[1].cache, [[1 / 2, 3 / 4]], rtol=1e-14)  # a2
    np.testing.assert_allclose(net[3].cache, [[1 / 2, 3 / 4, 1 / 2]], rtol=1e-14)  # a3
    assert abs(loss(yhat, y) - 9 / 32) < 1e-15

    # ---- backward
    # dC/dyhat = yhat - y = 1/4 - 1 = -3/4
    dc_dyhat = loss.backward()
    np.testing.assert_allclose(dc_dyhat, [[-3 / 4]], rtol=1e-14)
    dc_dx = net.backward(dc_dyhat)

    # Output layer: delta4 = dC/dz4 = dC/dyhat * sigma'(z4) = -3/4 * 3/16 = -9/64
    delta4 = np.array([[-9 / 64]])
    # dC/dW3 = delta4 a3 = -9/64 (1/2, 3/4, 1/2) = (-9/128, -27/256, -9/128)
    # dC/db3 = delta4 = -9/64
    dW3 = np.array([[-9 / 128, -27 / 256, -9 / 128]])
    db3 = np.array([-9 / 64])

    # dC/da3 = delta4 W3 = -9/64 (2, -2, 1) = (-9/32, 9/32, -9/64)
    dc_da3 = np.array([[-9 / 32, 9 / 32, -9 / 64]])
    # delta3 = dC/da3 * sigma'(z3), sigma'(z3) = (1/4, 3/16, 1/4)
    #        = (-9/128, 27/512, -9/256)
    delta3 = np.array([[-9 / 128, 27 / 512, -9 / 256]])
    # dC/dW2 = delta3^T a2, a2 = (1/2, 3/4):
    #   row 1: -9/128 (1/2, 3/4) = (-9/256, -27/512)
    #   row 2: 27/512 (1/2, 3/4) = (27/1024, 81/2048)
    #   row 3: -9/256 (1/2, 3/4) = (-9/512, -27/1024)
    dW2 = np.array(
        [[-9 / 256, -27 / 512], [27 / 1024, 81 / 2048], [-9 / 512, -27 / 1024]]
    )

    # dC/da2 = delta3 W2:
    #   first:  -9/128 (1.5) + 27/512 (-1.5) - 9/256 (1)
    #         = (-108 - 81 - 36) / 1024 = -225/1024
    #   second: -9/128 (-1) + 27/512 (1) - 9/256 (2) = (36 + 27 - 36) / 512 = 27/512
    dc_da2 = np.array([[-225 / 1024, 27 / 512]])
    # delta2 = dC/da2 * sigma'(z2), sigma'(z2) = (1/4, 3/16)
    #        = (-225/4096, 81/8192)
    delta2 = np.array([[-225 / 4096, 81 / 8192]])
    # dC/dW1 = delta2^T x, x = (1, 0, -1, 2):
    #   row 1: (-225/4096, 0, 225/4096, -450/4096)
    #   row 2: (81/8192, 0, -81/8192, 162/8192)
    dW1 = np.array(
        [
            [-225 / 4096, 0.0, 225 / 4096, -450 / 4096],
            [81 / 8192, 0.0, -81 / 8192, 162 / 8192],
        ]
    )
    # dC/dx = delta2 W1 = -225/4096 (0.5, 1, 1.5, 0.5) + 81/8192 (1, -1, -1, -1)
    #       = (-225 + 81, -450 - 81, -675 - 81, -225 - 81) / 8192
    dc_dx_hand = np.array([[-144, -531, -756, -306]]) / 8192

    tol = {"rtol": 1e-13, "atol": 1e-16}
    # The deltas, as the model records them: dC/d(output) of every layer.
    np.testing.assert_allclose(net[5].output_grad, dc_dyhat, **tol)
    np.testing.assert_allclose(l3.output_grad, delta4, **tol)  # dC/dz4
    np.testing.assert_allclose(net[3].output_grad, dc_da3, **tol)
    np.testing.assert_allclose(l2.output_grad, delta3, **tol)  # dC/dz3
    np.testing.assert_allclose(net[1].output_grad, dc_da2, **tol)
    np.testing.assert_allclose(l1.output_grad, delta2, **tol)  # dC/dz2
    # The weight gradients.
    np.testing.assert_allclose(l3.weight.grad, dW3, **tol)
    np.testing.assert_allclose(l3.bias.grad, db3, **tol)
    np.testing.assert_allclose(l2.weight.grad, dW2, **tol)
    np.testing.assert_allclose(l2.bias.grad, delta3[0], **tol)
    np.testing.assert_allclose(l1.weight.grad, dW1, **tol)
    np.testing.assert_allclose(l1.bias.grad, delta2[0], **tol)
    np.testing.assert_allclose(dc_dx, dc_dx_hand, **tol)


def test_seed_004_one_gradient_descent_step_lowers_the_cost():
    # theta <- theta - eta dC/dtheta with eta = 1: the cost must go down.
    net = seed_004_network()
    x, y = np.array([[1.0, 0.0, -1.0, 2.0]]), np.array([[1.0]])
    loss = cr.losses.MSE()
    before = loss(net(x), y)
    net.backward(loss.backward())
    for p in net.parameters():
        p.data -= 1.0 * p.grad
    after = loss(net(x), y)
    assert abs(before - 9 / 32) < 1e-15
    assert after < before
    # To first order the drop is eta ||grad||^2.
    g2 = sum(float((p.grad**2).sum()) for p in net.parameters())
    assert abs((before - after) - g2) < 0.2 * g2
