"""Backpropagation by hand on seed 004's 4-2-3-1 sigmoid network.

Seed 004 works one example through a network with 4 inputs, hidden layers of
2 and 3 neurons and 1 output, every activation the logistic sigma, and the cost
C = 1/2 (y - yhat)^2. This script computes every delta dC/dz and every weight
gradient three ways and prints them side by side:

1. by hand, with NumPy, following the seed's recursion
       delta^(L)  = sigma'(z^(L)) * dC/dyhat
       delta^(l)  = sigma'(z^(l)) * (Theta^(l)T delta^(l+1))
       dC/dTheta^(l) = delta^(l+1) [1, a^(l)]^T       (column 0: the bias unit)
2. by chainrule's backward pass (a Linear layer's ``output_grad`` is dC/dz),
3. by central finite differences (dC/dv ~ (C(v + eps) - C(v - eps)) / (2 eps)).

Claim: in float64 all three agree to 1e-8 (hand and chainrule to rounding).

Two slips in the seed's text, corrected here:
- Step 1 writes dC/dyhat = y - yhat. Differentiating C = 1/2 (y - yhat)^2 with
  respect to yhat gives -(y - yhat) = yhat - y. With the seed's sign, gradient
  descent would climb the cost.
- Step 3 writes dz/dtheta = sigma'(z) a and so gets sigma'(z)^2 in dC/dtheta.
  But z = Theta a is the weighted sum *before* sigma, so dz_k/dtheta_jk = a_j
  and sigma' appears once, inside delta.

Run:  python examples/08_backprop_by_hand.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line
from matplotlib import colormaps, colors
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

import chainrule as cr

DEFAULT_OUT = Path(__file__).resolve().parent / "output"
SIZES = (4, 2, 3, 1)  # seed 004's layers 1..4


def build_network(seed: int = 0) -> cr.Sequential:
    """The 4-2-3-1 all-sigmoid network in float64, with non-zero biases."""
    L = cr.layers
    rng = np.random.default_rng(seed)
    net = cr.Sequential(
        L.Linear(4, 2, rng=rng, init="glorot"),
        L.Sigmoid(),
        L.Linear(2, 3, rng=rng, init="glorot"),
        L.Sigmoid(),
        L.Linear(3, 1, rng=rng, init="glorot"),
        L.Sigmoid(),
    ).to(np.float64)
    for layer in net.layers[::2]:  # biases start at 0; make them count
        layer.bias.data[:] = rng.uniform(-0.5, 0.5, layer.bias.shape)
    return net


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def backprop_by_hand(thetas, x: np.ndarray, y: float):
    """Seed 004's procedure for one example.

    ``thetas`` lists (W, b) per layer, W of shape (N_{l+1}, N_l). Returns the
    deltas dC/dz^(l) for l = 2, 3, 4 and the gradients (dW, db) per layer.
    """
    # Feed forward: z^(l) = Theta^(l-1) a^(l-1), a^(l) = sigma(z^(l)).
    a = [x]
    for W, b in thetas:
        a.append(sigmoid(W @ a[-1] + b))
    yhat = a[-1]
    # Step 1, derived properly: C = 1/2 (y - yhat)^2 => dC/dyhat = yhat - y
    # (the seed prints y - yhat: the sign is wrong).
    dC_da = yhat - y
    # Step 2: delta^(4) = dC/dz^(4) = sigma'(z^(4)) dC/da^(4), and for the
    # logistic function sigma'(z) = sigma(z) (1 - sigma(z)) = a (1 - a).
    delta = a[-1] * (1 - a[-1]) * dC_da
    deltas, grads = [], []
    for l in range(len(thetas) - 1, -1, -1):
        W, _ = thetas[l]
        deltas.insert(0, delta)
        # Step 3: dC/dtheta_jk = delta_k a_j (dz_k/dtheta_jk = a_j, no sigma').
        grads.insert(0, (np.outer(delta, a[l]), delta.copy()))
        # Step 4: delta^(l) = sigma'(z^(l)) * (Theta^(l)T delta^(l+1)).
        delta = a[l] * (1 - a[l]) * (W.T @ delta)
    return deltas, grads, float(yhat[0])


def run(fast: bool = False, out: Path | str | None = None) -> dict:
    """Compare hand, chainrule and finite-difference gradients; draw them.

    ``fast`` changes nothing here (the network is tiny); it is accepted so that
    every example has the same signature.
    """
    out = Path(out) if out is not None else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    net = build_network(seed=0)
    linears = net.layers[::2]
    x = np.array([0.5, -1.0, 0.25, 2.0])  # one training example, x in R^4
    y = 0.8  # its target, y in (0, 1)
    loss = cr.losses.MSE()  # 1/(2N) sum (yhat - y)^2, i.e. 1/2 (y - yhat)^2 for N = 1

    # chainrule: forward, loss, backward. Each Linear's output is z, so its
    # output_grad after the backward pass is the seed's delta dC/dz.
    yhat = net(x[None])
    cost = loss(yhat, np.array([[y]]))
    net.backward(loss.backward())
    cr_deltas = [layer.output_grad[0] for layer in linears]
    cr_grads = [(layer.weight.grad, layer.bias.grad) for layer in linears]

    # By hand.
    thetas = [(layer.weight.data, layer.bias.data) for layer in linears]
    hand_deltas, hand_grads, hand_yhat = backprop_by_hand(thetas, x, y)

    # Finite differences of C itself: perturb each weight, or each z^(l) and
    # run the rest of the network from there.
    def cost_from(start: int, v: np.ndarray) -> float:
        yhat = run_layers(net, v, start, None)
        return 0.5 * float((yhat[0, 0] - y) ** 2)

    fd_deltas = []
    for i in range(len(linears)):
        z = run_layers(net, x[None], 0, 2 * i + 1)  # z^(l): Linear i's output
        fd = cr.numerical_gradient(lambda z=z, i=i: cost_from(2 * i + 1, z), z)
        fd_deltas.append(fd[0])
    fd_grads = [
        tuple(
            cr.numerical_gradient(lambda: cost_from(0, x[None]), p)
            for p in (layer.weight.data, layer.bias.data)
        )
        for layer in linears
    ]

    # The library's own checker, on the linearised cost sum(yhat * dC/dyhat),
    # whose gradient is dC/dtheta at this point. Default tolerances: asked for
    # atol=1e-8, rtol=0 it mistakes this smooth point for a kink (its one-sided
    # slopes differ by eps * C'' > 1e-8) and fails; the 1e-8 claim rests on our
    # own differences above.
    report = cr.gradcheck(net, x[None], dy=np.array([[hand_yhat - y]]))

    err_cr, err_fd = [], []
    print(f"x = {x},  y = {y},  yhat = {hand_yhat:.10f},  C = {cost:.10f}\n")
    print(
        f"{'deltas dC/dz^(l)':22s} {'by hand':>19s} {'chainrule':>19s} {'finite diff.':>19s}"
    )
    for l, (h, c, f) in enumerate(zip(hand_deltas, cr_deltas, fd_deltas), start=2):
        for j in range(h.size):
            print(f"  delta^({l})_{j + 1:<12d} {h[j]: .12e} {c[j]: .12e} {f[j]: .12e}")
        err_cr.append(np.abs(h - c).max())
        err_fd.append(np.abs(h - f).max())
    print("\ngradients dC/dTheta^(l)_jk (j = 0 is the bias unit)")
    rows = []
    for l, (hg, cg, fg) in enumerate(zip(hand_grads, cr_grads, fd_grads), start=1):
        # The seed's Theta^(l) has the bias weights in column 0: [b | W].
        h, c, f = (np.column_stack([g[1], g[0]]) for g in (hg, cg, fg))
        for k, j in np.ndindex(h.shape):
            print(
                f"  Theta^({l})_{j},{k + 1:<9d} {h[k, j]: .12e} {c[k, j]: .12e} "
                f"{f[k, j]: .12e}"
            )
            rows.append((l, j, k, h[k, j], c[k, j], f[k, j]))
        err_cr.append(np.abs(h - c).max())
        err_fd.append(np.abs(h - f).max())
    max_cr, max_fd = float(max(err_cr)), float(max(err_fd))
    print(f"\nmax |hand - chainrule|     = {max_cr:.2e}")
    print(f"max |hand - finite diff.|  = {max_fd:.2e}   (claim: < 1e-8)")
    print("\ncr.gradcheck on the same point:\n" + str(report))

    figure = out / "08_backprop_by_hand.png"
    draw(net, hand_deltas, hand_grads, rows, figure)
    return {
        "max_err_hand_vs_chainrule": max_cr,
        "max_err_hand_vs_finite_diff": max_fd,
        "gradcheck_passed": report.passed,
        "cost": cost,
        "figure": figure,
    }


def run_layers(net: cr.Sequential, v: np.ndarray, start: int, stop) -> np.ndarray:
    """v run through ``net.layers[start:stop]`` (no caches kept)."""
    with cr.no_grad():
        for layer in net.layers[start:stop]:
            v = layer.forward(v)
    return v


def draw(net, deltas, grads, rows, path: Path) -> None:
    """Left: the network, edges coloured by dC/dtheta, neurons labelled with
    delta. Right: how far apart the three computations are."""
    fig = Figure(figsize=(14, 5.6))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    ys = [np.linspace(1, -1, n) if n > 1 else np.zeros(1) for n in SIZES]
    vmax = max(np.abs(g[0]).max() for g in grads)
    # The gradients span three decades: a symmetric log scale shows them all.
    norm = colors.SymLogNorm(linthresh=1e-4, vmin=-vmax, vmax=vmax)
    cmap = colormaps["RdBu_r"]
    for l, (dW, _) in enumerate(grads):
        for k, j in np.ndindex(dW.shape):
            ax.plot(
                [l, l + 1],
                [ys[l][j], ys[l + 1][k]],
                color=cmap(norm(dW[k, j])),
                lw=1 + 1.2 * max(np.log10(abs(dW[k, j]) / 1e-5), 0),
                zorder=1,
            )
    for l, n in enumerate(SIZES):
        # Each delta is written inside its neuron, which is drawn over the
        # edges: no edge can cross a label.
        ax.scatter([l] * n, ys[l], s=2900, c="white", edgecolors="black", zorder=2)
        for j in range(n):
            if l == 0:
                label, size = f"x{j + 1}", 11
            else:
                label, size = f"\u03b4\n{deltas[l - 1][j]:+.2e}", 8
            ax.text(
                l, ys[l][j], label, ha="center", va="center", fontsize=size, zorder=3
            )
    ax.set_xticks(
        range(4),
        [f"layer {l + 1}\n({n} neuron{'s' * (n > 1)})" for l, n in enumerate(SIZES)],
    )
    ax.set_yticks([])
    ax.set_xlim(-0.4, 3.5)
    ax.set_ylim(-1.3, 1.3)
    ax.set_title(
        "Seed 004's 4-2-3-1 network: \u03b4 = dC/dz at each neuron,\n"
        "edge colour and width = dC/d\u03b8 (bias gradients not drawn)"
    )
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label="dC/d\u03b8 (symmetric log)")

    floor = 1e-20
    idx = np.arange(len(rows))
    h, c, f = (np.array([r[i] for r in rows]) for i in (3, 4, 5))
    ax2.semilogy(
        idx, np.maximum(np.abs(h - f), floor), "o", label="|hand - finite diff.|"
    )
    ax2.semilogy(
        idx,
        np.maximum(np.abs(h - c), floor),
        "s",
        mfc="none",
        label=f"|hand - chainrule|  (exact 0 drawn at {floor:g})",
    )
    ax2.axhline(1e-8, color="red", ls="--", label="claim: below 1e-8")
    layer_of = np.array([r[0] for r in rows])
    for l in (1, 2, 3):
        where = idx[layer_of == l]
        if l > 1:
            ax2.axvline(where[0] - 0.5, color="grey", lw=0.8)
        ax2.text(where.mean(), 3e-7, f"\u0398$^{{({l})}}$", ha="center")
    ax2.set_ylim(3e-21, 1e-5)
    ax2.set_xlabel(
        "entry of \u0398$^{(1)}$, \u0398$^{(2)}$, \u0398$^{(3)}$ (bias column first)"
    )
    ax2.set_ylabel("absolute difference of dC/d\u03b8")
    ax2.set_title("Hand, chainrule and finite differences agree (float64)")
    ax2.legend(loc="center", bbox_to_anchor=(0.5, 0.40))
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    example_main(run, __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    main()
