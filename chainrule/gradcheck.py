"""Finite-difference gradient checks with a report you can act on.

For a module f and a random upstream gradient dy, the scalar
``s(theta) = sum(f(x; theta) * dy)`` has ds/dtheta equal to what ``backward(dy)``
adds into each parameter's grad, and ds/dx equal to what it returns. The
checker compares both with central differences

    ds/dtheta_i ~ (s(theta + eps e_i) - s(theta - eps e_i)) / (2 eps),

element by element for small tensors and along random directions v
(``<grad, v>`` against ``(s(theta + eps v) - s(theta - eps v)) / (2 eps)``) for
large ones. It always runs in float64, on a copy of the module, so the model
you pass is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backend import no_grad
from .losses import Loss
from .module import Module


@dataclass
class TensorCheck:
    """The comparison for one tensor (an input or a parameter)."""

    name: str
    shape: tuple[int, ...]
    method: str  # "elements" or "directions(k)"
    worst_index: tuple[int, ...] | int
    numeric: float
    analytic: float
    abs_error: float
    rel_error: float
    passed: bool
    kinks: int = 0  # elements or directions at a point without a derivative
    #: The largest |numeric gradient| over the tensor: what the errors are
    #: small or large against.
    scale: float = 0.0


@dataclass
class GradcheckReport:
    """Every tensor's check; ``passed`` when all passed."""

    checks: list[TensorCheck] = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def _repr_html_(self) -> str:
        """For Jupyter: the report as a table, failed tensors in red."""
        from ._html import gradcheck_html

        return gradcheck_html(self)

    #: The table's columns, for the text (``str``) and the HTML view.
    COLUMNS = (
        "tensor",
        "shape",
        "checked",
        "worst at",
        "numeric",
        "analytic",
        "abs err",
        "rel err",
        "|grad| max",
        "",
    )

    def rows(self) -> list[tuple[str, ...]]:
        """One row of cells (text) per tensor, in ``COLUMNS`` order."""
        return [
            (
                c.name,
                str(c.shape),
                c.method,
                str(c.worst_index),
                f"{c.numeric:.6g}",
                f"{c.analytic:.6g}",
                f"{c.abs_error:.2e}",
                f"{c.rel_error:.2e}",
                f"{c.scale:.3g}",
                "ok" if c.passed else "FAIL",
            )
            for c in self.checks
        ]

    @property
    def verdict(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"gradient check {verdict} (atol={self.atol:g}, rtol={self.rtol:g})"

    def __str__(self) -> str:
        rows = [self.COLUMNS, *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.COLUMNS))]
        lines = [
            "  ".join(r[i].ljust(widths[i]) for i in range(len(r))).rstrip()
            for r in rows
        ]
        return "\n".join([*lines, self.verdict])


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` on a mismatch; ``.report`` holds the details."""

    def __init__(self, report: GradcheckReport) -> None:
        self.report = report
        failed = [c for c in report.checks if not c.passed]
        worst = max(failed, key=lambda c: c.abs_error)
        super().__init__(
            f"gradient check failed for {', '.join(c.name for c in failed)}; worst: "
            f"{worst.name}[{worst.worst_index}] numeric {worst.numeric:.8g} vs analytic "
            f"{worst.analytic:.8g} (abs err {worst.abs_error:.2e}, rel err "
            f"{worst.rel_error:.2e})\n{report}"
        )


def _compare(
    name, shape, numeric, analytic, one_sided, method, atol, rtol, index_of, noise=0.0
) -> TensorCheck:
    numeric = np.asarray(numeric, dtype=np.float64)
    analytic = np.asarray(analytic, dtype=np.float64)
    left, right = one_sided
    abs_err = np.abs(numeric - analytic)
    # ``noise``: what rounding the objective alone puts into the difference
    # quotient, which no backward can be held to.
    bound = atol + rtol * np.abs(numeric) + noise
    # At a kink (ReLU at 0, a max-pool tie, a Step) the function has no
    # derivative: its left and right slopes differ, the central difference
    # lands between them, and backward returns one of them (or a mix, for
    # several ties at once). Such a point says nothing about backward, so a
    # mismatch there is counted apart instead of failing: when the slopes
    # differ by more than the tolerance and the analytic value lies between
    # them. At a smooth point the slopes differ only by eps |f''|, so a wrong
    # analytic value falls outside that sliver and still fails.
    # Written so that NaN fails: a backward returning NaN (or a function NaN
    # at the point) certifies nothing.
    fails = ~(abs_err <= bound) | ~np.isfinite(numeric) | ~np.isfinite(analytic)
    low = np.minimum(left, right) - bound
    high = np.maximum(left, right) + bound
    kink = (
        fails
        & (np.abs(left - right) > 2 * bound)
        & (analytic >= low)
        & (analytic <= high)
    )
    failing = fails & ~kink
    # The row shows the element a reader should look at: the failing one
    # furthest past its bound; else the largest absolute error, and among
    # equal errors (all zero, often) the largest gradient, not an element
    # whose gradient happens to be 0.
    if failing.any():
        worst = int(np.argmax(np.where(failing, abs_err - bound, -np.inf)))
    elif abs_err.size:
        err = np.where(kink, -1.0, abs_err)
        worst = int(np.lexsort((np.abs(numeric), err))[-1])
    else:
        worst = 0
    denom = max(abs(numeric[worst]), abs(analytic[worst]), 1e-300)
    n_kinks = int(kink.sum())
    if n_kinks:
        method += f", {n_kinks} at kinks"
    return TensorCheck(
        name=name,
        shape=tuple(shape),
        method=method,
        worst_index=index_of(worst),
        numeric=float(numeric[worst]),
        analytic=float(analytic[worst]),
        abs_error=float(abs_err[worst]),
        rel_error=float(abs_err[worst] / denom),
        # every point at a kink would check nothing: that is not a pass
        passed=not bool(failing.any()) and not (n_kinks and n_kinks == kink.size),
        kinks=n_kinks,
        scale=float(np.abs(numeric).max()) if numeric.size else 0.0,
    )


def _check_tensor(
    name,
    array,
    analytic,
    objective,
    f0,
    eps,
    atol,
    rtol,
    max_elements,
    n_directions,
    rng,
) -> TensorCheck:
    """Perturb ``array`` in place (restoring it) and compare with ``analytic``.

    ``f0`` is the objective at the unperturbed point, for the one-sided slopes.
    """
    flat = array.reshape(-1)  # a view: array is contiguous float64 by construction
    grad = np.asarray(analytic, dtype=np.float64).reshape(-1)
    saved = flat.copy()
    elementwise = flat.size <= max_elements
    n = flat.size if elementwise else n_directions
    method = "elements" if elementwise else f"directions({n_directions})"
    plus, minus, expected = np.empty(n), np.empty(n), np.empty(n)
    # The step is relative for large values: eps added to 1e6 is mostly lost
    # to rounding (float64 holds about 16 digits), and a correct gradient
    # would fail. h = eps max(1, |x|) element by element, or for the largest
    # value along a direction.
    if elementwise:
        h = eps * np.maximum(1.0, np.abs(saved[:n]))
    else:
        h = np.full(n, eps * max(1.0, float(np.abs(saved).max(initial=0.0))))
    for k in range(n):
        if elementwise:
            flat[k] = saved[k] + h[k]
            plus[k] = objective()
            flat[k] = saved[k] - h[k]
            minus[k] = objective()
            flat[k] = saved[k]
            expected[k] = grad[k]
        else:
            v = rng.standard_normal(flat.size)
            v /= np.linalg.norm(v)
            flat[:] = saved + h[k] * v
            plus[k] = objective()
            flat[:] = saved - h[k] * v
            minus[k] = objective()
            flat[:] = saved
            expected[k] = grad @ v
    numeric = (plus - minus) / (2 * h)
    one_sided = ((f0 - minus) / h, (plus - f0) / h)
    # f(x +- h) are rounded to about 1e-16 of their size: with a large
    # objective (inputs of 1e6) that alone moves the quotient by ~1e-16 |f| / h.
    size = np.maximum(np.abs(f0), np.maximum(np.abs(plus), np.abs(minus)))
    noise = 4 * np.finfo(np.float64).eps * size / h
    if elementwise:

        def index_of(i):
            return tuple(int(v) for v in np.unravel_index(i, array.shape))

    else:

        def index_of(i):
            return f"dir {i}"

    return _compare(
        name, array.shape, numeric, expected, one_sided, method, atol, rtol, index_of,
        noise,
    )  # fmt: skip


def numerical_gradient(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dF/d(array) by central differences, element by element.

    (F(a + eps e_i) - F(a - eps e_i)) / (2 eps) for every element i, perturbing
    ``array`` in place and restoring it; ``f()`` must read ``array`` and return
    a float. Use float64 arrays.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> w = np.array([1.0, 2.0])
    >>> cr.numerical_gradient(lambda: float((w ** 2).sum()), w).round(6).tolist()
    [2.0, 4.0]
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    for i in np.ndindex(array.shape):
        saved = array[i]
        array[i] = saved + eps
        plus = f()
        array[i] = saved - eps
        minus = f()
        array[i] = saved
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(
    module: Module,
    *inputs: np.ndarray,
    dy=None,
    eps: float = 1e-6,
    atol: float = 1e-7,
    rtol: float = 1e-5,
    max_elements: int = 400,
    n_directions: int = 8,
    seed: int = 0,
    check_inputs: bool = True,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Check a module's backward against central differences, in float64.

    Parameters
    ----------
    module : Module
        A layer or a model. It is copied and the copy converted to float64;
        Dropout masks are drawn once and then held fixed.
    *inputs : ndarray
        The input batch (several arrays for a multi-input graph). Keep ReLU
        inputs away from 0 and max-pool windows free of ties: at a kink the
        derivative does not exist and no finite difference can agree.
    dy : ndarray or tuple, optional
        The upstream gradient; random normal by default.
    eps, atol, rtol : float
        Step and tolerances: an element passes when
        |numeric - analytic| <= atol + rtol |numeric|.
    max_elements : int
        Tensors with more elements are checked along ``n_directions`` random
        unit directions instead of element by element.
    seed : int
        Seeds the random ``dy`` and directions.
    check_inputs : bool
        Also check dL/dx for each input.
    raise_on_failure : bool
        Raise :class:`GradcheckError` (with the report) on any mismatch.

    Returns
    -------
    GradcheckReport
        One row per tensor: worst index, numeric and analytic values, errors.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> report = cr.gradcheck(cr.layers.Linear(3, 2, rng=0), np.ones((4, 3)))
    >>> report.passed
    True
    """
    if not isinstance(module, Module):
        raise TypeError(
            f"gradcheck: expected a chainrule Module; got {type(module).__name__}."
        )
    if not inputs:
        raise ValueError("gradcheck: pass at least one input array.")
    rng = np.random.default_rng(seed)
    m = module.copy().to(np.float64)
    # Own C-contiguous copies: _check_tensor perturbs each tensor through a flat
    # view, and reshape(-1) of a transposed array would be a copy instead.
    xs = [np.array(x, dtype=np.float64, order="C") for x in inputs]
    for i, x in enumerate(xs):
        if not np.isfinite(x).all():  # no difference quotient exists there
            raise ValueError(f"gradcheck: input {i} holds NaN or inf.")
    for p in m.parameters():
        p.data = np.ascontiguousarray(p.data)

    m.forward(*xs)
    # Repeated forwards must compute one function: Dropout holds its mask.
    for sub in m.modules():
        sub.freeze_randomness()
    m.zero_grad()
    y = m.forward(*xs)
    ys = y if isinstance(y, tuple) else (y,)
    if dy is None:
        dys = tuple(rng.standard_normal(v.shape) for v in ys)
    else:
        dys = tuple(
            np.asarray(d, dtype=np.float64)
            for d in (dy if isinstance(dy, tuple) else (dy,))
        )
        got, want = [d.shape for d in dys], [v.shape for v in ys]
        if got != want:
            raise ValueError(
                f"gradcheck: dy must have the shape of the output{'s' * (len(want) > 1)} "
                f"{', '.join(map(str, want))}; got {', '.join(map(str, got))}."
            )
    dx = m.backward(dys if isinstance(y, tuple) else dys[0])
    dxs = dx if isinstance(dx, tuple) else (dx,)

    def objective() -> float:
        with no_grad():
            out = m.forward(*xs)
        outs = out if isinstance(out, tuple) else (out,)
        return float(sum(np.sum(o * d) for o, d in zip(outs, dys)))

    report = GradcheckReport(atol=atol, rtol=rtol)
    common = (objective, objective(), eps, atol, rtol, max_elements, n_directions, rng)
    if check_inputs:
        for i, (x, g) in enumerate(zip(xs, dxs)):
            name = "input" if len(xs) == 1 else f"input[{i}]"
            report.checks.append(_check_tensor(name, x, g, *common))
    for name, p in m.named_parameters():
        report.checks.append(_check_tensor(name, p.data, p.grad, *common))
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


def gradcheck_loss(
    loss: Loss,
    y: np.ndarray,
    t,
    sample_weight=None,
    eps: float = 1e-6,
    atol: float = 1e-7,
    rtol: float = 1e-5,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Check a loss's ``backward()`` (dL/dy) against central differences in float64."""
    if not isinstance(loss, Loss):
        raise TypeError(
            f"gradcheck_loss: loss must be a chainrule Loss (cr.losses.MSE(), ...); "
            f"got {type(loss).__name__}."
        )
    y = np.array(y, dtype=np.float64, order="C")  # perturbed through a flat view
    if not np.isfinite(y).all():
        raise ValueError("gradcheck_loss: y holds NaN or inf.")
    if np.asarray(t).dtype.kind == "f":
        t = np.asarray(t, dtype=np.float64)
    loss.forward(y, t, sample_weight)
    g = loss.backward()

    def objective() -> float:
        with no_grad():
            return loss.forward(y, t, sample_weight)

    report = GradcheckReport(atol=atol, rtol=rtol)
    report.checks.append(
        _check_tensor(
            "y", y, g, objective, objective(), eps, atol, rtol, 10**9, 0, None
        )
    )
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report
