"""`chainrule train`: train a classifier, write the model, checkpoint, history and pictures."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..distributed import everywhere
from ._common import (
    CLIError,
    Interrupted,
    _class_names,
    _say,
    _test_scores,
    _write_plots,
    load_data,
)
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
}


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


def _train(args, runs: list[RunDir]) -> int:
    import chainrule as cr

    from ..callbacks import GradientNorms, ModelCheckpoint, NaNGuard
    from ..data import DATASETS
    from ..io import read_checkpoint
    from ..spec import build_spec
    from ..training import Trainer

    # With more than one rank (mpiexec -n K chainrule train ...), train
    # data-parallel; rank 0 alone prints and writes.
    comm = cr.distributed.init()
    if not comm.is_root:
        sys.stdout = open(os.devnull, "w")  # kept open for the life of the process
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

    run_id = (resumed[0].get("metadata", {}).get("run") if args.resume else None)
    # Under MPI rank 0 alone decides and claims the folder; the others learn it.
    if comm.is_root:
        run = plan_run_dir(args.out, args.resume, run_id or new_run_id(), args.force)

    (x_train, y_train), (x_test, y_test) = load_data(settings["data"])
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    cr.seed(int(settings["seed"]))
    model = build_spec(settings["model"], input_shape=x_train.shape[1:])
    out_shape = model.output_shape(x_train.shape[1:])
    if out_shape != (n_classes,):
        raise CLIError(
            f"the model's output has shape {out_shape} but the data has "
            f"{n_classes} classes; end the spec with linear{n_classes}."
        )
    _check_logits(model, settings["model"])
    if settings["optimizer"] == "sgd":
        optimizer = cr.optim.SGD(
            model, lr=settings["lr"], momentum=settings["momentum"]
        )
    else:
        optimizer = cr.optim.Adam(model, lr=settings["lr"])

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
        "run": run.run_id,
    }
    run.checkpoint = ModelCheckpoint(
        checkpoint, every_n_batches=settings["checkpoint_every"] or None
    )
    # NaNGuard stays quiet: its message ends the run as the one error line.
    callbacks = [NaNGuard(stream=io.StringIO()), GradientNorms(every=10), run.checkpoint]
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
        comm=comm,
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
    if comm.size > 1:
        _say(
            args,
            f"data-parallel on {comm.size} MPI ranks ({comm.nodes} node(s)), global "
            f"batch {settings['batch_size']}; {comm.blas}",
        )
    _say(
        args,
        f"training {settings['model']} on {settings['data']} "
        f"({len(x_train):,} images) for {_epochs(settings['epochs'])} -> {run_dir}",
    )
    started = time.perf_counter()
    samples_before = (
        trainer.epoch * len(trainer.x) + trainer.batches_done * trainer.batch_size
    )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # NaNGuard names where values overflow; NumPy's warnings would repeat it.
        history = trainer.run()
    seconds = time.perf_counter() - started
    if history.diverged:  # decided alike on every rank
        kept = (
            f"the checkpoint of epoch {trainer.epoch} is kept"
            if run.wrote_checkpoint()
            else "nothing was saved"
        )
        raise everywhere(CLIError(f"{history.diverged} Try a smaller --lr; {kept}."))
    if not comm.is_root:
        return 0
    samples = max(trainer.epoch * len(trainer.x) - samples_before, 0)

    model.save(run_dir / "model.npz", metadata=metadata)
    history.to_csv(run_dir / "history.csv")
    history.to_json(run_dir / "history.json")
    logits, test = _test_scores(model, x_test, y_test)
    probs = cr.functional.softmax(logits)
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
