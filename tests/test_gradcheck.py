import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.layers import Linear


class BadBiasLinear(Linear):
    """Linear whose backward doubles the bias gradient: a bug to be caught."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.bias.grad += dy.reshape(-1, self.out_features).sum(axis=0)
        return dx


class BadInputLinear(Linear):
    """Linear whose backward forgets the transpose's partner: dx = dy @ W * 0.5."""

    def backward(self, dy):
        return 0.5 * super().backward(dy)


class BadMSE(cr.losses.MSE):
    def backward(self):
        return 2 * super().backward()


def test_passes_on_a_correct_layer(rng):
    report = cr.gradcheck(Linear(3, 2, rng=0), rng.standard_normal((4, 3)))
    assert report.passed
    assert [c.name for c in report.checks] == ["input", "weight", "bias"]
    assert all(c.method == "elements" for c in report.checks)
    text = str(report)
    assert text.splitlines()[0].split()[:4] == ["tensor", "shape", "checked", "worst"]
    assert text.endswith("gradient check passed (atol=1e-07, rtol=1e-05)")


def test_finds_a_wrong_parameter_gradient(rng):
    with pytest.raises(
        cr.GradcheckError, match="gradient check failed for bias; worst: bias\\["
    ) as info:
        cr.gradcheck(BadBiasLinear(3, 2, rng=0), rng.standard_normal((4, 3)))
    report = info.value.report
    failed = [c for c in report.checks if not c.passed]
    assert [c.name for c in failed] == ["bias"]
    assert failed[0].analytic == pytest.approx(2 * failed[0].numeric, rel=1e-6)
    assert "FAIL" in str(report) and "gradient check FAILED" in str(report)


def test_finds_a_wrong_input_gradient(rng):
    with pytest.raises(cr.GradcheckError, match="gradient check failed for input;"):
        cr.gradcheck(BadInputLinear(3, 2, rng=0), rng.standard_normal((4, 3)))
    report = cr.gradcheck(
        BadInputLinear(3, 2, rng=0), rng.standard_normal((4, 3)), check_inputs=False
    )
    assert report.passed


def test_report_without_raising(rng):
    report = cr.gradcheck(
        BadBiasLinear(3, 2, rng=0), rng.standard_normal((4, 3)), raise_on_failure=False
    )
    assert not report.passed
    worst = next(c for c in report.checks if c.name == "bias")
    assert isinstance(worst.worst_index, tuple) and worst.rel_error > 0.1


def test_large_tensors_are_checked_along_directions(rng):
    report = cr.gradcheck(
        Linear(30, 20, rng=0), rng.standard_normal((2, 30)), max_elements=100
    )
    methods = {c.name: c.method for c in report.checks}
    assert methods == {
        "input": "elements",
        "weight": "directions(8)",
        "bias": "elements",
    }
    with pytest.raises(cr.GradcheckError, match="worst: bias"):
        cr.gradcheck(
            BadBiasLinear(30, 20, rng=0), rng.standard_normal((2, 30)), max_elements=10
        )


def test_leaves_the_module_untouched(rng):
    layer = Linear(3, 2, rng=0)
    before = layer.weight.data.copy()
    cr.gradcheck(layer, rng.standard_normal((4, 3)))
    assert layer.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, before)
    assert not layer.weight.grad.any() and layer.cache is None


def test_given_dy(rng):
    report = cr.gradcheck(
        Linear(3, 2, rng=0), rng.standard_normal((4, 3)), dy=np.ones((4, 2))
    )
    assert report.passed


def test_argument_errors():
    with pytest.raises(
        TypeError, match="gradcheck: expected a chainrule Module; got function."
    ):
        cr.gradcheck(lambda x: x, np.ones((1, 1)))
    with pytest.raises(ValueError, match="gradcheck: pass at least one input array."):
        cr.gradcheck(Linear(1, 1))


def test_gradcheck_loss(rng):
    y, t = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    assert cr.gradcheck_loss(cr.losses.MSE(), y, t).passed
    with pytest.raises(
        cr.GradcheckError, match=re.escape("gradient check failed for y;")
    ):
        cr.gradcheck_loss(BadMSE(), y, t)
    assert not cr.gradcheck_loss(BadMSE(), y, t, raise_on_failure=False).passed


def test_non_contiguous_input(rng):
    # A transposed input: the perturbations must still reach the array checked.
    x = rng.standard_normal((2, 2, 5, 6)).transpose(0, 1, 3, 2)
    assert not x.flags.c_contiguous
    cr.gradcheck(cr.layers.Conv2D(2, 2, 3, stride=2, padding=1, rng=0), x)
    cr.gradcheck(cr.layers.Tanh(), rng.standard_normal((3, 4)).T)


def test_non_contiguous_parameter(rng):
    layer = Linear(3, 4, rng=0)
    layer.weight.data = np.asfortranarray(layer.weight.data.astype(np.float64))
    cr.gradcheck(layer, rng.standard_normal((2, 3)))


def test_gradcheck_loss_non_contiguous_predictions(rng):
    y, t = rng.standard_normal((3, 4)).T, rng.standard_normal((4, 3))
    cr.gradcheck_loss(cr.losses.MSE(), y, t)


def test_kinks_are_counted_apart_not_failed():
    # ReLU at exactly 0 has no derivative: those elements are set aside.
    x = np.array([[0.0, 0.5, -0.5, 0.0]])
    report = cr.gradcheck(cr.layers.ReLU(), x)
    check = report.checks[0]
    assert check.kinks == 2 and check.method == "elements, 2 at kinks"
    # ... while a real error at a smooth point still fails.
    with pytest.raises(cr.GradcheckError, match="worst: bias"):
        cr.gradcheck(BadBiasLinear(3, 2, rng=0), np.ones((2, 3)))


def test_all_points_at_kinks_is_not_a_pass():
    report = cr.gradcheck(cr.layers.ReLU(), np.zeros((1, 3)), raise_on_failure=False)
    assert not report.passed


def test_smooth_point_with_large_curvature_is_not_taken_for_a_kink():
    # tanh(100 x) at x = 0.005 bends sharply, so the one-sided slopes differ by
    # eps |f''|; that alone must neither fail the check nor hide a point.
    lin = cr.layers.Linear(1, 1, bias=False)
    lin.weight.data[:] = 100.0
    model = cr.Sequential(lin, cr.layers.Tanh())
    report = cr.gradcheck(model, np.array([[0.005]]), dy=np.ones((1, 1)))
    assert all(c.kinks == 0 for c in report.checks)
    report = cr.gradcheck(
        cr.layers.Sigmoid(), np.array([[1.0]]), dy=np.ones((1, 1)), atol=1e-8, rtol=0
    )
    assert report.passed and report.checks[0].kinks == 0


def test_relu_at_zero_is_reported_as_a_kink_not_a_failure():
    report = cr.gradcheck(cr.layers.ReLU(), np.array([[0.0, 1.0, -1.0]]))
    assert report.passed
    assert report.checks[0].kinks == 1
    assert "1 at kinks" in str(report)


def test_the_worst_row_shows_an_element_with_a_gradient(rng):
    """Dead ReLU units give their biases a zero gradient, checked exactly; the
    row must not show one of those (0 vs 0) when others are up to 1 or more,
    and it gives the gradient's scale beside the errors."""
    layer = Linear(3, 6, rng=0).to(np.float64)
    layer.bias.data[:] = [-50.0, -50.0, -50.0, 0.5, 1.0, 2.0]  # three dead
    model = cr.Sequential(layer, cr.layers.ReLU())
    report = cr.gradcheck(model, rng.uniform(-1, 1, (5, 3)), seed=0)
    bias = next(c for c in report.checks if c.name == "0.bias")
    assert report.passed and bias.method == "elements"
    assert bias.worst_index[0] in (3, 4, 5)
    assert bias.numeric != 0.0
    # Every bias element is checked, so the worst error sits on the largest
    # gradient only when all errors tie; the scale is at least what is shown.
    assert bias.scale >= abs(bias.numeric) > 0
    header = str(report).splitlines()[0]
    assert header.split()[-2:] == ["|grad|", "max"]


class NanBackward(cr.Module):
    """y = x^2 with a backward that returns NaN: certified correct before."""

    def forward(self, x):
        self.keep_cache(x)
        return x * x

    def backward(self, dy):
        self.take_cache()
        return dy * np.nan


def test_a_nan_gradient_fails():
    x = np.random.default_rng(0).standard_normal((4, 3))
    report = cr.gradcheck(NanBackward(), x, raise_on_failure=False)
    assert not report.passed
    inside = cr.Sequential(Linear(3, 3, rng=0), NanBackward(), Linear(3, 2, rng=1))
    assert not cr.gradcheck(inside, x, raise_on_failure=False).passed


@pytest.mark.parametrize("scale", [1e6, 1e10])
def test_a_correct_layer_passes_at_large_inputs(scale):
    # eps = 1e-6 added to 1e6 was lost to rounding, and a correct Linear failed
    # (with "kinks" an affine function does not have).
    x = np.random.default_rng(0).standard_normal((4, 3)) * scale
    report = cr.gradcheck(Linear(3, 2, rng=0), x, raise_on_failure=False)
    assert report.passed, report
    assert all(c.kinks == 0 for c in report.checks)


def test_gradcheck_names_bad_arguments():
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"dy must have the shape of the output \(4, 2\); got \(1, 2\)"):
        cr.gradcheck(Linear(3, 2, rng=0), x, dy=np.ones((1, 2)))
    with pytest.raises(ValueError, match="gradcheck: input 0 holds NaN or inf"):
        cr.gradcheck(Linear(3, 2, rng=0), np.full((2, 3), np.inf))
    with pytest.raises(TypeError, match="gradcheck_loss: loss must be a chainrule Loss"):
        cr.gradcheck_loss("mse", x, x)
    with pytest.raises(ValueError, match="gradcheck_loss: y holds NaN or inf"):
        cr.gradcheck_loss(cr.losses.MSE(), np.full((2, 3), np.nan), x[:2])
