"""Example 11: a convolutional autoencoder, the seeds' autoencoder on images.

Seed 002 reduces dimension with an autoencoder, and example 6 shows that a
linear one, 784 -> k -> 784, can do no better than PCA. Here the encoder and
decoder see the digits as images. The encoder halves the resolution twice
with strided convolutions, each followed by batch normalisation and a ReLU,
and a Linear layer squeezes the 32 maps of 7x7 into a code of k = 16 numbers,
the code size of example 6. The decoder mirrors it: a Linear layer back to
32 maps of 7x7 (Reshape, the inverse of Flatten), then two transposed
convolutions, each doubling the resolution:

    (1, 28, 28)  Conv2D 3x3 s2 -> BatchNorm2D -> ReLU          (16, 14, 14)
                 Conv2D 3x3 s2 -> BatchNorm2D -> ReLU          (32, 7, 7)
                 Flatten -> Linear                              (16,)  the code
                 Linear -> ReLU -> Reshape                      (32, 7, 7)
                 ConvTranspose2D 4x4 s2 -> BatchNorm2D -> ReLU  (16, 14, 14)
                 ConvTranspose2D 4x4 s2 -> Sigmoid              (1, 28, 28)

A transposed convolution is the adjoint of a convolution: its forward pass is
a Conv2D's input gradient (each input pixel stamps the kernel onto the
output), so it upsamples with weights it learns.

Both autoencoders are trained with Adam (its step decaying along a cosine)
on the seeds' MSE over the 4,000 training digits of mnist5k; the error
reported is example 6's, the squared error summed over the 784 pixels,
averaged over digits. Batch normalisation uses each batch's statistics in
training and its running averages when predicting.

Claims: (1) with the same 16-number code the convolutional autoencoder's
reconstruction error on the 1,000 test digits is below the linear
autoencoder's of example 6 (measured here with example 6's own recipe), and
(2) below PCA's, the best any linear reduction with 16 numbers can do.

Run:  python examples/11_conv_autoencoder.py [--out DIR] [--fast]
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line

import chainrule as cr

DEFAULT_OUT = Path(__file__).resolve().parent / "output"
L = cr.layers
# Example 6, for its linear autoencoder, its PCA and its error measure.
linear_example = importlib.import_module("06_autoencoder_pca")
K = linear_example.K  # the size of the code: 16, as in example 6
squared_error = linear_example.squared_error


def make_model(seed: int = 0) -> cr.Sequential:
    """The convolutional autoencoder drawn in the module docstring."""
    rng = np.random.default_rng(seed)
    return cr.Sequential(
        L.Conv2D(1, 16, 3, stride=2, padding=1, rng=rng),  # -> (16, 14, 14)
        L.BatchNorm2D(16),
        L.ReLU(),
        L.Conv2D(16, 32, 3, stride=2, padding=1, rng=rng),  # -> (32, 7, 7)
        L.BatchNorm2D(32),
        L.ReLU(),
        L.Flatten(),
        L.Linear(32 * 7 * 7, K, init="glorot", rng=rng),  # the code: linear
        L.Linear(K, 32 * 7 * 7, rng=rng),
        L.ReLU(),
        L.Reshape((32, 7, 7)),
        L.ConvTranspose2D(32, 16, 4, stride=2, padding=1, rng=rng),  # -> (16, 14, 14)
        L.BatchNorm2D(16),
        L.ReLU(),
        L.ConvTranspose2D(16, 1, 4, stride=2, padding=1, init="glorot", rng=rng),
        L.Sigmoid(),  # pixels in [0, 1], as the digits
    )


def run(fast: bool = False, out: Path | str | None = None) -> dict:
    out = Path(out) if out is not None else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    (x, _), (x_test, y_test) = cr.data.load("mnist5k")  # (N, 1, 28, 28)
    flat, flat_test = x.reshape(len(x), -1), x_test.reshape(len(x_test), -1)

    # Example 6's linear autoencoder, trained with its recipe: centred
    # digits, Linear layers without biases, Adam with a cosine decay.
    mean = flat.mean(axis=0)
    xc, xc_test = flat - mean, flat_test - mean
    linear_ae = cr.Sequential(
        L.Linear(784, K, bias=False, init="glorot", rng=1),
        L.Linear(K, 784, bias=False, init="glorot", rng=2),
    )
    linear_example.train(
        linear_ae, xc, epochs=12 if fast else 20, lr=3e-3, batch_size=64, decay=True
    )
    lin_test = squared_error(xc_test, cr.predict(linear_ae, xc_test))
    v_k, _ = linear_example.pca(xc, K)
    pca_test = squared_error(xc_test, xc_test @ v_k @ v_k.T)
    print(f"linear AE, k={K}: test error {lin_test:.4f} (PCA {pca_test:.4f})")

    # The convolutional autoencoder, on the raw images.
    model = make_model()
    history = linear_example.train(
        model, x, epochs=3 if fast else 12, lr=4e-3, batch_size=32, decay=True
    )
    conv_train = squared_error(flat, cr.predict(model, x).reshape(len(x), -1))
    recon_test = cr.predict(model, x_test).reshape(len(x_test), -1)
    conv_test = squared_error(flat_test, recon_test)
    print(
        f"conv AE,   k={K}: test error {conv_test:.4f} (train {conv_train:.4f}), "
        f"{conv_test / lin_test - 1:+.1%} against the linear AE; "
        f"{model.num_parameters():,} parameters, {len(history.epoch)} epochs"
    )
    # The example's claims, checked here as the tests check them.
    if not conv_test < min(lin_test, pca_test):
        raise RuntimeError(
            f"example 11: the convolutional AE's test error {conv_test:.4f} should "
            f"be below the linear AE's {lin_test:.4f} and PCA's {pca_test:.4f}."
        )

    # One test digit of each class, reconstructed both ways.
    pick = np.array([np.flatnonzero(y_test == d)[0] for d in range(10)])
    rows = {
        "original": flat_test[pick],
        f"linear AE\nerr {lin_test:.1f}": mean + cr.predict(linear_ae, xc_test[pick]),
        f"conv AE\nerr {conv_test:.1f}": recon_test[pick],
    }
    figure = out / "11_conv_autoencoder.png"
    linear_example.draw(
        rows, "linear autoencoder (example 6) against a convolutional one", figure
    )
    return {
        "linear_ae_test_error": lin_test,
        "pca_test_error": pca_test,
        "conv_ae_train_error": conv_train,
        "conv_ae_test_error": conv_test,
        "figure": figure,
    }


def main(argv: list[str] | None = None) -> None:
    example_main(run, __doc__, DEFAULT_OUT, argv)


if __name__ == "__main__":
    main()
