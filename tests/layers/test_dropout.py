import re

import numpy as np
import pytest
from _examples import Example

import chainrule as cr
from chainrule.layers import Dropout

# For the registry-driven checks (tests/layers/test_registry.py). Training
# mode draws masks: gradcheck holds one fixed; torch parity is in eval mode.
EXAMPLES = [Example(lambda: Dropout(0.4), ((4, 6),), train=False)]


def test_fixed_mask_forward_and_backward(rng):
    d = Dropout(0.25)
    mask = rng.random((3, 4)) > 0.25
    d.mask = mask
    x = rng.standard_normal((3, 4))
    y = d(x)
    np.testing.assert_allclose(y, x * mask / 0.75)
    dy = rng.standard_normal((3, 4))
    np.testing.assert_allclose(d.backward(dy), dy * mask / 0.75)


def test_gradcheck_with_fixed_mask(rng):
    d = Dropout(0.5)
    d.mask = rng.random((4, 5)) > 0.5
    cr.gradcheck(d, rng.standard_normal((4, 5)))


def test_gradcheck_holds_a_drawn_mask_fixed(rng):
    # No mask given: gradcheck draws one and then keeps it for every difference.
    cr.gradcheck(Dropout(0.5, rng=0), rng.standard_normal((4, 5)))


def test_eval_mode_is_identity(rng):
    d = Dropout(0.9).eval()
    x = rng.standard_normal((3, 4))
    assert d(x) is x
    dy = rng.standard_normal((3, 4))
    assert d.backward(dy) is dy


def test_p_zero_is_identity(rng):
    x = rng.standard_normal((2, 2))
    np.testing.assert_array_equal(Dropout(0.0)(x), x)


def test_random_mask_keeps_about_one_minus_p():
    d = Dropout(0.3, rng=0)
    y = d(np.ones((200, 100)))
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7)  # inverted: the mean stays 1
    np.testing.assert_array_equal(d.last_mask, kept)


def test_same_seed_same_mask():
    x = np.ones((10, 10))
    np.testing.assert_array_equal(Dropout(0.5, rng=7)(x), Dropout(0.5, rng=7)(x))


def test_cr_seed_reproduces_masks():
    x = np.ones((10, 10))
    cr.seed(3)
    a = Dropout(0.5)(x)
    cr.seed(3)
    np.testing.assert_array_equal(Dropout(0.5)(x), a)


def test_float32_stays_float32():
    d = Dropout(0.5, rng=0)
    assert d(np.ones((2, 3), np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, bool])
def test_integer_and_boolean_inputs_are_scaled_as_floats(dtype):
    # 1 / (1 - p) cannot be held in an integer: the kept values must be 1/0.7.
    y = Dropout(0.3, rng=0)(np.ones((4, 8), dtype))
    assert y.dtype == np.float32
    kept = y[y != 0]
    assert kept.size and np.allclose(kept, 1 / 0.7)


def test_mask_shape_mismatch():
    d = Dropout(0.5)
    d.mask = np.ones((2, 2), bool)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "the fixed mask has shape (2, 2) but the input has shape (3, 2)."
        ),
    ):
        d(np.ones((3, 2)))


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, "0.5", True])
def test_invalid_p(p):
    with pytest.raises(
        ValueError, match=re.escape("Dropout: p must be a number in [0, 1); got")
    ):
        Dropout(p)


def test_repr():
    assert repr(Dropout(0.5)) == "Dropout(p=0.5)"


@pytest.mark.parametrize("make", [lambda: Dropout(0.0), lambda: Dropout(0.5).eval()])
def test_last_mask_is_none_after_an_identity_forward(make):
    d = make()
    d(np.ones((2, 3), np.float32))
    assert d.last_mask is None
