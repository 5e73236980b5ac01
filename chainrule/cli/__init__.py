"""The ``chainrule`` command line: train, evaluate, predict, encode, gradcheck, info,
export.

One module per command family; this one builds the parser and runs a command.
A closed stdout (``| head``) ends a command quietly.

Every failure prints one line on stderr and exits with status 2 (a traceback
only with ``--debug``); nothing already on disk is damaged by a failed command.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..allocator import keep_freed_memory
from ..distributed import report_failure
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CLIError,
    _nonneg_float,
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
from .use import cmd_encode


# -------------------------------------------------------------------- main
def _version() -> str:
    from .. import __version__

    return __version__
def _columns(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"must be column names separated by commas; got {text!r}"
        )
    return names


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(n) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be layer sizes separated by commas, such as 64,32; got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive; got {text!r}")
    return sizes


def _add_task_arguments(t: argparse.ArgumentParser) -> None:
    """`train`'s options for your own data: tasks, columns, images, losses."""
    from ..tasks import LOSSES, TASKS

    t.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="regress, binary, classify or autoencode (inferred from the "
        "target when omitted, and printed)",
    )
    t.add_argument(
        "--target",
        action="append",
        default=None,
        metavar="COLUMN",
        help="the CSV column to predict (repeat for several regression targets)",
    )
    t.add_argument(
        "--features",
        type=_columns,
        default=None,
        metavar="A,B,...",
        help="the CSV columns to learn from (default: all others)",
    )
    t.add_argument(
        "--label",
        default=None,
        metavar="COLUMN",
        help="autoencode: a CSV column (not an input) to colour the code picture by",
    )
    t.add_argument(
        "--loss",
        choices=tuple(LOSSES),
        default=None,
        help="mse (with the seeds' 1/2), sse, bce, ce or nll; must fit the task",
    )
    t.add_argument(
        "--code-size",
        type=_pos_int,
        default=None,
        metavar="K",
        help="autoencode: units in the code (2 for tables, 32 for images)",
    )
    t.add_argument(
        "--hidden",
        type=_sizes,
        default=None,
        metavar="N,N",
        help="hidden sizes of the mlp preset (64,64 for tables; 256,128 images)",
    )
    t.add_argument(
        "--image-size",
        type=_pos_int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="resize an image folder's images (default: their most common size)",
    )
    t.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        default=None,
        help="1 (grey) or 3 (RGB); default: grey when every image is",
    )
    t.add_argument(
        "--test-split",
        type=_unit_float,
        default=None,
        help="fraction held out for the test scores when the data has no test "
        "part (0.2; 0 scores the training rows)",
    )
    t.add_argument(
        "--missing",
        choices=("impute", "refuse"),
        default=None,
        help="missing CSV inputs: impute (median / most frequent, the default) or "
        "refuse (an error naming the line)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="chainrule", description="Train, check and use chainrule models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"chainrule {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser(
        "train",
        help="train a model (default: the MLP on the embedded digits)",
        description="Train a model for one of the seeds' tasks (regress, binary, "
        "classify, autoencode) on the built-in digits, a CSV/TSV file or an image "
        "folder, with a progress bar; write the model, a checkpoint, the history "
        "and pictures into --out.",
    )
    t.add_argument(
        "--data",
        default=None,
        help="mnist5k (default, embedded), fashion-mnist, mnist, a directory "
        "of IDX files / an .npz, a CSV/TSV file, or an image folder "
        "(DIR/<class>/*.png, with DIR/train and DIR/test when split)",
    )
    t.add_argument(
        "--model",
        default=None,
        help="mlp (default), seed-cnn, cnn, fashion-cnn, or a SPEC such as "
        "conv16x5-relu-maxpool2-flatten-linear10. fashion-cnn brings its recipe "
        "as defaults: 20 epochs, sgd lr 0.1 with Nesterov momentum 0.9, weight "
        "decay 5e-4, warmup-cosine, label smoothing 0.1, augment crop2,flip, "
        "validation split 0 (an option you give wins; another --optimizer takes "
        "its own rate and decay)",
    )
    _add_task_arguments(t)
    t.add_argument(
        "--epochs",
        type=_pos_int,
        default=None,
        help="passes over the data (20; 100 for tables)",
    )
    t.add_argument(
        "--batch-size",
        type=_pos_int,
        default=None,
        help="samples per step (128; 32 for tables)",
    )
    t.add_argument(
        "--optimizer",
        choices=("sgd", "adam", "adamw"),
        default=None,
        help="sgd (default), adam (default for tables and --task autoencode) or "
        "adamw (decoupled weight decay)",
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
    t.add_argument(
        "--nesterov",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Nesterov momentum for sgd (off; on in the fashion-cnn recipe)",
    )
    t.add_argument(
        "--weight-decay",
        type=_nonneg_float,
        default=None,
        help="L2 weight decay (0; decoupled with adamw, 0.01 there)",
    )
    t.add_argument(
        "--schedule",
        choices=("constant", "warmup-cosine"),
        default=None,
        help="learning rate over the run: constant (default) or warmup-cosine "
        "(--warmup-epochs of linear warm-up, then cosine decay to 0, per batch)",
    )
    t.add_argument(
        "--warmup-epochs",
        type=_nonneg_float,
        default=None,
        help="epochs of warm-up for --schedule warmup-cosine (1)",
    )
    t.add_argument(
        "--label-smoothing",
        type=_unit_float,
        default=None,
        help="cross-entropy label smoothing, PyTorch's definition (0)",
    )
    t.add_argument(
        "--augment",
        default=None,
        metavar="LIST",
        help="augment training batches: cropP (random shifts of up to P pixels), "
        "flip (mirror left-right), comma-separated, or none (default); flip suits "
        "clothes, not digits",
    )
    t.add_argument("--seed", type=_nonneg_int, default=None, help="random seed (0)")
    t.add_argument(
        "--patience",
        type=_nonneg_int,
        default=None,
        metavar="N",
        help="stop when the validation loss has not improved for N epochs and "
        "keep the best epoch's weights (0, the default: train every epoch)",
    )
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
        "--threads",
        type=_pos_int,
        default=None,
        metavar="K",
        help="split each batch into K shares trained in K threads, one core each "
        "(needs threadpoolctl, in the [fast] extra); pays for convolutional "
        "networks on large batches (default 1)",
    )
    t.add_argument(
        "--fast",
        action="store_true",
        help="use the compiled kernels of the [fast] extra (numba) where they "
        "are faster; the same results (bit for bit, but batch norm, which agrees "
        "to float32 rounding each step, so a run with it ends elsewhere) "
        "(default: NumPy only)",
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
        "data_arg",
        nargs="?",
        default=None,
        metavar="DATA",
        help="data to score: a CSV, an image folder or a data set (default: the "
        "test part of the data it was trained on)",
    )
    e.add_argument(
        "--data", default=None, help="data set (default: the one it was trained on)"
    )
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser(
        "predict",
        help="predict for CSV rows, image files (PNG, JPEG, BMP, TIFF, GIF) or "
        "folders, .npy arrays or IDX files",
    )
    r.add_argument("model", help="a model file written by train")
    r.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="for a model trained on your own data, one CSV file, image folder "
        "or image (PNG, JPEG, BMP); for a digit model, image files (PNG, JPEG, "
        "BMP, TIFF, GIF), .npy or IDX files",
    )
    r.add_argument("--json", action="store_true")
    r.add_argument(
        "--output", metavar="FILE", help="write the CSV there (default: stdout)"
    )
    r.add_argument(
        "--id", metavar="COLUMN", help="copy this input column into each row"
    )
    r.add_argument(
        "--proba", action="store_true", help="add a probability column per class"
    )
    r.set_defaults(func=cmd_predict)

    c = sub.add_parser(
        "encode", help="an autoencoder's codes for CSV rows or images, as CSV"
    )
    c.add_argument("model", help="an autoencoder written by train --task autoencode")
    c.add_argument("data", help="a CSV file, an image folder or an image file")
    c.add_argument(
        "--output", metavar="FILE", help="write the CSV there (default: stdout)"
    )
    c.add_argument(
        "--id", metavar="COLUMN", help="copy this input column into each row"
    )
    c.set_defaults(func=cmd_encode)

    g = sub.add_parser(
        "gradcheck",
        help="finite-difference check of a model's gradients: its input's and "
        "each parameter's",
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


def run() -> int:
    """The ``chainrule`` program: :func:`main` in a process of its own.

    The process is the command's, so it may set process-wide things a
    library must not: glibc keeps freed memory for the next training step
    instead of returning it to the system (``chainrule/allocator.py``), which
    saves the page faults of fresh pages every step.
    """
    keep_freed_memory()
    return main()


def main(argv=None) -> int:
    """Run one command line (``argv``, default ``sys.argv[1:]``); returns the
    exit status. Changes nothing process-wide: :func:`run` is the program."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # NumPy's floating-point warnings would put lines of their own on
        # stderr; what they warn of is caught where it matters, as one line:
        # NaNGuard ends a diverging train, predict refuses a non-finite
        # output, evaluate reports the loss it got.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
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
