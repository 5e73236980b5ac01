"""The ``chainrule`` command line: train, evaluate, predict, gradcheck, info.

Every failure prints one line on stderr and exits with status 2 (a traceback
only with ``--debug``); nothing already on disk is damaged by a failed command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

EXIT_USAGE = 2


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


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


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1); got {text}")
    return value


# ------------------------------------------------------------------ helpers
def _load_data(name: str):
    from .data import load

    return load(name)


def _class_names(data: str, n: int) -> list[str]:
    from .data import CLASS_NAMES

    names = CLASS_NAMES.get(data)
    return list(names) if names and len(names) == n else [str(i) for i in range(n)]


def _say(args, text: str = "") -> None:
    if not getattr(args, "json", False):
        print(text)


def _load_model(path: str):
    from .io import load

    return load(path)


def _write_plots(
    run_dir: Path, model, history, x_test, y_test, probs, class_names
) -> list:
    try:
        from .plots import save_all
    except ImportError:
        return []
    try:
        return save_all(run_dir, model, history, x_test, y_test, probs, class_names)
    except ImportError:
        return []


# ------------------------------------------------------------------- train
TRAIN_DEFAULTS = {
    "data": "mnist5k",
    "model": "mlp",
    "epochs": 20,
    "batch_size": 128,
    "optimizer": "sgd",
    "lr": None,
    "momentum": 0.9,
    "seed": 0,
    "validation_split": 0.1,
    "checkpoint_every": 0,
}


def cmd_train(args) -> int:
    import chainrule as cr

    from .callbacks import GradientNorms, ModelCheckpoint, NaNGuard
    from .data import DATASETS
    from .io import read_checkpoint
    from .spec import build_spec
    from .training import Trainer

    settings = {k: getattr(args, k) for k in TRAIN_DEFAULTS}
    if args.resume:
        changed = [
            "--" + k.replace("_", "-")
            for k in TRAIN_DEFAULTS
            if k != "epochs" and getattr(args, k) is not None
        ]
        if changed:
            raise CLIError(
                f"--resume continues a run with its own settings; {', '.join(changed)} "
                "cannot change them (only --epochs and --out can)."
            )
        manifest, _ = read_checkpoint(args.resume)
        saved = manifest.get("metadata", {}).get("train_args")
        if not isinstance(saved, dict):
            raise CLIError(
                f"{args.resume!r} was not written by 'chainrule train'; "
                "resume it from Python with cr.fit(..., resume=...)."
            )
        # The run continues with the settings it started with; only --epochs
        # may be raised to train longer.
        explicit_epochs = args.epochs
        settings = {**settings, **saved}
        if explicit_epochs is not None:
            settings["epochs"] = explicit_epochs
    for k, v in TRAIN_DEFAULTS.items():
        if settings.get(k) is None and v is not None:
            settings[k] = v
    if settings["lr"] is None:
        settings["lr"] = 0.05 if settings["optimizer"] == "sgd" else 1e-3
    data_path = Path(settings["data"]).expanduser()
    if settings["data"] not in DATASETS and data_path.exists():
        # Kept in the model file and the checkpoint, which evaluate and
        # --resume read later, perhaps from another directory.
        settings["data"] = str(data_path.resolve())

    if args.out:
        run_dir = Path(args.out)
    elif args.resume:
        run_dir = Path(args.resume).resolve().parent
    else:
        run_dir = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    if run_dir.exists() and not run_dir.is_dir():
        raise CLIError(f"--out {str(run_dir)!r} is a file, not a directory.")

    (x_train, y_train), (x_test, y_test) = _load_data(settings["data"])
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    cr.seed(int(settings["seed"]))
    model = build_spec(settings["model"], input_shape=x_train.shape[1:])
    out_shape = model.output_shape(x_train.shape[1:])
    if out_shape != (n_classes,):
        raise CLIError(
            f"the model's output has shape {out_shape} but the data has "
            f"{n_classes} classes; end the spec with linear{n_classes}."
        )
    if settings["optimizer"] == "sgd":
        optimizer = cr.optim.SGD(
            model, lr=settings["lr"], momentum=settings["momentum"]
        )
    else:
        optimizer = cr.optim.Adam(model, lr=settings["lr"])

    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.npz"
    class_names = _class_names(settings["data"], n_classes)
    metadata = {
        "data": settings["data"],
        "class_names": class_names,
        "input_shape": list(x_train.shape[1:]),
        "normalization": {
            "scale": "pixel / 255",
            "range": [0.0, 1.0],
            "foreground": "light on dark",
        },
        "spec": settings["model"],
        "train_args": settings,
    }
    callbacks = [
        NaNGuard(),
        GradientNorms(every=10),
        ModelCheckpoint(
            checkpoint, every_n_batches=settings["checkpoint_every"] or None
        ),
    ]
    trainer = Trainer(
        model,
        cr.losses.CrossEntropy(),
        optimizer,
        x_train,
        y_train,
        epochs=int(settings["epochs"]),
        batch_size=int(settings["batch_size"]),
        validation_split=float(settings["validation_split"]),
        callbacks=callbacks,
        seed=int(settings["seed"]),
        verbose=0 if args.json else 1,
    )
    trainer.metadata = metadata
    if args.resume:
        from .io import load_checkpoint_into

        load_checkpoint_into(args.resume, trainer)
        _say(
            args,
            f"resuming from {args.resume} at epoch {trainer.epoch + 1}, "
            f"batch {trainer.batches_done + 1}",
        )
    _say(
        args,
        f"training {settings['model']} on {settings['data']} "
        f"({len(x_train):,} images) for {settings['epochs']} epochs -> {run_dir}",
    )
    started = time.perf_counter()
    samples_before = (
        trainer.epoch * len(trainer.x) + trainer.batches_done * trainer.batch_size
    )
    try:
        history = trainer.run()
    except KeyboardInterrupt:
        raise CLIError(
            f"interrupted; resume with: chainrule train --resume {checkpoint}"
        ) from None
    seconds = time.perf_counter() - started
    if history.diverged:
        raise CLIError(f"{history.diverged} Nothing was saved; try a smaller --lr.")
    samples = max(trainer.epoch * len(trainer.x) - samples_before, 0)

    model.save(run_dir / "model.npz", metadata={k: v for k, v in metadata.items()})
    history.to_csv(run_dir / "history.csv")
    history.to_json(run_dir / "history.json")
    probs = cr.functional.softmax(cr.predict(model, x_test))
    test = cr.evaluate(model, cr.losses.CrossEntropy(), x_test, y_test)
    pictures = _write_plots(run_dir, model, history, x_test, y_test, probs, class_names)
    _say(
        args,
        f"wrote {run_dir / 'model.npz'}, checkpoint.npz, history.csv"
        + (
            f" and {len(pictures)} pictures"
            if pictures
            else " (pip install 'chainrule[plots]' for pictures)"
        ),
    )
    _say(args, f"test accuracy {test['accuracy']:.4f}  test loss {test['loss']:.4f}")
    if args.json:
        print(
            json.dumps(
                {
                    "test_accuracy": test["accuracy"],
                    "test_loss": test["loss"],
                    "epochs": trainer.epoch,
                    "seconds": round(seconds, 3),
                    "samples_per_second": round(samples / seconds, 1)
                    if seconds > 0
                    else None,
                    "model": str(run_dir / "model.npz"),
                    "checkpoint": str(checkpoint),
                }
            )
        )
    return 0


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:
    import chainrule as cr

    from .metrics import confusion_matrix, precision_recall

    model = _load_model(args.model)
    meta = getattr(model, "metadata", {})
    data = args.data or meta.get("data") or "mnist5k"
    _, (x_test, y_test) = _load_data(data)
    _check_input_shape(model, x_test.shape[1:], f"data {data!r}")
    result = cr.evaluate(model, cr.losses.CrossEntropy(), x_test, y_test)
    n_classes = int(model.output_shape(x_test.shape[1:])[0])
    scores = cr.predict(model, x_test)
    cm = confusion_matrix(y_test, scores, n_classes)
    precision, recall = precision_recall(cm)
    names = meta.get("class_names") or _class_names(data, n_classes)
    if args.json:
        print(
            json.dumps(
                {
                    "data": data,
                    "n": len(x_test),
                    "loss": result["loss"],
                    "accuracy": result["accuracy"],
                    "per_class": [
                        {"class": str(n), "precision": float(p), "recall": float(r)}
                        for n, p, r in zip(names, precision, recall)
                    ],
                    "confusion_matrix": cm.tolist(),
                }
            )
        )
        return 0
    print(f"{args.model} on {data} test set ({len(x_test):,} images)")
    print(f"loss {result['loss']:.4f}  accuracy {result['accuracy']:.4f}\n")
    width = max(len("class"), *(len(str(n)) for n in names))
    print(f"{'class':<{width}}  precision  recall")
    for n, p, r in zip(names, precision, recall):
        print(f"{str(n):<{width}}  {p:9.3f}  {r:6.3f}")
    print("\nconfusion matrix (rows: true class, columns: predicted)")
    cell = max(len(str(cm.max())), 3)
    print(" " * (width + 2) + " ".join(f"{i:>{cell}}" for i in range(n_classes)))
    for i, row in enumerate(cm):
        print(f"{str(names[i]):<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    return 0


def _check_input_shape(model, shape, what: str) -> None:
    expected = tuple(getattr(model, "metadata", {}).get("input_shape") or ())
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


# ----------------------------------------------------------------- predict
def _read_png(path: Path, shape) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise CLIError(
            "reading PNG images needs Pillow: pip install 'chainrule[plots]'"
        ) from None
    try:
        with Image.open(path) as img:
            grey = img.convert("L").resize((shape[-1], shape[-2]), Image.LANCZOS)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read image {str(path)!r}: {exc}") from None
    a = np.asarray(grey, dtype=np.float32) / 255.0
    # The digits are light strokes on a dark ground; a photo or a drawing is
    # usually the reverse, which the border tells.
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if border.mean() > 0.5:
        a = 1.0 - a
    return a.reshape(1, *shape)


def _as_batch(a: np.ndarray, shape, path: Path) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise CLIError(f"{str(path)!r} holds {a.dtype} values, not numbers.")
    a = a.astype(np.float32)
    if a.size and a.max() > 1.0:  # raw grey levels
        a = a / 255.0
    per = int(np.prod(shape))
    if a.size % per:
        raise CLIError(
            f"{str(path)!r} has shape {a.shape}; expected samples of shape "
            f"{tuple(shape)} ({per} values each)."
        )
    return a.reshape(-1, *shape)


def _read_inputs(path: Path, shape) -> np.ndarray:
    if path.is_dir():
        raise CLIError(f"{str(path)!r} is a directory; give image, .npy or IDX files.")
    if not path.exists():
        raise CLIError(f"no such file {str(path)!r}.")
    head = path.read_bytes()[:8]
    if head.startswith(b"\x89PNG"):
        return _read_png(path, shape)
    if head.startswith(b"\x93NUMPY"):
        try:
            a = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise CLIError(f"cannot read {str(path)!r}: {exc}") from None
        return _as_batch(a, shape, path)
    from .data import read_idx

    try:
        a = read_idx(path)
    except ValueError as exc:
        raise CLIError(
            f"{str(path)!r} is not a PNG, .npy or IDX file ({exc})"
        ) from None
    return _as_batch(a, shape, path)


def cmd_predict(args) -> int:
    import chainrule as cr

    model = _load_model(args.model)
    meta = getattr(model, "metadata", {})
    shape = tuple(meta.get("input_shape") or (1, 28, 28))
    names = meta.get("class_names")
    results = []
    for item in args.inputs:
        x = _read_inputs(Path(item), shape)
        probs = cr.functional.softmax(cr.predict(model, x).astype(np.float64))
        for i, p in enumerate(probs):
            k = int(p.argmax())
            label = names[k] if names and k < len(names) else str(k)
            results.append(
                {
                    "input": item if len(probs) == 1 else f"{item}[{i}]",
                    "class": k,
                    "label": label,
                    "probability": float(p[k]),
                    "probabilities": [round(float(v), 6) for v in p],
                }
            )
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        top = np.argsort(r["probabilities"])[::-1][:3]
        alts = ", ".join(
            f"{names[j] if names else j} {r['probabilities'][j]:.3f}" for j in top[1:]
        )
        print(f"{r['input']}: {r['label']} ({r['probability']:.3f}); next: {alts}")
    return 0


# --------------------------------------------------------------- gradcheck
def cmd_gradcheck(args) -> int:
    import chainrule as cr

    from .spec import build_spec

    if args.model.endswith(".npz") or os.path.exists(args.model):
        model = _load_model(args.model)
        model.train()
        shape = tuple(getattr(model, "metadata", {}).get("input_shape") or (1, 28, 28))
    else:
        shape = (1, 28, 28)
        model = build_spec(args.model, input_shape=shape, rng=args.seed)
    rng = np.random.default_rng(args.seed)
    try:
        _, (x_test, _) = _load_data("mnist5k")
        x = x_test[: args.batch].reshape(args.batch, *shape).astype(np.float64)
    except (ValueError, FileNotFoundError):
        x = rng.random((args.batch, *shape))
    # Real digits have large all-zero regions; with zero biases a ReLU there sits
    # exactly on its kink, where no derivative exists and no finite difference
    # can agree. A small jitter moves every unit off the kink.
    x = x + rng.uniform(0.0, 0.01, x.shape)
    print(
        f"gradient check of {args.model} on {args.batch} images, float64, central "
        f"differences (tensors over {args.max_elements} elements along "
        f"{args.directions} random directions)"
    )
    report = cr.gradcheck(
        model,
        x,
        seed=args.seed,
        max_elements=args.max_elements,
        n_directions=args.directions,
        raise_on_failure=False,
    )
    print(report)
    return 0 if report.passed else 1


# -------------------------------------------------------------------- info
def cmd_info(args) -> int:
    import chainrule as cr

    model = _load_model(args.model)
    meta = getattr(model, "metadata", {})
    shape = tuple(meta.get("input_shape") or ())
    if args.json:
        print(
            json.dumps(
                {
                    "file": args.model,
                    "parameters": model.num_parameters(),
                    "layers": {
                        name: int(p.size) for name, p in model.named_parameters()
                    },
                    "metadata": meta,
                }
            )
        )
        return 0
    print(f"{args.model} ({os.path.getsize(args.model):,} bytes, dtype {model.dtype})")
    print(model)
    print()
    print(cr.summary(model, shape or None))
    if meta:
        print("\nmetadata")
        for k, v in meta.items():
            print(f"  {k}: {json.dumps(v)}")
    return 0


# ------------------------------------------------------------------ export
def cmd_export(args) -> int:
    try:
        from .onnx import export
    except ImportError:
        raise CLIError(
            "exporting to ONNX needs onnx: pip install 'chainrule[onnx]'"
        ) from None

    model = _load_model(args.model)
    if args.input_shape:
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise CLIError(
                f"--input-shape must be whole numbers joined by commas, such as "
                f"1,28,28; got {args.input_shape!r}."
            ) from None
    else:
        meta = getattr(model, "metadata", {})
        shape = tuple(meta.get("input_shape") or (1, 28, 28))
    out = Path(args.onnx)
    if out.is_dir():
        raise CLIError(f"--onnx {str(out)!r} is a directory; give a file name.")
    proto = export(model, out, input_shape=shape, opset=args.opset)
    print(
        f"wrote {out} (ONNX opset {args.opset}, {len(proto.graph.node)} nodes, "
        f"input (N, {', '.join(map(str, shape))}))"
    )
    return 0


# -------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="chainrule", description="Train, check and use chainrule models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
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
        "--epochs", type=_nonneg_int, default=None, help="passes over the data (20)"
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

    r = sub.add_parser("predict", help="classify PNG images, .npy arrays or IDX files")
    r.add_argument("model", help="a model file written by train")
    r.add_argument("inputs", nargs="+", metavar="INPUT", help="PNG, .npy or IDX files")
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
    x.set_defaults(func=cmd_export)
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
        return args.func(args)
    except Exception as exc:
        if args.debug:
            raise
        message = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        if isinstance(
            exc, (CLIError, ValueError, TypeError, OSError, ImportError, RuntimeError)
        ):
            sys.stderr.write(f"chainrule {args.command}: error: {message}\n")
            return EXIT_USAGE
        sys.stderr.write(
            f"chainrule {args.command}: internal error: {type(exc).__name__}: "
            f"{message} (run with --debug for the traceback)\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
