"""Data-parallel training over MPI: samples/s, scaling efficiency, the time in
Allreduce, and a model on paper of 8-64 nodes.

    pip install 'chainrule[mpi]'
    python benchmarks/distributed.py                      # 1, 2, 4 ranks; mlp, cnn
    python benchmarks/distributed.py --ranks 1,2 --models mlp --reps 1   # quick

It launches ``mpiexec -n K`` on itself (``--worker``) for every K and model,
trains ``--steps`` global batches of ``--batch-size`` (the global batch: each
of K ranks computes batch/K samples) after one warm-up epoch of the same
steps, and reads back from rank 0:

- samples/s of the timed epoch (the slowest rank's time) and the scaling
  efficiency E(K) = rate(K) / (K rate(1));
- the time per step inside the gradient Allreduce (which includes waiting for
  the slowest rank) and, measured apart after training, the Allreduce of the
  same buffer alone (barrier first, 50 repetitions): the communication cost;
- the Allreduce's bytes per step (every gradient plus the loss, float32).

The model on paper takes the measured one-rank step time as one node's
compute and adds an Allreduce of the measured bytes (Rabenseifner's
reduce-scatter + allgather, as MPICH runs it for large messages): per step
2 (K - 1)/K * bytes / bandwidth + 2 log2(K) * latency, not overlapped with the
backward pass (chainrule sums the gradients after it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.spec import build_spec

HERE = Path(__file__).resolve()


# ------------------------------------------------------------- one launch
class _EpochClock(cr.callbacks.Callback):
    """The Allreduce seconds and steps of the last epoch alone."""

    def on_epoch_begin(self, trainer) -> None:
        r = trainer._reducer
        self.start = (r.seconds, r.steps) if r is not None else (0.0, 0)

    def on_epoch_end(self, trainer, logs) -> None:
        r = trainer._reducer
        if r is not None:
            self.seconds = r.seconds - self.start[0]
            self.steps = r.steps - self.start[1]


def worker(args) -> None:
    comm = cr.distributed.init()
    (x, y), _ = cr.data.load(args.data)
    n = args.steps * args.batch_size
    x, y = x[:n], y[:n]
    cr.seed(0)
    model = build_spec(args.model, input_shape=x.shape[1:])
    clock = _EpochClock()
    trainer = cr.training.Trainer(
        model,
        cr.losses.CrossEntropy(),
        cr.optim.SGD(model, lr=0.01, momentum=0.9),
        x,
        y,
        epochs=2,  # the first warms up; the second is timed
        batch_size=args.batch_size,
        seed=0,
        verbose=0,
        callbacks=[clock],
        comm=comm,
    )
    history = trainer.run()
    seconds = history["time"][-1]  # the slowest rank's, reduced by fit
    result = {
        "ranks": comm.size,
        "model": args.model,
        "parameters": model.num_parameters(),
        "samples_per_s": n / seconds,
        "step_ms": 1e3 * seconds / args.steps,
        "blas_threads": _blas_threads(),
    }
    if comm.size > 1:
        reducer = trainer._reducer
        result["allreduce_in_step_ms"] = 1e3 * clock.seconds / max(clock.steps, 1)
        result["allreduce_bytes"] = reducer.nbytes
        result["allreduce_alone_ms"] = 1e3 * _allreduce_alone(comm, reducer.buffer)
    else:
        result["allreduce_bytes"] = 4 * (model.num_parameters() + 1)
    if comm.is_root:
        print("RESULT " + json.dumps(result), flush=True)


def _blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return max(
        (p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
        default=None,
    )


def _allreduce_alone(comm, buffer, reps: int = 50) -> float:
    """Median seconds of one Allreduce of ``buffer`` with every rank ready."""
    times = []
    work = buffer.copy()
    for _ in range(reps):
        comm._comm.Barrier()
        started = time.perf_counter()
        comm.allreduce_sum_(work)
        times.append(time.perf_counter() - started)
    # Every rank's median, the largest: the job waits for the slowest.
    return max(comm.allgather_json(float(np.median(times))))


# ----------------------------------------------------------------- driver
def launch(k: int, threads: int | None, model: str, args) -> dict:
    cmd = [
        args.mpiexec,
        "-n",
        str(k),
        sys.executable,
        str(HERE),
        "--worker",
        "--model",
        model,
        "--data",
        args.data,
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
    ]
    env = dict(os.environ)
    if threads is not None:  # read by OpenBLAS when NumPy loads it
        env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    line = next((s for s in run.stdout.splitlines() if s.startswith("RESULT ")), None)
    if run.returncode != 0 or line is None:
        raise SystemExit(f"mpiexec -n {k} failed:\n{run.stderr[-2000:]}")
    return json.loads(line[len("RESULT ") :])


def _median(results: list[dict]) -> dict:
    out = dict(results[0])
    for key, value in out.items():
        if isinstance(value, float):
            out[key] = float(np.median([r[key] for r in results]))
    return out


def allreduce_seconds(nbytes: float, nodes: int, gbit: float, latency: float) -> float:
    """Rabenseifner's Allreduce: reduce-scatter then allgather."""
    if nodes == 1:
        return 0.0
    bandwidth = gbit * 1e9 / 8
    return 2 * (nodes - 1) / nodes * nbytes / bandwidth + 2 * math.log2(nodes) * latency


def paper_model(one: dict, args) -> list[str]:
    """Speed-up on K nodes, each as fast as this machine with one rank."""
    step = one["step_ms"] / 1e3  # compute of batch_size samples on one node
    nbytes = one["allreduce_bytes"]
    lines = [
        f"\n{one['model']}: {one['parameters']:,} parameters, Allreduce of "
        f"{nbytes / 1e6:.2f} MB per step; one node computes a batch of "
        f"{args.batch_size} in {one['step_ms']:.1f} ms",
        "  nodes  network              weak: speed-up (eff.)   "
        f"strong, global batch {args.strong_batch}: speed-up (eff.)",
    ]
    for gbit, latency in ((10, 20e-6), (25, 10e-6), (100, 2e-6)):
        for k in (8, 16, 32, 64):
            ar = allreduce_seconds(nbytes, k, gbit, latency)
            # weak: every node keeps batch_size samples per step
            weak = k * step / (step + ar)
            # strong: the global batch is shared out, compute time shrinks
            t1 = step * args.strong_batch / args.batch_size
            strong = t1 / (t1 / k + ar)
            lines.append(
                f"  {k:5d}  {gbit:3d} Gbit/s, {latency * 1e6:4.0f} us   "
                f"{weak:6.1f} ({weak / k:4.0%})            "
                f"{strong:6.1f} ({strong / k:4.0%})"
            )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ranks", default="1,2,4")
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--model", default="mlp", help=argparse.SUPPRESS)
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--steps", type=int, default=30, help="timed global batches")
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    p.add_argument("--strong-batch", type=int, default=8192)
    p.add_argument("--reps", type=int, default=3, help="launches per rank count")
    p.add_argument("--mpiexec", default=str(Path(sys.executable).parent / "mpiexec"))
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if not os.path.exists(args.mpiexec):
        raise SystemExit("needs mpiexec: pip install 'chainrule[mpi]'")
    cores = len(os.sched_getaffinity(0))
    print(
        f"{cores} cores; global batch {args.batch_size}, {args.steps} timed steps "
        f"on {args.data}, median of {args.reps} launches; ranks above {cores} "
        "share cores (oversubscribed)"
    )
    # One rank runs twice: with every core's BLAS thread (the default) and
    # with one; the faster is the base of the efficiency.
    configs = []
    for k in (int(k) for k in args.ranks.split(",")):
        configs += [(1, None), (1, 1)] if k == 1 else [(k, None)]
    for model in args.models.split(","):
        # Alternate the configurations, so that a burst of load from the
        # machine's other tenants hits all of them alike; keep each's median.
        runs = [
            [launch(k, t, model, args) for k, t in configs] for _ in range(args.reps)
        ]
        results = [_median([run[i] for run in runs]) for i in range(len(configs))]
        ones = [r for r in results if r["ranks"] == 1] or results[:1]
        base = max(r["samples_per_s"] for r in ones) / ones[0]["ranks"]
        print(f"\n{model}")
        print(
            "  ranks  BLAS threads/rank  ranks/core  samples/s  efficiency  "
            "step ms  Allreduce in step ms  Allreduce alone ms"
        )
        for r in results:
            eff = r["samples_per_s"] / (r["ranks"] * base)
            print(
                f"  {r['ranks']:5d}  {r['blas_threads']!s:>17}  "
                f"{r['ranks'] / cores:10.1f}  {r['samples_per_s']:9.0f}  "
                f"{eff:10.2f}  {r['step_ms']:7.1f}  "
                f"{r.get('allreduce_in_step_ms', 0):20.2f}  "
                f"{r.get('allreduce_alone_ms', 0):18.3f}"
            )
        # The model takes one node's fastest step: the least flattering for
        # the network, which then weighs the most.
        one_rank = [r for run in runs for r in run if r["ranks"] == 1]
        fastest = min(one_rank or [runs[0][0]], key=lambda r: r["step_ms"])
        print("\n".join(paper_model(fastest, args)))


if __name__ == "__main__":
    main()
