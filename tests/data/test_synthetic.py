import numpy as np
import pytest

import chainrule as cr
from chainrule.data import polynomial, spirals, two_moons, xor

CLASSIFIERS = [xor, two_moons, spirals]


@pytest.mark.parametrize("make", CLASSIFIERS)
@pytest.mark.parametrize("n", [1, 7, 200])
def test_classification_sets_shapes_dtypes_balance(make, n):
    x, y = make(n, noise=0.1, seed=0)
    assert x.shape == (n, 2) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}
    assert abs(int((y == 0).sum()) - int((y == 1).sum())) <= 1 + (make is xor)


@pytest.mark.parametrize("make", [*CLASSIFIERS, polynomial])
def test_same_seed_same_data_different_seed_different_data(make):
    a = make(50, noise=0.1, seed=3)
    b = make(50, noise=0.1, seed=3)
    c = make(50, noise=0.1, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("make", [*CLASSIFIERS, polynomial])
def test_generator_and_global_seed(make):
    a = make(20, noise=0.1, seed=np.random.default_rng(5))
    b = make(20, noise=0.1, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    cr.seed(11)
    c = make(20, noise=0.1)
    cr.seed(11)
    d = make(20, noise=0.1)
    np.testing.assert_array_equal(c[0], d[0])


def test_polynomial_follows_the_coefficients():
    x, t = polynomial(100, coeffs=(0.5, -1.0, 2.0), noise=0.0, x_range=(-2, 3), seed=0)
    assert x.shape == t.shape == (100, 1) and t.dtype == np.float32
    assert x.min() >= -2 and x.max() < 3
    np.testing.assert_allclose(t, 0.5 - x + 2 * x**2, rtol=1e-5, atol=1e-5)


def test_xor_labels_follow_the_signs_without_noise():
    x, y = xor(40, noise=0.0, seed=0)
    np.testing.assert_array_equal(y, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(int))


def test_spirals_without_noise_lie_in_unit_disc():
    x, _ = spirals(300, noise=0.0, seed=0)
    assert np.linalg.norm(x, axis=1).max() <= 1.0 + 1e-6


@pytest.mark.parametrize("make", [*CLASSIFIERS, polynomial])
def test_bad_arguments(make):
    name = make.__name__
    with pytest.raises(
        ValueError, match=f"{name}: n must be a positive integer; got 0"
    ):
        make(0)
    with pytest.raises(ValueError, match=f"{name}: noise must be >= 0; got -1.0"):
        make(10, noise=-1)
    with pytest.raises(TypeError, match="rng must be"):
        make(10, seed="zero")


def test_polynomial_bad_range():
    with pytest.raises(
        ValueError, match=r"x_range must be \(low, high\) with low < high"
    ):
        polynomial(10, x_range=(1, 1))
