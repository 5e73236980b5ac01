"""Example 2: one sigmoid output is a two-way softmax (seed 000).

Seed 000 shows that for two classes softmax needs no second neuron:

    softmax(z0, z1) = ( e^z0 / (e^z0 + e^z1),  e^z1 / (e^z0 + e^z1) )
                    = ( 1 - sigma(g),  sigma(g) )        with g = z1 - z0

So a network ending in Linear(h, 1) + Sigmoid, trained with binary
cross-entropy, and one ending in Linear(h, 2) + softmax, trained with
categorical cross-entropy, are the same model once the two output rows
satisfy w1 - w0 = w and b1 - b0 = b (w, b: the sigmoid net's last layer).

The gradients agree as well. Both losses give dL/dz = (prediction - target)/N
(seeds 002 and 003, "o - y"), so the error sent back into the hidden layers is

    sigmoid net:  (sigma(g) - t) w
    softmax net:  (p0 - t0) w0 + (p1 - t1) w1 = (p1 - t1)(w1 - w0)

the same vector, since p0 - t0 = -(p1 - t1). One subtlety: the softmax net's
last layer gets dw1 = -dw0 = dw, so its difference w1 - w0 moves by 2 eta dw
per step. Trained with eta/2 on that one layer it stays the sigmoid net step
for step; with the same eta everywhere it is the sigmoid net with a doubled
learning rate on its last layer, and the two drift apart. The script trains
both ways in float64 and prints the largest difference of each step.

Run:  python examples/02_sigmoid_vs_softmax.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line

import chainrule as cr

OUT = Path(__file__).resolve().parent / "output"
L = cr.layers


def make_pair(hidden: int = 16, seed: int = 0):
    """The sigmoid net and a softmax net computing the same function."""
    rng = np.random.default_rng(seed)
    body = [L.Linear(2, hidden, rng=rng), L.Tanh(), L.Linear(hidden, hidden, rng=rng)]
    body.append(L.Tanh())
    sig = cr.Sequential(*body, L.Linear(hidden, 1, rng=rng), L.Sigmoid())
    sig.to(np.float64)
    # Same hidden layers (a deep copy, no shared arrays), then two output rows.
    soft = cr.Sequential(*[layer.copy() for layer in sig.layers[:4]])
    soft.append(L.Linear(hidden, 2).to(np.float64))
    w, b = sig[4].weight.data[0], sig[4].bias.data[0]
    # Any rows with w1 - w0 = w will do: softmax ignores a shift of both logits.
    w0 = rng.standard_normal(hidden)
    soft[4].weight.data[...] = np.stack([w0, w0 + w])
    soft[4].bias.data[...] = [0.3, 0.3 + b]
    return sig, soft


def optimizers(sig, soft, lr, halve_output_lr):
    """SGD for each net; optionally eta/2 on the softmax net's output layer."""
    opt_sig = [cr.optim.SGD(sig, lr=lr)]
    named = list(soft.named_parameters())
    if not halve_output_lr:
        return opt_sig, [cr.optim.SGD(named, lr=lr)]
    hidden = [(n, p) for n, p in named if not n.startswith("4.")]
    output = [(n, p) for n, p in named if n.startswith("4.")]
    return opt_sig, [cr.optim.SGD(hidden, lr=lr), cr.optim.SGD(output, lr=lr / 2)]


def train_side_by_side(x, t, steps, lr, batch, halve_output_lr, seed=0):
    """Mini-batch SGD on both nets with the same batches; per-step differences."""
    sig, soft = make_pair(seed=seed)
    bce, ce = cr.losses.BinaryCrossEntropy(), cr.losses.CrossEntropy()
    opt_sig, opt_soft = optimizers(sig, soft, lr, halve_output_lr)
    rng = np.random.default_rng(seed)
    prob_diff, grad_diff = [], []
    for _ in range(steps):
        idx = rng.choice(len(x), size=batch, replace=False)
        xb, tb = x[idx], t[idx]
        p_sig = sig.forward(xb)[:, 0]  # sigma(g) = P(class 1)
        z = soft.forward(xb)
        p_soft = np.exp(z - np.logaddexp(z[:, :1], z[:, 1:]))[:, 1]  # softmax_1
        prob_diff.append(float(np.abs(p_sig - p_soft).max()))
        for opt in opt_sig + opt_soft:
            opt.zero_grad()
        bce.forward(p_sig[:, None], tb[:, None])
        sig.backward(bce.backward())
        ce.forward(z, tb)
        soft.backward(ce.backward())
        # Compare dL/dtheta for every parameter of the shared hidden layers.
        hidden_sig = list(sig.named_parameters())[:4]
        hidden_soft = list(soft.named_parameters())[:4]
        grad_diff.append(
            max(
                float(np.abs(a.grad - b.grad).max())
                for (_, a), (_, b) in zip(hidden_sig, hidden_soft)
            )
        )
        for opt in opt_sig + opt_soft:
            opt.step()
    return {"prob_diff": np.array(prob_diff), "grad_diff": np.array(grad_diff)}


def run(fast: bool = False, out: str | Path | None = OUT) -> dict:
    steps = 50 if fast else 200
    x, t = cr.data.two_moons(400, noise=0.15, seed=0)
    x = x.astype(np.float64)
    same = train_side_by_side(x, t, steps, lr=0.5, batch=32, halve_output_lr=True)
    plain = train_side_by_side(x, t, steps, lr=0.5, batch=32, halve_output_lr=False)
    # The identity itself, for any pair of logits.
    z = np.random.default_rng(1).normal(scale=5.0, size=(1000, 2))
    softmax_1 = np.exp(z[:, 1] - np.logaddexp(z[:, 0], z[:, 1]))
    sigma_g = 1 / (1 + np.exp(-(z[:, 1] - z[:, 0])))
    results = {
        "identity_max_diff": float(np.abs(softmax_1 - sigma_g).max()),
        "prob_diff": same["prob_diff"],
        "grad_diff": same["grad_diff"],
        "prob_diff_same_lr": plain["prob_diff"],
        "grad_diff_same_lr": plain["grad_diff"],
    }
    if out is not None:
        results["figure"] = plot(results, out)
    return results


def plot(r, out) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.8), dpi=100)
    ax_curve, ax_diff = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    g = np.linspace(-6, 6, 200)
    for z0, style in [(-2.0, "o"), (0.0, "s"), (3.0, "^")]:
        z1 = z0 + g[::12]
        p1 = np.exp(z1) / (np.exp(z0) + np.exp(z1))
        ax_curve.plot(
            g[::12], p1, style, fillstyle="none", label=f"softmax$_1$, $z_0$={z0:g}"
        )
    ax_curve.plot(g, 1 / (1 + np.exp(-g)), color="black", label="$\\sigma(z_1 - z_0)$")
    ax_curve.set(
        xlabel="$g = z_1 - z_0$",
        ylabel="probability of class 1",
        title="Two-way softmax = sigmoid of the difference",
    )
    ax_curve.legend(loc="upper left")

    floor = 1e-18  # exact zeros drawn here, so the log axis can show them
    steps = np.arange(len(r["prob_diff"]))
    series = [
        ("prob_diff", "probabilities, $\\eta/2$ on softmax output", "tab:blue", "-"),
        ("grad_diff", "hidden-layer gradients, $\\eta/2$", "tab:green", "-"),
        (
            "prob_diff_same_lr",
            "probabilities, same $\\eta$ everywhere",
            "tab:red",
            "--",
        ),
        (
            "grad_diff_same_lr",
            "hidden-layer gradients, same $\\eta$",
            "tab:orange",
            "--",
        ),
    ]
    for key, label, colour, style in series:
        ax_diff.semilogy(
            steps, np.maximum(r[key], floor), style, color=colour, label=label
        )
    ax_diff.axhline(1e-10, color="black", linewidth=0.8, linestyle=":")
    ax_diff.text(steps[-1], 3e-12, "1e-10", ha="right")
    ax_diff.set_ylim(floor / 10, 10)
    ax_diff.set(
        xlabel="SGD step (batch of 32, float64)",
        ylabel="max |sigmoid net - softmax net| (log)",
        title="Sigmoid + BCE vs softmax + cross-entropy, trained side by side",
    )
    ax_diff.legend(loc="upper right", bbox_to_anchor=(1, 0.79), fontsize=9)
    fig.tight_layout()
    path = Path(out) / "02_sigmoid_vs_softmax.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def report(r: dict) -> None:
    """Print what the run found."""
    print(f"|softmax_1(z0, z1) - sigma(z1 - z0)| <= {r['identity_max_diff']:.1e}")
    print(
        f"eta/2 on the softmax output layer, {len(r['prob_diff'])} steps: "
        f"max prob diff {r['prob_diff'].max():.1e}, "
        f"max hidden-gradient diff {r['grad_diff'].max():.1e}"
    )
    print(
        f"same eta everywhere: prob diff {r['prob_diff_same_lr'][0]:.1e} at step 0, "
        f"{r['prob_diff_same_lr'].max():.1e} at most"
    )


def main(argv=None) -> None:
    example_main(run, __doc__, OUT, argv, report)


if __name__ == "__main__":
    main()
