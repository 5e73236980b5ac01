"""A short text form of a layer stack, and the named presets.

A SPEC is layer tokens joined by ``-``, read left to right from the input
shape (1, 28, 28):

    token              layer
    -----------------  -------------------------------------------------
    linearN            Linear(in_features inferred, N)
    convCxK[sS][pP]    Conv2D(in inferred, C, K, stride=S, padding=P)
    maxpoolK[sS]       MaxPool2D(K, stride=S)
    dropoutP           Dropout(P), P a probability such as 0.5
    flatten            Flatten()
    relu sigmoid tanh hardtanh softmax logsoftmax identity    activations

For example ``conv16x5-relu-maxpool2-flatten-linear10`` is the seeds' digit
recogniser. The last layer should produce the class logits: the CLI trains
with CrossEntropy (softmax fused into the loss), so no softmax is needed.
"""

from __future__ import annotations

import difflib
import re

from . import layers as L
from .models.sequential import Sequential
from .module import Module
from .random import get_rng

PRESETS = {
    "mlp": "flatten-linear256-relu-linear128-relu-linear10",
    "seed-cnn": "conv16x5-relu-maxpool2-flatten-linear10",
    "cnn": (
        "conv32x3p1-relu-maxpool2-conv64x3p1-relu-maxpool2-flatten-linear128-relu-"
        "dropout0.5-linear10"
    ),
}

_ACTIVATIONS = {
    "relu": L.ReLU,
    "sigmoid": L.Sigmoid,
    "tanh": L.Tanh,
    "hardtanh": L.HardTanh,
    "softmax": L.Softmax,
    "logsoftmax": L.LogSoftmax,
    "identity": L.Identity,
}
_EXPECTED = "linearN, convCxK[sS][pP], maxpoolK[sS], dropoutP, flatten, " + ", ".join(
    _ACTIVATIONS
)


class SpecError(ValueError):
    """A SPEC that cannot be built; the message points at the bad token."""


def _fail(spec: str, i: int, tokens: list[str], why: str) -> SpecError:
    start = sum(len(t) + 1 for t in tokens[:i])
    return SpecError(
        f"model spec {spec!r}: token {i + 1} {tokens[i]!r} (at character {start + 1}): {why}"
    )


def build_spec(spec: str, input_shape=(1, 28, 28), rng=None) -> Sequential:
    """Build a Sequential from a preset name or a SPEC string.

    Parameters
    ----------
    spec : str
        "mlp", "seed-cnn", "cnn", or a SPEC such as "flatten-linear64-relu-linear10".
    input_shape : tuple of int
        One sample's shape; in_features and in_channels are inferred from it.
    rng : numpy.random.Generator or int, optional

    Raises
    ------
    SpecError
        Naming the token that is wrong and what was expected.
    """
    # Preset names, like the layer tokens, in any case: "MLP" is "mlp".
    text = PRESETS.get(spec.strip().lower(), spec) if isinstance(spec, str) else spec
    if not isinstance(text, str) or not text.strip():
        raise SpecError(
            "model spec is empty; give a preset (mlp, seed-cnn, cnn) or a SPEC."
        )
    text = text.strip()  # so that "at character N" counts in the text shown
    tokens = text.lower().split("-")
    shape = tuple(input_shape)
    # One generator for the whole stack: an int seed handed to each layer
    # would give every same-shaped layer the same initial weights.
    rng = None if rng is None else get_rng(rng)
    layers: list[Module] = []
    for i, tok in enumerate(tokens):
        layer = _token_layer(text, i, tokens, tok, shape, rng)
        try:
            shape = layer.output_shape(shape)
        except ValueError as exc:
            raise _fail(
                text, i, tokens, f"does not fit the input of shape {shape}: {exc}"
            ) from None
        layers.append(layer)
    return Sequential(*layers)


def _token_layer(text, i, tokens, tok, shape, rng) -> Module:
    if not tok:
        raise _fail(text, i, tokens, "empty token (two '-' in a row?)")
    if tok in _ACTIVATIONS:
        return _ACTIVATIONS[tok]()
    if tok == "flatten":
        return L.Flatten()
    if m := re.fullmatch(r"(?:linear|dense)(\d+)", tok):
        if len(shape) != 1:
            raise _fail(
                text,
                i,
                tokens,
                f"Linear needs a flat input but the shape here is "
                f"{shape}; put 'flatten' before it",
            )
        units = int(m.group(1))
        if units < 1:
            raise _fail(text, i, tokens, "the number of units must be positive")
        return L.Linear(shape[0], units, rng=rng)
    if m := re.fullmatch(r"conv(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?", tok):
        if len(shape) != 3:
            raise _fail(
                text,
                i,
                tokens,
                f"Conv2D needs (channels, height, width) input; the "
                f"shape here is {shape}",
            )
        c, k = int(m.group(1)), int(m.group(2))
        s, p = int(m.group(3) or 1), int(m.group(4) or 0)
        if min(c, k, s) < 1:
            raise _fail(text, i, tokens, "channels, kernel and stride must be positive")
        return L.Conv2D(shape[0], c, k, stride=s, padding=p, rng=rng)
    if m := re.fullmatch(r"maxpool(\d+)(?:s(\d+))?", tok):
        k = int(m.group(1))
        s = int(m.group(2) or k)
        if min(k, s) < 1:
            raise _fail(text, i, tokens, "pool size and stride must be positive")
        if len(shape) != 3:
            raise _fail(
                text,
                i,
                tokens,
                f"MaxPool2D needs (channels, height, width) input; "
                f"the shape here is {shape}",
            )
        return L.MaxPool2D(k, s)
    if m := re.fullmatch(r"dropout(\d*\.?\d+)", tok):
        p = float(m.group(1))
        if not 0 <= p < 1:
            raise _fail(
                text, i, tokens, f"dropout probability must be in [0, 1); got {p}"
            )
        return L.Dropout(p)
    raise _fail(text, i, tokens, _unknown(tok, alone=len(tokens) == 1))


def _unknown(tok: str, alone: bool) -> str:
    """Why ``tok`` is not a layer, with the closest names (a typo's fix)."""
    names = [*_ACTIVATIONS, "flatten", "linear", "conv", "maxpool", "dropout"]
    if alone:  # a single word may have been meant as a preset
        names = [*PRESETS, *names]
    stem = re.sub(r"\d.*$", "", tok) or tok  # "lnear10" -> "lnear"
    # The kind misspelt, its numbers right: "lnear10" -> "linear10".
    rest = tok[len(stem) :]
    close = [c + rest for c in difflib.get_close_matches(stem, names, 2, 0.6)]
    close = close or difflib.get_close_matches(tok, names, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    if alone:
        return (
            f"not a layer or a preset; {hint}expected a preset "
            f"({', '.join(PRESETS)}) or layers from {_EXPECTED}"
        )
    return f"not a layer; {hint}expected one of {_EXPECTED}"
