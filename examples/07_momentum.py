"""Momentum: plain gradient descent against SGD with momentum 0.9.

Seed 003 adds a velocity to gradient descent, "if more updates are made in the
same direction, we will move in this direction faster":

    Delta theta <- alpha Delta theta - eta grad L(theta);   theta <- theta + Delta theta

chainrule's SGD writes the same rule as v <- mu v + g; theta <- theta - lr v
(Delta theta = -lr v, alpha = mu).

1. An ill-conditioned bowl L(w) = 1/2 (a w1^2 + b w2^2) with a = 1, b = 50
   (condition number b/a = 50). Its gradient (a w1, b w2) is set by hand on a
   Parameter, and cr.optim.SGD takes the steps. Plain descent must keep
   lr < 2/b to stay stable in the steep direction, and then crawls along the
   shallow one by a factor (1 - lr a) per step; momentum keeps the speed it
   builds up along the valley floor.
2. The same comparison on an MLP 784-64-10 (ReLU) on mnist5k, mini-batch SGD
   with the same learning rate, the same initial weights and the same batches.

Claim: momentum reaches the same loss in fewer steps, on both.

Run:  python examples/07_momentum.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line
from matplotlib.figure import Figure

import chainrule as cr

DEFAULT_OUT = Path(__file__).resolve().parent / "output"
A, B = 1.0, 50.0  # curvatures of the bowl: condition number B / A = 50
START = np.array([-9.0, 1.2])


def bowl_loss(w: np.ndarray) -> float:
    return 0.5 * (A * w[0] ** 2 + B * w[1] ** 2)


def descend_bowl(lr: float, momentum: float, steps: int) -> np.ndarray:
    """The points w_0, w_1, ... visited on the bowl, shape (steps + 1, 2)."""
    w = cr.Parameter(START.copy())
    opt = cr.optim.SGD([("w", w)], lr=lr, momentum=momentum)
    path = [w.data.copy()]
    for _ in range(steps):
        w.grad[:] = [A * w.data[0], B * w.data[1]]  # dL/dw, by hand
        opt.step()
        path.append(w.data.copy())
    return np.array(path)


def steps_to(losses: np.ndarray, threshold: float, every: int = 1) -> float:
    """The first step at which the loss is below ``threshold`` (inf if never)."""
    below = np.flatnonzero(np.asarray(losses) < threshold)
    return float(below[0] * every) if below.size else float("inf")


def train_mlp(momentum: float, steps: int, lr: float, every: int) -> np.ndarray:
    """Mini-batch SGD on mnist5k; the full training loss every ``every`` steps."""
    (x, y), _ = cr.data.load("mnist5k", flatten=True)
    L = cr.layers
    # The same initial weights and the same batches for both runs.
    model = cr.Sequential(L.Linear(784, 64, rng=1), L.ReLU(), L.Linear(64, 10, rng=2))
    loss = cr.losses.CrossEntropy()
    opt = cr.optim.SGD(model, lr=lr, momentum=momentum)
    rng = np.random.default_rng(0)
    batch_size = 64
    order = np.array([], dtype=np.int64)
    curve = []
    for step in range(steps + 1):
        if step % every == 0:
            curve.append(cr.evaluate(model, loss, x, y)["loss"])
        if step == steps:
            break
        if order.size < batch_size:  # a new epoch: a new random order
            order = np.concatenate([order, rng.permutation(len(x))])
        batch, order = order[:batch_size], order[batch_size:]
        opt.zero_grad()
        loss(model(x[batch]), y[batch])
        model.backward(loss.backward(), input_grad=False)
        opt.step()
    return np.array(curve)


def run(fast: bool = False, out: Path | str | None = None) -> dict:
    out = Path(out) if out is not None else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)

    # 1. The bowl. lr = 0.03 < 2/b = 0.04 keeps plain descent stable.
    lr, threshold, n = 0.03, 1e-3, 400
    plain = descend_bowl(lr, 0.0, n)
    heavy = descend_bowl(lr, 0.9, n)
    # Plain descent at its best rate lr = 2/(a + b), for a fairer fight.
    best = descend_bowl(2 / (A + B), 0.0, n)
    bowl = {
        name: np.array([bowl_loss(w) for w in path])
        for name, path in [("plain", plain), ("momentum", heavy), ("best", best)]
    }
    bowl_steps = {k: steps_to(v, threshold) for k, v in bowl.items()}
    print(
        f"bowl, condition number {B / A:.0f}: steps to L < {threshold:g}: "
        f"plain SGD (lr {lr}) {bowl_steps['plain']:.0f}, momentum 0.9 (lr {lr}) "
        f"{bowl_steps['momentum']:.0f}, plain SGD at its best lr 2/(a+b) "
        f"{bowl_steps['best']:.0f}"
    )

    # 2. The MLP.
    steps, every, mlp_lr = (200, 10, 0.02) if fast else (600, 10, 0.02)
    mlp_threshold = 0.8 if fast else 0.45
    curves = {
        "plain": train_mlp(0.0, steps, mlp_lr, every),
        "momentum": train_mlp(0.9, steps, mlp_lr, every),
    }
    mlp_steps = {k: steps_to(v, mlp_threshold, every) for k, v in curves.items()}
    print(
        f"MLP on mnist5k: steps to training loss < {mlp_threshold}: plain SGD "
        f"{mlp_steps['plain']:.0f}, momentum 0.9 {mlp_steps['momentum']:.0f} "
        f"(lr {mlp_lr}, batch 64; final losses {curves['plain'][-1]:.3f} and "
        f"{curves['momentum'][-1]:.3f})"
    )

    figure = out / "07_momentum.png"
    draw(
        plain,
        heavy,
        bowl,
        bowl_steps,
        threshold,
        lr,
        curves,
        mlp_steps,
        mlp_threshold,
        every,
        mlp_lr,
        figure,
    )
    return {
        "bowl_steps_plain": bowl_steps["plain"],
        "bowl_steps_momentum": bowl_steps["momentum"],
        "bowl_steps_plain_best_lr": bowl_steps["best"],
        "mlp_steps_plain": mlp_steps["plain"],
        "mlp_steps_momentum": mlp_steps["momentum"],
        "mlp_threshold": mlp_threshold,
        "figure": figure,
    }


def draw(
    plain,
    heavy,
    bowl,
    bowl_steps,
    threshold,
    lr,
    curves,
    mlp_steps,
    mlp_threshold,
    every,
    mlp_lr,
    path: Path,
) -> None:
    fig = Figure(figsize=(16, 5))
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.4, 1, 1]})
    colours = {"plain": "tab:blue", "momentum": "tab:orange", "best": "tab:grey"}

    g1, g2 = np.meshgrid(np.linspace(-10, 10, 300), np.linspace(-1.6, 1.6, 200))
    ax1.contour(
        g1,
        g2,
        0.5 * (A * g1**2 + B * g2**2),
        levels=np.geomspace(0.05, 120, 12),
        colors="lightgrey",
    )
    shown = 80
    ax1.plot(
        *plain[:shown].T,
        ".-",
        color=colours["plain"],
        ms=4,
        label=f"plain SGD, lr {lr}",
    )
    ax1.plot(
        *heavy[:shown].T,
        ".-",
        color=colours["momentum"],
        ms=4,
        label=f"momentum 0.9, lr {lr}",
    )
    ax1.plot(*START, "ko")
    ax1.plot(0, 0, "k*", ms=12)
    ax1.set_xlabel("w1 (curvature a = 1)")
    ax1.set_ylabel("w2 (curvature b = 50)")
    ax1.set_title(f"L = (w1\u00b2 + 50 w2\u00b2)/2: the first {shown} steps")
    ax1.legend(loc="lower right")

    labels = {
        "plain": f"plain, lr {lr}",
        "momentum": f"momentum 0.9, lr {lr}",
        "best": "plain, best lr 2/(a+b)",
    }
    for name, losses in bowl.items():
        ax2.semilogy(
            losses,
            color=colours[name],
            label=f"{labels[name]}: {bowl_steps[name]:.0f} steps",
        )
    ax2.axhline(threshold, color="red", ls="--", lw=1, label=f"L = {threshold:g}")
    ax2.set_ylim(1e-8, 200)
    ax2.set_xlabel("step")
    ax2.set_ylabel("loss L (log scale)")
    ax2.set_title(f"The bowl: steps to reach L < {threshold:g}")
    ax2.legend(loc="upper right", fontsize=9)

    mlp_labels = {
        "plain": f"plain, lr {mlp_lr}",
        "momentum": f"momentum 0.9, lr {mlp_lr}",
    }
    for name, curve in curves.items():
        ax3.plot(
            np.arange(len(curve)) * every,
            curve,
            color=colours[name],
            label=f"{mlp_labels[name]}: {mlp_steps[name]:.0f} steps",
        )
    ax3.axhline(
        mlp_threshold, color="red", ls="--", lw=1, label=f"threshold {mlp_threshold}"
    )
    ax3.set_xlabel("step (mini-batch of 64)")
    ax3.set_ylabel("cross-entropy on the 4,000 training digits")
    ax3.set_title("MLP 784-64-10 on mnist5k")
    ax3.legend(loc="upper right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    example_main(run, __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    main()
