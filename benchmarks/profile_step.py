"""Where a training step's time goes, layer by layer.

    python benchmarks/profile_step.py mlp --batch 32
    python benchmarks/profile_step.py seed-cnn --batch 64
    python benchmarks/profile_step.py cnn --batch 64 --steps 20
    python benchmarks/profile_step.py cnn --fast   # with the [fast] extra
    python benchmarks/profile_step.py cnn --keep-freed-memory   # malloc as the CLI sets it

Runs the model's own forward / loss / backward / SGD-momentum step, as ``cr.fit`` does, on
Fashion-MNIST batches (random data if it is not installed), timing every
layer's ``forward`` and ``backward`` call, and prints the mean time per step
of each and its share.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import chainrule as cr
from chainrule.spec import SpecError, build_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="mlp, seed-cnn, cnn or a SPEC")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--fast", action="store_true", help="with cr.fast.enable()")
    ap.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="with cr.allocator.keep_freed_memory(), as the command line runs",
    )
    args = ap.parse_args()
    if args.keep_freed_memory:
        cr.allocator.keep_freed_memory()
    if args.fast:
        cr.fast.enable()
    try:
        (x, y), _ = cr.data.load("fashion-mnist")
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        x = rng.random((10000, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 10000)
    x, y = x[:10000], y[:10000]
    try:  # images, or flat rows for a model that starts with a Linear
        model = build_spec(args.model, input_shape=x.shape[1:], rng=0)
    except SpecError:
        x = x.reshape(len(x), -1)
        model = build_spec(args.model, input_shape=x.shape[1:], rng=0)
    loss = cr.losses.CrossEntropy()
    opt = cr.optim.SGD(model, lr=0.05, momentum=0.9)
    bs, n = args.batch, len(x)
    times: dict[str, float] = {}

    # Each layer's methods are wrapped on the instance, so the model runs as
    # cr.fit runs it (Sequential's rewrites included: a ReLU after the
    # MaxPool2D that follows it, convolutions writing pool order; see
    # Sequential.forward) while every call is timed.
    def timed(key: str, method):
        def call(*a, **k):
            t = time.perf_counter()
            try:
                return method(*a, **k)
            finally:
                times[key] = times.get(key, 0.0) + time.perf_counter() - t

        return call

    for j, layer in enumerate(model.layers):
        name = type(layer).__name__
        for method, label in (
            ("forward", ""),
            ("forward_in_pool_order", " (pool order)"),
            ("forward_from_pool_order", " (pool order)"),
            ("forward_batch_last", " (batch last)"),
        ):
            if hasattr(layer, method):
                key = f"forward  {j:2d} {name}{label}"
                setattr(layer, method, timed(key, getattr(layer, method)))
        layer.backward = timed(f"backward {j:2d} {name}", layer.backward)

    def loss_and_zero_grad(out, target):
        loss.forward(out, target)
        dy = loss.backward()
        opt.zero_grad()
        return dy

    loss_and_zero_grad = timed("loss and zero_grad", loss_and_zero_grad)
    step = timed("optimizer step", opt.step)

    for _ in range(2):  # the first pass warms up; the second is reported
        times.clear()
        started = time.perf_counter()
        for i in range(args.steps):
            s = (i * bs) % (n - bs)
            out = model.forward(x[s : s + bs])
            model.backward(loss_and_zero_grad(out, y[s : s + bs]), input_grad=False)
            step()
        elapsed = time.perf_counter() - started
    times["the rest (Sequential's loops)"] = elapsed - sum(times.values())
    total = elapsed
    print(
        f"{args.model}, batch {bs}: {args.steps * bs / total:,.0f} samples/s, "
        f"{total / args.steps * 1e3:.2f} ms a step"
    )
    for key, value in times.items():
        print(
            f"  {key:<36} {value / args.steps * 1e6:9.1f} us  {100 * value / total:5.1f}%"
        )


if __name__ == "__main__":
    main()
