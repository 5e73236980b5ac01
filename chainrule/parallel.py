"""Data parallelism over the cores of one machine: each batch in shares, one
thread each.

In a convolutional network most of a step's passes are NumPy loops that run
on one core (im2col, col2im, pooling, the activations); only the matrix
products use OpenBLAS's threads, whose workers then spin on the other cores.
``fit(..., threads=K)`` (``chainrule train --threads K``) splits each batch
into K shares and runs the forward and backward pass of each in a thread of
its own, on a replica of the model that holds the same weight arrays, with
BLAS held to one thread per share: every pass, not only the products, then
has a core. The shares' gradients are summed into the model's, each weighted
as the loss weights its samples, so the step is the whole batch's (the sum of
the same terms, to float rounding), as :mod:`chainrule.distributed` does
across processes.

It pays where the single-core passes are a large part of a long step: with
two threads, the two-convolution CNN's step at batch 64 ran at 1.08 of
PyTorch's speed against 0.92, and an epoch at batch 128 took 0.91-0.98 of
PyTorch's time against 1.14 (``benchmarks/README.md``, round 9). Where a step
is short (the MLP, the seed CNN) it loses: off unless asked.

What it needs and refuses:

- threadpoolctl (``pip install 'chainrule[fast]'``), to set the BLAS threads
  for the length of the shares' passes and put them back after: chainrule
  never changes them for the whole process.
- No layer that keeps statistics of the batch (BatchNorm's running mean and
  variance, its buffers): each share would see its own batch.
- Dropout draws the masks of share k > 0 from a generator of the run's seed,
  the epoch, the batch and k, so a run is repeatable with the same number of
  threads; another number draws other masks (a checkpoint records it).
  A layer of your own that draws random numbers at forward time should do
  the same.
- After a step the model's layers hold the first share's caches
  (``deltas()`` shows that share).
- The replicas are copies made when training starts, kept on the model's
  weight arrays and mode: a callback that changes a layer's setting or the
  loss's during the run (a dropout rate, label smoothing) reaches only the
  first share. Change such settings before ``fit``, or train on one thread.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .layers.dropout import Dropout
from .losses import Loss
from .module import Module
from .training import _backward


class ThreadedStep:
    """Forward and backward of one batch in ``threads`` shares at once.

    Parameters
    ----------
    model : Module
        Its parameters receive the whole batch's gradient.
    loss : Loss
    threads : int >= 2
    """

    def __init__(self, model: Module, loss: Loss, threads: int) -> None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            raise ImportError(
                f"fit: threads={threads} needs threadpoolctl to give each share one "
                "BLAS thread; pip install 'chainrule[fast]' (or threadpoolctl)."
            ) from None
        buffers = [name for name, _ in model.named_buffers()]
        if buffers:
            raise ValueError(
                f"fit: threads={threads} splits each batch, and this model keeps "
                f"statistics of the batch ({buffers[0]}, BatchNorm's): each share "
                "would see its own. Train it on one thread (threads=1)."
            )
        # Found once: threadpool_limits would look for the BLAS libraries
        # again at every step (0.5 ms here), the controller's limit takes 7 us.
        self._blas = ThreadpoolController()
        self.model, self.loss = model, loss
        self.replicas = [_replica(model) for _ in range(threads - 1)]
        self.losses = [copy.deepcopy(loss) for _ in range(threads - 1)]
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="chainrule")

    def close(self) -> None:
        """End the worker threads."""
        self._pool.shutdown()

    def forward_backward(self, x, y, w, key) -> tuple[np.ndarray, float]:
        """The batch's outputs and loss; the model's gradients hold the
        batch's (its ``zero_grad`` is this call's). ``key`` (the run's seed,
        the epoch and the batch) seeds the other shares' dropout masks."""
        n = len(y)
        edges = np.linspace(0, n, len(self.replicas) + 2).astype(int)
        shares = [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
        # d(mean over the batch) = sum over shares of n_k / n d(mean over share k)
        mean = self.loss.reduction != "sum"
        weights = [(s.stop - s.start) / n if mean else 1.0 for s in shares]
        for k, rep in enumerate(self.replicas[: len(shares) - 1], start=1):
            _follow(rep, self.model, np.random.default_rng([*key, k]))

        def part(model, loss, s, weight):
            wb = None if w is None else w[s]
            return _forward_backward(model, loss, x[s], y[s], wb, weight)

        with self._blas.limit(limits=1, user_api="blas"):
            others = [
                self._pool.submit(part, rep, loss, s, weight)
                for rep, loss, s, weight in zip(
                    self.replicas, self.losses, shares[1:], weights[1:]
                )
            ]
            first = part(self.model, self.loss, shares[0], weights[0])
            results = [first] + [f.result() for f in others]  # re-raises
        params = list(self.model.parameters())
        for rep in self.replicas[: len(shares) - 1]:
            for p, q in zip(params, rep.parameters()):
                p.accumulate(q.grad)
        out = np.concatenate([o for o, _ in results])
        value = sum(weight * v for weight, (_, v) in zip(weights, results))
        return out, float(value)


def _replica(model: Module) -> Module:
    """A copy of ``model`` whose parameters hold the model's own weight
    arrays (no copy of them) and gradients of their own."""
    rep = copy.deepcopy(model)
    for p, q in zip(model.parameters(), rep.parameters()):
        q.data = p.data
    return rep


def _follow(rep: Module, model: Module, rng: np.random.Generator) -> None:
    """Keep a replica on the model's weights and mode (a rollback or a loaded
    state may have put new arrays in the model), with this step's dropout
    generator."""
    for p, q in zip(model.parameters(), rep.parameters()):
        if q.data is not p.data:
            q.data = p.data
    if rep.training != model.training:
        rep.train(model.training)
    for m in rep.modules():
        if isinstance(m, Dropout):
            m.rng = rng


def _forward_backward(model, loss, x, y, w, weight) -> tuple[np.ndarray, float]:
    out = model.forward(x)
    value = loss.forward(out, y, w)
    dy = loss.backward()
    if weight != 1.0:
        dy = dy * np.asarray(weight, dtype=dy.dtype)
    for p in model.parameters():
        p.zero_grad()
    _backward(model, dy)  # as training's: the data's own gradient is not made
    return out, value


__all__ = ["ThreadedStep"]
