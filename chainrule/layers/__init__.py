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
from .avgpool import AvgPool2D
from .batchnorm import BatchNorm1D, BatchNorm2D
from .conv import Conv2D
from .conv_transpose import ConvTranspose2D
from .dropout import Dropout
from .global_avgpool import GlobalAvgPool2D
from .leaky_relu import LeakyReLU
from .linear import Linear
from .merge import Add, Concat
from .pooling import MaxPool2D
from .reshape import Flatten, Reshape

__all__ = [
    "Add",
    "AvgPool2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "Concat",
    "Conv2D",
    "ConvTranspose2D",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "HardTanh",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LinearActivation",
    "LogSoftmax",
    "MaxPool2D",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Step",
    "Tanh",
]
