"""Layers: parameter-owning and stateless building blocks, batch-first, NCHW."""

from .activations import (
    HardTanh,
    Identity,
    LinearActivation,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Step,
    Tanh,
)
from .batchnorm import BatchNorm1D, BatchNorm2D
from .conv import Conv2D
from .dropout import Dropout
from .linear import Linear
from .merge import Add, Concat
from .pooling import MaxPool2D
from .reshape import Flatten

__all__ = [
    "Add",
    "BatchNorm1D",
    "BatchNorm2D",
    "Concat",
    "Conv2D",
    "Dropout",
    "Flatten",
    "HardTanh",
    "Identity",
    "Linear",
    "LinearActivation",
    "LogSoftmax",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Step",
    "Tanh",
]
