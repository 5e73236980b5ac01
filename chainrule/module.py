"""Module: the base of every layer and model, and the layer protocol.

A module has a ``forward`` that computes ``y`` from ``x`` and keeps (with
``keep_cache``) exactly what its ``backward`` will need, and a ``backward``
that takes ``dy = dL/dy``, *adds* the parameter gradients into each
``Parameter.grad`` and returns ``dx = dL/dx``. That pair is one node of the
computational graph of seed 002; the models chain them.

The cache is consumed by ``backward`` (``take_cache``): calling ``backward``
twice after one ``forward`` raises, rather than silently counting a gradient
twice.

Everything else about a layer lives with the layer too (see
``docs/extending.md``): ``get_config()`` (JSON constructor arguments), its
non-trainable state (``register_buffer``), its ``spec`` token
(``spec_pattern``, ``from_spec``, ``spec_token``), its ONNX lowering
(``to_onnx``) and its PyTorch counterpart (``to_torch``). The rest of the
package asks the layer or the one registry (``chainrule.registry``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np

from .backend import ForwardCache
from .parameter import Parameter


class Module(ForwardCache):
    """Base class of layers and models.

    Subclasses implement ``forward(x) -> y`` and ``backward(dy) -> dx`` and keep
    their trainable arrays as :class:`Parameter` attributes, which
    ``named_parameters`` finds in the order they were assigned.

    Attributes
    ----------
    training : bool
        True in training mode (the default); ``eval()`` sets it False, which
        turns Dropout into the identity.
    cache : object or None
        What ``forward`` kept for ``backward``; None once ``backward`` used it.
    output_grad : ndarray or None
        Set by the containing model during ``backward``: dL/dy for this layer's
        output, the seeds' "delta". Read it to see where gradients vanish.
    name : str or None
        An optional name, used by graph models to name parameters.
    skip_input_grad : bool
        Set by a container on its first layer when nobody needs dL/dx (the
        data's gradient): a layer may then skip that product and return None
        from ``backward``. Layer authors may honour it; ignoring it is correct.
    """

    def __init__(self) -> None:
        self.training = True
        self.cache = None
        self.output_grad = None
        self.name: str | None = None
        # Set by a container for its first layer when nobody needs dL/dx
        # (the data's gradient): layers that can skip that GEMM then return None.
        self.skip_input_grad = False
        # Names of the non-trainable arrays kept in the state (register_buffer).
        self._buffer_names: list[str] = []

    # A container may set output_grad to a call that computes it (when a
    # rewrite of its forward pass means the delta of this layer's output, in
    # the usual layout, is not needed for training): it runs when read.
    @property
    def output_grad(self):
        g = self.__dict__.get("_output_grad")
        if callable(g):
            g = self._output_grad = g()
        return g

    @output_grad.setter
    def output_grad(self, g) -> None:
        self._output_grad = g

    # ------------------------------------------------------------------ calling
    def __call__(self, *inputs):
        if inputs and not isinstance(inputs[0], np.ndarray):
            from .models.graph import Node  # local: models import this module

            if any(isinstance(x, Node) for x in inputs):
                return Node.from_call(self, inputs)
        return self.forward(*inputs)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward().")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__} does not define backward().")

    # --------------------------------------------------------------- structure
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their names (none for a plain layer)."""
        return iter(())

    def children(self) -> list[Module]:
        """The direct sub-modules, in order (none for a plain layer)."""
        if type(self).named_children is Module.named_children:
            return []  # a plain layer: asked on every predict, through dtype
        return [c for _, c in self.named_children()]

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module, each once, depth first."""
        # Listed in one loop rather than yielded: predict on a model in
        # training mode walks the modules twice (eval, then train again), and
        # a generator's resumptions cost about 1 us of each walk's 2.4 for
        # the MLP (a one-sample prediction takes 28 us).
        found: list[Module] = []
        seen: set[int] = set()
        stack: list[Module] = [self]
        while stack:
            m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            found.append(m)
            children = m.children()
            if children:
                stack.extend(reversed(children))
        return iter(found)

    def own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """This module's own parameters (not its children's), in definition order."""
        for key, value in vars(self).items():
            if isinstance(value, Parameter):
                yield key, value

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``, "" by default) and every sub-module
        with its dotted name such as ``"3"``, each once, depth first."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            pre = f"{name}." if name else ""
            stack.extend(reversed([(pre + n, c) for n, c in m.named_children()]))

    # ----------------------------------------------------------------- buffers
    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """Keep ``array`` as non-trainable state named ``name``.

        A buffer (BatchNorm's ``running_mean``, say) is an attribute like any
        other, but it travels with the parameters: in ``state_dict()`` under
        PyTorch's name (``"1.running_mean"``), in ``load_state_dict``,
        ``to(dtype)`` (float buffers only; a counter stays an integer), model
        files and checkpoints, EarlyStopping's restore and NaNGuard's rollback.
        Optimizers never see it. Reassigning ``self.<name>`` later keeps it a
        buffer; updating it in place is cheaper.

        Parameters
        ----------
        name : str
            An attribute name not used yet.
        array : ndarray
            The initial value; a 0-d array for a scalar counter.

        Examples
        --------
        >>> import numpy as np, chainrule as cr
        >>> m = cr.Module()
        >>> m.register_buffer("count", np.zeros((), np.int64))
        >>> [name for name, _ in m.named_buffers()]
        ['count']
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"{type(self).__name__}.register_buffer: name must be an "
                f"identifier; got {name!r}."
            )
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"{type(self).__name__}.register_buffer: {name} must be a NumPy "
                f"array; got {type(array).__name__}."
            )
        if name in getattr(self, "_buffer_names", ()) or isinstance(
            getattr(self, name, None), Parameter
        ):
            raise ValueError(
                f"{type(self).__name__}.register_buffer: {name!r} is already "
                "registered."
            )
        # setdefault: a subclass that forgot super().__init__() still works.
        self.__dict__.setdefault("_buffer_names", []).append(name)
        setattr(self, name, array)

    def own_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """This module's own buffers (not its children's), in registration order."""
        for name in getattr(self, "_buffer_names", ()):
            yield name, getattr(self, name)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer with its dotted name such as ``1.running_mean``."""
        for name, m in self.named_modules():
            pre = prefix + (f"{name}." if name else "")
            for key, b in m.own_buffers():
                yield pre + key, b

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with a stable dotted name such as ``0.weight``.

        A parameter shared by several layers is listed once, under its first name.
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            pre, m = stack.pop()
            for key, p in m.own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield pre + key, p
            children = [(f"{pre}{n}.", c) for n, c in m.named_children()]
            stack.extend(reversed(children))

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def has_parameters(self) -> bool:
        """Whether this module or any child holds a Parameter (stops at the first)."""
        return next(self.named_parameters(), None) is not None

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, dtype) -> Module:
        """Convert every parameter to ``dtype`` (float32 default; float64 for
        checks) and return the module."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(
                f"{type(self).__name__}.to: dtype must be a float type; got {dtype}."
            )
        for p in self.parameters():
            p.to(dtype)
        for m in self.modules():
            for name, b in m.own_buffers():
                if b.dtype.kind == "f" and b.dtype != dtype:
                    setattr(m, name, b.astype(dtype))
        return self

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the parameters (None for a module without any)."""
        # The first parameter found, depth first, without naming or listing
        # them all: predict asks on every call.
        stack: list[Module] = [self]
        while stack:
            m = stack.pop()
            for value in vars(m).values():
                if isinstance(value, Parameter):
                    return value.dtype
            stack.extend(reversed(m.children()))
        return None

    def copy(self) -> Module:
        """A deep copy: same structure and values, no shared arrays."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------------- state
    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The live arrays of the state: each module's parameters then its
        buffers, depth first (PyTorch's order), a shared array once."""
        out: dict[str, np.ndarray] = {}
        seen: set[int] = set()
        for name, m in self.named_modules():
            pre = f"{name}." if name else ""
            for key, p in m.own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out[pre + key] = p.data
            for key, b in m.own_buffers():
                out[pre + key] = b
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter and buffer, under PyTorch's names
        (``"0.weight"``, ``"1.running_mean"``)."""
        return {k: a.copy() for k, a in self._state_arrays().items()}

    def load_state_dict(
        self, state: dict[str, np.ndarray], strict: bool = True
    ) -> None:
        """Copy arrays from ``state`` into the parameters and buffers, in place.

        Every problem is collected first and reported in one ``ValueError``
        (missing keys, unexpected keys, shape mismatches), and nothing is
        changed unless the whole state fits. Values take the dtype of the
        array they go into.
        """
        targets = self._state_arrays()
        problems = []
        if strict:
            missing = [k for k in targets if k not in state]
            unexpected = [k for k in state if k not in targets]
            if missing:
                problems.append(f"missing keys: {', '.join(missing)}")
            if unexpected:
                problems.append(f"unexpected keys: {', '.join(unexpected)}")
        for k, target in targets.items():
            if k not in state:
                continue
            value = np.asarray(state[k])
            if value.shape != target.shape:
                problems.append(f"{k} has shape {value.shape}, expected {target.shape}")
            elif value.dtype.kind not in "fiu":
                problems.append(f"{k} has non-numeric dtype {value.dtype}")
        if problems:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the state does not fit; "
                + "; ".join(problems)
                + "."
            )
        for k, target in targets.items():
            if k in state:
                target[...] = np.asarray(state[k])

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the architecture and weights to ``path`` (see ``chainrule.io``):
        no pickle, SHA-256 per array, written atomically."""
        from .io import save_model

        save_model(self, path, metadata)

    # --------------------------------------------------------------- describing
    def get_config(self) -> dict:
        """The constructor arguments that rebuild this module: JSON values
        (tuples are written as lists), so that ``type(self)(**config)`` is the
        same layer up to its weights. Model files store it; a layer with
        constructor arguments must override it."""
        return {}

    # ------------------------------------------------------------ spec tokens
    # A layer with a token in the ``spec`` language (chainrule/spec.py) sets
    # ``spec_pattern``, a regular expression the whole token must match (the
    # groups are its arguments), and ``spec_usage``, how the token is written
    # in messages ("linearN"). A layer that cannot sit in a chain of
    # one-input layers (Add, Concat) sets ``spec_pattern = None``. Module
    # itself sets neither, so a registered layer that forgot is caught by the
    # registry's tests.

    @classmethod
    def from_spec(cls, match, input_shape: tuple[int, ...], rng) -> Module:
        """Build the layer from its spec token's regular-expression ``match``,
        given one sample's ``input_shape`` (to infer sizes) and the ``rng`` of
        the whole stack. Raise ValueError with the reason the token does not
        fit. The default suits tokens without arguments: ``cls()``."""
        return cls()

    def spec_token(self) -> str:
        """The token that ``from_spec`` turns back into this layer. The
        default suits tokens without arguments: the pattern itself."""
        pattern = getattr(type(self), "spec_pattern", None)
        if pattern is None or not pattern.isalnum():
            raise TypeError(f"{self!r}: has no spec token; define spec_token().")
        return pattern

    def freeze_randomness(self) -> None:
        """Make the next training-mode forwards compute the same function as
        the last one (gradcheck perturbs inputs one at a time). Dropout holds
        its last mask; a layer without randomness has nothing to do."""

    def expected_input_shape(self) -> tuple[int, ...] | None:
        """One sample's input shape when the layer alone fixes it (Linear:
        ``(in_features,)``), else None; ``summary`` starts from it."""
        return None

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def output_shape(self, *input_shapes: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the output for one sample of each ``input_shapes`` (no batch
        axis; several for a merge layer such as Add).

        Found by running ``forward`` in eval mode on a batch of one zero sample,
        so a shape mistake raises the layer's own error. While a model file is
        loaded (``chainrule._deferred``), a layer whose forward pass may need
        far more memory than its input (a convolution's unfolded columns)
        answers from its ``static_output_shape`` instead, and every shape is
        held to the loader's limit on values per sample, so that a small file
        cannot make shape inference allocate gigabytes.
        """
        from ._deferred import current as deferred_budget
        from .backend import no_grad

        budget = deferred_budget()
        static = getattr(self, "static_output_shape", None)
        if budget is not None and static is not None:
            return budget.check_sample(self, tuple(static(*input_shapes)))

        xs = [
            np.zeros((1, *shape), dtype=self.dtype or np.float32)
            for shape in input_shapes
        ]
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                y = self.forward(*xs)
        finally:
            self.train(was_training)
        if isinstance(y, tuple):
            raise TypeError(f"{self!r}: must return one array; got {len(y)}.")
        if budget is not None:
            return budget.check_sample(self, y.shape[1:])
        return y.shape[1:]


def runs_methods_of(layer: Module, cls: type) -> bool:
    """True when ``layer`` runs ``cls``'s own forward and backward: what a
    property a class promises about its function (``ReLU.commutes_with_max``,
    say) needs, since a subclass that overrides either may break it."""
    kind = type(layer)
    return kind.forward is cls.forward and kind.backward is cls.backward


def as_float_array(owner: Module, x, dtype=None) -> np.ndarray:
    """``x`` as a floating array of ``dtype``, or a TypeError naming ``owner``.

    With ``dtype=None`` any float array passes as it is and anything else
    becomes float32 (the layers without weights to match).
    """
    if type(x) is np.ndarray and (
        x.dtype == dtype if dtype is not None else x.dtype.kind == "f"
    ):
        return x  # the common case, first: every forward passes here
    if dtype is None:
        dtype = np.float32
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(
                f"{owner!r}: input must be an array; got {type(x).__name__}."
            ) from exc
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{owner!r}: input must be numeric; got dtype {x.dtype}.")
    if x.dtype != dtype:
        x = x.astype(dtype)
    return x
