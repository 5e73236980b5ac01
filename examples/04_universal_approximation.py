"""Example 4: one hidden layer approximates a smooth function (seed 002).

Seed 002: "a network with a single hidden layer of nonlinear units (with a
wide ranging choice of squashing functions like the sigmoid unit) and a single
(linear) output layer can compute almost any 'reasonable' function." Here the
network is

    f(x) = sum_j v_j tanh(w_j x + b_j) + c          (50 hidden units j)

trained on sin(x) for x in [-pi, pi] with the squared error and an identity
output (seed 003: "MSE + identity output for regression"). Each hidden unit
contributes one smooth step v_j tanh(w_j x + b_j); their sum is the fit.

Run:  python examples/04_universal_approximation.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line

import chainrule as cr

OUT = Path(__file__).resolve().parent / "output"
L = cr.layers


def make_model(hidden: int = 50, seed: int = 0) -> cr.Sequential:
    rng = np.random.default_rng(seed)
    model = cr.Sequential(
        # "he" draws slopes w_j of spread sqrt(2): steep and shallow steps, where
        # "glorot" (about 0.3 here) would leave every unit nearly linear.
        L.Linear(1, hidden, rng=rng, init="he"),
        L.Tanh(),
        L.Linear(hidden, 1, rng=rng, init="glorot"),  # linear output: no activation
    ).to(np.float64)
    # Unit j steps at x = -b_j / w_j. Biases of 0 would put every step at x = 0
    # (and keep them there: sin is odd), so spread the steps over [-pi, pi].
    centres = rng.uniform(-np.pi, np.pi, hidden)
    model[0].bias.data[...] = -model[0].weight.data[:, 0] * centres
    return model


def contributions(model: cr.Sequential, x: np.ndarray) -> np.ndarray:
    """v_j tanh(w_j x + b_j) for each hidden unit j, shape (N, hidden)."""
    h = np.tanh(x @ model[0].weight.data.T + model[0].bias.data)
    return h * model[2].weight.data[0]


def run(fast: bool = False, out: str | Path | None = OUT, hidden: int = 50) -> dict:
    epochs = 250 if fast else 400
    x = np.linspace(-np.pi, np.pi, 256)[:, None]
    t = np.sin(x)
    model = make_model(hidden)
    opt = cr.optim.Adam(model, lr=0.01)
    # Lower the step towards 0 over the run (cosine), so the fit settles.
    schedule = cr.callbacks.LearningRateScheduler(cr.optim.CosineDecay(opt, epochs))
    history = cr.fit(
        model,
        cr.losses.MSE(),
        opt,
        x,
        t,
        epochs=epochs,
        batch_size=16,
        seed=0,
        verbose=0,
        callbacks=[schedule],
    )
    # Judge the fit on points between the training points: plain mean of (f - t)^2
    # (cr.losses.MSE carries the seeds' 1/2, so it would report half of this).
    x_test = np.linspace(-np.pi, np.pi, 1001)[:, None]
    f_test = cr.predict(model, x_test)
    mse = float(np.mean((f_test - np.sin(x_test)) ** 2))
    results = {
        "mse": mse,
        "max_abs_error": float(np.abs(f_test - np.sin(x_test)).max()),
        "hidden": hidden,
        "loss_history": history["loss"],
    }
    if out is not None:
        results["figure"] = plot(model, x_test, f_test, history, mse, out)
    return results


def plot(model, x, f, history, mse, out) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.6), dpi=100)
    ax_fit, ax_units, ax_loss = fig.subplots(1, 3)
    ax_fit.plot(x, np.sin(x), color="black", linewidth=4, alpha=0.3, label="sin(x)")
    ax_fit.plot(x, f, "--", color="tab:red", label="network f(x)")
    ax_fit.set(
        xlabel="x",
        ylabel="y",
        title=f"50 tanh units fit sin(x): MSE {mse:.1e}",
    )
    ax_fit.legend()

    parts = contributions(model, x)
    biggest = np.argsort(-np.abs(parts).max(axis=0))[:10]
    for j in biggest:
        ax_units.plot(x, parts[:, j], linewidth=1)
    ax_units.plot(x, f, color="black", linewidth=2, label="sum of all 50 + c")
    ax_units.set(
        xlabel="x",
        ylabel="$v_j \\tanh(w_j x + b_j)$",
        title="The 10 largest hidden-unit contributions",
    )
    ax_units.legend(loc="upper left")

    ax_loss.semilogy(np.arange(1, len(history["loss"]) + 1), history["loss"])
    ax_loss.set(
        xlabel="epoch",
        ylabel="training loss $\\frac{1}{2N}\\sum (f - t)^2$ (log)",
        title="Training (Adam, batch 16, cosine-decayed step)",
    )
    fig.tight_layout()
    path = Path(out) / "04_universal_approximation.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def report(r: dict) -> None:
    """Print what the run found."""
    print(f"{r['hidden']} tanh units: mean squared error {r['mse']:.2e} on [-pi, pi]")
    print(f"largest |f(x) - sin(x)| = {r['max_abs_error']:.3f}")


def main(argv=None) -> None:
    example_main(run, __doc__, OUT, argv, report)


if __name__ == "__main__":
    main()
