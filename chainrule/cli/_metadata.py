"""What a model file's metadata must hold before a command relies on it.

A model file is untrusted input: its metadata may be what ``train`` wrote
(train.py's _metadata, the preprocessing of _data.py), what someone passed to
``model.save(path, metadata={...})``, or an edited file. The commands hold it
to the schema ``train`` writes before relying on any of it, so that a bad
field is one line naming the file and the field, never a KeyError or an
IndexError half-way through the output.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.folders import MAX_SIDE
from ..tasks import TASK_LOSSES, TASKS
from ._common import CLIError, _input_shape

#: The preprocessing kinds ``train`` writes, with the tasks trained on each. A
#: built-in data set makes a task model only as an autoencoder: its
#: classifiers are digit models, whose files have no "task".
KIND_TASKS = {
    "table": TASKS,
    "images": ("binary", "classify", "autoencode"),
    "builtin": ("autoencode",),
}

_MISSING = object()


def _bad(path, field: str, value, expected: str) -> CLIError:
    """The error for metadata ``field`` of the file ``path`` holding ``value``."""
    if value is _MISSING:
        shown = "is missing"
    else:  # repr: a newline in a string stays on one line; None is JSON's null
        shown = "null" if value is None else repr(value)
        shown = "is " + (shown if len(shown) <= 60 else shown[:57] + "...")
    return CLIError(
        f"{str(path)!r}: metadata field {field!r} {shown}; expected {expected}."
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    # Finite: Python's json writes NaN and Infinity, and reads them back.
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_names(value) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


def _n_outputs(model, shape, path, field: str) -> int:
    """How many numbers the model gives for one input of ``shape`` (the shape
    the metadata ``field`` describes)."""
    try:
        out = tuple(model.output_shape(tuple(shape)))
    except (ValueError, TypeError) as exc:
        reason = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        raise CLIError(
            f"{str(path)!r}: the model does not take inputs of shape {tuple(shape)}, "
            f"which its metadata field {field!r} describes ({reason})"
        ) from None
    if len(out) != 1:
        raise CLIError(
            f"{str(path)!r}: the model gives outputs of shape {out} per input; a "
            "model with a 'task' gives one row of numbers."
        )
    return out[0]


def _check_column(spec: dict, field: str, path, numbers) -> str:
    """Check a column's name and, when it is numeric, its ``numbers`` (a scale
    above 0 among them: the values are divided by it); return its type."""
    if not isinstance(spec.get("name"), str):
        raise _bad(path, f"{field}.name", spec.get("name", _MISSING), "a column name")
    kind = spec.get("type", _MISSING)
    if kind == "numeric":
        for key in numbers:
            if not _is_number(spec.get(key)):
                raise _bad(path, f"{field}.{key}", spec.get(key, _MISSING), "a number")
        if spec["scale"] <= 0:
            raise _bad(path, f"{field}.scale", spec["scale"], "a number above 0")
    return kind


def _check_table(prep: dict, path) -> int:
    """Check a table preprocessing; returns the number of features it gives."""
    inputs = prep.get("inputs", _MISSING)
    if not (
        isinstance(inputs, list) and inputs and all(isinstance(s, dict) for s in inputs)
    ):
        raise _bad(path, "preprocessing.inputs", inputs, "a list of input columns")
    missing = prep.get("missing", _MISSING)
    if missing not in ("impute", "refuse"):
        raise _bad(path, "preprocessing.missing", missing, "'impute' or 'refuse'")
    width = 0
    for i, spec in enumerate(inputs):
        field = f"preprocessing.inputs[{i}]"
        kind = _check_column(spec, field, path, ("mean", "fill", "scale"))
        if kind == "numeric":
            width += 1
        elif kind == "category":
            categories = spec.get("categories", _MISSING)
            if not (_is_names(categories) and categories):
                raise _bad(path, f"{field}.categories", categories, "a list of names")
            if spec.get("fill") not in categories:  # what a missing value becomes
                raise _bad(
                    path,
                    f"{field}.fill",
                    spec.get("fill", _MISSING),
                    "one of its categories",
                )
            width += len(categories)  # one 0/1 feature per category
        else:
            raise _bad(path, f"{field}.type", kind, "'numeric' or 'category'")
    targets = prep.get("targets", _MISSING)
    if not (isinstance(targets, list) and all(isinstance(t, dict) for t in targets)):
        raise _bad(path, "preprocessing.targets", targets, "a list of target columns")
    for j, spec in enumerate(targets):
        field = f"preprocessing.targets[{j}]"
        # regression: outputs * scale + mean, in the column's units
        kind = _check_column(spec, field, path, ("mean", "scale"))
        if kind == "class":
            classes = spec.get("classes", _MISSING)
            if not (_is_names(classes) and classes):
                raise _bad(path, f"{field}.classes", classes, "a list of class names")
        elif kind != "numeric":
            raise _bad(path, f"{field}.type", kind, "'numeric' or 'class'")
    return width


def _check_images(prep: dict, path) -> tuple[int, int, int]:
    """Check an image preprocessing; returns the input shape it gives."""
    size = prep.get("size", _MISSING)
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(_is_int(s) and 1 <= s <= MAX_SIDE for s in size)
    ):
        raise _bad(
            path,
            "preprocessing.size",
            size,
            f"[height, width], each from 1 to {MAX_SIDE}",
        )
    channels = prep.get("channels", _MISSING)
    if not (_is_int(channels) and channels in (1, 3)):
        raise _bad(path, "preprocessing.channels", channels, "1 (grey) or 3 (RGB)")
    names = prep.get("class_names", _MISSING)
    if not (_is_names(names) and names):  # the class folders an image folder may have
        raise _bad(
            path, "preprocessing.class_names", names, "a list of class folder names"
        )
    return (channels, size[0], size[1])


def _check_outputs(model, meta: dict, prep: dict, shape, n: int, path) -> None:
    """The fields a task reads to name or score the model's ``n`` outputs."""
    task, kind = meta["task"], prep["kind"]
    if task in ("regress", "binary", "classify"):
        targets = meta.get("target_names", _MISSING)
        if not _is_names(targets):  # the CSV header of predict
            raise _bad(path, "target_names", targets, "a list of column names")
    if task == "regress":
        if len(targets) != n:
            raise _bad(path, "target_names", targets, f"{n} names, one per output")
        specs = prep["targets"]  # a regression model is a table model
        if len(specs) != n or any(s["type"] != "numeric" for s in specs):
            raise _bad(
                path,
                "preprocessing.targets",
                specs,
                f"{n} numeric targets, one per output",
            )
    elif task in ("binary", "classify"):
        if task == "binary" and n != 1:
            raise _bad(
                path,
                "task",
                task,
                f"'classify' for a model of {n} outputs (a binary model gives one: "
                "the positive class's probability)",
            )
        if task == "classify" and n < 2:
            raise _bad(
                path,
                "task",
                task,
                f"another task for a model of {n} output (classify gives one per "
                "class, at least 2)",
            )
        k = 2 if task == "binary" else n
        names = meta.get("class_names", _MISSING)
        if not (_is_names(names) and len(names) == k):
            order = "one per output"
            if task == "binary":
                order = "negative class, then positive"
            raise _bad(path, "class_names", names, f"a list of {k} names ({order})")
        # The classes a data file's labels are read as must be these names, in
        # this order, or the scores would compare different classes.
        if kind == "table":
            specs = prep["targets"]
            if (
                len(specs) != 1
                or specs[0]["type"] != "class"
                or specs[0]["classes"] != names
            ):
                raise _bad(
                    path,
                    "preprocessing.targets",
                    specs,
                    "one class target whose classes are the class_names",
                )
        elif prep["class_names"] != names:
            raise _bad(
                path,
                "preprocessing.class_names",
                prep["class_names"],
                "the class_names",
            )
    else:  # autoencode
        from ..models.sequential import Sequential

        width = int(np.prod(shape))
        if n != width:
            raise _bad(
                path,
                "task",
                task,
                f"another task for a model of {n} outputs from {width} input values "
                "(an autoencoder reconstructs its input)",
            )
        # encode runs the layers up to the code layer, and evaluate compares
        # with PCA of as many components as the code is wide.
        layer = meta.get("code_layer", _MISSING)
        depth = len(model) if isinstance(model, Sequential) else 0
        if not (_is_int(layer) and 0 <= layer < depth - 1):
            raise _bad(
                path,
                "code_layer",
                layer,
                f"the index of a layer before the output layer, 0 to {depth - 2}"
                if depth > 1
                else "a chain of layers (Sequential) to index into",
            )
        code = Sequential(*[model[i] for i in range(layer + 1)]).output_shape(
            tuple(shape)
        )
        if len(code) != 1:
            raise _bad(
                path,
                "code_layer",
                layer,
                f"a layer giving one row of numbers (layer {layer} gives {tuple(code)})",
            )
        size = meta.get("code_size", _MISSING)
        if not (_is_int(size) and size == code[0]):
            raise _bad(
                path, "code_size", size, f"{code[0]}, the width of layer {layer}"
            )


def check_task_metadata(model, path) -> None:
    """Refuse a model file with a "task" whose metadata the commands cannot
    rely on: ``task``, ``preprocessing`` (its kind, and the keys and values
    that kind needs), the names and sizes of the outputs, and the fields
    ``evaluate`` reads to find the training data again.

    Raises
    ------
    CLIError
        Naming ``path`` and the first bad field.
    """
    meta = model.metadata
    task = meta.get("task", _MISSING)
    if task not in TASKS:
        raise _bad(
            path,
            "task",
            task,
            f"one of {', '.join(TASKS)} (a digit classifier's file has no 'task')",
        )
    prep = meta.get("preprocessing", _MISSING)
    if not isinstance(prep, dict):
        raise _bad(path, "preprocessing", prep, "an object with a 'kind'")
    kind = prep.get("kind", _MISSING)
    if kind not in KIND_TASKS:
        raise _bad(path, "preprocessing.kind", kind, f"one of {', '.join(KIND_TASKS)}")
    if task not in KIND_TASKS[kind]:
        raise _bad(
            path,
            "task",
            task,
            f"one of {', '.join(KIND_TASKS[kind])} for preprocessing kind {kind!r}",
        )
    if kind == "table":
        shape, field = (_check_table(prep, path),), "preprocessing.inputs"
    elif kind == "images":
        shape, field = _check_images(prep, path), "preprocessing.size"
    else:
        if not isinstance(meta.get("data"), str):  # evaluate loads it by name
            raise _bad(
                path,
                "data",
                meta.get("data", _MISSING),
                "the name of a built-in data set",
            )
        shape, field = _input_shape(model), "input_shape"
    n = _n_outputs(model, shape, path, field)
    _check_outputs(model, meta, prep, shape, n, path)

    loss = meta.get("loss")  # absent: ce, the classifiers' default
    if loss is not None and loss not in TASK_LOSSES[task]:
        raise _bad(path, "loss", loss, f"one of {', '.join(TASK_LOSSES[task])}")
    label = meta.get("label_column")
    if label is not None and not isinstance(label, str):
        raise _bad(path, "label_column", label, "a column name or null")
    # evaluate without data splits the training data again, as train did.
    settings = meta.get("train_args")
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise _bad(path, "train_args", settings, "an object")
    source = settings.get("data")
    if source is not None and not isinstance(source, str):
        raise _bad(path, "train_args.data", source, "a path")
    split = settings.get("test_split", 0.2)
    if not (_is_number(split) and 0 <= split < 1):
        raise _bad(path, "train_args.test_split", split, "a fraction in [0, 1)")
    seed = settings.get("seed", 0)
    if not (_is_int(seed) and seed >= 0):
        raise _bad(path, "train_args.seed", seed, "a whole number >= 0")


def check_digit_metadata(model, path, shape) -> None:
    """Refuse a digit model file (no "task") whose ``data`` is not a name or
    whose ``class_names`` do not name its outputs, one each, for inputs of
    ``shape``. Such names are refused, not replaced by class numbers: the file
    says these are its classes, so which name goes with which output is
    unknown, and a one-line error that names the field says how to fix the
    file where a quiet fallback would print numbers nobody asked for."""
    meta = model.metadata
    data = meta.get("data")
    if data is not None and not isinstance(data, str):
        raise _bad(path, "data", data, "the name of a data set")
    names = meta.get("class_names")
    if names is None:  # no names: the outputs are shown by number
        return
    if not _is_names(names):
        raise _bad(path, "class_names", names, "a list of names, one per output")
    try:
        out = tuple(model.output_shape(tuple(shape)))
    except (ValueError, TypeError):
        return  # the model cannot take these inputs: the command says so
    if len(out) == 1 and len(names) != out[0]:
        raise _bad(
            path, "class_names", names, f"{out[0]} names, one per output of the model"
        )
