"""MaxPool2D's current code against another version, in one process:
alternating blocks of training steps with each side's pooling functions.

    OPENBLAS_NUM_THREADS=1 python benchmarks/ab_pooling.py seed-cnn --steps 150
    OPENBLAS_NUM_THREADS=1 python benchmarks/ab_pooling.py cnn --steps 20
    python benchmarks/ab_pooling.py cnn --other REV    # any revision

The other ``chainrule/functional/pooling.py`` is read from git at ``--other``
and loaded beside the current one; everything else is today's code. The
default, 5d20646, is the variant that kept x and y and found the winners in
backward: faster for the seed CNN, slower for the two-conv CNN, so it was
reverted (benchmarks/README.md, round 2). Prints the median step time of
each side over 8 alternating blocks.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import chainrule as cr
import chainrule.layers.pooling as layer_module
from chainrule.spec import build_spec

REPO = Path(__file__).resolve().parents[1]


def other_functions(rev: str):
    source = subprocess.run(
        ["git", "show", f"{rev}:chainrule/functional/pooling.py"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("chainrule.functional._other", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.maxpool2d_forward, module.maxpool2d_backward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a preset or SPEC with MaxPool2D (seed-cnn, cnn)")
    ap.add_argument("--steps", type=int, default=30, help="steps per timed block")
    ap.add_argument("--other", default="5d20646", help="git revision to compare with")
    args = ap.parse_args()
    sides = {
        "other": other_functions(args.other),
        "current": (layer_module.maxpool2d_forward, layer_module.maxpool2d_backward),
    }
    (x, y), _ = cr.data.load("fashion-mnist")
    cr.seed(0)
    model = build_spec(args.model)
    loss = cr.losses.CrossEntropy()
    opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    batch = 64

    def block() -> float:
        t = time.perf_counter()
        for i in range(args.steps):
            s = (i * batch) % (len(x) - batch)
            out = model.forward(x[s : s + batch])
            loss.forward(out, y[s : s + batch])
            dy = loss.backward()
            opt.zero_grad()
            model.backward(dy, input_grad=False)
            opt.step()
        return (time.perf_counter() - t) / args.steps * 1e3

    times = {"current": [], "other": []}
    for r in range(8):
        for side in ("current", "other") if r % 2 == 0 else ("other", "current"):
            layer_module.maxpool2d_forward, layer_module.maxpool2d_backward = sides[
                side
            ]
            block()  # warm up this side's buffers
            time.sleep(0.3)
            times[side].append(block())
    current, other = (
        statistics.median(times["current"]),
        statistics.median(times["other"]),
    )
    print(
        f"{args.model}, batch {batch}: current {current:.2f} ms, {args.other} "
        f"{other:.2f} ms a step ({args.other} {(current - other) / current:+.1%} faster)"
    )


if __name__ == "__main__":
    sys.exit(main())
