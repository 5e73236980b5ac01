"""Using a model trained on your own data: ``predict`` and ``encode`` write CSV,
``evaluate`` prints the task's scores. The model file's preprocessing is
applied to the new rows or images exactly as in training."""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path

import numpy as np

from .. import _json
from .._atomic import atomic_write
from ._common import CLIError
from ._data import load_for_model, training_split
from ._metadata import check_task_metadata
from .report import _probabilities, encode, score_lines, task_scores, to_units


def is_task_model(model) -> bool:
    """A model file written by ``train`` on your own data (or for a task
    other than digit classification): it records its task. Any "task" makes
    one, to be checked by :func:`check_task_metadata` (an unknown task is
    refused there, not read as a digit model)."""
    return "task" in model.metadata


def _write_csv(header: list[str], rows, output: str | None, read=()) -> None:
    """All rows to ``output`` at once (atomic: nothing half-written), or stdout.
    ``read`` lists the files the command read (the model, its inputs): the
    output may not be one of them."""
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    if output:
        out = Path(output)
        if out.is_dir():
            raise CLIError(f"--output {output!r} is a directory; give a file name.")
        if not out.parent.exists():
            raise CLIError(f"--output {output!r}: folder {str(out.parent)!r} does not exist.")
        for source in read:
            if out.exists() and _same_file(out, source):
                raise CLIError(
                    f"--output {output!r} is {str(source)!r}, which this command "
                    "reads; give another file name."
                )
        try:
            with atomic_write(out) as f:
                f.write(text.getvalue().encode("utf-8"))
        except OSError as exc:
            raise CLIError(f"--output {output!r}: cannot write it ({exc.strerror}).") from None
    else:
        sys.stdout.write(text.getvalue())


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # b is gone, or not a path at all
        return False


def _one_input(args, what: str) -> str:
    inputs = getattr(args, "inputs", None) or [args.data]
    if len(inputs) != 1:
        raise CLIError(
            f"{what} takes one CSV file, image folder or image for this model; got "
            f"{len(inputs)}."
        )
    return inputs[0]


def _fmt(v: float) -> str:
    return f"{float(v):.6g}"


def predict_own(args, model) -> int:
    """``chainrule predict model.npz rows.csv``: one CSV row per input row or image."""
    from ..inference import predict

    check_task_metadata(model, args.model)
    meta = model.metadata
    kind = meta["preprocessing"]["kind"]
    if kind == "builtin":  # its inputs are a data set's arrays, not files
        raise CLIError(
            "predict reads CSV files and images; this autoencoder was trained on a "
            "built-in data set (use 'chainrule evaluate', or cr.load and Python)."
        )
    source = _one_input(args, "predict")
    if args.id and kind != "table":
        raise CLIError("--id names a CSV column; this model reads images.")
    if args.json:
        raise CLIError("--json applies to digit models; this model writes CSV.")
    if args.proba and meta["task"] not in ("binary", "classify"):
        raise CLIError(
            f"--proba applies to classifiers; this model's task is {meta['task']!r}."
        )
    data = load_for_model(meta, source, need_targets=False, id_column=args.id)
    out = predict(model, data.x)
    task = meta["task"]
    names = meta.get("class_names")
    header = [args.id or ("file" if kind != "table" else "row")]
    if task == "regress":
        header += list(meta["target_names"])
        values = [[_fmt(v) for v in row] for row in to_units(meta, out)]
    elif task in ("binary", "classify"):
        target = meta["target_names"][0] if meta["target_names"] else "class"
        header.append(target)
        if task == "binary":
            p1 = out[:, 0].astype(np.float64)
            probs = np.stack([1 - p1, p1], axis=1)
        else:
            probs = _probabilities(out, meta.get("loss", "ce"))
        values = [[names[int(k)]] for k in probs.argmax(axis=1)]
        if args.proba:
            header += [f"p_{n}" for n in names]
            values = [v + [_fmt(p) for p in row] for v, row in zip(values, probs)]
    else:
        # How far each row is from its reconstruction: large for unusual rows.
        header.append("reconstruction_mse")
        err = ((out.astype(np.float64) - data.x.reshape(len(data.x), -1)) ** 2).mean(1)
        values = [[_fmt(e)] for e in err]
    _write_csv(
        header,
        ([i] + v for i, v in zip(data.ids, values)),
        args.output,
        read=[args.model, *args.inputs],
    )
    return 0


def cmd_encode(args) -> int:
    """``chainrule encode model.npz data``: an autoencoder's codes as CSV."""
    from ..io import load as load_model

    model = load_model(args.model)
    meta = model.metadata
    if is_task_model(model):
        check_task_metadata(model, args.model)
    if meta.get("task") != "autoencode":
        raise CLIError(
            f"{args.model!r} is not an autoencoder (its task is "
            f"{meta.get('task', 'classify')!r}); train one with --task autoencode."
        )
    kind = meta["preprocessing"]["kind"]
    if args.id and kind != "table":
        raise CLIError("--id names a CSV column; this model reads images.")
    if kind == "builtin":
        raise CLIError(
            "encode reads CSV files and images; this autoencoder was trained on a "
            "built-in data set (use cr.load and Python)."
        )
    data = load_for_model(meta, args.data, need_targets=False, id_column=args.id)
    codes = encode(model, meta, data.x)
    header = [args.id or ("file" if kind != "table" else "row")]
    header += [f"code_{j + 1}" for j in range(codes.shape[1])]
    rows = ([i] + [_fmt(v) for v in row] for i, row in zip(data.ids, codes))
    _write_csv(header, rows, args.output, read=[args.model, args.data])
    return 0


def evaluate_own(args, model, data_arg) -> int:
    """``chainrule evaluate model.npz [data]``: the task's scores."""
    check_task_metadata(model, args.model)
    meta = model.metadata
    if meta["preprocessing"]["kind"] == "builtin":
        from ..data import load as load_data

        (x_train, _), (x_test, _) = load_data(data_arg or meta["data"])
        train_x, x, y = x_train, x_test, x_test.reshape(len(x_test), -1)
        what = f"{data_arg or meta['data']} test set ({len(x):,} images)"
    elif data_arg is None:
        train, test = training_split(meta)
        train_x, x, y, what = train.x, test.x, test.y, test.what
    else:
        test = load_for_model(meta, data_arg)
        if meta["task"] == "autoencode":
            try:  # PCA is fitted on the training rows when they are at hand
                train_x = training_split(meta)[0].x
            except CLIError:
                train_x = test.x
        else:
            train_x = None
        x, y, what = test.x, test.y, test.what
    scores, _ = task_scores(model, meta, x, y, y_in_units=True, x_fit=train_x)
    if args.json:
        print(_json.dumps({"data": what, "task": meta["task"], **scores}))
        return 0
    print(f"{args.model} ({meta['task']}) on {what}")
    for line in score_lines(meta, scores):
        print(line)
    if "confusion_matrix" in scores:
        names = meta["class_names"]
        cm = scores["confusion_matrix"]
        width = max(len("class"), *(len(str(n)) for n in names))
        cell = max(len(str(max(max(r) for r in cm))), 3)
        print("\nconfusion matrix (rows: true class, columns: predicted)")
        print(" " * (width + 2) + " ".join(f"{i:>{cell}}" for i in range(len(names))))
        for n, row in zip(names, cm):
            print(f"{str(n):<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    return 0
