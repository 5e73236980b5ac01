"""`chainrule train`: train a model for one of the seeds' tasks, write the
model, checkpoint, history and pictures.

The command in pieces, each a function: the run's settings (``_settings``,
resumed runs included), its folder, its data and task (``cli._data.prepare``),
the network (``_build_model``), the optimizer, the training loop
(``_fit``), and the test report (``cli.report``).
"""

from __future__ import annotations

import io
import math
import os
import sys
import time
from pathlib import Path

from .. import _json
from ..distributed import everywhere
from ._common import CLIError, Interrupted, _say
from ._runs import RunDir, new_run_id, plan_run_dir, quoted

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
    "threads": 1,
    # Your own data (tables and image folders):
    "task": None,
    "target": None,
    "features": None,
    "label": None,
    "loss": None,
    "code_size": None,
    "hidden": None,
    "image_size": None,
    "channels": None,
    "test_split": 0.2,
    "missing": "impute",
    "patience": 0,
    # The training recipe (spec.RECIPES gives a preset's own):
    "nesterov": False,
    "weight_decay": None,  # 0, or 0.01 with adamw (PyTorch's defaults)
    "schedule": "constant",
    "warmup_epochs": 1.0,
    "label_smoothing": 0.0,
    "augment": "none",
}

#: Where tables differ from the digits' defaults: Adam and more, smaller
#: steps suit a few hundred standardised rows (scikit-learn's MLP does the same).
TABLE_DEFAULTS = {"epochs": 100, "batch_size": 32, "optimizer": "adam"}
#: Hidden sizes of the `mlp` preset, per kind of data.
HIDDEN = {"table": [64, 64], "images": [256, 128], "builtin": [256, 128]}

def cmd_train(args) -> int:
    runs: list[RunDir] = []
    try:
        return _train(args, runs)
    except KeyboardInterrupt:
        # Ctrl-C anywhere (training, saving, drawing): one line, exit 130, and
        # a resume hint only for a checkpoint that exists.
        if runs:
            runs[0].release()
        raise Interrupted(_interrupted(args, runs[0] if runs else None)) from None
    except BaseException:
        if runs:  # a run that failed before writing anything leaves no folder
            runs[0].release()
        raise


def _interrupted(args, run: RunDir | None) -> str:
    if run is not None and run.wrote_checkpoint():
        target = run.path / "checkpoint.npz"
        return f"interrupted; resume with: chainrule train --resume {quoted(target)}"
    if args.resume:
        hint = f"chainrule train --resume {quoted(args.resume)}"
        if args.out:
            hint += f" --out {quoted(args.out)}"
        return f"interrupted before a new checkpoint; resume with: {hint}"
    return "interrupted before the first checkpoint; nothing was saved."


def _settings(args) -> tuple[dict, tuple | None]:
    """The run's settings: the command line's, or a resumed run's own."""
    from ..data import DATASETS
    from ..io import read_checkpoint
    from ._data import data_kind

    settings = {k: getattr(args, k, None) for k in TRAIN_DEFAULTS}
    resumed = None
    if args.resume:
        changed = [
            "--" + k.replace("_", "-")
            for k in TRAIN_DEFAULTS
            if k != "epochs" and getattr(args, k, None) is not None
        ]
        if changed:
            raise CLIError(
                f"--resume continues a run with its own settings; {', '.join(changed)} "
                "cannot change them (only --epochs and --out can)."
            )
        resumed = read_checkpoint(args.resume)
        saved = resumed[0].get("metadata", {}).get("train_args")
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
    data = settings["data"] or TRAIN_DEFAULTS["data"]
    kind = data_kind(data)
    from ..spec import RECIPES

    model_name = str(settings["model"] or TRAIN_DEFAULTS["model"]).strip().lower()
    recipe = RECIPES.get(model_name, {})
    defaults = {
        **TRAIN_DEFAULTS,
        **(TABLE_DEFAULTS if kind == "table" else {}),
        **recipe,
    }
    if settings["optimizer"] not in (None, recipe.get("optimizer", settings["optimizer"])):
        # Another optimizer than the recipe's: its rate, momentum, Nesterov
        # and decay were tuned for the recipe's, so the plain defaults apply.
        for k in ("lr", "momentum", "nesterov", "weight_decay"):
            defaults[k] = TRAIN_DEFAULTS[k]
    if recipe.get("nesterov") and settings["nesterov"] is None and (
        settings["momentum"] == 0
    ):
        defaults["nesterov"] = False  # --momentum 0 turns the recipe's off
    if settings["task"] == "autoencode":
        # Plain SGD at the digits' rate diverges on a deep, narrow autoencoder.
        defaults["optimizer"] = "adam"
    for k, v in defaults.items():
        if settings.get(k) is None and v is not None:
            settings[k] = v
    if settings["lr"] is None:
        settings["lr"] = 0.05 if settings["optimizer"] == "sgd" else 1e-3
    if settings["weight_decay"] is None:
        settings["weight_decay"] = 0.01 if settings["optimizer"] == "adamw" else 0.0
    if settings["nesterov"] and (
        settings["optimizer"] != "sgd" or not settings["momentum"]
    ):
        raise CLIError("--nesterov needs --optimizer sgd with a --momentum above 0.")
    try:
        from ..data.augment import from_spec

        from_spec(settings["augment"])
    except ValueError as exc:
        raise CLIError(f"--augment: {exc}") from None
    if settings["hidden"] is None:
        settings["hidden"] = HIDDEN[kind]
    data_path = Path(settings["data"]).expanduser()
    if settings["data"] not in DATASETS and data_path.exists():
        # Kept in the model file and the checkpoint, which evaluate and
        # --resume read later, perhaps from another directory.
        settings["data"] = str(data_path.resolve())
    if settings["loss"] is not None or settings["task"] is not None:
        from ..tasks import check_loss

        if settings["task"] is not None:
            try:
                check_loss(settings["task"], settings["loss"])
            except ValueError as exc:
                raise CLIError(str(exc)) from None
    return settings, resumed


# ------------------------------------------------------------------ model
def _autoencoder_spec(settings, data) -> tuple[str, int]:
    """Encoder, a linear code of --code-size units, a mirrored decoder."""
    from ..tasks import head_spec

    k = settings["code_size"]
    hidden = list(settings["hidden"])
    down = [f"linear{h}-relu" for h in hidden]
    up = [f"linear{h}-relu" for h in reversed(hidden)]
    flat = ["flatten"] if len(data.input_shape) > 1 else []
    layers = flat + down + [f"linear{k}"] + up
    head = head_spec("autoencode", settings["loss"], data.n_out)
    # The code is the output of the Linear after the encoder's hidden layers.
    code_layer = len(flat) + 2 * len(hidden)
    return "-".join(layers + [head]), code_layer


def _code_layer(model, k: int | None) -> int:
    """The narrowest Linear layer of a SPEC autoencoder (its code)."""
    from ..layers import Linear

    linears = [
        (layer.out_features, i)
        for i, layer in enumerate(model)
        if isinstance(layer, Linear) and i < len(model) - 1
    ]
    if not linears:
        raise CLIError(
            "an autoencoder SPEC needs a Linear code layer before its output layer."
        )
    width, index = min(linears)
    if k is not None and width != k:
        raise CLIError(
            f"--code-size {k} does not match the SPEC, whose narrowest layer has "
            f"{width} units."
        )
    return index


def _preset_spec(settings: dict, data, head: str) -> tuple[str, int | None]:
    """A preset as a SPEC for this data and task: (spec, code layer or None)."""
    from ..spec import PRESETS
    from ._data import CODE_SIZE

    name = settings["model"]
    hidden = [f"linear{h}-relu" for h in settings["hidden"]]
    flat = ["flatten"] if len(data.input_shape) > 1 else []
    if data.task == "autoencode":
        if name != "mlp":
            raise CLIError(
                "--task autoencode builds an MLP autoencoder (--model mlp, the "
                f"default) or takes a SPEC; the {name!r} preset is a classifier."
            )
        if settings["code_size"] is None:
            settings["code_size"] = min(CODE_SIZE[data.kind], int(data.x_train[0].size))
        return _autoencoder_spec(settings, data)
    if name == "mlp":
        return "-".join(flat + hidden + [head]), None
    # The CNN presets without their 10-way output layer, then the task's head.
    return f"{PRESETS[name].rsplit('-linear10', 1)[0]}-{head}", None


def _build_model(settings: dict, data):
    """The network for the data's shape and task: a preset body with the task's
    output layers, or a SPEC checked against them. Returns (model, code_layer,
    a line describing a preset's sizes)."""
    from .. import layers as L
    from ..spec import PRESETS, build_spec
    from ..tasks import head_spec

    spec = settings["model"]
    task = data.task
    if data.kind == "builtin" and task == "classify":
        model = build_spec(spec, input_shape=data.input_shape)
        out_shape = model.output_shape(data.input_shape)
        if out_shape != (data.n_out,):
            raise CLIError(
                f"the model's output has shape {out_shape} but the data has "
                f"{data.n_out} classes; end the spec with linear{data.n_out}."
            )
        _check_logits(model, spec)
        return model, None, None
    head = head_spec(task, settings["loss"], data.n_out)
    if spec in PRESETS:
        text, code_layer = _preset_spec(settings, data, head)
    else:
        text, code_layer = spec, None
    model = build_spec(text, input_shape=data.input_shape)
    if spec == "mlp" and data.kind == "table":
        # Glorot uniform, as Keras's Dense and scikit-learn's MLP start: on a few
        # hundred rows He's larger weights overfit sooner (diabetes test R^2
        # 0.28 against 0.34 over five seeds, benchmarks/README.md).
        for layer in model:
            if isinstance(layer, L.Linear):
                layer.init = "glorot"
                layer.reset_parameters()
    out_shape = model.output_shape(data.input_shape)
    last = model[len(model) - 1]
    final = {"sigmoid": L.Sigmoid, "logsoftmax": L.LogSoftmax}.get(head.split("-")[-1])
    if out_shape != (data.n_out,) or (final and not isinstance(last, final)):
        raise CLIError(
            f"--task {task} with --loss {settings['loss']} needs outputs of shape "
            f"({data.n_out},)"
            + (f" from a final {final.__name__}" if final else "")
            + f"; the model gives {out_shape} from {type(last).__name__}: end the "
            f"spec with {head}."
        )
    if settings["loss"] == "ce":
        _check_logits(model, spec)
    if task == "autoencode" and code_layer is None:
        code_layer = _code_layer(model, settings["code_size"])
        settings["code_size"] = model[code_layer].out_features
    line = None
    if spec == "mlp":
        widths = [str(int(data.x_train[0].size))] + [
            str(layer.out_features) for layer in model if isinstance(layer, L.Linear)
        ]
        line = (
            f"model: mlp {'-'.join(widths)} (hidden sizes "
            f"{', '.join(map(str, settings['hidden']))}; change with --hidden or "
            "--model SPEC)"
        )
    elif spec in PRESETS:
        line = f"model: {spec} ({text})"
    return model, code_layer, line


def _optimizer(settings, model):
    import chainrule as cr

    lr, wd = settings["lr"], settings["weight_decay"]
    if settings["optimizer"] == "sgd":
        return cr.optim.SGD(
            model,
            lr=lr,
            momentum=settings["momentum"],
            nesterov=bool(settings["nesterov"]),
            weight_decay=wd,
        )
    if settings["optimizer"] == "adamw":
        return cr.optim.AdamW(model, lr=lr, weight_decay=wd)
    return cr.optim.Adam(model, lr=lr, weight_decay=wd)


def _metadata(settings: dict, data, code_layer, run_id: str) -> dict:
    metadata = {
        "data": settings["data"],
        "class_names": data.class_names,
        "input_shape": list(data.input_shape),
        "spec": settings["model"],
        "train_args": settings,
        "run": run_id,
    }
    if data.kind == "builtin" and data.task == "classify":
        metadata["normalization"] = {
            "scale": "pixel / 255",
            "range": [0.0, 1.0],
            "foreground": "light on dark",
        }
        return metadata
    metadata.update(
        {
            "task": data.task,
            "loss": settings["loss"],
            "target_names": data.target_names,
            "preprocessing": data.preprocessing
            or {"kind": "builtin", "scale": "pixel / 255"},
            "label_column": settings.get("label"),
        }
    )
    if code_layer is not None:
        metadata["code_layer"] = code_layer
        metadata["code_size"] = settings["code_size"]
    return metadata


# ---------------------------------------------------------------- training
def _trainer(args, settings, model, data, optimizer, run, metadata, resumed, comm):
    from ..callbacks import (
        EarlyStopping,
        GradientNorms,
        LearningRateScheduler,
        ModelCheckpoint,
        NaNGuard,
    )
    from ..data.augment import from_spec
    from ..losses import CrossEntropy
    from ..optim import WarmupCosine
    from ..tasks import make_loss
    from ..training import Trainer

    run.checkpoint = ModelCheckpoint(
        run.path / "checkpoint.npz",
        every_n_batches=settings["checkpoint_every"] or None,
    )
    callbacks = [
        # NaNGuard stays quiet: its message ends the run as the one error line.
        NaNGuard(stream=io.StringIO()),
        GradientNorms(every=10),
        # Keras's rule: the validation loss (the training loss without a
        # validation part), the best epoch's weights kept at the end.
        *([EarlyStopping(patience=settings["patience"])] if settings["patience"] else []),
        run.checkpoint,
    ]
    if settings["schedule"] == "warmup-cosine":
        # Stepped per batch; its length (epochs x batches) is the run's, which
        # LearningRateScheduler fills in when training starts.
        n_train = len(data.x_train) * (1 - float(settings["validation_split"]))
        bs = int(settings["batch_size"])
        warmup = round(float(settings["warmup_epochs"]) * n_train / bs)
        # A run shorter than its warm-up still ends with some decay.
        total = int(settings["epochs"]) * math.ceil(n_train / bs)
        warmup = max(0, min(warmup, total - 1))
        schedule = WarmupCosine(optimizer, warmup_steps=warmup)
        callbacks.insert(-1, LearningRateScheduler(schedule, interval="batch"))
    loss = make_loss(settings["loss"])
    if settings["label_smoothing"]:
        if not isinstance(loss, CrossEntropy):
            raise CLIError(
                f"--label-smoothing applies to the cross-entropy loss (ce); the "
                f"loss here is {settings['loss']}."
            )
        loss = CrossEntropy(label_smoothing=float(settings["label_smoothing"]))
    trainer = Trainer(
        model,
        loss,
        optimizer,
        data.x_train,
        data.y_train,
        epochs=int(settings["epochs"]),
        batch_size=int(settings["batch_size"]),
        validation_split=float(settings["validation_split"]),
        callbacks=callbacks,
        seed=int(settings["seed"]),
        verbose=0 if args.json else 1,
        augment=from_spec(settings["augment"]),
        comm=comm,
        threads=int(settings["threads"]),
    )
    trainer.metadata = metadata
    if args.resume:
        from ..io import load_checkpoint_into

        # Keeps trainer.metadata: later checkpoints record this run's
        # settings (a raised --epochs), not the interrupted run's.
        load_checkpoint_into(args.resume, trainer, resumed)
        run.saved_before = run.checkpoint.saved
        _say(
            args,
            f"resuming from {args.resume} at epoch {trainer.epoch + 1}, "
            f"batch {trainer.batches_done + 1}",
        )
    return trainer


def _fit(args, trainer, run: RunDir, comm):
    """Run the loop; (history, seconds, samples trained on in this call), or
    None on the MPI ranks other than 0, which write nothing."""
    started = time.perf_counter()
    samples_before = (
        trainer.epoch * len(trainer.x) + trainer.batches_done * trainer.batch_size
    )
    history = trainer.run()  # (NumPy's overflow warnings are off: cli.main)
    seconds = time.perf_counter() - started
    if history.diverged:  # decided alike on every rank
        kept = (
            f"the checkpoint of epoch {trainer.epoch} is kept"
            if run.wrote_checkpoint()
            else "nothing was saved"
        )
        raise everywhere(CLIError(f"{history.diverged} Try a smaller --lr; {kept}."))
    if not comm.is_root:
        return None
    samples = max(trainer.epoch * len(trainer.x) - samples_before, 0)
    return history, seconds, samples


def _say_recipe(args, settings) -> None:
    """One line for the training settings beyond the plain SGD defaults."""
    parts = [f"{settings['optimizer']} lr {settings['lr']:g}"]
    if settings["optimizer"] == "sgd" and settings["momentum"]:
        nesterov = " (Nesterov)" if settings["nesterov"] else ""
        parts[0] += f" momentum {settings['momentum']:g}{nesterov}"
    if settings["weight_decay"]:
        parts.append(f"weight decay {settings['weight_decay']:g}")
    if settings["schedule"] != "constant":
        parts.append(
            f"{settings['schedule']} ({float(settings['warmup_epochs']):g} epoch "
            "warm-up)"
        )
    if settings["label_smoothing"]:
        parts.append(f"label smoothing {settings['label_smoothing']:g}")
    if settings["augment"] not in (None, "none"):
        parts.append(f"augment {settings['augment']}")
    if len(parts) > 1:
        _say(args, "recipe: " + ", ".join(parts))


def _announce(args, settings, data, run_dir, model_line) -> None:
    if data.kind == "builtin" and data.task == "classify":
        _say(
            args,
            f"training {settings['model']} on {settings['data']} "
            f"({len(data.x_train):,} images) for {_epochs(settings['epochs'])} -> "
            f"{run_dir}",
        )
        _say_recipe(args, settings)
        return
    _say(args, f"data: {data.describe}")
    for note in data.notes:
        _say(args, f"note: {note}")
    what = (
        f"{len(data.class_names)} classes ({', '.join(data.class_names[:8])}"
        f"{', ...' if len(data.class_names) > 8 else ''})"
        if data.task in ("binary", "classify")
        else ", ".join(repr(t) for t in data.target_names)
        if data.task == "regress"
        else f"code size {settings['code_size']}"
    )
    if data.task == "binary":
        what += f"; positive class {data.class_names[1]!r}"
    _say(args, f"task: {data.task} ({data.reason}): {what}; loss {settings['loss']}")
    if model_line:
        _say(args, model_line)
    _say(
        args,
        f"training on {len(data.x_train):,} rows (test {len(data.x_test):,}"
        f"{', the training rows' if data.test_is_train else ''}) for "
        f"{_epochs(settings['epochs'])} -> {run_dir}",
    )


def _train(args, runs: list[RunDir]) -> int:
    import chainrule as cr

    from ..tasks import check_loss
    from ._data import prepare
    from .report import report_training

    if args.fast:
        try:
            cr.fast.enable()
        except ImportError as exc:
            raise CLIError(f"--fast: {exc}") from None
    # With more than one rank (mpiexec -n K chainrule train ...), train
    # data-parallel; rank 0 alone prints and writes.
    comm = cr.distributed.init()
    if not comm.is_root:
        sys.stdout = open(os.devnull, "w")  # kept open for the life of the process
    settings, resumed = _settings(args)
    run_id = resumed[0].get("metadata", {}).get("run") if resumed else None
    # Under MPI rank 0 alone decides and claims the folder; the others learn it.
    # Decided before the data is read: a folder of another run fails at once.
    if comm.is_root:
        run = plan_run_dir(args.out, args.resume, run_id or new_run_id(), args.force)
    data = prepare(settings)
    if data.task != "autoencode":
        for opt in ("code_size", "label"):
            if settings.get(opt) is not None:
                raise CLIError(
                    f"--{opt.replace('_', '-')} applies to --task autoencode; the task "
                    f"here is {data.task} ({data.reason})."
                )
    try:  # the task may have been inferred: check the loss against it now
        settings["loss"] = check_loss(data.task, settings["loss"])
    except ValueError as exc:
        raise CLIError(
            f"{str(exc).rstrip('.')} (the task was inferred: {data.reason})."
        ) from None
    if data.task == "classify" and data.kind == "builtin" and settings["loss"] != "ce":
        raise CLIError(
            "the built-in digit sets train with --loss ce; nll needs a SPEC ending "
            "in logsoftmax on your own data."
        )
    if settings["loss"] == "bce" and data.task == "autoencode" and data.kind == "table":
        raise CLIError(
            "--loss bce needs inputs in [0, 1] (images); a table's standardised "
            "columns are not. Use --loss mse or sse."
        )
    cr.seed(int(settings["seed"]))
    model, code_layer, model_line = _build_model(settings, data)
    optimizer = _optimizer(settings, model)
    if comm.is_root:
        runs.append(run)
        run_dir = run.claim()  # before training: an unwritable --out fails now
        where = {"path": str(run_dir), "run": run.run_id}
    else:
        where = None
    where = comm.bcast_json(where)
    if not comm.is_root:
        run = RunDir(Path(where["path"]), where["run"])
        run_dir = run.path
    checkpoint = run_dir / "checkpoint.npz"
    metadata = _metadata(settings, data, code_layer, run.run_id)
    _announce(args, settings, data, run_dir, model_line)
    trainer = _trainer(
        args, settings, model, data, optimizer, run, metadata, resumed, comm
    )
    if comm.size > 1:
        _say(
            args,
            f"data-parallel on {comm.size} MPI ranks ({comm.nodes} node(s)), global "
            f"batch {settings['batch_size']}; {comm.blas}",
        )
    fitted = _fit(args, trainer, run, comm)
    if fitted is None:  # an MPI rank other than 0
        return 0
    history, seconds, samples = fitted

    if trainer.stop_reason:
        kept = history.best_epoch is not None and settings["patience"]
        _say(
            args,
            trainer.stop_reason
            + ("; the model keeps that epoch's weights" if kept else ""),
        )
    model.save(run_dir / "model.npz", metadata=metadata)
    history.to_csv(run_dir / "history.csv")
    history.to_json(run_dir / "history.json")
    result = report_training(args, run_dir, model, history, data, metadata)
    if args.json:
        print(
            _json.dumps(
                {
                    **result,
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


def _check_logits(model, spec: str) -> None:
    """Refuse a model that ends in softmax: training uses CrossEntropy, which
    applies softmax itself to the logits (the fused o - y gradient), so a
    second softmax flattens every prediction towards 1/K."""
    layers = getattr(model, "layers", None)
    if layers and type(layers[-1]).__name__ in ("Softmax", "LogSoftmax"):
        raise CLIError(
            f"the model {spec!r} ends in {type(layers[-1]).__name__.lower()}, but "
            "training uses CrossEntropy, which takes logits and applies softmax "
            "itself; drop the last '-softmax' from the spec (predict and evaluate "
            "report probabilities anyway)."
        )


def _epochs(n) -> str:
    return f"{n} epoch" if int(n) == 1 else f"{n} epochs"
