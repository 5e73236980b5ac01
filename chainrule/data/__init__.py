"""Data for chainrule: IDX files, the embedded digits, synthetic sets, batching.

>>> import chainrule as cr
>>> (x_train, y_train), (x_test, y_test) = cr.data.load("mnist5k")
>>> x_train.shape, y_train.dtype
((4000, 1, 28, 28), dtype('int64'))
"""

from . import augment
from .batching import iterate_minibatches, stratified_split
from .datasets import CLASS_NAMES, DATASETS, load
from .download import download_mnist
from .idx import read_idx, write_idx
from .synthetic import polynomial, spirals, two_moons, xor

__all__ = [
    "CLASS_NAMES",
    "augment",
    "DATASETS",
    "download_mnist",
    "iterate_minibatches",
    "load",
    "polynomial",
    "read_idx",
    "spirals",
    "stratified_split",
    "two_moons",
    "write_idx",
    "xor",
]
