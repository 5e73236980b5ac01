"""The ``chainrule`` command line: train, evaluate, predict, gradcheck, info, export.

One module per command family; this one builds the parser and runs a command.
A closed stdout (``| head``) ends a command quietly.

Every failure prints one line on stderr and exits with status 2 (a traceback
only with ``--debug``); nothing already on disk is damaged by a failed command.
"""

from __future__ import annotations

import argparse
import sys

from ..distributed import report_failure
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CLIError,
    _nonneg_int,
    _Parser,
    _pos_float,
    _pos_int,
    _unit_float,
)
from .download import cmd_download
from .evaluate import cmd_evaluate
from .export import cmd_export
from .gradcheck import cmd_gradcheck
from .info import cmd_info
from .predict import cmd_predict
from .train import cmd_train


# -------------------------------------------------------------------- main
def _version() -> str:
    from .. import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="chainrule", description="Train, check and use chainrule models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"chainrule {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser(
        "train",
        help="train a model (default: the MLP on the embedded digits)",
        description="Train a classifier with a progress bar; write the model, "
        "a checkpoint, the history and pictures into --out.",
    )
    t.add_argument(
        "--data",
        default=None,
        help="mnist5k (default, embedded), fashion-mnist, mnist, or a directory "
        "of IDX files / an .npz",
    )
    t.add_argument(
        "--model",
        default=None,
        help="mlp (default), seed-cnn, cnn, or a SPEC such as "
        "conv16x5-relu-maxpool2-flatten-linear10",
    )
    t.add_argument(
        "--epochs", type=_pos_int, default=None, help="passes over the data (20)"
    )
    t.add_argument(
        "--batch-size", type=_pos_int, default=None, help="samples per step (128)"
    )
    t.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default=None,
        help="sgd (default) or adam",
    )
    t.add_argument(
        "--lr",
        type=_pos_float,
        default=None,
        help="learning rate (sgd 0.05, adam 0.001)",
    )
    t.add_argument(
        "--momentum", type=_unit_float, default=None, help="SGD momentum (0.9)"
    )
    t.add_argument("--seed", type=_nonneg_int, default=None, help="random seed (0)")
    t.add_argument(
        "--validation-split",
        type=_unit_float,
        default=None,
        help="fraction of the training set held out for validation (0.1)",
    )
    t.add_argument(
        "--checkpoint-every",
        type=_nonneg_int,
        default=None,
        help="also checkpoint every N batches (default: every epoch only)",
    )
    t.add_argument(
        "--out", default=None, help="run directory (default ./runs/<timestamp>)"
    )
    t.add_argument(
        "--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint"
    )
    t.add_argument(
        "--force",
        action="store_true",
        help="write into an --out that holds another run, replacing its files",
    )
    t.add_argument(
        "--json", action="store_true", help="end with one JSON line of results"
    )
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "evaluate", help="loss, accuracy, per-class precision/recall, confusion matrix"
    )
    e.add_argument("model", help="a model file written by train")
    e.add_argument(
        "--data", default=None, help="data set (default: the one it was trained on)"
    )
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser(
        "predict", help="classify images (PNG, JPEG, BMP, TIFF), .npy arrays or IDX files"
    )
    r.add_argument("model", help="a model file written by train")
    r.add_argument("inputs", nargs="+", metavar="INPUT", help="image, .npy or IDX files")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_predict)

    g = sub.add_parser(
        "gradcheck", help="per-layer finite-difference check of a model's gradients"
    )
    g.add_argument(
        "--model",
        default="mlp",
        help="mlp (default), seed-cnn, cnn, a SPEC or a model file",
    )
    g.add_argument("--batch", type=_pos_int, default=4, help="images in the batch (4)")
    g.add_argument(
        "--max-elements",
        type=_pos_int,
        default=200,
        help="check larger tensors along random directions (200)",
    )
    g.add_argument(
        "--directions",
        type=_pos_int,
        default=6,
        help="random directions per large tensor",
    )
    g.add_argument("--seed", type=_nonneg_int, default=0)
    g.set_defaults(func=cmd_gradcheck)

    i = sub.add_parser(
        "info", help="architecture, parameter counts and metadata of a model file"
    )
    i.add_argument("model")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    x = sub.add_parser(
        "export", help="write a model file as ONNX (for ONNX Runtime and others)"
    )
    x.add_argument("model", help="a model file written by train")
    x.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file")
    x.add_argument(
        "--input-shape",
        default=None,
        metavar="C,H,W",
        help="one sample's shape (default: from the model file, else 1,28,28)",
    )
    x.add_argument("--opset", type=_pos_int, default=17, help="ONNX opset (17)")
    x.add_argument(
        "--force", action="store_true", help="replace an existing --onnx file"
    )
    x.set_defaults(func=cmd_export)

    d = sub.add_parser(
        "download",
        help="fetch the full MNIST (about 11 MB), each file SHA-256 checked",
    )
    d.add_argument("dataset", choices=("mnist",), help="the data set: mnist")
    d.add_argument(
        "--dir",
        default=None,
        help="where to put it (default ~/.cache/chainrule/mnist, where "
        "--data mnist looks)",
    )
    d.set_defaults(func=cmd_download)
    # --debug also after the command: `chainrule evaluate m.npz --debug`.
    for command in sub.choices.values():
        command.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks on errors",
        )
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt as exc:  # Ctrl-C: one line, the shell's 130
        if args.debug:
            raise
        # Under MPI, a rank interrupted alone must end the others too.
        line = f"chainrule {args.command}: {str(exc) or 'interrupted'}"
        return report_failure(line, EXIT_INTERRUPTED, exc)
    except Exception as exc:
        if args.debug:
            raise
        message = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        if isinstance(exc, MemoryError):
            message = f"out of memory ({message})"
        user_errors = (
            CLIError,
            ValueError,
            TypeError,
            OSError,
            ImportError,
            RuntimeError,
            MemoryError,  # a file or a setting asked for too much
        )
        # Pillow's errors (DecompressionBombError) are about the image given.
        # Under MPI, a failure on one rank ends every rank (report_failure).
        if isinstance(exc, user_errors) or type(exc).__module__.startswith("PIL"):
            line = f"chainrule {args.command}: error: {message}"
            return report_failure(line, EXIT_USAGE, exc)
        line = (
            f"chainrule {args.command}: internal error: {type(exc).__name__}: "
            f"{message} (run with --debug for the traceback)"
        )
        return report_failure(line, 1, exc)


def _stdout_closed() -> int:
    """The reader of stdout went away (``chainrule info m.npz | head -3``):
    stop quietly, as Unix tools do, with the status of a SIGPIPE death."""
    import os

    try:  # later flushes (at exit) would raise again: send them nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
