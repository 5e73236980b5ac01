"""chainrule: neural networks on NumPy with every backward pass written out.

import chainrule as cr
model = cr.Sequential(cr.layers.Linear(784, 256), cr.layers.ReLU(),
                      cr.layers.Linear(256, 10))
loss = cr.losses.CrossEntropy()
"""

from . import functional, init, layers, losses
from .backend import no_grad
from .gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_loss
from .models import Graph, Input, Sequential, summary, to_dot
from .module import Module
from .parameter import Parameter
from .random import seed

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "Graph",
    "Input",
    "Module",
    "Parameter",
    "Sequential",
    "__version__",
    "functional",
    "gradcheck",
    "gradcheck_loss",
    "init",
    "layers",
    "losses",
    "no_grad",
    "seed",
    "summary",
    "to_dot",
]
