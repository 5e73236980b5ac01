"""Training and inference speed of chainrule against PyTorch, side by side.

    python benchmarks/speed.py                 # everything (about 4 minutes idle)
    python benchmarks/speed.py --quick         # fewer steps, a smoke test
    python benchmarks/speed.py --only mlp,cnn  # some sections
    python benchmarks/speed.py --fast          # chainrule with its [fast] extra
    python benchmarks/speed.py --threads 2     # each batch in 2 shares, one thread each
    python benchmarks/speed.py --keep-freed-memory  # malloc as the command line sets it

Both libraries run in this one process, on the same data, from the same
initial weights, in float32 with 2 threads. Each measurement is repeated
(``--reps``, default 3) alternating the two sides, with a 0.5 s pause before
each timed block so that one library's spinning BLAS threads do not steal a
core from the other; the table shows medians and the min-max of the ratio.
Before timing, each pair is checked to compute the same thing: after the same
20 SGD steps from the same weights the parameters must agree to float32
precision. Memory is measured in separate processes (one library each), and
one epoch of ``chainrule train --data fashion-mnist --model cnn`` in a
subprocess, as a user runs it, against the same epoch in a PyTorch loop.

The command line has glibc keep freed memory for reuse (``chainrule/allocator.py``):
without it, fresh pages cost each step hundreds of page faults, in both
libraries. ``--keep-freed-memory`` sets the same in this process, for both
sides; without it, this process runs with glibc's defaults, as a program
that imports either library does.

PyTorch is a benchmark dependency only: ``pip install torch==2.13.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

import chainrule as cr
from chainrule.interop.torch import to_torch_sequential
from chainrule.spec import build_spec

L = cr.layers


# --------------------------------------------------------------- the models
# chainrule's presets (chainrule/spec.py) are the networks of the issue:
#   mlp       Flatten, Linear 784->256, ReLU, Linear 256->128, ReLU, Linear 128->10
#   seed-cnn  Conv2D 1->16 5x5, ReLU, MaxPool2D 2, Flatten, Linear 2304->10
#   cnn       Conv2D 1->32 3x3 pad 1, ReLU, MaxPool2D 2, Conv2D 32->64 3x3 pad 1,
#             ReLU, MaxPool2D 2, Flatten, Linear 3136->128, ReLU, Dropout 0.5,
#             Linear 128->10
# and one of its own:
#   bn-cnn    the seed CNN with BatchNorm2D after its convolution, which then
#             has no bias (BN's mean removes it: its gradient is 0, and a
#             relative comparison of a parameter stuck at 0 measures noise)


def mlp_layers():
    return build_spec("mlp", input_shape=(784,)).layers


def seed_cnn_layers():
    return build_spec("seed-cnn").layers


def cnn_layers():
    return build_spec("cnn").layers


def bn_cnn_layers():
    return [
        L.Conv2D(1, 16, 5, bias=False),
        L.BatchNorm2D(16),
        L.ReLU(),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Linear(2304, 10),
    ]


# ------------------------------------------------------------- the steps
#: Shares of each batch, one thread each (fit's ``threads``; set by --threads).
THREADS = 1


def chainrule_trainer(model, lr=0.05, momentum=0.9):
    loss = cr.losses.CrossEntropy()
    opt = cr.optim.SGD(model, lr=lr, momentum=momentum)
    if THREADS > 1 and not list(model.named_buffers()):
        from chainrule.parallel import ThreadedStep

        threaded = ThreadedStep(model, loss, THREADS)

        def step(xb, yb):
            # As cr.fit(..., threads=K) runs a step.
            opt.zero_grad()
            threaded.forward_backward(xb, yb, None, (0, 0, 0))
            opt.step()

        return step

    def step(xb, yb):
        # The public API, as cr.fit runs it.
        out = model.forward(xb)
        loss.forward(out, yb)
        dy = loss.backward()
        opt.zero_grad()
        model.backward(dy, input_grad=False)
        opt.step()

    return step


def torch_trainer(model, lr=0.05, momentum=0.9):
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    lossf = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad()
        lossf(model(xb), yb).backward()
        opt.step()

    return step


def throughput(step, xs, ys, batch, steps) -> float:
    n = len(xs)
    starts = [(i * batch) % (n - batch) for i in range(steps)]
    step(xs[:batch], ys[:batch])  # warm up: first-touch of buffers
    time.sleep(0.5)
    t = time.perf_counter()
    for s in starts:
        step(xs[s : s + batch], ys[s : s + batch])
    return steps * batch / (time.perf_counter() - t)


def same_result(
    make_layers, x, y, batch, steps=20, dtype=np.float32, lr=0.05, momentum=0.9
) -> float:
    """Largest relative difference of the parameters after ``steps`` identical
    SGD steps from the same weights, both libraries in ``dtype``."""
    import torch

    cr.seed(0)
    model = cr.Sequential(*make_layers()).to(dtype)
    tmodel = to_torch_sequential(model)  # in the model's dtype
    a, b = chainrule_trainer(model, lr, momentum), torch_trainer(tmodel, lr, momentum)
    x = x.astype(dtype)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for i in range(steps):
        s = slice(i * batch, (i + 1) * batch)
        a(x[s], y[s])
        b(xt[s], yt[s])
    worst = 0.0
    tparams = [p.detach().numpy() for p in tmodel.parameters()]
    for p, q in zip(model.parameters(), tparams):
        worst = max(worst, float(np.abs(p.data - q).max() / (np.abs(q).max() + 1e-12)))
    return worst


def compare(name, make_layers, x, y, batch, steps, reps, rows):
    import torch

    # Dropout draws different masks in the two libraries: compare without it.
    def layers():
        return [lay for lay in make_layers() if not isinstance(lay, L.Dropout)]

    # float32 over 20 steps agrees to rounding for the MLP, but through ReLU
    # and max-pooling a rounding difference can flip a window's winner and
    # grow; float64 shows the two compute the same function and gradients.
    err = (
        same_result(layers, x, y, batch),
        same_result(layers, x, y, batch, dtype=np.float64),
    )
    ours, theirs = [], []
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(reps):
        cr.seed(0)
        model = cr.Sequential(*make_layers())
        tmodel = to_torch_sequential(model)
        ours.append(throughput(chainrule_trainer(model), x, y, batch, steps))
        theirs.append(throughput(torch_trainer(tmodel), xt, yt, batch, steps))
    ratios = [a / b for a, b in zip(ours, theirs)]
    rows.append(
        (
            name,
            batch,
            statistics.median(ours),
            statistics.median(theirs),
            statistics.median(ratios),
            min(ratios),
            max(ratios),
            err,
        )
    )
    print(
        f"  {name:<10} batch {batch:>4}: chainrule {statistics.median(ours):>9,.0f}/s  "
        f"torch {statistics.median(theirs):>9,.0f}/s  ratio {statistics.median(ratios):.2f} "
        f"({min(ratios):.2f}-{max(ratios):.2f})  after 20 steps, max rel. param diff "
        f"{err[0]:.1e} in float32, {err[1]:.1e} in float64",
        flush=True,
    )


# ----------------------------------------------------------------- sections
def gemm_rate(m=512, k=784, n=256, reps=50) -> float:
    """Measured float32 GEMM FLOP/s on the MLP's largest product."""
    a = np.random.default_rng(0).random((m, k), dtype=np.float32)
    b = np.random.default_rng(1).random((k, n), dtype=np.float32)
    for _ in range(5):
        a @ b
    best = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best.append((time.perf_counter() - t) / reps)
    return 2 * m * k * n / min(best)


def mlp_flops_per_sample() -> int:
    sizes = [(784, 256), (256, 128), (128, 10)]
    fwd = sum(2 * i * o for i, o in sizes)
    dw = fwd
    dx = sum(2 * i * o for i, o in sizes[1:])  # the first layer's dx is not needed
    return fwd + dw + dx


def inference(model, x, reps):
    import torch

    tmodel = to_torch_sequential(model).eval()
    one, one_t = x[:1], torch.from_numpy(x[:1])
    big, big_t = x[:1024], torch.from_numpy(x[:1024])

    def lat_cr():
        t = time.perf_counter()
        for _ in range(2000):
            cr.predict(model, one)
        return (time.perf_counter() - t) / 2000

    def lat_torch():
        with torch.no_grad():
            t = time.perf_counter()
            for _ in range(2000):
                tmodel(one_t)
            return (time.perf_counter() - t) / 2000

    # The floor NumPy sets: the products, bias adds and ReLUs alone, with the
    # model's weights and no chainrule code around them.
    linears = [lay for lay in model.layers if isinstance(lay, L.Linear)]

    def lat_floor():
        t = time.perf_counter()
        for _ in range(2000):
            h = one
            for k, lay in enumerate(linears):
                h = h @ lay.weight.data.T
                h += lay.bias.data
                if k < len(linears) - 1:
                    np.maximum(h, 0, out=h)
        return (time.perf_counter() - t) / 2000

    def thr_cr():
        t = time.perf_counter()
        for _ in range(20):
            cr.predict(model, big, batch_size=1024)
        return 20 * 1024 / (time.perf_counter() - t)

    def thr_torch():
        with torch.no_grad():
            t = time.perf_counter()
            for _ in range(20):
                tmodel(big_t)
            return 20 * 1024 / (time.perf_counter() - t)

    res = {
        "lat_cr": [],
        "lat_torch": [],
        "lat_floor": [],
        "thr_cr": [],
        "thr_torch": [],
    }
    for _ in range(reps):
        for key, fn in (
            ("lat_cr", lat_cr),
            ("lat_torch", lat_torch),
            ("lat_floor", lat_floor),
            ("thr_cr", thr_cr),
            ("thr_torch", thr_torch),
        ):
            time.sleep(0.5)
            res[key].append(fn())
    return {k: statistics.median(v) for k, v in res.items()}


def memory_child(lib: str) -> None:
    """One full Fashion-MNIST MLP epoch (batch 128) with one library; print peak RSS.

    Both sides load the data with cr.data (about 200 MB of float32 images).
    """
    (x, y), _ = cr.data.load("fashion-mnist", flatten=True)
    if lib == "chainrule":
        cr.seed(0)
        model = cr.Sequential(*mlp_layers())
        cr.fit(
            model,
            cr.losses.CrossEntropy(),
            cr.optim.SGD(model, lr=0.05, momentum=0.9),
            x,
            y,
            epochs=1,
            batch_size=128,
            verbose=0,
            seed=0,
        )
    else:
        import torch

        torch.set_num_threads(2)
        cr.seed(0)
        tmodel = to_torch_sequential(cr.Sequential(*mlp_layers()))
        step = torch_trainer(tmodel)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        perm = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
        for s in range(0, len(x), 128):
            idx = perm[s : s + 128]
            step(xt[idx], yt[idx])
    print(json.dumps({"lib": lib, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM, which starts afresh at exec; ru_maxrss would carry over the
    peak of the benchmark process that started this one.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory() -> dict:
    out = {}
    for lib in ("chainrule", "torch"):
        r = subprocess.run(
            [sys.executable, __file__, "--memory-child", lib],
            capture_output=True,
            text=True,
            check=True,
        )
        out[lib] = json.loads(r.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    return out


def chainrule_epoch(fast: bool = False, threads: int = 1) -> tuple[float, float]:
    """``chainrule train --data fashion-mnist --model cnn --epochs 1`` as a user
    runs it: (the epoch's seconds from its history, the command's wall clock,
    data loading, the test pass and the pictures included)."""
    import csv
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "chainrule", "train", "--data", "fashion-mnist",
             "--model", "cnn", "--epochs", "1", "--out", f"{tmp}/run", "--json",
             *(["--fast"] if fast else []), "--threads", str(threads)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
        with open(f"{tmp}/run/history.csv") as f:
            epoch = float(next(csv.DictReader(f))["time"])
    return epoch, wall


def torch_epoch(x, y) -> float:
    """The same epoch written with PyTorch, no DataLoader: the command line's
    defaults (10% held out for validation, batch 128, SGD lr 0.05 momentum
    0.9, CrossEntropy). Seconds of its training steps, what the command's
    history counts as the epoch's time (its validation pass comes after)."""
    import torch

    cr.seed(0)
    tmodel = to_torch_sequential(build_spec("cnn"))
    step = torch_trainer(tmodel)
    order = np.random.default_rng(0).permutation(len(x))
    n_val = len(x) // 10
    train = order[n_val:]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    started = time.perf_counter()
    tmodel.train()
    for s in range(0, len(train), 128):
        idx = torch.from_numpy(train[s : s + 128])
        step(xt[idx], yt[idx])
    return time.perf_counter() - started


def import_time(reps=5) -> float:
    code = "import time; t=time.perf_counter(); import chainrule; print(time.perf_counter()-t)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(reps)
    ]
    return statistics.median(times)


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        return ", ".join(
            f"{i['internal_api']} {i.get('version')} {i.get('architecture')} "
            f"x{i['num_threads']}"
            for i in info
        )
    except ImportError:
        return "unknown (pip install threadpoolctl to see the kernel)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--only", default="mlp,seed-cnn,cnn,bn-cnn,inference,epoch,memory,import"
    )
    ap.add_argument(
        "--fast",
        action="store_true",
        help="chainrule with the [fast] extra's compiled kernels (cr.fast.enable())",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="chainrule trains each batch in this many shares, one thread each "
        "(cr.fit's threads; needs threadpoolctl); models with BatchNorm stay on one",
    )
    ap.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="this process (both libraries) keeps freed memory, as the command "
        "line's does (cr.allocator.keep_freed_memory())",
    )
    ap.add_argument("--memory-child", choices=("chainrule", "torch"))
    args = ap.parse_args()
    if args.keep_freed_memory:
        cr.allocator.keep_freed_memory()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    import torch

    torch.set_num_threads(2)
    only = set(args.only.split(","))
    if args.fast:
        cr.fast.enable()
    global THREADS
    THREADS = args.threads
    print(
        f"numpy {np.__version__} (BLAS: {blas_info()}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), OPENBLAS_CORETYPE="
        f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}; chainrule kernels: "
        + ("[fast] (numba)" if cr.fast.is_enabled() else "NumPy only")
        + (f", each batch in {THREADS} shares (threads)" if THREADS > 1 else "")
        + "; malloc: "
        + ("keeps freed memory (both)" if args.keep_freed_memory else "glibc's defaults")
        + " (the epoch's chainrule train always keeps it)"
    )
    scale = 0.2 if args.quick else 1.0
    (x, y), _ = cr.data.load("fashion-mnist")
    x_flat = x.reshape(len(x), -1)
    rows = []
    if "mlp" in only:
        rate = gemm_rate()
        flops = mlp_flops_per_sample()
        bound = rate / flops
        print(
            f"GEMM rate {rate / 1e9:.1f} GFLOP/s; MLP step {flops / 1e6:.2f} MFLOP/sample; "
            f"bound {bound:,.0f} samples/s"
        )
        print("MLP 784-256-128-10, SGD momentum 0.9, CrossEntropy:")
        for batch, steps in ((32, 1500), (128, 600), (512, 200)):
            compare(
                "mlp", mlp_layers, x_flat, y, batch, int(steps * scale), args.reps, rows
            )
        top = [r for r in rows if r[0] == "mlp" and r[1] == 512][0]
        print(
            f"  batch 512: {top[2]:,.0f} samples/s = {top[2] / bound:.2f} of the GEMM bound"
        )
    if "seed-cnn" in only:
        print("seed CNN (Conv 1->16 5x5, ReLU, MaxPool 2, Linear 2304->10), batch 64:")
        compare(
            "seed-cnn", seed_cnn_layers, x, y, 64, int(150 * scale), args.reps, rows
        )
    if "cnn" in only:
        print("two-conv CNN (32 and 64 3x3 filters, dropout 0.5), batch 64:")
        compare("cnn", cnn_layers, x, y, 64, int(40 * scale), args.reps, rows)
    if "bn-cnn" in only:
        print(
            "seed CNN with BatchNorm2D (Conv 1->16 5x5 no bias, BatchNorm2D, ReLU, ...):"
        )
        compare("bn-cnn", bn_cnn_layers, x, y, 64, int(150 * scale), args.reps, rows)
    if "inference" in only:
        cr.seed(0)
        # Served models are in eval mode (cr.load returns them so); predict
        # would otherwise switch every layer to eval and back on each call.
        model = cr.Sequential(*mlp_layers()).eval()
        r = inference(model, x_flat, args.reps)
        print(
            f"MLP inference: 1 sample {r['lat_cr'] * 1e6:.0f} us (torch {r['lat_torch'] * 1e6:.0f} us, "
            f"ratio {r['lat_cr'] / r['lat_torch']:.2f}; NumPy's products, bias adds and "
            f"ReLUs alone {r['lat_floor'] * 1e6:.0f} us, ratio "
            f"{r['lat_floor'] / r['lat_torch']:.2f}); batch 1024 {r['thr_cr']:,.0f}/s "
            f"(torch {r['thr_torch']:,.0f}/s, ratio {r['thr_cr'] / r['thr_torch']:.2f})"
        )
    if "epoch" in only and not args.quick:
        ours, walls, theirs = [], [], []
        for _ in range(args.reps):
            time.sleep(0.5)
            epoch, wall = chainrule_epoch(args.fast, args.threads)
            ours.append(epoch)
            walls.append(wall)
            time.sleep(0.5)
            theirs.append(torch_epoch(x, y))
        ratios = [a / b for a, b in zip(ours, theirs)]
        print(
            f"one Fashion-MNIST epoch of the cnn preset: chainrule train "
            f"{statistics.median(ours):.1f} s (the whole command "
            f"{statistics.median(walls):.1f} s), torch loop "
            f"{statistics.median(theirs):.1f} s; time ratio "
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        )
    if "memory" in only:
        m = measure_memory()
        print(
            f"peak RSS, one Fashion-MNIST MLP epoch: chainrule {m['chainrule']:.0f} MB, "
            f"torch {m['torch']:.0f} MB (ratio {m['chainrule'] / m['torch']:.2f})"
        )
    if "import" in only:
        from importlib.metadata import requires

        print(
            f"import chainrule: {import_time() * 1000:.0f} ms (median of 5 fresh processes); "
            f"runtime requirements: {[r for r in requires('chainrule') if 'extra' not in r]}"
        )


if __name__ == "__main__":
    main()
