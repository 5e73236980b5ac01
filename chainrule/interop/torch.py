"""PyTorch weights in and out of chainrule models.

    from chainrule.interop.torch import load_torch_state_dict, to_torch_state_dict
    load_torch_state_dict(model, torch_net.state_dict())
    torch_net.load_state_dict(to_torch_state_dict(model))

The mapping
-----------
The layers that hold state (parameters or buffers) are matched **in
order**: the k-th torch module with state (a key prefix such as ``"3"`` in
``"3.weight"``, or ``"features.0"``) goes to the k-th chainrule layer with
state. Modules without state (activations, pooling, flatten, dropout) are
skipped on both sides, so the indices may differ: torch's ``"3.weight"`` can
land in chainrule's ``"2.weight"``.

Within a layer the names are PyTorch's (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``) and so are the
layouts (Linear's weight (out, in), Conv2D's (out, in, kH, kW)). A layer
whose names differ says so with a ``torch_state_names`` dict (its name ->
torch's). Each layer also names its torch module: its ``to_torch()`` method,
which ``to_torch_sequential`` calls.

Arrays are copied, never shared, and take the chainrule model's dtypes
(a counter such as ``num_batches_tracked`` stays an integer).
``to_torch_state_dict`` keys the arrays as torch's equivalent
``nn.Sequential`` expects: a chainrule Sequential and the nn.Sequential with
the same modules in the same order have the same indices.

This module imports torch only when a torch tensor is to be made or read;
``load_torch_state_dict`` also takes plain NumPy arrays without torch
installed. ``import chainrule`` never imports torch.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..module import Module

__all__ = ["load_torch_state_dict", "to_torch_sequential", "to_torch_state_dict"]


def _torch(what: str):
    """The torch package, or an ImportError that says chainrule does not
    install it and how to (a CPU build is enough)."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"{what}: PyTorch is not installed; chainrule does not depend on "
            "it. Install a CPU build (pip install torch) to use the PyTorch "
            "interop."
        ) from None
    return torch


def torch_nn(layer: Module):
    """``torch.nn``, for a layer's ``to_torch()`` hook.

    Every built-in layer gets ``nn`` here instead of importing torch itself,
    so that calling ``to_torch()`` without PyTorch says what is missing and
    how to install it (as ``to_torch_sequential`` does), and no layer module
    names torch at all.

    Raises
    ------
    ImportError
        When PyTorch is not installed.
    """
    return _torch(f"{layer!r}.to_torch()").nn


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, read without importing torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _torch_names(layer: Module) -> dict[str, str]:
    """The layer's state names as torch spells them (the same unless the
    layer says otherwise with ``torch_state_names``)."""
    names = {k: k for k, _ in layer.own_parameters()}
    names.update((k, k) for k, _ in layer.own_buffers())
    names.update(getattr(layer, "torch_state_names", {}))
    return names


def _groups(names) -> OrderedDict[str, list[str]]:
    """State names grouped by their module prefix, in first-seen order."""
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
        A chainrule Sequential (or Graph) whose layers with state line up
        with the torch model's modules with state.
    state_dict : mapping of str -> torch.Tensor or ndarray
        ``torch_model.state_dict()``, or the same with NumPy arrays.
    strict : bool
        Refuse torch keys that the matching chainrule layer has no place for,
        instead of ignoring them.

    Raises
    ------
    ValueError
        Listing every problem at once (a different number of layers with
        state, a missing bias, a shape mismatch, an unknown key); the model is
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
    targets = model.state_dict()
    modules = dict(model.named_modules())
    ours = _groups(targets)
    theirs = _groups(list(state_dict))
    if len(theirs) != len(ours):
        problems.append(
            f"the torch model has {len(theirs)} layers with state "
            f"({', '.join(theirs) or 'none'}) but the chainrule model has "
            f"{len(ours)} ({', '.join(ours) or 'none'})"
        )
    mapped: dict[str, np.ndarray] = {}
    for (tp, tkeys), (cp, ckeys) in zip(theirs.items(), ours.items()):
        to_torch = _torch_names(modules[cp])
        c_short = {to_torch[k.rpartition(".")[2]]: k for k in ckeys}
        t_short = {k.rpartition(".")[2]: k for k in tkeys}
        for short in list(t_short) + [k for k in c_short if k not in t_short]:
            if short not in c_short:
                if strict:
                    problems.append(
                        f"torch {t_short[short]} has no counterpart in chainrule "
                        f"layer {cp} ({type(modules[cp]).__name__})"
                    )
                continue
            if short not in t_short:
                problems.append(
                    f"chainrule {c_short[short]} has no counterpart in torch module "
                    f"{tp!r}"
                )
                continue
            value = _numpy(state_dict[t_short[short]])
            target = targets[c_short[short]]
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
    modules = dict(model.named_modules())
    arrays = OrderedDict()
    for name, a in model.state_dict().items():
        prefix, _, short = name.rpartition(".")
        short = _torch_names(modules[prefix]).get(short, short)
        arrays[f"{prefix}.{short}" if prefix else short] = a
    if as_numpy:
        return arrays
    torch = _torch("to_torch_state_dict (or pass as_numpy=True for NumPy arrays)")
    return OrderedDict((k, torch.from_numpy(v)) for k, v in arrays.items())


def to_torch_sequential(model: Module):
    """An ``torch.nn.Sequential`` equivalent to a chainrule Sequential, with its weights.

    Each layer names its nn counterpart (its ``to_torch()``); the module
    indices equal chainrule's layer indices.

    Raises
    ------
    ImportError
        When PyTorch is not installed (it is never a dependency).
    TypeError
        For a layer torch has no module for (Step, LinearActivation with
        k != 1), one without ``to_torch``, or a model that is not a Sequential.
    """
    torch = _torch("to_torch_sequential")

    from ..models.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(
            f"to_torch_sequential: model must be a chainrule Sequential; got "
            f"{type(model).__name__}."
        )
    try:
        net = model.to_torch()  # each layer's to_torch(), in order
    except TypeError as exc:
        raise TypeError(f"to_torch_sequential: {exc}") from None
    dtype = {np.float32: torch.float32, np.float64: torch.float64}.get(
        (model.dtype or np.dtype(np.float32)).type, torch.float32
    )
    net.to(dtype)
    net.load_state_dict(to_torch_state_dict(model))
    return net
