"""An autoencoder as dimensionality reduction: a linear one finds PCA.

Seed 002: "a shallow variant of this scheme can be shown to be mathematically
equivalent to ... singular value decomposition. Increasing the depth of the
network results in inherently more powerful reductions."

We train a linear autoencoder 784 -> k -> 784 (k = 16) on mnist5k digits with
the squared error E = 1/N sum_i ||x_i - xhat_i||^2 and compare it with the best
any rank-k linear map can do (Eckart-Young): project onto the top k principal
directions V_k, xhat = V_k V_k^T x, whose error is the sum of the discarded
eigenvalues of the covariance, sum_{j > k} lambda_j.

Which optimum? A linear autoencoder *without* biases can only reach the best
rank-k fit through the origin: truncated SVD of the raw (uncentred) data. *With*
biases the decoder's bias learns the mean and the optimum is PCA of the centred
data. We choose PCA and make it explicit: subtract the training mean first,
then use Linear layers without biases (their optimal biases would be 0).

Claims: (1) the linear autoencoder's error comes within 2% of the PCA optimum;
(2) its decoder columns span nearly the same subspace as V_k (small principal
angles; the weights themselves are not the eigenvectors, any invertible mixing
of them is as good); (3) a deeper ReLU autoencoder with the same 16-number code
does better than any linear method.

Run:  python examples/06_autoencoder_pca.py [--out DIR] [--fast]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.linalg
from _cli import main as example_main  # the examples' shared command line
from matplotlib.figure import Figure

import chainrule as cr

DEFAULT_OUT = Path(__file__).resolve().parent / "output"
K = 16  # size of the code


def squared_error(x: np.ndarray, xhat: np.ndarray) -> float:
    """E = 1/N sum_i ||x_i - xhat_i||^2 (summed over the 784 pixels)."""
    d = np.asarray(x, np.float64) - xhat
    return float(np.einsum("ij,ij->", d, d) / len(x))


def pca(x_centred: np.ndarray, k: int):
    """Top-k principal directions V_k (784, k) and the eigenvalues, largest first.

    The eigenvectors of the 784 x 784 covariance are the right singular
    vectors of the centred data (and much cheaper to get than a 4000 x 784 SVD).
    """
    xc = x_centred.astype(np.float64)
    cov = xc.T @ xc / len(xc)
    eigenvalues, vectors = np.linalg.eigh(cov)  # ascending order
    return vectors[:, ::-1][:, :k], eigenvalues[::-1]


def train(model, x, epochs: int, lr: float, batch_size: int, decay: bool) -> cr.History:
    """Adam on the seeds' MSE, 1/(2N) sum ||x - xhat||^2 (so E = 2 * loss).

    With ``decay`` the learning rate falls to 0 along a cosine: the last
    epochs then settle into the minimum instead of rattling around it.
    """
    opt = cr.optim.Adam(model, lr=lr)
    schedule = cr.callbacks.LearningRateScheduler(cr.optim.CosineDecay(opt, epochs))
    return cr.fit(
        model,
        cr.losses.MSE(),
        opt,
        x,
        x,
        epochs=epochs,
        batch_size=batch_size,
        seed=0,
        verbose=0,
        callbacks=[schedule] if decay else [],
    )


def run(fast: bool = False, out: Path | str | None = None) -> dict:
    out = Path(out) if out is not None else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    (x, _), (x_test, y_test) = cr.data.load("mnist5k", flatten=True)
    mean = x.mean(axis=0)
    xc, xc_test = x - mean, x_test - mean

    # The optimum: PCA on the centred training digits.
    v_k, eigenvalues = pca(xc, K)
    pca_train = squared_error(xc, xc @ v_k @ v_k.T)
    pca_test = squared_error(xc_test, xc_test @ v_k @ v_k.T)
    print(
        f"PCA, k={K}: error {pca_train:.4f} (sum of discarded eigenvalues "
        f"{eigenvalues[K:].sum():.4f}); keeps "
        f"{eigenvalues[:K].sum() / eigenvalues.sum():.1%} of the variance"
    )

    # The linear autoencoder: code h = W_enc x, reconstruction xhat = W_dec h.
    L = cr.layers
    encoder = L.Linear(784, K, bias=False, init="glorot", rng=1)
    decoder = L.Linear(K, 784, bias=False, init="glorot", rng=2)
    linear_ae = cr.Sequential(encoder, decoder)
    train(linear_ae, xc, epochs=12 if fast else 20, lr=3e-3, batch_size=64, decay=True)
    lin_train = squared_error(xc, cr.predict(linear_ae, xc))
    lin_test = squared_error(xc_test, cr.predict(linear_ae, xc_test))
    gap = lin_train / pca_train - 1
    # Principal angles between span(W_dec) (its 16 columns) and span(V_k):
    # the arccos of the singular values of Q1^T Q2 for orthonormal bases Q1, Q2.
    angles = np.degrees(
        scipy.linalg.subspace_angles(decoder.weight.data.astype(np.float64), v_k)
    )
    print(
        f"linear AE: error {lin_train:.4f}, {gap:+.2%} above PCA; principal "
        f"angles to V_k: largest {angles.max():.2f} deg, mean {angles.mean():.2f} deg"
    )

    # A deeper autoencoder with ReLUs and the same 16-number code (seed 002:
    # "increasing the depth ... more powerful reductions"). It sees raw pixels
    # and has biases, so it must learn the mean itself.
    relu_ae = cr.Sequential(
        L.Linear(784, 128, rng=3),
        L.ReLU(),
        L.Linear(128, K, init="glorot", rng=4),  # the code: linear, no ReLU
        L.Linear(K, 128, rng=5),
        L.ReLU(),
        L.Linear(128, 784, init="glorot", rng=6),
    )
    train(relu_ae, x, epochs=10 if fast else 30, lr=2e-3, batch_size=128, decay=False)
    relu_train = squared_error(x, cr.predict(relu_ae, x))
    relu_test = squared_error(x_test, cr.predict(relu_ae, x_test))
    print(
        f"ReLU AE:   error {relu_train:.4f} (train), {relu_test:.4f} (test); "
        f"PCA {pca_test:.4f} and linear AE {lin_test:.4f} on the test digits"
    )

    # One test digit of each class, reconstructed three ways.
    pick = np.array([np.flatnonzero(y_test == d)[0] for d in range(10)])
    rows = {
        "original": x_test[pick],
        f"PCA\nerr {pca_test:.1f}": mean + xc_test[pick] @ v_k @ v_k.T,
        f"linear AE\nerr {lin_test:.1f}": mean + cr.predict(linear_ae, xc_test[pick]),
        f"ReLU AE\nerr {relu_test:.1f}": cr.predict(relu_ae, x_test[pick]),
    }
    figure = out / "06_autoencoder_pca.png"
    subtitle = (
        f"training digits: linear AE {gap:+.2%} from the PCA optimum, its decoder "
        f"within {angles.max():.1f} deg of the PCA subspace"
    )
    draw(rows, subtitle, figure)
    return {
        "pca_error": pca_train,
        "linear_ae_error": lin_train,
        "relative_gap": gap,
        "max_angle_deg": float(angles.max()),
        "mean_angle_deg": float(angles.mean()),
        "relu_ae_error": relu_train,
        "pca_test_error": pca_test,
        "linear_ae_test_error": lin_test,
        "relu_ae_test_error": relu_test,
        "figure": figure,
    }


def draw(rows: dict[str, np.ndarray], subtitle: str, path: Path) -> None:
    """One row of ten 28x28 pictures per entry of ``rows`` (example 11 draws
    its reconstructions with this too)."""
    fig = Figure(figsize=(12, 1.1 * len(rows) + 1.2))
    axes = fig.subplots(len(rows), 10)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(10):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=11)
    fig.suptitle(
        f"Test digits reconstructed from a {K}-number code (err: squared error "
        f"summed over pixels, mean over the 1,000 test digits)\n{subtitle}",
        fontsize=13,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    example_main(run, __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    main()
