"""chainrule: neural networks on NumPy with every backward pass written out.

import chainrule as cr
model = cr.Sequential(cr.layers.Linear(784, 256), cr.layers.ReLU(),
                      cr.layers.Linear(256, 10))
loss = cr.losses.CrossEntropy()
"""

from . import (
    allocator,
    callbacks,
    data,
    distributed,
    fast,
    functional,
    init,
    layers,
    losses,
    metrics,
    optim,
    plots,
    registry,
    spec,
)
from .backend import no_grad
from .gradcheck import (
    GradcheckError,
    GradcheckReport,
    gradcheck,
    gradcheck_loss,
    numerical_gradient,
)
from .history import History
from .inference import evaluate, predict
from .io import load, save_model
from .models import Graph, Input, Sequential, summary, to_dot
from .module import Module
from .parameter import Parameter
from .random import seed
from .registry import register_layer
from .training import fit

__version__ = "0.1.0"

# Submodules with optional dependencies, imported on first use of the
# attribute (PEP 562), so that ``import chainrule`` stays NumPy-only and fast:
# name -> (the packages it needs, the pip extra that installs them).
_LAZY = {
    "onnx": (("onnx",), "onnx"),
    "sklearn": (("sklearn", "scipy"), "sklearn"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
    import importlib

    needs, extra = _LAZY[name]
    try:
        module = importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in needs:
            raise
        raise ImportError(
            f"chainrule.{name} needs the package {missing!r}, which is not "
            f"installed. Install the extra: pip install 'chainrule[{extra}]'."
        ) from exc
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "GradcheckError",
    "History",
    "GradcheckReport",
    "Graph",
    "Input",
    "Module",
    "Parameter",
    "Sequential",
    "__version__",
    "allocator",
    "callbacks",
    "data",
    "distributed",
    "evaluate",
    "fast",
    "fit",
    "functional",
    "gradcheck",
    "gradcheck_loss",
    "load",
    "save_model",
    "init",
    "layers",
    "losses",
    "metrics",
    "optim",
    "plots",
    "predict",
    "register_layer",
    "registry",
    "no_grad",
    "numerical_gradient",
    "seed",
    "spec",
    "summary",
    "to_dot",
]
