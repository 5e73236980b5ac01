"""What the MLP's small-batch training step cannot go below with NumPy.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mlp_floor.py
    python benchmarks/mlp_floor.py --batch 128 --rounds 7

In one process, alternating (with a pause before each timed block, see
speed.py): chainrule's whole step on Fashion-MNIST batches, PyTorch's, and
two parts of chainrule's step alone with hot caches, each the NumPy calls the
layers make:

- the six matrix products (forward x W for the three Linears, their weight
  gradients, and dL/dx for the second and third; the first layer's is never
  needed), in the orientation ``layers.Linear`` uses;
- ``optim.SGD``'s momentum update of the 235,146 parameters (four passes
  over each array).

Issue 14's target for batch 32 is 2.0x PyTorch's samples per second: the
step must take half of PyTorch's. The last line compares that budget with
the two parts alone, which leave nothing for the loss, the activations, the
bias and the Python between them.
"""

from __future__ import annotations

import argparse
import statistics
import time

from speed import (  # benchmarks/speed.py, beside this file
    chainrule_trainer,
    mlp_layers,
    throughput,
    torch_trainer,
)

import chainrule as cr
from chainrule.interop.torch import to_torch_sequential


def per_call_us(f, calls: int) -> float:
    f()
    time.sleep(0.5)  # let the other library's threads stop spinning
    t = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - t) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    b, steps = args.batch, args.steps
    (x, y), _ = cr.data.load("fashion-mnist")
    x = x.reshape(len(x), -1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    rows = {
        "chainrule step": [],
        "PyTorch step": [],
        "six products": [],
        "SGD update": [],
    }
    for _ in range(args.rounds):
        cr.seed(0)
        model = cr.Sequential(*mlp_layers())
        tmodel = to_torch_sequential(model)
        rows["chainrule step"].append(
            b / throughput(chainrule_trainer(model), x, y, b, steps) * 1e6
        )
        rows["PyTorch step"].append(
            b / throughput(torch_trainer(tmodel), xt, yt, b, steps) * 1e6
        )

        # The products as Linear makes them: weight (out, in) stored column-major.
        w1, w2, w3 = (
            lay.weight.data for lay in model.layers if isinstance(lay, cr.layers.Linear)
        )
        xb = x[:b]

        def products(xb=xb, w1=w1, w2=w2, w3=w3):
            h1 = xb @ w1.T
            h2 = h1 @ w2.T
            d3 = h2 @ w3.T  # the output's size, standing in for dL/dy
            h2.T @ d3  # the weight gradient, as Parameter.add_matmul orients it
            d2 = d3 @ w3
            h1.T @ d2
            d1 = d2 @ w2
            xb.T @ d1

        rows["six products"].append(per_call_us(products, steps))
        opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
        opt.step()  # the first step creates the velocities
        rows["SGD update"].append(per_call_us(opt.step, steps))

    med = {k: statistics.median(v) for k, v in rows.items()}
    print(
        f"MLP 784-256-128-10, batch {b}, {args.rounds} alternating rounds (us, median):"
    )
    for k, v in rows.items():
        print(f"  {k:<15} {med[k]:7.0f}   ({', '.join(f'{t:.0f}' for t in v)})")
    ratios = [t / c for c, t in zip(rows["chainrule step"], rows["PyTorch step"])]
    print(
        f"  ratio (samples/s, chainrule over PyTorch): {statistics.median(ratios):.2f}"
    )
    floors = [p + s for p, s in zip(rows["six products"], rows["SGD update"])]
    budgets = [t / 2 for t in rows["PyTorch step"]]
    print(
        f"  2.0x PyTorch leaves {statistics.median(budgets):.0f} us a step; the products "
        f"and the update alone take {statistics.median(floors):.0f} us "
        f"({statistics.median(f / bud for f, bud in zip(floors, budgets)):.2f} of it)"
    )


if __name__ == "__main__":
    main()
