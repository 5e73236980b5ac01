"""Learning quality: the test accuracy the seeds' networks reach with chainrule.

Each figure is the median over three seeds of the test accuracy after training
through the public API (``cr.fit``), next to the target it must reach:

    a  MLP 784-256-128-10 (ReLU), SGD lr 0.05 momentum 0.9, batch 128,
       10 epochs on Fashion-MNIST                              target >= 0.875
    b  the same MLP, 20 epochs on mnist5k                     target >= 0.93
    c  the seed CNN: Conv2D 1->16 5x5, ReLU, MaxPool2D 2, Flatten,
       Linear 2304->10; SGD lr 0.05 momentum 0.9, batch 64,
       3 epochs on Fashion-MNIST                               target >= 0.875

Usage::

    python benchmarks/quality.py               # everything (tens of minutes on 2 cores)
    python benchmarks/quality.py --quick       # a smoke run: small subsets, 1 seed
    python benchmarks/quality.py --only cnn    # one figure: mlp-fashion, mlp-mnist5k, cnn

Exit status 1 when a full run misses a target.

The fashion-cnn recipe (92% on Fashion-MNIST within 15 minutes) is measured by
``benchmarks/recipe.py``, beside the same recipe written in PyTorch: it runs
``chainrule train`` as a user would, about ten minutes a seed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

import chainrule as cr
from chainrule.spec import build_spec

SEEDS = (0, 1, 2)


def mlp() -> cr.Sequential:
    """Flatten, Linear 784->256, ReLU, Linear 256->128, ReLU, Linear 128->10."""
    return build_spec("mlp", input_shape=(784,))


def cnn() -> cr.Sequential:
    """The seed CNN: Conv2D 1->16 5x5, ReLU, MaxPool2D 2, Flatten, Linear 2304->10."""
    return build_spec("seed-cnn")


@dataclass
class Case:
    name: str
    description: str
    dataset: str
    flatten: bool
    build: object
    batch_size: int
    epochs: int
    target: float


CASES = [
    Case(
        "mlp-fashion",
        "MLP 784-256-128-10, Fashion-MNIST, 10 epochs",
        "fashion-mnist",
        True,
        mlp,
        128,
        10,
        0.875,
    ),
    Case(
        "mlp-mnist5k",
        "MLP 784-256-128-10, mnist5k, 20 epochs",
        "mnist5k",
        True,
        mlp,
        128,
        20,
        0.93,
    ),
    Case(
        "cnn",
        "CNN 16c5-pool2-fc10, Fashion-MNIST, 3 epochs",
        "fashion-mnist",
        False,
        cnn,
        64,
        3,
        0.875,
    ),
]


def run_one(case: Case, seed: int, quick: bool) -> float:
    (x, y), (xt, yt) = cr.data.load(case.dataset, flatten=case.flatten)
    epochs = case.epochs
    if quick:
        x, y, xt, yt = x[:2000], y[:2000], xt[:500], yt[:500]
        epochs = 1
    cr.seed(seed)  # fixes the initial weights and the shuffles
    model = case.build()
    optimizer = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    cr.fit(
        model,
        cr.losses.CrossEntropy(),
        optimizer,
        x,
        y,
        epochs=epochs,
        batch_size=case.batch_size,
        verbose=0,
    )
    return cr.evaluate(model, cr.losses.CrossEntropy(), xt, yt)["accuracy"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small subsets, 1 epoch, 1 seed"
    )
    parser.add_argument(
        "--only",
        choices=[c.name for c in CASES],
        action="append",
        help="run only this figure (repeatable)",
    )
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    seeds = SEEDS[:1] if args.quick else SEEDS

    rows = []
    started = time.perf_counter()
    for case in cases:
        accs, seconds = [], []
        for seed in seeds:
            t0 = time.perf_counter()
            accs.append(run_one(case, seed, args.quick))
            seconds.append(time.perf_counter() - t0)
            print(
                f"  {case.name} seed {seed}: test accuracy {accs[-1]:.4f} "
                f"({seconds[-1]:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        rows.append((case, statistics.median(accs), accs, statistics.median(seconds)))
    total = time.perf_counter() - started

    header = ("figure", "setup", "median acc", "seeds", "target", "met", "s/seed")
    table = [header] + [
        (
            case.name,
            case.description,
            f"{med:.4f}",
            " ".join(f"{a:.4f}" for a in accs),
            f">= {case.target}",
            "-" if args.quick else ("yes" if med >= case.target else "NO"),
            f"{sec:.0f}",
        )
        for case, med, accs, sec in rows
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in table[1:]:
        print("| " + " | ".join(r) + " |")
    mode = "quick (2,000 samples, 1 epoch, 1 seed)" if args.quick else "full"
    print(f"\nmode: {mode}; wall time {total:.0f} s; numpy {np.__version__}")
    missed = [case.name for case, med, _, _ in rows if med < case.target]
    return 1 if missed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
