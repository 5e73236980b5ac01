"""The fashion-cnn recipe, with chainrule and with PyTorch, side by side.

chainrule trains through ``chainrule train --data fashion-mnist --model
fashion-cnn`` (a subprocess, as a user would run it, wall clock from start to
exit: data loading and the final test included). PyTorch trains the same
network (``interop.torch.to_torch_sequential`` of chainrule's freshly built
model, so the same initial weights) with the same recipe: SGD with Nesterov
momentum and weight decay, one epoch of linear warm-up then cosine decay
stepped per batch, label smoothing, and the very same augmented batches in the
same order (chainrule's ``data.augment`` on the NumPy batch, with the
generator the CLI's run derives from its seed, epoch and batch).

Usage::

    python benchmarks/recipe.py                  # seeds 0, 1, 2; both libraries
    python benchmarks/recipe.py --seeds 0 --only chainrule
    python benchmarks/recipe.py --quick          # 2,000 images, 1 epoch: a smoke run

Prints each run's test accuracy and wall time (PyTorch's test accuracy after
every epoch as it goes; that testing is left out of its time, as chainrule's
run does not test between epochs), then two tables: the medians over seeds,
and the training accuracy per epoch (median over seeds, on the augmented
batches with Dropout on, as the progress line shows it). Exits 1 when a full
chainrule run misses 92.0% or 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.data.augment import batch_rng, from_spec
from chainrule.spec import RECIPES, build_spec

TARGET_ACCURACY = 0.92
TARGET_SECONDS = 15 * 60
RECIPE = RECIPES["fashion-cnn"]


def run_chainrule(seed: int, quick: bool) -> dict:
    """``chainrule train`` in a subprocess; its test accuracy, history, time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = [
            "--data",
            "fashion-mnist",
            "--model",
            "fashion-cnn",
            "--seed",
            str(seed),
        ]
        if quick:
            args += ["--epochs", "1"]
        started = time.perf_counter()
        env = dict(os.environ)
        if quick:  # a small set through the same code: an .npz of 2,000 images
            (x, y), (xt, yt) = cr.data.load("fashion-mnist")
            np.savez(
                Path(tmp) / "small.npz",
                x_train=x[:2000], y_train=y[:2000], x_test=xt[:500], y_test=yt[:500],
            )  # fmt: skip
            args[1] = str(Path(tmp) / "small.npz")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "chainrule",
                "train",
                *args,
                "--out",
                str(out),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"chainrule train failed: {done.stderr.strip()}")
        result = json.loads(done.stdout.splitlines()[-1])
        history = json.loads((out / "history.json").read_text())
    return {
        "accuracy": result["test_accuracy"],
        "seconds": seconds,
        # Accuracy on each epoch's augmented training batches, in training
        # mode (Dropout on), as the progress line shows it.
        "per_epoch": history["history"]["accuracy"],
    }


def run_torch(seed: int, quick: bool) -> dict:
    """The same recipe in PyTorch: same network, initial weights, batches."""
    import torch
    import torch.nn.functional as F

    from chainrule.interop.torch import to_torch_sequential

    torch.set_num_threads(2)
    started = time.perf_counter()
    (x, y), (xt, yt) = cr.data.load("fashion-mnist")
    epochs = RECIPE["epochs"]
    if quick:
        x, y, xt, yt, epochs = x[:2000], y[:2000], xt[:500], yt[:500], 1
    cr.seed(seed)  # the CLI seeds the same way before building the model
    net = to_torch_sequential(build_spec("fashion-cnn", input_shape=x.shape[1:]))
    bs, n = RECIPE["batch_size"], len(x)
    steps_per_epoch = math.ceil(n / bs)
    warmup = min(round(RECIPE["warmup_epochs"] * n / bs), epochs * steps_per_epoch - 1)
    schedule = cr.optim.WarmupCosine(
        cr.optim.SGD([cr.Parameter(np.zeros(1))], lr=RECIPE["lr"]),
        warmup_steps=warmup,
        total_steps=epochs * steps_per_epoch,
    )
    opt = torch.optim.SGD(
        net.parameters(),
        lr=schedule.lr_at(0, None),
        momentum=RECIPE["momentum"],
        nesterov=RECIPE["nesterov"],
        weight_decay=RECIPE["weight_decay"],
    )
    augment = from_spec(RECIPE["augment"])
    rng = np.random.default_rng(seed)  # fit's shuffle stream for this seed
    train_accs, test_accs = [], []
    testing = 0.0  # seconds spent on the per-epoch test, left out of the time
    t = 0
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(n)
        right = 0
        for b in range(steps_per_epoch):
            idx = order[b * bs : (b + 1) * bs]
            xb = augment(x[idx], batch_rng(seed, epoch, b))
            for group in opt.param_groups:
                group["lr"] = schedule.lr_at(t, None)
            opt.zero_grad()
            logits = net(torch.from_numpy(np.ascontiguousarray(xb)))
            loss = F.cross_entropy(
                logits,
                torch.from_numpy(y[idx]),
                label_smoothing=RECIPE["label_smoothing"],
            )
            loss.backward()
            opt.step()
            right += int((logits.argmax(1).numpy() == y[idx]).sum())
            t += 1
        train_accs.append(right / n)
        tested = time.perf_counter()
        net.eval()
        with torch.no_grad():
            pred = torch.cat(
                [
                    net(torch.from_numpy(xt[i : i + 1000])).argmax(1)
                    for i in range(0, len(xt), 1000)
                ]
            ).numpy()
        test_accs.append(float((pred == yt).mean()))
        testing += time.perf_counter() - tested
        print(
            f"    torch epoch {epoch + 1}: training accuracy {train_accs[-1]:.4f}, "
            f"test accuracy {test_accs[-1]:.4f}",
            file=sys.stderr,
        )
    return {
        "accuracy": test_accs[-1],
        "seconds": time.perf_counter() - started - testing,
        "per_epoch": train_accs,
        "test_per_epoch": test_accs,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=("chainrule", "torch"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sides = [args.only] if args.only else ["chainrule", "torch"]
    rows = {side: [] for side in sides}
    for seed in args.seeds:
        for side in sides:  # alternate the two, seed by seed
            time.sleep(0.5)
            r = (run_chainrule if side == "chainrule" else run_torch)(seed, args.quick)
            rows[side].append(r)
            print(
                f"  {side} seed {seed}: test accuracy {r['accuracy']:.4f} in "
                f"{r['seconds']:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    print("| library | median accuracy | per seed | median wall time (s) |")
    print("|---|---|---|---|")
    for side, rs in rows.items():
        accs = [r["accuracy"] for r in rs]
        secs = [r["seconds"] for r in rs]
        print(
            f"| {side} | {statistics.median(accs):.4f} | "
            f"{' '.join(f'{a:.4f}' for a in accs)} | {statistics.median(secs):.0f} |"
        )
    print()
    print("| epoch | " + " | ".join(f"{side} training accuracy" for side in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for epoch in range(len(next(iter(rows.values()))[0]["per_epoch"])):
        cells = [
            f"{statistics.median(r['per_epoch'][epoch] for r in rs):.4f}"
            for rs in rows.values()
        ]
        print(f"| {epoch + 1} | " + " | ".join(cells) + " |")
    if args.quick or "chainrule" not in rows:
        return 0
    accs = [r["accuracy"] for r in rows["chainrule"]]
    slow = max(r["seconds"] for r in rows["chainrule"])
    return (
        0
        if statistics.median(accs) >= TARGET_ACCURACY and slow <= TARGET_SECONDS
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
