"""Example 1: polynomial regression by gradient descent (seed 001).

The seed fits f_w(x) = w2 x^2 + w1 x + w0 to data D = {(x_i, t_i)} by
minimising the squared error, and differentiates it with the chain rule:

    dL/dw = sum_i 2 (w2 x_i^2 + w1 x_i + w0 - t_i) (1, x_i, x_i^2)
    w <- w - eta dL/dw                               (gradient descent, GD)

f_w is linear in w, so it is one ``Linear(3, 1, bias=False)`` layer applied
to the features phi(x) = (1, x, x^2): its weight row *is* (w0, w1, w2).
``cr.losses.MSE`` is the seed's loss averaged and halved, L = 1/(2N) sum_i
(f_w(x_i) - t_i)^2, so the step size does not depend on N.

Full-batch GD (``batch_size=N``) takes one step per pass over the data;
mini-batch SGD (seed 001, "stochastic gradient descent") takes N/B steps per
pass from gradients of B samples each. With the same eta, SGD gets close to the
least-squares solution in far fewer passes. A constant eta leaves SGD jittering
around the solution (the mini-batch gradient is noisy even there, by about
eta * noise^2 / (2B) in variance per weight), so to settle to 1e-3 it halves its
step every 5 passes. GD needs no such decay: its gradient is exact.

Run:  python examples/01_polynomial_regression.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line

import chainrule as cr

OUT = Path(__file__).resolve().parent / "output"
TRUE_W = (1.0, -2.0, 3.0)  # (w0, w1, w2): t = 3 x^2 - 2 x + 1 + noise
TOL = 1e-3


def features(x: np.ndarray) -> np.ndarray:
    """phi(x) = (1, x, x^2), shape (N, 3): the seed's gradient vector."""
    return np.hstack([np.ones_like(x), x, x**2])


class Tracker(cr.callbacks.Callback):
    """After every pass: the loss on all the data and max_k |w_k - w*_k|."""

    def __init__(self, phi, t, w_star):
        self.phi, self.t, self.w_star = phi, t, w_star
        self.loss, self.error = [], []

    def record(self, model):
        w = model[0].weight.data.ravel()
        self.loss.append(cr.evaluate(model, cr.losses.MSE(), self.phi, self.t)["loss"])
        self.error.append(float(np.abs(w - self.w_star).max()))

    def on_train_begin(self, trainer):
        self.record(trainer.model)  # pass 0: the starting point w = 0

    def on_epoch_end(self, trainer, logs):
        self.record(trainer.model)


def train(phi, t, w_star, lr, batch_size, passes, halve_every=None, seed=0):
    """Train f_w from w = 0; return the Tracker (loss and error per pass)."""
    model = cr.Sequential(cr.layers.Linear(3, 1, bias=False, init="zeros"))
    model.to(np.float64)  # float64, so that 1e-3 is far above rounding
    optimizer = cr.optim.SGD(model, lr=lr)  # plain w <- w - eta dL/dw
    tracker = Tracker(phi, t, w_star)
    callbacks = [tracker]
    if halve_every:
        decay = cr.optim.StepDecay(optimizer, step_size=halve_every, gamma=0.5)
        callbacks.append(cr.callbacks.LearningRateScheduler(decay))
    cr.fit(
        model,
        cr.losses.MSE(),
        optimizer,
        phi,
        t,
        epochs=passes,
        batch_size=batch_size,
        seed=seed,
        verbose=0,
        callbacks=callbacks,
    )
    tracker.w = model[0].weight.data.ravel().copy()
    return tracker


def passes_to_reach(error: list[float], tol: float = TOL) -> int | None:
    """The first pass after which the error stays below tol (None if never)."""
    below = np.asarray(error) < tol
    for k in range(len(below)):
        if below[k:].all():
            return k
    return None


def run(fast: bool = False, out: str | Path | None = OUT) -> dict:
    n, lr, batch = 1000, 1.0, 20
    passes = 120 if fast else 150
    x, t = cr.data.polynomial(n, coeffs=TRUE_W, noise=0.1, seed=0)
    x, t = x.astype(np.float64), t.astype(np.float64)
    phi = features(x)
    # The exact minimiser of the squared error, for reference.
    w_star = np.linalg.lstsq(phi, t, rcond=None)[0].ravel()

    gd = train(phi, t, w_star, lr, batch_size=n, passes=passes)
    sgd_const = train(phi, t, w_star, lr, batch_size=batch, passes=passes)
    sgd = train(phi, t, w_star, lr, batch, passes, halve_every=5)

    results = {
        "w_star": w_star,
        "w_gd": gd.w,
        "w_sgd": sgd.w,
        "error_gd": gd.error[-1],
        "error_sgd": sgd.error[-1],
        "error_sgd_constant_lr": sgd_const.error[-1],
        "passes_gd": passes_to_reach(gd.error),
        "passes_sgd": passes_to_reach(sgd.error),
        "loss_star": cr.evaluate(_fixed_model(w_star), cr.losses.MSE(), phi, t)["loss"],
    }
    if out is not None:
        results["figure"] = plot(x, t, gd, sgd_const, sgd, results, lr, batch, out)
    return results


def _fixed_model(w):
    model = cr.Sequential(cr.layers.Linear(3, 1, bias=False)).to(np.float64)
    model[0].weight.data[...] = w
    return model


def plot(x, t, gd, sgd_const, sgd, r, lr, batch, out) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.6), dpi=100)
    ax_data, ax_loss, ax_err = fig.subplots(1, 3)
    grid = np.linspace(x.min(), x.max(), 200)[:, None]
    ax_data.scatter(x[::4], t[::4], s=8, color="0.6", label="data (every 4th)")
    ax_data.plot(grid, features(grid) @ r["w_sgd"], color="tab:red", label="SGD fit")
    ax_data.set(xlabel="x", ylabel="t", title="Data and fitted $w_2x^2 + w_1x + w_0$")
    ax_data.legend()

    curves = [
        (gd, "GD (batch = all 1000)", "tab:blue", "-"),
        (sgd_const, f"SGD, batch {batch}, constant $\\eta$", "tab:orange", ":"),
        (sgd, f"SGD, batch {batch}, $\\eta$ halved every 5", "tab:red", "-"),
    ]
    for tracker, label, colour, style in curves:
        passes = np.arange(len(tracker.loss))
        excess = np.maximum(np.array(tracker.loss) - r["loss_star"], 1e-16)
        ax_loss.semilogy(passes, excess, style, color=colour, label=label)
        ax_err.semilogy(passes, tracker.error, style, color=colour, label=label)
    ax_loss.set(
        xlabel="passes over the data (epochs)",
        ylabel="$L(w) - L(w^*)$ (log scale)",
        title=f"Loss above the least-squares minimum, $\\eta$ = {lr}",
    )
    ax_err.axhline(TOL, color="black", linewidth=0.8, linestyle="--")
    ax_err.text(len(gd.error) - 1, TOL * 1.3, "1e-3", ha="right")
    ax_err.set(
        xlabel="passes over the data (epochs)",
        ylabel="$\\max_k |w_k - w^*_k|$ (log scale)",
        title="Distance to the lstsq solution $w^*$",
    )
    ax_loss.legend()
    ax_err.legend()
    fig.tight_layout()
    path = Path(out) / "01_polynomial_regression.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def report(r: dict) -> None:
    """Print what the run found."""
    np.set_printoptions(precision=5, suppress=True)
    print(f"least squares w* = {r['w_star']}")
    print(f"GD            w  = {r['w_gd']}  max error {r['error_gd']:.1e}")
    print(f"SGD           w  = {r['w_sgd']}  max error {r['error_sgd']:.1e}")
    print(f"SGD with a constant eta ends {r['error_sgd_constant_lr']:.1e} away")
    print(f"passes to stay within {TOL:g}: GD {r['passes_gd']}, SGD {r['passes_sgd']}")


def main(argv=None) -> None:
    example_main(run, __doc__, OUT, argv, report)


if __name__ == "__main__":
    main()
