"""What every command shares: user-facing errors, argument types, loading."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ..plots import save_all

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with the one line to print (exit status 130)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other failure
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number; got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative; got {value}")
    return value


def _pos_int(text: str) -> int:
    value = _nonneg_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be positive; got 0")
    return value


def _pos_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {text}")
    return value


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1); got {text}")
    return value


# ------------------------------------------------------------------ helpers
def load_data(name: str):
    """``chainrule.data.load(name)``, with the command line's way to get a
    missing data set (not ``download=True`` or ``path=``, which are Python's)."""
    from ..data import load
    from ..data.datasets import DEFAULT_FASHION_MNIST_DIR, DEFAULT_MNIST_DIR

    try:
        return load(name)
    except FileNotFoundError:
        if name == "mnist":
            raise CLIError(
                f"the MNIST files are not in {DEFAULT_MNIST_DIR}; fetch them with "
                "'chainrule download mnist' (about 11 MB, SHA-256 checked), or pass "
                "--data a directory holding the four MNIST IDX files."
            ) from None
        if name == "fashion-mnist":
            raise CLIError(
                f"the Fashion-MNIST files are not in {DEFAULT_FASHION_MNIST_DIR}; "
                "install them with 'apt-get install dataset-fashion-mnist', or pass "
                "--data a directory holding the four Fashion-MNIST IDX files."
            ) from None
        raise


def _class_names(data: str, n: int) -> list[str]:
    from ..data import CLASS_NAMES

    names = CLASS_NAMES.get(data)
    return list(names) if names and len(names) == n else [str(i) for i in range(n)]


def _say(args, text: str = "") -> None:
    if not getattr(args, "json", False):
        print(text)


def _write_plots(
    run_dir: Path, model, history, x_test, y_test, probs, class_names
) -> list:
    try:  # the pictures need matplotlib, an extra: without it, none
        return save_all(run_dir, model, history, x_test, y_test, probs, class_names)
    except ImportError:
        return []


def _input_shape(model, default=(1, 28, 28)) -> tuple:
    """The per-sample input shape a model file records (``default`` if none)."""
    return tuple(model.metadata.get("input_shape") or default)


def _check_input_shape(model, shape, what: str) -> None:
    expected = _input_shape(model, default=())
    if expected and tuple(shape) != expected:
        raise CLIError(
            f"the model expects inputs of shape {expected}; {what} has {tuple(shape)}."
        )
    try:
        model.output_shape(tuple(shape))
    except ValueError as exc:
        raise CLIError(
            f"the model does not accept {what} of shape {tuple(shape)}: {exc}"
        ) from None


def _test_scores(model, x, y) -> tuple[np.ndarray, dict[str, float]]:
    """The model's logits on a test set and, from the same single pass, the
    cross-entropy loss and the accuracy."""
    from ..inference import predict
    from ..losses import CrossEntropy
    from ..metrics import accuracy

    logits = predict(model, x)
    return logits, {"loss": CrossEntropy()(logits, y), "accuracy": accuracy(logits, y)}
