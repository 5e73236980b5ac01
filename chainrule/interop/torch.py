"""PyTorch weights in and out of chainrule models.

    from chainrule.interop.torch import load_torch_state_dict, to_torch_state_dict
    load_torch_state_dict(model, torch_net.state_dict())
    torch_net.load_state_dict(to_torch_state_dict(model))

The mapping
-----------
The parametrised layers are matched **in order**: the k-th torch module that
owns parameters (a key prefix such as ``"3"`` in ``"3.weight"``, or
``"features.0"``) goes to the k-th chainrule layer that owns parameters.
Modules without parameters (activations, pooling, flatten, dropout) are
skipped on both sides, so the indices may differ: torch's ``"3.weight"`` can
land in chainrule's ``"2.weight"``.

    torch                  chainrule       layout (the same on both sides)
    ---------------------  --------------  ------------------------------------
    nn.Linear              Linear          weight (out, in), bias (out,)
    nn.Conv2d              Conv2D          weight (out, in, kH, kW), bias (out,)
    nn.ReLU, nn.Sigmoid,   the activation  no parameters
    nn.Tanh, nn.Hardtanh,
    nn.Softmax, ...
    nn.MaxPool2d           MaxPool2D       no parameters
    nn.Flatten             Flatten         no parameters
    nn.Dropout             Dropout         no parameters

Arrays are copied, never shared, and take the chainrule model's dtype.
``to_torch_state_dict`` keys the arrays as torch's equivalent
``nn.Sequential`` expects: a chainrule Sequential and the nn.Sequential with
the same modules in the same order have the same indices, so the keys are
chainrule's own names (``"0.weight"``, ``"2.bias"``, ...).

This module imports torch only when a torch tensor is to be made or read;
``load_torch_state_dict`` also takes plain NumPy arrays without torch
installed. ``import chainrule`` never imports torch.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import layers as L
from ..module import Module

__all__ = ["load_torch_state_dict", "to_torch_sequential", "to_torch_state_dict"]

# Running statistics and counters of layers chainrule does not have.
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, read without importing torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _groups(names) -> OrderedDict[str, list[str]]:
    """Parameter names grouped by their module prefix, in first-seen order."""
    groups: OrderedDict[str, list[str]] = OrderedDict()
    for name in names:
        prefix, _, _ = name.rpartition(".")
        groups.setdefault(prefix, []).append(name)
    return groups


def load_torch_state_dict(model: Module, state_dict, strict: bool = True) -> None:
    """Copy a torch state dict into ``model``, matching parametrised layers in order.

    Parameters
    ----------
    model : Module
        A chainrule Sequential (or Graph) whose Linear / Conv2D layers line up
        with the torch model's nn.Linear / nn.Conv2d modules.
    state_dict : mapping of str -> torch.Tensor or ndarray
        ``torch_model.state_dict()``, or the same with NumPy arrays.
    strict : bool
        Refuse keys that are not weights or biases (such as BatchNorm's
        running statistics) instead of ignoring them.

    Raises
    ------
    ValueError
        Listing every problem at once (a different number of parametrised
        layers, a missing bias, a shape mismatch, an unknown key); the model is
        left unchanged.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> net = cr.Sequential(cr.layers.Linear(2, 3), cr.layers.ReLU(),
    ...                     cr.layers.Linear(3, 1))
    >>> sd = {"0.weight": np.ones((3, 2)), "0.bias": np.zeros(3),
    ...       "3.weight": np.ones((1, 3)), "3.bias": np.zeros(1)}
    >>> load_torch_state_dict(net, sd)
    >>> net.state_dict()["2.weight"].tolist()
    [[1.0, 1.0, 1.0]]
    """
    problems: list[str] = []
    ours = _groups(name for name, _ in model.named_parameters())
    params = dict(model.named_parameters())
    theirs: OrderedDict[str, list[str]] = OrderedDict()
    for prefix, keys in _groups(list(state_dict)).items():
        weights = [k for k in keys if k.rpartition(".")[2] in ("weight", "bias")]
        others = [k for k in keys if k not in weights]
        if others and strict:
            extra = ", ".join(others)
            why = (
                " (running statistics: chainrule has no BatchNorm)"
                if any(k.rpartition(".")[2] in _BUFFERS for k in others)
                else ""
            )
            problems.append(f"unexpected keys {extra}{why}")
        if weights:
            theirs[prefix] = weights
    if len(theirs) != len(ours):
        problems.append(
            f"the torch model has {len(theirs)} parametrised layers "
            f"({', '.join(theirs) or 'none'}) but the chainrule model has "
            f"{len(ours)} ({', '.join(ours) or 'none'})"
        )
    mapped: dict[str, np.ndarray] = {}
    for (tp, tkeys), (cp, ckeys) in zip(theirs.items(), ours.items()):
        t_short = {k.rpartition(".")[2]: k for k in tkeys}
        c_short = {k.rpartition(".")[2]: k for k in ckeys}
        for short in sorted(set(t_short) | set(c_short)):
            if short not in c_short:
                problems.append(
                    f"torch {t_short[short]} has no counterpart in chainrule layer {cp}"
                )
                continue
            if short not in t_short:
                problems.append(
                    f"chainrule {c_short[short]} has no counterpart in torch module "
                    f"{tp!r}"
                )
                continue
            value = _numpy(state_dict[t_short[short]])
            target = params[c_short[short]]
            if value.shape != target.shape:
                problems.append(
                    f"torch {t_short[short]} has shape {tuple(value.shape)}, chainrule "
                    f"{c_short[short]} expects {target.shape}"
                )
                continue
            mapped[c_short[short]] = value.astype(target.dtype)
    if problems:
        raise ValueError(
            "load_torch_state_dict: the state does not fit; "
            + "; ".join(problems)
            + "."
        )
    model.load_state_dict(mapped)


def to_torch_state_dict(model: Module, as_numpy: bool = False) -> OrderedDict:
    """The weights of ``model`` keyed as torch's equivalent nn.Sequential expects.

    Parameters
    ----------
    model : Module
    as_numpy : bool
        Return NumPy arrays (copies) instead of torch tensors; works without
        torch installed.

    Returns
    -------
    OrderedDict of str -> torch.Tensor (or ndarray)
        ``"0.weight"``, ``"0.bias"``, ... in parameter order, ready for
        ``torch_model.load_state_dict``.

    Raises
    ------
    ImportError
        When torch is not installed and ``as_numpy`` is False.
    """
    arrays = OrderedDict((name, p.data.copy()) for name, p in model.named_parameters())
    if as_numpy:
        return arrays
    try:
        import torch
    except ImportError:
        raise ImportError(
            "to_torch_state_dict: torch is not installed; install a CPU build "
            "(pip install torch) or pass as_numpy=True for NumPy arrays."
        ) from None
    return OrderedDict((k, torch.from_numpy(v)) for k, v in arrays.items())


def to_torch_sequential(model: Module):
    """An ``torch.nn.Sequential`` equivalent to a chainrule Sequential, with its weights.

    Linear, Conv2D, MaxPool2D, Flatten, Dropout, ReLU, Sigmoid, Tanh, HardTanh,
    Softmax, LogSoftmax and Identity map onto their nn counterparts; the
    module indices equal chainrule's layer indices.

    Raises
    ------
    TypeError
        For a layer torch has no module for (Step, LinearActivation with k != 1)
        or a model that is not a Sequential.
    """
    import torch
    from torch import nn

    from ..models.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(
            f"to_torch_sequential: model must be a chainrule Sequential; got "
            f"{type(model).__name__}."
        )
    modules = []
    for i, layer in enumerate(model.layers):
        kind = type(layer)
        if kind is L.Linear:
            m = nn.Linear(layer.in_features, layer.out_features, layer.bias is not None)
        elif kind is L.Conv2D:
            m = nn.Conv2d(
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                bias=layer.bias is not None,
            )
        elif kind is L.MaxPool2D:
            m = nn.MaxPool2d(layer.kernel_size, stride=layer.stride)
        elif kind is L.Flatten:
            m = nn.Flatten()
        elif kind is L.Dropout:
            m = nn.Dropout(layer.p)
        elif kind is L.ReLU:
            m = nn.ReLU()
        elif kind is L.Sigmoid:
            m = nn.Sigmoid()
        elif kind is L.Tanh:
            m = nn.Tanh()
        elif kind is L.HardTanh:
            m = nn.Hardtanh(layer.min_val, layer.max_val)
        elif kind is L.Softmax:
            m = nn.Softmax(dim=layer.axis)
        elif kind is L.LogSoftmax:
            m = nn.LogSoftmax(dim=layer.axis)
        elif kind is L.Identity or (kind is L.LinearActivation and layer.k == 1.0):
            m = nn.Identity()
        else:
            raise TypeError(
                f"to_torch_sequential: layer {i} ({kind.__name__}) has no torch.nn "
                "counterpart."
            )
        modules.append(m)
    net = nn.Sequential(*modules)
    dtype = {np.float32: torch.float32, np.float64: torch.float64}.get(
        (model.dtype or np.dtype(np.float32)).type, torch.float32
    )
    net.to(dtype)
    net.load_state_dict(to_torch_state_dict(model))
    return net
