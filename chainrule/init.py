"""Weight initialisation: He (Kaiming) for ReLU layers, Glorot (Xavier) for
sigmoid and tanh layers.

Both keep the variance of activations roughly constant from layer to layer, so
that deep stacks neither saturate nor die at the start of training:

- He normal: w ~ N(0, 2 / fan_in), the ReLU halves the variance so it is doubled.
- Glorot uniform: w ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)).

``Linear`` and ``Conv2D`` default to ``init="he"`` (the networks here are ReLU
networks); pass ``init="glorot"`` for sigmoid or tanh layers.
"""

from __future__ import annotations

import numpy as np

from . import _deferred

INITIALIZERS = ("he", "he_uniform", "glorot", "glorot_normal", "zeros")


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in) or (out, in, kH, kW)."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def initialize(
    shape: tuple[int, ...], method: str, rng: np.random.Generator, dtype
) -> np.ndarray:
    """Draw a weight of ``shape`` with ``method`` (one of :data:`INITIALIZERS`)."""
    check_method("initialize", method)
    fan_in, fan_out = fans(shape)
    if method == "he":
        w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    elif method == "he_uniform":
        a = np.sqrt(6.0 / fan_in)
        w = rng.uniform(-a, a, shape)
    elif method == "glorot":
        a = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, shape)
    elif method == "glorot_normal":
        w = rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))
    else:  # "zeros"
        w = np.zeros(shape)
    return w.astype(dtype)


def check_method(owner: str, method: str) -> str:
    if method not in INITIALIZERS:
        raise ValueError(
            f"{owner}: init must be one of {', '.join(INITIALIZERS)}; got {method!r}."
        )
    return method


def reset_weight_and_bias(weight, bias, method: str, rng: np.random.Generator) -> None:
    """Draw ``weight`` (a Parameter) with ``method``, set ``bias`` (or None) to
    zero, and zero both gradients, all in place so that anything holding the
    arrays (an optimizer, a user) sees the new values.

    Inside ``chainrule._deferred.deferred_init`` (a model being loaded, whose
    values come from its file) nothing is drawn or written.
    """
    if _deferred.current() is not None:
        return
    weight.data[...] = initialize(weight.shape, method, rng, weight.dtype)
    weight.zero_grad()
    if bias is not None:
        bias.data[...] = 0
        bias.zero_grad()
