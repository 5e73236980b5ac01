"""The one registry of layer types: what model files, checkpoints, ``spec``,
``summary``, ONNX export and PyTorch interop may name.

A class gets in with :func:`register_layer`, the built-in layers included (as
Keras's ``register_keras_serializable``): loading a model file builds only
registered classes from their JSON config, so nothing named in a file is
imported or evaluated. No other module keeps a list of layer types; each asks
the registry, or the layer itself (see ``docs/extending.md``).
"""

from __future__ import annotations

from typing import TypeVar

_LAYERS: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register_layer(cls: T | None = None, name: str | None = None):
    """Register a :class:`~chainrule.Module` subclass under ``name`` (its class
    name by default) so that model files, checkpoints and the exporters know it.

    Use it as a class decorator, ``@cr.register_layer`` or
    ``@cr.register_layer(name="MySwish")``, or call it,
    ``cr.register_layer(Swish)``. The class must rebuild from its
    ``get_config()`` as ``cls(**config)``.

    Parameters
    ----------
    cls : type
        The layer class.
    name : str, optional
        The name model files use; defaults to ``cls.__name__``.

    Returns
    -------
    type
        ``cls`` itself (so the decorator leaves the class unchanged).

    Raises
    ------
    TypeError
        If ``cls`` is not a Module subclass.
    ValueError
        If ``name`` is not an identifier or is already taken by another class.

    Examples
    --------
    >>> import chainrule as cr
    >>> @cr.register_layer
    ... class Double(cr.Module):
    ...     def forward(self, x):
    ...         return 2 * x
    ...     def backward(self, dy):
    ...         return 2 * dy
    >>> cr.registry.layer_class("Double") is Double
    True
    """
    if cls is None:  # @register_layer(name=...)
        return lambda c: register_layer(c, name)
    from .module import Module

    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(
            f"register_layer: expected a subclass of chainrule.Module; got {cls!r}."
        )
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"register_layer: name must be a Python identifier; got {name!r}."
        )
    if name in ("Sequential", "Graph", "Input"):
        raise ValueError(
            f"register_layer: {name!r} names a model container; choose another name."
        )
    old = _LAYERS.get(name)
    # Redefining the same class (a notebook cell run twice) replaces it; a
    # different class under a taken name would make files ambiguous.
    if old is not None and old is not cls and (
        old.__module__,
        old.__qualname__,
    ) != (cls.__module__, cls.__qualname__):
        raise ValueError(
            f"register_layer: the name {name!r} is taken by "
            f"{old.__module__}.{old.__qualname__}; pass name='...' to register "
            f"{cls.__module__}.{cls.__qualname__} under another."
        )
    _LAYERS[name] = cls
    return cls


def layer_class(name: str, who: str = "load") -> type:
    """The registered class called ``name``.

    Raises
    ------
    KeyError
        (an :class:`UnknownLayerError`) saying how to register it.
    """
    cls = _LAYERS.get(name)
    if cls is None:
        raise UnknownLayerError(
            f"{who}: unknown layer {name!r}; a model file names only registered "
            "layers: define the class and register it with @cr.register_layer "
            f"before loading (registered: {', '.join(sorted(_LAYERS))})."
        )
    return cls


def layer_name(layer_or_cls) -> str | None:
    """The registered name of a layer or layer class (None when unregistered)."""
    cls = layer_or_cls if isinstance(layer_or_cls, type) else type(layer_or_cls)
    for name, registered in _LAYERS.items():
        if registered is cls:
            return name
    return None


def registered_layers() -> dict[str, type]:
    """A copy of the registry: name -> class, in registration order."""
    return dict(_LAYERS)


class UnknownLayerError(ValueError):
    """A layer name that no registered class answers to."""
