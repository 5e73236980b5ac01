"""Update rules: gradient descent with momentum, Adam, learning-rate schedules
and gradient clipping.

State (momentum buffers, Adam moments) is kept per parameter *name*, so
``state_dict()`` can be saved in a checkpoint and loaded into a fresh
optimizer over a rebuilt model, and a resumed run continues exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from . import fast
from ._checks import integer, known_names, like
from .module import Module
from .parameter import Parameter


def _named(params) -> list[tuple[str, Parameter]]:
    if isinstance(params, Module):
        return list(params.named_parameters())
    items = list(params)
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Parameter):
            out.append((str(i), item))
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[1], Parameter)
        ):
            out.append((str(item[0]), item[1]))
        else:
            raise TypeError(
                "optimizer: params must be a Module, Parameters or (name, Parameter) "
                f"pairs; item {i} is {type(item).__name__}."
            )
    if not out:
        raise ValueError("optimizer: params is empty; there is nothing to train.")
    first: dict[int, int] = {}
    for i, (_, p) in enumerate(out):
        if id(p) in first:
            # Each step would update it twice (a model lists a shared
            # parameter once: pass the model itself).
            raise ValueError(
                f"optimizer: params lists one parameter twice (items {first[id(p)]} "
                f"and {i})."
            )
        first[id(p)] = i
    return out


def _positive(owner: str, name: str, value: float, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{owner}: {name} must be a {expected} number; got {value!r}.")
    return value


class Optimizer:
    """Base class: ``step()`` updates every parameter from its ``grad``."""

    #: The arrays ``state`` keeps per parameter (all of them, once it has any).
    _state_keys: tuple[str, ...] = ()

    def __init__(self, params, lr: float) -> None:
        self.named_params = _named(params)
        self.lr = _positive(type(self).__name__, "lr", lr)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.steps = 0
        self._scratch: dict[str, list[np.ndarray]] = {}  # work arrays, not state

    def zero_grad(self) -> None:
        for _, p in self.named_params:
            p.zero_grad()

    def _work(self, name: str, like: np.ndarray, k: int = 1) -> list[np.ndarray]:
        """``k`` work arrays shaped and laid out like ``like``, reused step
        after step instead of new temporaries (they hold nothing between steps)."""
        arrays = self._scratch.get(name)
        if (
            arrays is None
            or arrays[0].shape != like.shape
            or arrays[0].dtype != like.dtype
        ):
            arrays = self._scratch[name] = [np.empty_like(like) for _ in range(k)]
        return arrays

    def step(self) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict:
        return {"lr": self.lr}

    def state_dict(self) -> dict:
        """Hyperparameters, step count and per-parameter state (copies)."""
        return {
            "type": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "steps": self.steps,
            "state": {
                name: {k: v.copy() for k, v in s.items()}
                for name, s in self.state.items()
            },
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("type") != type(self).__name__:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the state is from a "
                f"{state.get('type')} optimizer."
            )
        names = {n: p for n, p in self.named_params}
        problems = []
        for name, s in state["state"].items():
            if name not in names:
                problems.append(f"unexpected parameter {name}")
                continue
            if self._state_keys and sorted(s) != sorted(self._state_keys):
                # A step would look for the missing one (a KeyError mid-run).
                problems.append(
                    f"{name} holds {sorted(s)}, expected {sorted(self._state_keys)}"
                )
                continue
            for k, v in s.items():
                if np.shape(v) != names[name].shape:
                    problems.append(
                        f"{name}.{k} has shape {np.shape(v)}, expected {names[name].shape}"
                    )
        if problems:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the state does not fit; "
                + "; ".join(problems)
                + "."
            )
        self._load_hyperparameters(state["hyperparameters"])
        self.steps = integer(
            f"{type(self).__name__}.load_state_dict", "steps", state["steps"], minimum=0
        )
        self.state = {
            name: {k: _like(names[name].data, v) for k, v in s.items()}
            for name, s in state["state"].items()
        }

    def _load_hyperparameters(self, values) -> None:
        """Take ``values`` (a saved state's hyperparameters) after the checks
        the constructor makes: a checkpoint is read from disk, and a NaN
        learning rate or a name that is not a hyperparameter (``step``, say,
        over the method) would otherwise be set as it is."""
        owner = f"{type(self).__name__}.load_state_dict"
        known = self.hyperparameters()
        known_names(owner, "hyperparameters", values, known)
        values = {**known, **values}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            # A running rate may be 0 (a schedule's warm-up start or cosine
            # end), which the constructor, rightly, refuses as a start; the
            # rest gets the constructor's own checks, on a throwaway optimizer.
            lr = _positive(type(self).__name__, "lr", values["lr"], allow_zero=True)
            checked = type(self)(self.named_params, **{**values, "lr": 1.0})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{owner}: the saved hyperparameters are refused: {exc}") from None
        for k in values:
            setattr(self, k, getattr(checked, k))
        self.lr = lr

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


def _like(p: np.ndarray, value) -> np.ndarray:
    """A copy of ``value`` in p's dtype and memory layout: elementwise updates
    between arrays of different layouts take NumPy's slow strided path."""
    out = np.empty_like(p)
    out[...] = value
    return out


class SGD(Optimizer):
    """Gradient descent, mini-batch SGD and momentum (seeds 001 and 003).

    Without momentum:  theta <- theta - lr * g
    With momentum mu:  v <- mu v + g;  theta <- theta - lr * v

    Whether this is full-batch gradient descent or mini-batch SGD depends only
    on the batch the gradient came from.

    Seed 003 writes momentum as an accumulated update,
    Delta theta <- alpha Delta theta - eta g;  theta <- theta + Delta theta.
    That is the same rule with Delta theta = -lr v and alpha = mu, as long as lr
    is constant; with a schedule, this form (PyTorch's) applies the new rate
    to the whole velocity at once. Nesterov: theta <- theta - lr (g + mu v).
    ``weight_decay`` adds the L2 term wd * theta to g (PyTorch's convention).

    Parameters
    ----------
    params : Module, or iterable of Parameter or (name, Parameter)
    lr : float
    momentum : float in [0, 1)
    nesterov : bool
    weight_decay : float
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1); got {momentum!r}.")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = _positive(
            "SGD", "weight_decay", weight_decay, allow_zero=True
        )

    _state_keys = ("velocity",)

    def hyperparameters(self) -> dict:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }

    def step(self) -> None:
        # Python floats: a NumPy float64 rate assigned by hand would make the
        # float32 products run in float64 (NumPy 2's promotion), and differ
        # from the compiled update's by a rounding.
        lr, mu, wd = float(self.lr), float(self.momentum), float(self.weight_decay)
        compiled = fast.kernels()  # the [fast] extra's one-pass update, if enabled
        for name, p in self.named_params:
            g = p.grad
            if compiled is not None and self._compiled_step(compiled, name, p, g):
                continue
            if wd:
                g = g + wd * p.data
            if mu:
                s = self.state.get(name)
                if s is None:
                    v = self.state.setdefault(name, {})["velocity"] = g.copy(order="K")
                else:
                    v = s["velocity"]
                    v *= mu
                    v += g
                g = g + mu * v if self.nesterov else v
            # theta -= lr * g, in place (views of the weights stay valid) and
            # through a reused buffer instead of a new array every step.
            (step,) = self._work(name, g)
            np.multiply(g, lr, out=step)
            p.data -= step
        self.steps += 1

    def _compiled_step(self, compiled, name: str, p: Parameter, g) -> bool:
        """The same update as one compiled pass (``[fast]``); False when it
        does not apply: a dtype the kernels are not compiled for, the first
        step with momentum (it creates the velocity), or arrays that are not
        laid out alike in one block."""
        data = p.data
        if data.dtype not in fast.KERNEL_DTYPES:
            return False
        v = data  # not read without momentum
        if self.momentum:
            s = self.state.get(name)
            if s is None:
                return False
            v = s["velocity"]
        order = "C" if data.flags.c_contiguous else "F"
        if not all(a.flags[f"{order}_CONTIGUOUS"] for a in (data, g, v)):
            return False
        t = data.dtype.type  # the scalars in the arrays' dtype, as NumPy uses them
        compiled.sgd_update(
            data.reshape(-1, order=order),
            g.reshape(-1, order=order),
            v.reshape(-1, order=order),
            t(self.lr),
            t(self.momentum),
            self.nesterov,
            t(self.weight_decay),
        )
        return True


class Adam(Optimizer):
    """Adam: gradient descent with per-parameter step sizes from running moments.

    m <- b1 m + (1 - b1) g;   s <- b2 s + (1 - b2) g^2
    theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)

    ``weight_decay`` adds wd * theta to g (L2, as PyTorch's ``Adam``).
    """

    #: AdamW decays the weights apart from the gradient (see ``AdamW``).
    decoupled_weight_decay = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        b1, b2 = (float(b) for b in betas)
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam: betas must be in [0, 1); got {tuple(betas)!r}.")
        self.betas = (b1, b2)
        self.eps = _positive("Adam", "eps", eps)
        self.weight_decay = _positive(
            "Adam", "weight_decay", weight_decay, allow_zero=True
        )

    _state_keys = ("m", "v")

    def hyperparameters(self) -> dict:
        return {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def step(self) -> None:
        self.steps += 1
        b1, b2 = self.betas
        t = self.steps
        step_size = self.lr / (1 - b1**t)
        root_correction = math.sqrt(1 - b2**t)
        for name, p in self.named_params:
            g = p.grad
            if self.weight_decay:
                if self.decoupled_weight_decay:
                    p.data *= 1 - self.lr * self.weight_decay  # AdamW's shrink
                else:
                    g = g + self.weight_decay * p.data
            s = self.state.get(name)
            if s is None:
                s = self.state[name] = {
                    "m": np.zeros_like(p.data),
                    "v": np.zeros_like(p.data),
                }
            m, v = s["m"], s["v"]
            a, denom = self._work(name, g, 2)  # the same products, no temporaries
            m *= b1
            m += np.multiply(g, 1 - b1, out=a)
            v *= b2
            np.multiply(g, g, out=a)
            a *= 1 - b2
            v += a
            np.sqrt(v, out=denom)
            denom /= root_correction
            denom += self.eps
            np.divide(m, denom, out=a)
            a *= step_size
            p.data -= a


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as PyTorch's
    ``AdamW``:

    theta <- theta (1 - lr wd);  then the Adam step with the plain gradient g.

    With Adam's L2 form (wd theta added to g), the decay is divided by
    sqrt(s) like the gradient, so weights with large gradients are hardly
    decayed; here every weight shrinks by the same factor per step.
    The default ``weight_decay=0.01`` is PyTorch's.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


# ------------------------------------------------------------------ schedules
def _improved(value, best, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` ("min": lower
    is better, "max": higher). Any finite value beats None; NaN or inf never
    improves. ReduceOnPlateau, EarlyStopping and ModelCheckpoint share it."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class LRSchedule:
    """Base class of learning-rate schedules; call ``step()`` once per epoch
    (or once per batch, for the schedules meant for it). ``epoch`` counts
    the calls to ``step``."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self, metric: float | None = None) -> float:
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch, metric)
        return self.optimizer.lr

    def lr_at(self, epoch: int, metric: float | None) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        """Take a saved state: only the names :meth:`state_dict` gives, each of
        its kind. A checkpoint is read from disk: an ``optimizer`` entry would
        replace the optimizer, a NaN ``base_lr`` would train to NaN."""
        owner = f"{type(self).__name__}.load_state_dict"
        own = self.state_dict()
        for k, v in known_names(owner, "state", state, own).items():
            like(owner, k, own[k], v)
        vars(self).update(state)


class StepDecay(LRSchedule):
    """lr = base_lr * gamma ** floor(epoch / step_size)."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1
    ) -> None:
        super().__init__(optimizer)
        self.step_size = integer("StepDecay", "step_size", step_size)
        self.gamma = float(gamma)

    def lr_at(self, epoch, metric) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineDecay(LRSchedule):
    """lr = min_lr + (base_lr - min_lr) (1 + cos(pi epoch / total_epochs)) / 2."""

    def __init__(
        self, optimizer: Optimizer, total_epochs: int, min_lr: float = 0.0
    ) -> None:
        super().__init__(optimizer)
        self.total_epochs = integer("CosineDecay", "total_epochs", total_epochs)
        self.min_lr = float(min_lr)

    def lr_at(self, epoch, metric) -> float:
        e = min(epoch, self.total_epochs)
        cos = (1 + math.cos(math.pi * e / self.total_epochs)) / 2
        return self.min_lr + (self.base_lr - self.min_lr) * cos


class WarmupCosine(LRSchedule):
    """Linear warm-up, then cosine decay; meant to be stepped once per batch
    (``LearningRateScheduler(schedule, interval="batch")``).

    For step t = 0, 1, ... (the number of steps taken before this batch):
        t < W:   lr = base_lr (t + 1) / W
        t >= W:  lr = min_lr + (base_lr - min_lr) (1 + cos(pi min(1, (t - W) / (T - W)))) / 2

    A large learning rate on freshly initialised weights can throw them far
    off in the first steps; the warm-up starts small. The optimizer's
    rate is set to the warm-up's first value on construction, so the
    first batch already uses it.

    Parameters
    ----------
    optimizer : Optimizer
    warmup_steps : int >= 0
        W above.
    total_steps : int > warmup_steps, or None
        T above: the run's number of batches, epochs * ceil(N / batch_size).
        None lets ``LearningRateScheduler`` fill it in from the run it is
        given to (``fit``'s epochs times its batches per epoch).
    min_lr : float
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        total_steps: int | None = None,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(optimizer)
        self.warmup_steps = integer("WarmupCosine", "warmup_steps", warmup_steps, 0)
        self.total_steps: int | None = None
        if total_steps is not None:
            self.set_total_steps(total_steps)
        self.min_lr = float(min_lr)
        optimizer.lr = self.lr_at(0, None)

    def set_total_steps(self, total_steps: int) -> None:
        """Fix T, the step at which the cosine reaches ``min_lr``."""
        if (
            isinstance(total_steps, bool)
            or int(total_steps) != total_steps
            or total_steps <= self.warmup_steps
        ):
            raise ValueError(
                f"WarmupCosine: total_steps must be an integer > warmup_steps "
                f"({self.warmup_steps}); got {total_steps!r}."
            )
        self.total_steps = int(total_steps)

    def lr_at(self, epoch, metric) -> float:
        t, w = epoch, self.warmup_steps
        if t < w:
            return self.base_lr * (t + 1) / w
        if self.total_steps is None:
            raise ValueError(
                "WarmupCosine: total_steps is not set; pass it, or give the schedule "
                "to LearningRateScheduler(..., interval='batch'), which sets it."
            )
        progress = min(1.0, (t - w) / (self.total_steps - w))
        cos = (1 + math.cos(math.pi * progress)) / 2
        return self.min_lr + (self.base_lr - self.min_lr) * cos


class ReduceOnPlateau(LRSchedule):
    """Multiply lr by ``factor`` when ``metric`` has not improved by more than
    ``min_delta`` for ``patience`` epochs (mode 'min' for losses, 'max' for
    accuracies); never below ``min_lr``."""

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 0.1,
        patience: int = 5,
        mode: str = "min",
        min_delta: float = 1e-4,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(optimizer)
        if not 0 < factor < 1:
            raise ValueError(
                f"ReduceOnPlateau: factor must be in (0, 1); got {factor!r}."
            )
        if mode not in ("min", "max"):
            raise ValueError(
                f"ReduceOnPlateau: mode must be 'min' or 'max'; got {mode!r}."
            )
        self.factor, self.patience, self.mode = float(factor), int(patience), mode
        self.min_delta, self.min_lr = float(min_delta), float(min_lr)
        self.best: float | None = None
        self.bad_epochs = 0

    def lr_at(self, epoch, metric) -> float:
        lr = self.optimizer.lr
        if metric is None or not math.isfinite(metric):
            return lr
        if _improved(metric, self.best, self.mode, self.min_delta):
            self.best, self.bad_epochs = metric, 0
            return lr
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.bad_epochs = 0
            return max(lr * self.factor, self.min_lr)
        return lr


def clip_grad_norm(params: Iterable[Parameter] | Module, max_norm: float) -> float:
    """Scale all gradients together so that their global L2 norm is at most
    ``max_norm``; return the norm before clipping.

    ||g|| = sqrt(sum over every parameter of sum g^2); if it exceeds max_norm,
    every g is multiplied by max_norm / ||g||, which keeps the direction.
    """
    max_norm = _positive("clip_grad_norm", "max_norm", max_norm)
    ps = params.parameters() if isinstance(params, Module) else list(params)
    total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in ps))
    if total > max_norm and math.isfinite(total):
        scale = max_norm / (total + 1e-12)
        for p in ps:
            p.grad *= scale
    return total


__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "WarmupCosine",
    "CosineDecay",
    "LRSchedule",
    "Optimizer",
    "ReduceOnPlateau",
    "StepDecay",
    "clip_grad_norm",
]
