"""Pure forward/backward pairs: no parameters, no state, one file per family.

Layers in :mod:`chainrule.layers` are thin owners of parameters and caches
built on these functions.
"""

from .activations import log_softmax, logsumexp, relu, sigmoid, softmax, softplus
from .conv import col2im, conv_output_size, im2col
from .pooling import maxpool2d_backward, maxpool2d_forward

__all__ = [
    "col2im",
    "conv_output_size",
    "im2col",
    "log_softmax",
    "logsumexp",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
]
