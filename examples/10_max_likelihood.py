"""Losses from maximum likelihood: cross-entropy and MSE are negative log-likelihoods.

Seed 000 derives the losses by maximising the likelihood of a fixed data set
D = {(x_i, c_i)} under the model, L(w) = prod_i p_w(c_i | x_i). The product of
4,000 probabilities underflows, and the logarithm does not move the maximum, so
one maximises the mean log-likelihood (1/N) sum_i log p_w(c_i | x_i), or
minimises its negative, which is the categorical cross-entropy

    CE = -1/N sum_i t_i . log y_i = -1/N sum_i log p_w(c_i | x_i)   (t_i one-hot).

1. Classification: an MLP on mnist5k (float64). We compute the loss three ways,
   chainrule's CrossEntropy on the logits, minus the mean log of the softmax
   probability of each true label, and the seed's one-hot sum, after each
   training epoch. Claim: they agree to 1e-12.
2. Regression: if t = y(x) + eps with eps ~ N(0, sigma^2), the negative
   log-likelihood per sample is (t - y)^2 / (2 sigma^2) + log(sigma sqrt(2 pi)):
   the MSE scaled by 1/sigma^2 plus a constant. Same minimiser, so MSE training
   *is* maximum likelihood under Gaussian noise. We fit the polynomial
   y = w0 + w1 x + w2 x^2 + w3 x^3 (seed 001's regression) by gradient descent
   twice from the same initial weights, once on MSE and once on the Gaussian
   NLL with fixed sigma. The NLL's gradient is MSE's divided by sigma^2, so its
   learning rate is multiplied by sigma^2 to take the same steps. Claim: both
   reach the least-squares optimum (np.linalg.lstsq) and each other.

Run:  python examples/10_max_likelihood.py [--out DIR] [--fast]
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import scipy.stats
from _cli import main as example_main  # the examples' shared command line
from matplotlib.figure import Figure

import chainrule as cr

DEFAULT_OUT = Path(__file__).resolve().parent / "output"
SIGMA = 0.3  # the noise level of the regression data, assumed known


class GaussianNLL(cr.losses.Loss):
    """Negative log-likelihood of targets under N(y, sigma^2), sigma fixed.

    L = 1/N sum_i [ ||t_i - y_i||^2 / (2 sigma^2) + d log(sigma sqrt(2 pi)) ]
    Backward: dL/dy = (y - t) / (sigma^2 N), MSE's gradient over sigma^2.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, y, t, sample_weight=None) -> float:
        y = self._prediction(y)
        t = self._same_shape_target(y, t)
        diff = y - t
        self.cache = diff
        n, d = len(y), y[0].size
        sq = float(np.einsum("ij,ij->", diff.reshape(n, -1), diff.reshape(n, -1)))
        return sq / (2 * self.sigma**2 * n) + d * math.log(
            self.sigma * math.sqrt(2 * math.pi)
        )

    def backward(self) -> np.ndarray:
        diff = self.take_cache()
        return diff / (self.sigma**2 * len(diff))


def three_ways(model, x: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """Cross-entropy, minus mean log-likelihood, and the seed's one-hot sum."""
    logits = cr.predict(model, x)
    ce = cr.losses.CrossEntropy()(logits, labels)
    p = cr.layers.Softmax()(logits)  # p_w(c | x_i) for every class c
    log_likelihood = np.log(p[np.arange(len(x)), labels]).sum()
    t = np.eye(10)[labels]  # one-hot targets
    one_hot = -(t * np.log(p)).sum() / len(x)
    return ce, -log_likelihood / len(x), one_hot


def classification(fast: bool) -> dict:
    (x, y), _ = cr.data.load("mnist5k", flatten=True)
    x = x.astype(np.float64)
    L = cr.layers
    model = cr.Sequential(L.Linear(784, 32, rng=1), L.ReLU(), L.Linear(32, 10, rng=2))
    model.to(np.float64)
    opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    rows = [three_ways(model, x, y)]
    for _ in range(2 if fast else 6):
        cr.fit(
            model,
            cr.losses.CrossEntropy(),
            opt,
            x,
            y,
            epochs=1,
            batch_size=64,
            seed=len(rows),
            verbose=0,
        )
        rows.append(three_ways(model, x, y))
    rows = np.array(rows)
    err = float(np.abs(rows[:, 0] - rows[:, 1]).max())
    err_one_hot = float(np.abs(rows[:, 0] - rows[:, 2]).max())
    # log10 of the likelihood prod_i p(c_i | x_i) of the whole data set
    log10_first, log10_last = -rows[[0, -1], 1] * len(x) / math.log(10)
    print("epoch  cross-entropy       -mean log-likelihood  -1/N sum t.log y")
    for epoch, (ce, nll, oh) in enumerate(rows):
        print(f"{epoch:5d}  {ce:.15f}  {nll:.15f}     {oh:.15f}")
    print(
        f"max |CE - (-mean log-likelihood)| = {err:.1e}  (claim: < 1e-12); "
        f"one-hot form {err_one_hot:.1e}"
    )
    print(
        f"the likelihood prod_i p(c_i | x_i) is 10^{log10_first:.0f} before training "
        f"and 10^{log10_last:.0f} after: the first underflows float64 (smallest "
        "about 1e-308) where its logarithm is an ordinary number"
    )
    return {"rows": rows, "ce_vs_loglik": err, "ce_vs_one_hot": err_one_hot}


def regression(fast: bool) -> dict:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200)
    t = 0.5 + x - 2 * x**3 + SIGMA * rng.standard_normal(x.size)
    features = np.column_stack([x, x**2, x**3])  # the bias unit is the Linear's b

    # The optimum of both losses in closed form: least squares on [1, x, x^2, x^3].
    design = np.column_stack([np.ones_like(x), features])
    w_star = np.linalg.lstsq(design, t, rcond=None)[0]

    # The NLL really is minus the mean Gaussian log-density.
    y0 = design @ np.array([0.1, 0.2, 0.3, 0.4])
    nll = GaussianNLL(SIGMA)
    direct = -scipy.stats.norm.logpdf(t, loc=y0, scale=SIGMA).mean()
    nll_gap = abs(nll(y0[:, None], t[:, None]) - direct)
    cr.gradcheck_loss(GaussianNLL(SIGMA), y0[:, None], t[:, None])  # raises if wrong

    init = cr.layers.Linear(3, 1, rng=3, init="glorot").to(np.float64)
    steps = 1500 if fast else 4000
    lr = 0.5
    fitted = {}
    for name, loss, step in [
        ("MSE", cr.losses.MSE(), lr),
        ("Gaussian NLL", GaussianNLL(SIGMA), lr * SIGMA**2),
    ]:
        model = init.copy()  # the same initial weights for both
        opt = cr.optim.SGD(model, lr=step)  # full-batch gradient descent
        for _ in range(steps):
            opt.zero_grad()
            loss(model(features), t[:, None])
            model.backward(loss.backward())
            opt.step()
        fitted[name] = np.concatenate([model.bias.data, model.weight.data[0]])
    gap_each_other = float(np.abs(fitted["MSE"] - fitted["Gaussian NLL"]).max())
    gap_lstsq = max(float(np.abs(w - w_star).max()) for w in fitted.values())
    print(f"\nleast squares: w = {np.round(w_star, 6)}")
    for name, w in fitted.items():
        print(f"{name:13s}: w = {np.round(w, 6)}  ({steps} steps)")
    print(
        f"max |w_MSE - w_NLL| = {gap_each_other:.1e}, max |w - w_lstsq| = "
        f"{gap_lstsq:.1e}; NLL vs scipy's -mean logpdf: {nll_gap:.1e}"
    )
    return {
        "x": x,
        "t": t,
        "w_star": w_star,
        "fitted": fitted,
        "mse_vs_nll": gap_each_other,
        "vs_lstsq": gap_lstsq,
        "nll_vs_logpdf": nll_gap,
        "design": design,
    }


def run(fast: bool = False, out: Path | str | None = None) -> dict:
    out = Path(out) if out is not None else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    cls = classification(fast)
    reg = regression(fast)
    figure = out / "10_max_likelihood.png"
    draw(cls, reg, figure)
    return {
        "ce_vs_loglik": cls["ce_vs_loglik"],
        "ce_vs_one_hot": cls["ce_vs_one_hot"],
        "mse_vs_nll_params": reg["mse_vs_nll"],
        "params_vs_lstsq": reg["vs_lstsq"],
        "nll_vs_logpdf": reg["nll_vs_logpdf"],
        "figure": figure,
    }


def draw(cls: dict, reg: dict, path: Path) -> None:
    fig = Figure(figsize=(16, 4.8))
    ax1, ax2, ax3 = fig.subplots(1, 3)

    rows = cls["rows"]
    epochs = np.arange(len(rows))
    ax1.plot(
        epochs, rows[:, 0], "o-", lw=4, alpha=0.4, label="cross-entropy (chainrule)"
    )
    ax1.plot(epochs, rows[:, 1], "k.--", label="-(1/N) sum log p(c_i | x_i)")
    ax1.set_xlabel("training epoch")
    ax1.set_ylabel("loss on the 4,000 training digits")
    ax1.set_title(
        "Cross-entropy = minus mean log-likelihood\n"
        f"(MLP on mnist5k; largest gap {cls['ce_vs_loglik']:.0e})"
    )
    ax1.legend()

    # The landscape along w1 (the x coefficient), the other weights at the optimum.
    design, t, w_star = reg["design"], reg["t"], reg["w_star"]
    w1 = np.linspace(w_star[1] - 1.5, w_star[1] + 1.5, 301)
    mse, nll = [], []
    for v in w1:
        w = w_star.copy()
        w[1] = v
        r = design @ w - t
        mse.append(0.5 * np.mean(r**2))
        nll.append(
            np.mean(r**2) / (2 * SIGMA**2) + math.log(SIGMA * math.sqrt(2 * math.pi))
        )
    ax2.plot(w1, mse, color="tab:blue", label="MSE  (1/2N) sum (t - y)^2")
    ax2.set_xlabel("w1, the coefficient of x (others at the optimum)")
    ax2.set_ylabel("MSE", color="tab:blue")
    twin = ax2.twinx()
    twin.plot(w1, nll, color="tab:red", ls="--", label=f"Gaussian NLL, sigma = {SIGMA}")
    twin.set_ylabel("negative log-likelihood per sample", color="tab:red")
    ax2.axvline(w_star[1], color="black", lw=1)
    ax2.plot(reg["fitted"]["MSE"][1], min(mse), "o", color="tab:blue", ms=9, mfc="none")
    twin.plot(reg["fitted"]["Gaussian NLL"][1], min(nll), "x", color="tab:red", ms=9)
    ax2.set_title(
        "NLL = MSE / sigma^2 + const: the same minimum\n"
        "(line: least squares; o, x: where gradient descent stopped)"
    )
    lines = ax2.get_lines()[:1] + twin.get_lines()[:1]
    ax2.legend(lines, [ln.get_label() for ln in lines], loc="upper center")

    order = np.argsort(reg["x"])
    ax3.plot(reg["x"], t, ".", color="grey", alpha=0.6, label="data, noise sigma = 0.3")
    for (name, w), style in zip(reg["fitted"].items(), ["-", "--"]):
        ax3.plot(
            reg["x"][order],
            (design @ w)[order],
            style,
            lw=2,
            label=f"trained on {name}",
        )
    ax3.set_xlabel("x")
    ax3.set_ylabel("t")
    ax3.set_title("Fits of y = w0 + w1 x + w2 x^2 + w3 x^3\ntrained on each loss")
    ax3.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    example_main(run, __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    main()
