"""Example 5: the seed's digit recogniser (seed 001).

Seed 001 recognises handwritten digits with

    y = f_{W0, W1}(x) = softmax(W1 maxpool(ReLU(W0 * x)))

where W0 * x is a convolution, and trains W0 and W1 to minimise the negative
log-likelihood of the true class t:

    L(W0, W1; D) = sum_i NLL(f(x_i), t_i),     NLL(y, t) = -log y_t

In chainrule layers (16 filters of 5x5, as a 28x28 image gives 24x24 maps,
pooled to 12x12; 16 * 12 * 12 = 2304 inputs to W1):

    Conv2D(1, 16, 5) -> ReLU -> MaxPool2D(2) -> Flatten -> Linear(2304, 10)
    -> LogSoftmax, with the loss cr.losses.NLL

LogSoftmax + NLL is the seed's softmax + NLL computed as log softmax, so that
-log y_t never takes the log of a probability rounded to 0 (``cr.losses.NLL``
averages over the batch instead of summing, which only rescales the step).
Training is mini-batch SGD with momentum (seed 003) on the 4,000 training
digits of ``mnist5k``; the 1,000 test digits are never trained on.

Run:  python examples/05_digit_recognizer.py [--out DIR] [--fast]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _cli import main as example_main  # the examples' shared command line

import chainrule as cr

OUT = Path(__file__).resolve().parent / "output"
L = cr.layers


def make_model(seed: int = 0) -> cr.Sequential:
    rng = np.random.default_rng(seed)
    return cr.Sequential(
        L.Conv2D(1, 16, 5, rng=rng),  # W0 * x: (N, 1, 28, 28) -> (N, 16, 24, 24)
        L.ReLU(),
        L.MaxPool2D(2),  # -> (N, 16, 12, 12)
        L.Flatten(),  # -> (N, 2304)
        L.Linear(16 * 12 * 12, 10, rng=rng),  # W1
        L.LogSoftmax(),  # log y, for NLL(y, t) = -log y_t
    )


def run(fast: bool = False, out: str | Path | None = OUT) -> dict:
    # fast mode is the full run: 5 epochs take about 5 s on two cores.
    epochs = 5
    (x, y), (x_test, y_test) = cr.data.load("mnist5k")
    model = make_model()
    opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    start = time.perf_counter()
    history = cr.fit(
        model,
        cr.losses.NLL(),
        opt,
        x,
        y,
        epochs=epochs,
        batch_size=32,
        seed=0,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    test = cr.evaluate(model, cr.losses.NLL(), x_test, y_test)
    results = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "train_accuracy": history["accuracy"][-1],
        "epochs": epochs,
        "train_seconds": seconds,
    }
    if out is not None:
        results["figures"] = plot(model, x_test, y_test, test["accuracy"], out)
    return results


def plot(model, x_test, y_test, accuracy, out) -> list[Path]:
    from chainrule import plots

    out = Path(out)
    log_p = cr.predict(model, x_test)
    pred = log_p.argmax(axis=1)
    paths = [plots.plot_first_layer(model, out / "05_filters.png")]

    shown = np.arange(32)
    titles = [
        f"pred {pred[i]}" + ("" if pred[i] == y_test[i] else f" (true {y_test[i]})")
        for i in shown
    ]
    paths.append(
        plots.plot_image_grid(
            x_test[shown],
            titles,
            out / "05_test_predictions.png",
            suptitle=(
                f"The first 32 test digits and the network's answers "
                f"(test accuracy {accuracy:.1%} on 1,000)"
            ),
            ncols=8,
            cmap="gray_r",
        )
    )
    paths.append(
        plots.plot_misclassified(
            x_test, y_test, np.exp(log_p), None, out / "05_mistakes.png"
        )
    )
    return paths


def report(r: dict) -> None:
    """Print what the run found."""
    print(
        f"{r['epochs']} epochs in {r['train_seconds']:.1f} s: train accuracy "
        f"{r['train_accuracy']:.3f}, test accuracy {r['test_accuracy']:.3f} "
        f"(test NLL {r['test_loss']:.3f})"
    )


def main(argv=None) -> None:
    example_main(run, __doc__, OUT, argv, report)


if __name__ == "__main__":
    main()
