"""chainrule: neural networks on NumPy with every backward pass written out.

import chainrule as cr
model = cr.Sequential(cr.layers.Linear(784, 256), cr.layers.ReLU(),
                      cr.layers.Linear(256, 10))
loss = cr.losses.CrossEntropy()
"""

from . import (
    callbacks,
    data,
    distributed,
    functional,
    init,
    layers,
    losses,
    metrics,
    optim,
    plots,
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
from .training import fit

__version__ = "0.1.0"

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
    "callbacks",
    "data",
    "distributed",
    "evaluate",
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
    "no_grad",
    "numerical_gradient",
    "seed",
    "summary",
    "to_dot",
]
