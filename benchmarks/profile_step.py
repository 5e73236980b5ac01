"""Where a training step's time goes, layer by layer.

    python benchmarks/profile_step.py mlp --batch 32
    python benchmarks/profile_step.py seed-cnn --batch 64
    python benchmarks/profile_step.py cnn --batch 64 --steps 20
    python benchmarks/profile_step.py cnn --fast   # with the [fast] extra

Runs the same forward / loss / backward / SGD-momentum step as ``cr.fit`` on
Fashion-MNIST batches (random data if it is not installed), timing every
layer's ``forward`` and ``backward`` call, and prints the mean time per step
of each and its share.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule.spec import build_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="mlp, seed-cnn, cnn or a SPEC")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--fast", action="store_true", help="with cr.fast.enable()")
    args = ap.parse_args()
    if args.fast:
        cr.fast.enable()
    try:
        (x, y), _ = cr.data.load("fashion-mnist")
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        x = rng.random((10000, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 10000)
    x, y = x[:10000], y[:10000]
    if not args.model.startswith(("conv", "seed", "cnn", "flatten", "mlp")):
        x = x.reshape(len(x), -1)
    model = build_spec(args.model, input_shape=x.shape[1:], rng=0)
    loss = cr.losses.CrossEntropy()
    opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    bs, n = args.batch, len(x)
    # As Sequential.backward(input_grad=False) in cr.fit: down to the first
    # layer with parameters, which skips dL/dx.
    first = next(j for j, m in enumerate(model.layers) if m.has_parameters())
    # The order Sequential.forward runs them in: a ReLU followed by a
    # MaxPool2D runs after it (they commute; see Sequential.forward).
    order = list(range(len(model.layers)))
    for j in range(len(order) - 1):
        a, b = model.layers[j], model.layers[j + 1]
        if getattr(a, "commutes_with_max", False) and getattr(
            b, "takes_window_max", False
        ):
            order[j], order[j + 1] = order[j + 1], order[j]
    times: dict[str, float] = {}

    def tick(key: str, start: float) -> float:
        now = time.perf_counter()
        times[key] = times.get(key, 0.0) + now - start
        return now

    for _ in range(2):  # the first pass warms up; the second is reported
        times.clear()
        for i in range(args.steps):
            s = (i * bs) % (n - bs)
            t = time.perf_counter()
            h = x[s : s + bs]
            for j in order:
                layer = model.layers[j]
                h = layer.forward(h)
                t = tick(f"forward  {j:2d} {type(layer).__name__}", t)
            loss.forward(h, y[s : s + bs])
            dy = loss.backward()
            t = tick("loss", t)
            opt.zero_grad()
            t = tick("zero_grad", t)
            for j in reversed(order[first:]):
                layer = model.layers[j]
                layer.skip_input_grad = j == first
                dy = layer.backward(dy)
                layer.skip_input_grad = False
                t = tick(f"backward {j:2d} {type(layer).__name__}", t)
            opt.step()
            tick("optimizer step", t)
    total = sum(times.values())
    print(
        f"{args.model}, batch {bs}: {args.steps * bs / total:,.0f} samples/s, "
        f"{total / args.steps * 1e3:.2f} ms a step"
    )
    for key, value in times.items():
        print(
            f"  {key:<24} {value / args.steps * 1e6:9.1f} us  {100 * value / total:5.1f}%"
        )


if __name__ == "__main__":
    main()
