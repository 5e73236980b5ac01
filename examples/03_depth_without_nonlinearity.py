"""Example 3: without a non-linearity, depth adds nothing (seed 002).

Seed 002: "If all layers use an identity activation function, then a
multilayer network can be shown to simplify to linear regression." Three
Linear layers with identity activations compute

    y = W3 (W2 (W1 x + b1) + b2) + b3 = (W3 W2 W1) x + (W3 W2 b1 + W3 b2 + b3)

one linear map W x + b. Followed by softmax, that is logistic regression: its
decision boundary is a straight line, whatever the depth. On two moons, which
no line separates, the deep linear network does no better than logistic
regression, while the same network with tanh or ReLU between the layers
(seed 002: "the use of nonlinear activation functions is the key to
increasing the power of multiple layers") bends its boundary around the moons.

Run:  python examples/03_depth_without_nonlinearity.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line

import chainrule as cr

OUT = Path(__file__).resolve().parent / "output"
L = cr.layers


def three_layers(activation, hidden: int = 32, seed: int = 0) -> cr.Sequential:
    """Linear(2, h) - act - Linear(h, h) - act - Linear(h, 2): logits of 2 classes."""
    rng = np.random.default_rng(seed)
    return cr.Sequential(
        L.Linear(2, hidden, rng=rng, init="glorot"),
        activation(),
        L.Linear(hidden, hidden, rng=rng, init="glorot"),
        activation(),
        L.Linear(hidden, 2, rng=rng, init="glorot"),
    ).to(np.float64)


def collapse(model: cr.Sequential) -> tuple[np.ndarray, np.ndarray]:
    """The single (W, b) of a chain of Linear and Identity layers."""
    w, b = np.eye(2), np.zeros(2)
    for layer in model:
        if isinstance(layer, L.Linear):
            # y = A (W x + b) + c = (A W) x + (A b + c)
            w = layer.weight.data @ w
            b = layer.weight.data @ b + layer.bias.data
    return w, b


def train(model, x, y, epochs, seed=0):
    opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    cr.fit(
        model,
        cr.losses.CrossEntropy(),
        opt,
        x,
        y,
        epochs=epochs,
        batch_size=32,
        seed=seed,
        verbose=0,
    )
    return model


def run(fast: bool = False, out: str | Path | None = OUT) -> dict:
    epochs = 60 if fast else 100
    x, y = cr.data.two_moons(600, noise=0.1, seed=0)
    x_test, y_test = cr.data.two_moons(600, noise=0.1, seed=1)
    x, x_test = x.astype(np.float64), x_test.astype(np.float64)

    models = {
        "logistic regression": cr.Sequential(
            L.Linear(2, 2, rng=np.random.default_rng(0))
        ).to(np.float64),
        "3 layers, identity": three_layers(L.Identity),
        "3 layers, tanh": three_layers(L.Tanh),
        "3 layers, ReLU": three_layers(L.ReLU),
    }
    for model in models.values():
        train(model, x, y, epochs)
    acc = {
        name: cr.metrics.accuracy(cr.predict(m, x_test), y_test)
        for name, m in models.items()
    }

    # The identity network is one linear map: compare its outputs with W x + b.
    deep = models["3 layers, identity"]
    w, b = collapse(deep)
    collapse_error = float(np.abs(cr.predict(deep, x_test) - (x_test @ w.T + b)).max())
    results = {"accuracy": acc, "W": w, "b": b, "collapse_error": collapse_error}
    if out is not None:
        results["figure"] = plot(models, acc, x_test, y_test, out)
    return results


def plot(models, acc, x, y, out) -> Path:
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 10), dpi=100)
    axes = fig.subplots(2, 2).ravel()
    lo, hi = x.min(axis=0) - 0.4, x.max(axis=0) + 0.4
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 250), np.linspace(lo[1], hi[1], 250))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    colours = ["tab:blue", "tab:orange"]
    for ax, (name, model) in zip(axes, models.items()):
        out_grid = cr.predict(model, grid)
        p1 = np.exp(out_grid[:, 1] - np.logaddexp(out_grid[:, 0], out_grid[:, 1]))
        ax.contourf(
            g0,
            g1,
            p1.reshape(g0.shape),
            levels=[0, 0.5, 1],
            alpha=0.25,
            cmap=ListedColormap(colours),
        )
        ax.contour(g0, g1, p1.reshape(g0.shape), levels=[0.5], colors="0.2")
        for c in (0, 1):
            ax.scatter(
                *x[y == c].T,
                s=10,
                color=colours[c],
                edgecolors="black",
                linewidths=0.3,
                label=f"class {c}",
            )
        ax.set(
            xlabel="$x_1$",
            ylabel="$x_2$",
            title=f"{name}: test accuracy {acc[name]:.1%}",
        )
        ax.legend(loc="lower left")
    fig.suptitle(
        "Two moons: without a non-linearity the boundary stays a straight line"
    )
    fig.tight_layout()
    path = Path(out) / "03_depth_without_nonlinearity.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def report(r: dict) -> None:
    """Print what the run found."""
    for name, a in r["accuracy"].items():
        print(f"{name:20s} test accuracy {a:.3f}")
    w = np.array2string(r["W"], precision=3, separator=", ").replace("\n", "")
    print(f"identity net = one linear map W x + b with W = {w}")
    print(f"  max |net(x) - (W x + b)| = {r['collapse_error']:.1e}")


def main(argv=None) -> None:
    example_main(run, __doc__, OUT, argv, report)


if __name__ == "__main__":
    main()
