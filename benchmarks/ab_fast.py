"""chainrule with and without its [fast] kernels, alternating in one process.

    python benchmarks/ab_fast.py                 # the MLP at batch 32, 128, 512
    python benchmarks/ab_fast.py --model seed-cnn --batches 64

The same model and data; blocks of training steps (speed.py's chainrule
trainer) alternate between ``cr.fast.disable()`` and ``cr.fast.enable()``,
five rounds with a pause before each block. Prints the median samples per
second of each side and their ratio: what the compiled kernels change, with
the machine's drift shared by both sides.
"""

from __future__ import annotations

import argparse
import statistics
import time

import speed  # benchmarks/speed.py, beside this file

import chainrule as cr
from chainrule.spec import build_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--batches", default="32,128,512")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    cr.fast.enable()  # compile (or load) the kernels before timing
    (x, y), _ = cr.data.load("fashion-mnist")
    x, y = x[:20000], y[:20000]
    if args.model == "mlp":
        x = x.reshape(len(x), -1)
    for batch in (int(b) for b in args.batches.split(",")):
        cr.seed(0)
        step = speed.chainrule_trainer(build_spec(args.model, input_shape=x.shape[1:]))
        steps = max(20, 20000 // batch)
        rates = {"NumPy": [], "[fast]": []}
        for _ in range(args.rounds):
            for side in rates:
                cr.fast.enable(side == "[fast]")
                time.sleep(0.3)
                rates[side].append(speed.throughput(step, x, y, batch, steps))
        a, b = (statistics.median(v) for v in rates.values())
        print(
            f"{args.model} batch {batch}: NumPy {a:,.0f}/s, [fast] {b:,.0f}/s, "
            f"ratio {b / a:.2f}",
            flush=True,
        )
    cr.fast.disable()


if __name__ == "__main__":
    main()
