"""Two paths in a computational graph: the gradient is the sum over paths.

Seed 002 draws a weight w whose value reaches the output o along two paths,
through p = g(y) and through q = h(z), and writes the multivariable chain rule

    do/dw = do/dp * dp/dy * dy/dw  +  do/dq * dq/dz * dz/dw
            (first path)              (second path)

Here the shared value is h = W x + b (one Linear layer), it fans out to
p = tanh(h) and q = sigmoid(h), and the paths merge again in o = p + q, with
the loss L = 1/(2N) sum ||o - t||^2. For each weight W_kj the two path products
are, with delta = dL/do = (o - t)/N,

    path 1 (tanh):    sum_n delta_nk * (1 - tanh(h_nk)^2)              * x_nj
    path 2 (sigmoid): sum_n delta_nk * sigmoid(h_nk)(1 - sigmoid(h_nk)) * x_nj

chainrule's Graph never enumerates paths: its backward pass keeps a table of
dL/d(node) and *adds* what each consumer sends back (seed 002's dynamic
programming), so dL/dh arrives as the sum of both branches before the Linear
layer turns it into dL/dW.

Claim: chainrule's gradient equals path 1 + path 2 written out by hand, and
equals central finite differences of L (float64, to 1e-9).

Run:  python examples/09_two_paths.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line
from matplotlib.figure import Figure

import chainrule as cr

DEFAULT_OUT = Path(__file__).resolve().parent / "output"


def build_graph():
    """x -> h = Linear(x) -> {tanh(h), sigmoid(h)} -> o = tanh(h) + sigmoid(h)."""
    L = cr.layers
    x = cr.Input((3,), name="x")
    shared = L.Linear(3, 2, rng=0, init="glorot")
    shared.name = "W"  # names the parameters W.weight, W.bias
    h = shared(x)
    o = L.Add()(L.Tanh()(h), L.Sigmoid()(h))
    model = cr.Graph(x, o).to(np.float64)
    shared.bias.data[:] = [0.3, -0.2]  # non-zero, so the bias paths differ too
    return model, shared, h


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def run(fast: bool = False, out: Path | str | None = None) -> dict:
    """Compare chainrule, the two path sums and finite differences; draw them.

    ``fast`` changes nothing (the graph is tiny); every example accepts it.
    """
    out = Path(out) if out is not None else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))  # a batch of N = 4
    t = rng.uniform(0.5, 1.5, (4, 2))
    model, shared, h_node = build_graph()
    loss = cr.losses.MSE()

    # chainrule: one forward, one backward through the graph.
    value = loss(model(x), t)
    model.backward(loss.backward())
    auto = np.column_stack([shared.bias.grad, shared.weight.grad])  # (2, 1 + 3)

    # By hand: the two path products, per weight.
    W, b = shared.weight.data, shared.bias.data
    h = x @ W.T + b
    o = np.tanh(h) + sigmoid(h)
    delta = (o - t) / len(x)  # dL/do; do/dp = do/dq = 1 (the Add)
    through_tanh = delta * (1 - np.tanh(h) ** 2)  # dL/dh along path 1
    through_sigmoid = delta * sigmoid(h) * (1 - sigmoid(h))  # along path 2
    x1 = np.column_stack([np.ones(len(x)), x])  # dh_k/db_k = 1, dh_k/dW_kj = x_j
    path1 = through_tanh.T @ x1  # (2, 4): column 0 the bias
    path2 = through_sigmoid.T @ x1

    # Finite differences of L itself.
    def objective() -> float:
        with cr.no_grad():
            return 0.5 * float(((model(x) - t) ** 2).sum()) / len(x)

    numeric = np.column_stack(
        [
            cr.numerical_gradient(objective, shared.bias.data),
            cr.numerical_gradient(objective, shared.weight.data),
        ]
    )

    err_paths = float(np.abs(auto - (path1 + path2)).max())
    err_fd = float(np.abs(auto - numeric).max())
    # The DP table's entry for h: the sum that arrived from both consumers.
    err_h = float(np.abs(h_node.output_grad - (through_tanh + through_sigmoid)).max())
    report = cr.gradcheck(model, x)  # the library's own check, random upstream dy

    names = [
        f"b{k + 1}" if j == 0 else f"W{k + 1}{j}" for k in range(2) for j in range(4)
    ]
    print(f"L = {value:.6f} on a batch of {len(x)}\n")
    print(
        f"{'weight':8s} {'path 1 (tanh)':>14s} {'path 2 (sigm.)':>14s} "
        f"{'path 1 + 2':>14s} {'chainrule':>14s} {'finite diff.':>14s}"
    )
    for name, p1, p2, a, n in zip(
        names, path1.ravel(), path2.ravel(), auto.ravel(), numeric.ravel()
    ):
        print(
            f"{name:8s} {p1: 14.9f} {p2: 14.9f} {p1 + p2: 14.9f} {a: 14.9f} {n: 14.9f}"
        )
    print(f"\nmax |chainrule - (path 1 + path 2)| = {err_paths:.2e}")
    print(f"max |chainrule - finite diff.|      = {err_fd:.2e}   (claim: < 1e-9)")
    print(f"max |dL/dh in the graph's table - (path 1 + path 2)| = {err_h:.2e}")
    print(f"cr.gradcheck: {'passed' if report.passed else 'FAILED'}")

    dot_path = out / "09_two_paths.dot"
    dot_path.write_text(cr.to_dot(model))  # render: dot -Tpng 09_two_paths.dot
    figure = out / "09_two_paths.png"
    draw(names, path1.ravel(), path2.ravel(), auto.ravel(), numeric.ravel(), figure)
    return {
        "max_err_vs_path_sum": err_paths,
        "max_err_vs_finite_diff": err_fd,
        "max_err_dh": err_h,
        "gradcheck_passed": report.passed,
        "figure": figure,
        "dot": dot_path,
    }


def draw(names, path1, path2, auto, numeric, path: Path) -> None:
    fig = Figure(figsize=(14, 5.2))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    c1, c2 = "tab:blue", "tab:orange"

    # The graph, drawn by hand: both paths from W to L coloured.
    nodes = {
        "x": (0.0, 0.5, "x"),
        "h": (1.35, 0.5, "h = W x + b\n(Linear, shared)"),
        "p": (2.85, 0.85, "p = tanh(h)"),
        "q": (2.85, 0.15, "q = sigmoid(h)"),
        "o": (4.15, 0.5, "o = p + q\n(Add)"),
        "L": (5.7, 0.5, "L = MSE(o, t)"),
    }
    boxes = {
        key: ax.text(
            x0,
            y0,
            label,
            ha="center",
            va="center",
            fontsize=11,
            bbox={"boxstyle": "round", "fc": "white", "ec": "black"},
        )
        for key, (x0, y0, label) in nodes.items()
    }
    edges = [
        ("x", "h", "black"),
        ("h", "p", c1),
        ("p", "o", c1),
        ("h", "q", c2),
        ("q", "o", c2),
        ("o", "L", "black"),
    ]
    for a, b, colour in edges:
        # Arrows clipped to the boxes they join.
        ax.annotate(
            "",
            xy=nodes[b][:2],
            xytext=nodes[a][:2],
            arrowprops={
                "arrowstyle": "-|>",
                "mutation_scale": 18,
                "color": colour,
                "lw": 2.5,
                "patchA": boxes[a].get_bbox_patch(),
                "patchB": boxes[b].get_bbox_patch(),
                "shrinkA": 3,
                "shrinkB": 3,
            },
        )
    ax.text(
        2.85,
        1.02,
        "path 1: dL/do \u00b7 tanh'(h) \u00b7 x",
        color=c1,
        ha="center",
        fontsize=11,
    )
    ax.text(
        2.85,
        -0.04,
        "path 2: dL/do \u00b7 sigmoid'(h) \u00b7 x",
        color=c2,
        ha="center",
        fontsize=11,
    )
    ax.set_xlim(-0.3, 6.4)
    ax.set_ylim(-0.15, 1.12)
    ax.axis("off")
    ax.set_title("Fan-out at h, merge at o: every weight of W reaches L twice")

    i = np.arange(len(names))
    ax2.bar(i - 0.2, path1, 0.4, color=c1, label="path 1 (through tanh)")
    ax2.bar(i + 0.2, path2, 0.4, color=c2, label="path 2 (through sigmoid)")
    ax2.scatter(
        i,
        path1 + path2,
        marker="_",
        s=600,
        color="black",
        zorder=3,
        label="path 1 + path 2 (by hand)",
    )
    ax2.scatter(
        i,
        auto,
        marker="o",
        s=60,
        facecolors="none",
        edgecolors="green",
        zorder=4,
        label="chainrule backward",
    )
    ax2.scatter(
        i, numeric, marker="x", s=40, color="red", zorder=5, label="finite differences"
    )
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.set_xticks(i, names)
    ax2.set_xlabel("parameter of the shared Linear layer (b_k bias, W_kj weight)")
    ax2.set_ylabel("dL/d(parameter)")
    ax2.set_title("Each gradient is the sum of its two path contributions")
    ax2.legend(fontsize=9, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    example_main(run, __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    main()
