"""Examples of every registered layer, for the registry-driven tests.

Each ``tests/layers/test_<module>.py`` defines ``EXAMPLES``, a list of
:class:`Example`: a layer (one configuration) and the inputs to try it on.
``tests/layers/test_registry.py`` collects them all and runs, for every
example, the checks each layer must pass (gradcheck, PyTorch parity, model
file round trip, ONNX Runtime agreement, spec token, torch state_dict both
ways); a registered layer without an example fails by its name.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import chainrule as cr


def normal(shape, rng: np.random.Generator) -> np.ndarray:
    """Standard normal values kept 0.05 away from 0 (the kink of ReLU and
    Step(0)), so finite differences never straddle it."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * 0.05


def distinct(shape, rng: np.random.Generator) -> np.ndarray:
    """A shuffled ramp: every value distinct and 0.1 apart (max-pool winners
    that a small perturbation cannot change)."""
    n = int(np.prod(shape))
    return rng.permutation(np.arange(n) * 0.1 - n * 0.05).reshape(shape)


@dataclass
class Example:
    """One configuration of a layer and its inputs.

    Parameters
    ----------
    make : callable
        Returns a fresh layer (float32, as built); the tests convert it.
    shapes : tuple of shapes
        The input shapes, batch axis first; several for a merge layer.
    label : str
        Tells apart several examples of one layer in test ids.
    draw : callable
        ``draw(shape, rng)`` gives one input array (float64).
    train : bool
        Also compare with PyTorch in training mode (False for Dropout, whose
        masks differ; it is checked in eval mode and with a fixed mask).
    torch : bool
        Whether torch.nn has a counterpart (False for Step, Add, Concat and a
        LinearActivation with k != 1, whose ``to_torch`` must then refuse
        with a TypeError that says so).
    onnx_op : str, optional
        An operator the ONNX export must contain.
    spec : bool
        Whether this configuration has a spec token that fits its input
        (False for, say, a rectangular kernel); every layer with a
        ``spec_pattern`` needs at least one example where it does.
    """

    make: Callable[[], cr.Module]
    shapes: tuple[tuple[int, ...], ...]
    label: str = ""
    draw: Callable = normal
    train: bool = True
    torch: bool = True
    onnx_op: str | None = None
    spec: bool = True

    @property
    def name(self) -> str:
        cls = cr.registry.layer_name(self.make()) or "?"
        return f"{cls}-{self.label}" if self.label else cls

    def inputs(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [self.draw(s, rng) for s in self.shapes]


def all_examples() -> list[Example]:
    """The EXAMPLES of every tests/layers/test_*.py module."""
    here = Path(__file__).parent
    if str(here) not in sys.path:  # pytest puts it there; a plain import may not
        sys.path.insert(0, str(here))
    found: list[Example] = []
    for info in pkgutil.iter_modules([str(here)]):
        if info.name.startswith("test_") and info.name != "test_registry":
            # The module pytest imports too (tests/ has no packages).
            module = importlib.import_module(info.name)
            found.extend(getattr(module, "EXAMPLES", []))
    return found


def builtin_layers() -> dict[str, type]:
    """The registered layers chainrule itself defines (tests register their own)."""
    return {
        name: cls
        for name, cls in cr.registry.registered_layers().items()
        if cls.__module__.startswith("chainrule.")
    }
