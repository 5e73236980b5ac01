"""The ``[fast]`` extra: compiled kernels where NumPy needs several passes.

NumPy stays the reference and the default. ``cr.fast.enable()`` (or
``chainrule train --fast``) makes chainrule run numba kernels instead, for
the parts where they measured faster (``benchmarks/speed.py --fast``):

- 2x2 max-pooling with stride 2 (the seeds' pooling and every preset's):
  one pass that reads each window once and writes its maximum and the
  winner's position, where NumPy takes four passes (two of them with inner
  loops as short as a row of windows); backward zero-fills dx and stores
  each window's gradient at its winner, one store per window. On the
  two-conv CNN's first pooling, (64, 32, 28, 28) float32: forward 1.14 ->
  0.29 ms, backward 0.96 -> 0.46 ms. Also any max-pooling of an input in
  pool order (``functional/pooling.py``; a Sequential arranges it after a
  convolution), a max over whole planes: in the seed CNN, forward 232 ->
  71 us and backward 177 -> 43 us against NumPy's pool order. And 2x2
  pooling of an input in batch-last memory (``functional/layout.py``; a
  wide convolution's output), read and written as it lies: on the two-conv
  CNN's second pooling, 0.62 + 0.55 -> 0.24 + 0.40 ms in a training step.
- col2im (a convolution's input gradient, ``functional/conv.py``): one
  pass that sums each pixel's column entries in a small buffer and writes dx
  in NCHW, where NumPy adds kH kW slabs and then copies dx back to NCHW. The
  two-conv CNN's second convolution: 0.89 -> 0.55 ms alone, 1.24 -> 0.88-0.95
  ms in a training step.
- SGD's update (``optim.SGD``, with or without momentum, Nesterov or weight
  decay): one pass over each parameter array, where NumPy takes two to four.
  In the MLP at batch 32, whose step is short, that is 11% more samples a
  second (4% at batch 512).
- BatchNorm1D and BatchNorm2D in training mode: three passes forward
  (channel sums; centring with the sums of squares; scale and shift) and two
  backward (both channel sums at once; dx), where NumPy takes five and six.
  Forward and backward on (128, 32, 28, 28) float32: 12.1 -> 5.6 ms.

Results are those of the NumPy path: max-pooling's bit for bit (the same
maxima and winners, the first maximum in row-major order within the window,
NaN propagated as ``np.maximum`` does), SGD's and col2im's bit for bit (the
same operations in the same order), batch norm's to float32 rounding (its sums
run in float64, in another order: closer to the exact sums than NumPy's
float32 ones when the inputs' mean is large). Training amplifies rounding:
a run with batch norm ends with other weights under ``--fast``
(``chainrule train --model fashion-cnn --epochs 1`` on the embedded digits,
a warm-up epoch only: test accuracy 0.314 against 0.447 without it). Max-pooling's zeros may differ in sign (+0 where NumPy
keeps -0). ``tests/test_fast.py`` runs both paths on the same inputs,
gradients and whole training runs included. Only float32 and float64 are
compiled; other float dtypes take the NumPy path.

The kernels are compiled on first use (1.2 s for all of them here) and
numba caches them on disk, so a later process loads them in about 0.01 s.

Examples
--------
>>> import chainrule as cr
>>> cr.fast.is_enabled()
False
"""

from __future__ import annotations

import numpy as np

_kernels = None  # chainrule.functional.compiled once enabled


def available() -> bool:
    """Whether numba can be imported (``pip install 'chainrule[fast]'``)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def enable(on: bool = True) -> None:
    """Use the compiled kernels from now on (``on=False``: the NumPy path).

    Raises
    ------
    ImportError
        When numba is not installed, naming the extra that installs it.
    """
    global _kernels
    if not on:
        _kernels = None
        return
    try:
        from .functional import compiled
    except ImportError as exc:
        raise ImportError(
            "cr.fast.enable(): the compiled kernels need numba, which is not "
            f"installed ({exc}); install the extra: pip install 'chainrule[fast]'"
        ) from exc
    _kernels = compiled


def disable() -> None:
    """Go back to the NumPy path (the default)."""
    enable(False)


def is_enabled() -> bool:
    """True when the compiled kernels are in use."""
    return _kernels is not None


#: The dtypes the kernels are compiled for; others (float16, longdouble) take
#: the NumPy path, which runs any float dtype.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def kernels(dtype=None):
    """The compiled kernels' module when enabled (and ``dtype``, when given,
    is one they are compiled for), else None (for functional/)."""
    if dtype is not None and np.dtype(dtype) not in KERNEL_DTYPES:
        return None
    return _kernels
