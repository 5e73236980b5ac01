"""Data for a task: CSV/TSV tables, image folders and the built-in sets, split,
preprocessed and paired with the task they are trained for.

``prepare(settings)`` is what ``train`` reads; ``load_for_model(meta, data)``
is what ``evaluate``, ``predict`` and ``encode`` read, applying the
preprocessing a model file records instead of fitting a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.folders import (
    ImageFolderError,
    image_files,
    list_image_folder,
    looks_like_image_folder,
    read_headers,
    read_images,
)
from ..data.preprocessing import TablePreprocessing
from ..data.tables import (
    MAX_CLASSES,
    TableError,
    plan_table,
    read_values,
    scan_table,
)
from ..tasks import infer_task
from ._common import CLIError

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
#: Fewest rows a test or validation part may have: fewer make its scores noise.
MIN_HELD_OUT = 5
#: Default code sizes of an autoencoder.
CODE_SIZE = {"table": 2, "images": 32, "builtin": 32}


def data_kind(data: str) -> str:
    """'table' for a .csv/.tsv/.tab/.txt path, 'images' for a folder of class
    folders, else 'builtin' (the named sets, IDX folders, .npz files)."""
    p = Path(str(data)).expanduser()
    if p.suffix.lower() in TABLE_SUFFIXES:
        return "table"
    if p.is_dir() and looks_like_image_folder(p):
        return "images"
    return "builtin"


@dataclass
class Prepared:
    """A data set ready for training one task."""

    kind: str  # table, images, builtin
    task: str
    reason: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_out: int
    class_names: list[str] | None = None
    target_names: list[str] = field(default_factory=list)
    preprocessing: dict | None = None
    notes: list[str] = field(default_factory=list)
    labels_test: list[str] | None = None
    label_name: str | None = None
    test_is_train: bool = False
    describe: str = ""

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])


# -------------------------------------------------------------- splitting
def _split(n: int, fraction: float, seed: int, strata=None):
    from ..data.batching import stratified_split

    if not fraction:
        return np.arange(n), np.empty(0, np.int64)
    y = strata if strata is not None else np.zeros(n, np.float32)
    return stratified_split(y, fraction, seed=np.random.default_rng(seed))


def _least_fraction(n: int) -> float | None:
    """The smallest split fraction giving MIN_HELD_OUT of n rows, leaving one."""
    if n - 1 < MIN_HELD_OUT:
        return None
    f = (MIN_HELD_OUT - 0.5) / n
    return float(np.ceil(f * 100) / 100)


def check_held_out(n: int, test: float, validation: float, what: str) -> None:
    """Refuse test or validation parts too small to score, saying what works.

    Raises
    ------
    CLIError
        Naming the split, the rows it would get and the fractions that work.
    """
    n_test = int(round(test * n))
    if test and n_test < MIN_HELD_OUT:
        least = _least_fraction(n)
        raise CLIError(
            f"--test-split {test:g} of the {n:,} rows of {what} is {n_test} row(s); a "
            f"test part needs at least {MIN_HELD_OUT}. Use "
            + (f"--test-split {least:g} or more, or " if least and least < 1 else "")
            + "--test-split 0 (scores on the training rows), or more rows."
        )
    rest = n - n_test
    n_val = int(round(validation * rest))
    if validation and n_val < MIN_HELD_OUT:
        least = _least_fraction(rest)
        raise CLIError(
            f"--validation-split {validation:g} of the {rest:,} training rows of "
            f"{what} is {n_val} row(s); validation needs at least {MIN_HELD_OUT}. Use "
            + (
                f"--validation-split {least:g} or more, or "
                if least and least < 1
                else ""
            )
            + "--validation-split 0 (no validation), or more rows."
        )


# ------------------------------------------------------------------ tables
def _table_task(settings: dict, plan, scan) -> tuple[str, str, list[dict]]:
    task = settings.get("task")
    targets = plan.targets
    if task == "autoencode":
        return task, "--task autoencode", []
    infos = [
        {
            "name": t.name,
            "numeric": t.numeric,
            "integers": t.integers,
            "distinct": t.n_distinct,
        }
        for t in targets
    ]
    inferred, reason = infer_task(infos)
    if task is None:
        task = inferred
    else:
        reason = f"--task {task}"
    names = ", ".join(repr(t.name) for t in targets)
    if task == "regress":
        for t in targets:
            if not t.numeric:
                raise CLIError(
                    f"target {t.name!r} is text, not numbers; --task regress needs "
                    "numeric targets (use --task classify for categories)."
                )
        return task, reason, [{"name": t.name, "type": "numeric"} for t in targets]
    if len(targets) > 1:
        raise CLIError(
            f"--task {task} predicts one column; got {len(targets)} targets ({names}). "
            "Several targets are for --task regress."
        )
    t = targets[0]
    if t.n_distinct is None:
        raise CLIError(
            f"target {t.name!r} has over {MAX_CLASSES:,} distinct values; too many "
            "classes for "
            "--task classify (use --task regress for a number)."
        )
    if task == "binary" and t.n_distinct != 2:
        raise CLIError(
            f"--task binary needs a target of 2 distinct values; {t.name!r} has "
            f"{t.n_distinct} (use --task classify)."
        )
    return task, reason, [{"name": t.name, "type": "class", "classes": t.categories()}]


def prepare_table(settings: dict) -> Prepared:
    path = settings["data"]
    targets = list(settings.get("target") or [])
    task = settings.get("task")
    if task == "autoencode" and targets:
        raise CLIError(
            "--task autoencode reconstructs the inputs and has no target; drop "
            "--target (use --label COLUMN to colour the code picture by a column)."
        )
    features = settings.get("features")
    exclude = [c for c in (settings.get("label"),) if c]
    try:
        scan = scan_table(path, targets)
        if not targets and task != "autoencode":
            raise CLIError(
                f"name the column to predict with --target; the columns of "
                f"{str(path)!r} are {', '.join(scan.names)} (or use --task "
                "autoencode)."
            )
        plan = plan_table(scan, targets, features, exclude)
        task, reason, target_specs = _table_task(settings, plan, scan)
        check_held_out(
            scan.n_rows,
            settings["test_split"],
            settings["validation_split"],
            repr(Path(path).name),
        )
        raw = read_values(
            path,
            plan.inputs,
            target_specs,
            n_rows=scan.n_rows,
            label_column=settings.get("label"),
        )
        classes = target_specs[0].get("classes") if target_specs else None
        strata = raw.targets[0].astype(np.int64) if classes else None
        train_idx, test_idx = _split(
            len(raw), settings["test_split"], settings["seed"], strata
        )
        prep = TablePreprocessing.fit(
            plan.inputs, target_specs, raw, train_idx, settings["missing"]
        )
        notes = plan.notes + [
            f"filled {k:,} missing value(s) of {name!r} with the training rows' "
            + (f"median {fill:g}" if isinstance(fill, float) else f"most frequent {fill!r}")
            for name, k, fill in prep.missing_counts(raw)
        ]
        x = prep.transform(raw)
    except TableError as exc:
        raise CLIError(str(exc)) from None
    if task == "regress":
        y = prep.regression_targets(raw)
    elif task == "binary":
        y = raw.targets[0].astype(np.float32).reshape(-1, 1)
    elif task == "classify":
        y = raw.targets[0].astype(np.int64)
    else:
        y = x
    test_is_train = len(test_idx) == 0
    if test_is_train:
        test_idx = train_idx
    labels = raw.label
    n_out = {
        "regress": len(target_specs),
        "binary": 1,
        "classify": len(classes or ()),
        "autoencode": x.shape[1],
    }[task]
    return Prepared(
        kind="table",
        task=task,
        reason=reason,
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        n_out=n_out,
        class_names=list(classes) if classes else None,
        target_names=[t["name"] for t in target_specs],
        preprocessing=prep.to_json(),
        notes=notes,
        labels_test=[labels[i] for i in test_idx] if labels is not None else None,
        label_name=settings.get("label"),
        test_is_train=test_is_train,
        describe=(
            f"{Path(path).name}: {len(raw):,} rows, {len(plan.inputs)} input "
            f"columns ({x.shape[1]} features after one-hot encoding)"
        ),
    )


# ----------------------------------------------------------------- images
def _image_task(settings: dict, classes: list[str], root) -> tuple[str, str]:
    task = settings.get("task")
    if task == "regress":
        raise CLIError(
            "--task regress needs numeric targets from a CSV; an image folder "
            "gives classes (use --task classify, binary or autoencode)."
        )
    if task == "autoencode":
        return task, "--task autoencode"
    k = len(classes)
    if k < 2:
        raise CLIError(
            f"image folder {str(root)!r} has one class ({classes[0]!r}); "
            "classification needs at least two class folders (or use --task "
            "autoencode)."
        )
    if task == "binary" and k != 2:
        raise CLIError(
            f"--task binary needs 2 classes; {str(root)!r} has {k} (use --task "
            "classify)."
        )
    if task is None:
        task = "binary" if k == 2 else "classify"
        return task, f"{k} class folders"
    return task, f"--task {task}"


def _image_settings(settings: dict, headers) -> tuple[tuple[int, int], int]:
    channels = settings.get("channels") or headers.default_channels()
    size = settings.get("image_size") or headers.default_size()
    return tuple(int(s) for s in size), int(channels)


def prepare_images(settings: dict) -> Prepared:
    root = Path(settings["data"])
    try:
        listing = list_image_folder(root)
        task, reason = _image_task(settings, listing.classes, root)
        items = listing.train + (listing.test or [])
        files = [f for f, _ in items]
        labels = np.array([c for _, c in items], np.int64)
        n_train = len(listing.train)
        headers = read_headers(files)  # an unreadable file is named first
        if listing.test is None:
            check_held_out(
                len(files),
                settings["test_split"],
                settings["validation_split"],
                repr(root.name),
            )
        else:
            check_held_out(
                n_train, 0.0, settings["validation_split"], repr(root.name + "/train")
            )
        size, channels = _image_settings(settings, headers)
        x, notes = read_images(files, size, channels, headers)
    except ImageFolderError as exc:
        raise CLIError(str(exc)) from None
    if listing.test is None:
        train_idx, test_idx = _split(
            len(files), settings["test_split"], settings["seed"], labels
        )
    else:
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, len(files))
    test_is_train = len(test_idx) == 0
    if test_is_train:
        test_idx = train_idx
    if task == "binary":
        y = labels.astype(np.float32).reshape(-1, 1)
    elif task == "classify":
        y = labels
    else:
        y = x.reshape(len(x), -1)
    k = len(listing.classes)
    return Prepared(
        kind="images",
        task=task,
        reason=reason,
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        n_out={"binary": 1, "classify": k, "autoencode": int(np.prod(x.shape[1:]))}[
            task
        ],
        class_names=list(listing.classes),
        target_names=["class"],
        preprocessing={
            "kind": "images",
            "size": list(size),
            "channels": channels,
            "scale": "pixel / 255",
            "transparency": "composited onto white",
            "class_names": list(listing.classes),
        },
        notes=notes,
        labels_test=[listing.classes[i] for i in labels[test_idx]],
        label_name="class",
        test_is_train=test_is_train,
        describe=(
            f"{root.name}: {len(files):,} images in {k} class folder(s) "
            f"({', '.join(listing.classes[:6])}{', ...' if k > 6 else ''})"
            + (", train/ and test/" if listing.test is not None else "")
            + f", read as {channels}x{size[0]}x{size[1]}"
        ),
    )


# ---------------------------------------------------------------- builtin


def _class_count(data: str, y_train: np.ndarray, y_test: np.ndarray) -> int:
    """1 + the largest label, once every label is a class number in
    [0, MAX_CLASSES), the limit of a CSV file's class targets too: the output
    layer and the class names are made for the largest label, so a file of a
    few hundred images with one label of 10**9 would otherwise ask for a
    billion of each."""
    from ..losses import _check_labels

    for name, y in (("y_train", y_train), ("y_test", y_test)):
        try:
            _check_labels(f"{data!r}: {name}", y, len(y), MAX_CLASSES)
        except (TypeError, ValueError) as exc:
            raise CLIError(str(exc)) from None
    return int(max(y_train.max(), y_test.max())) + 1


def prepare_builtin(settings: dict) -> Prepared:
    from ._common import _class_names, load_data

    task = settings.get("task")
    if task in ("regress", "binary"):
        raise CLIError(
            f"--task {task} needs a CSV file of your own (--data file.csv --target "
            f"COLUMN); {settings['data']!r} holds images with class labels."
        )
    for opt in ("target", "features", "label"):
        if settings.get(opt):
            raise CLIError(
                f"--{opt} names CSV columns; {settings['data']!r} is not a CSV file."
            )
    (x_train, y_train), (x_test, y_test) = load_data(settings["data"])
    if x_train.shape[1:] != x_test.shape[1:]:
        # One model takes one sample shape: the test set could not be scored.
        raise CLIError(
            f"{settings['data']!r}: x_train and x_test must hold samples of one "
            f"shape; got {x_train.shape[1:]} and {x_test.shape[1:]}."
        )
    if task == "autoencode":
        y_train = x_train.reshape(len(x_train), -1)
        labels = [str(int(v)) for v in y_test] if y_test.dtype.kind in "iu" else None
        y_test = x_test.reshape(len(x_test), -1)
        n_classes = None
        n_out = y_train.shape[1]
    else:
        labels = None
        n_classes = _class_count(settings["data"], y_train, y_test)
        n_out = n_classes
    return Prepared(
        kind="builtin",
        task=task or "classify",
        reason=f"--task {task}" if task else "image classes",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_out=n_out,
        class_names=_class_names(settings["data"], n_classes) if n_classes else None,
        labels_test=labels,
        label_name="digit" if labels else None,
        describe=f"{settings['data']} ({len(x_train):,} images)",
    )


def prepare(settings: dict) -> Prepared:
    """The training data of a run, for the task asked for or inferred."""
    kind = data_kind(settings["data"])
    if kind != "table":
        for opt in ("target", "features", "label"):
            if settings.get(opt) and kind == "images":
                raise CLIError(
                    f"--{opt} names CSV columns; {settings['data']!r} is an image "
                    "folder (its classes are its sub-folders)."
                )
    if kind != "images":
        for opt in ("image_size", "channels"):
            if settings.get(opt) and kind == "table":
                raise CLIError(
                    f"--{opt.replace('_', '-')} applies to image folders; "
                    f"{settings['data']!r} is a table."
                )
    return {"table": prepare_table, "images": prepare_images, "builtin": prepare_builtin}[
        kind
    ](settings)


# ------------------------------------------------- reading for a saved model
@dataclass
class ModelData:
    """Rows or images transformed the way a model file says, with their
    targets when the data has them."""

    x: np.ndarray
    y: np.ndarray | None
    ids: list[str]
    labels: list[str] | None = None
    what: str = ""


def _table_for_model(meta, path, id_column=None, need_targets=True, label=None):
    prep = TablePreprocessing(meta["preprocessing"])
    targets = prep.targets if need_targets else []
    try:
        raw = read_values(
            path, prep.inputs, targets, id_column=id_column, label_column=label
        )
        x = prep.transform(raw)
    except TableError as exc:
        raise CLIError(str(exc)) from None
    task = meta["task"]
    y = None
    if need_targets:
        if task == "regress":
            y = np.stack(raw.targets, axis=1)  # in the columns' units
        elif task in ("binary", "classify"):
            y = raw.targets[0].astype(np.int64)
        else:
            y = x
    ids = raw.ids if raw.ids is not None else [str(i + 1) for i in range(len(x))]
    return ModelData(x, y, ids, raw.label, f"{Path(path).name} ({len(x):,} rows)")


def _images_for_model(meta, path, with_classes=True):
    prep = meta["preprocessing"]
    path = Path(path)
    size, channels = tuple(prep["size"]), int(prep["channels"])
    try:
        if path.is_file():
            files, y = [path], None
        elif with_classes and looks_like_image_folder(path):
            listing = list_image_folder(path, prep["class_names"])
            items = listing.test if listing.test is not None else listing.train
            files = [f for f, _ in items]
            y = np.array([c for _, c in items], np.int64)
        elif path.is_dir():
            files, y = image_files(path), None
            if not files:
                raise CLIError(f"{str(path)!r} holds no images (.png, .jpg, .jpeg, .bmp).")
        else:
            raise CLIError(f"no such file or folder {str(path)!r}.")
        x, notes = read_images(files, size, channels)
    except ImageFolderError as exc:
        raise CLIError(str(exc)) from None
    if with_classes and y is None and meta["task"] != "autoencode":
        raise CLIError(
            f"scoring needs labelled images: give a folder of class folders "
            f"({', '.join(prep['class_names'])}); {str(path)!r} has none."
        )
    labels = [prep["class_names"][c] for c in y] if y is not None else None
    if meta["task"] == "autoencode" and y is not None:
        y = x.reshape(len(x), -1)
    return ModelData(x, y, [str(f) for f in files], labels, f"{path.name} ({len(x):,} images)")


def load_for_model(meta: dict, data, need_targets=True, id_column=None) -> ModelData:
    """``data`` transformed as the model's preprocessing says.

    With ``data`` None, the test part of the data the model was trained on,
    split again exactly as training split it.
    """
    if data is None:
        return training_split(meta)[1]
    kind = meta["preprocessing"]["kind"]
    if kind == "table":
        return _table_for_model(
            meta, data, id_column, need_targets, meta.get("label_column")
        )
    return _images_for_model(meta, data, with_classes=need_targets)


def training_split(meta: dict) -> tuple[ModelData, ModelData]:
    """The training and test parts of a model's own training data, again."""
    settings = meta.get("train_args") or {}
    source = settings.get("data")
    if not source or not Path(source).exists():
        raise CLIError(
            f"the data this model was trained on ({source!r}) is not there; give "
            "the data to use as an argument."
        )
    kind = meta["preprocessing"]["kind"]
    if kind == "images" and (Path(source) / "train").is_dir():
        test = _images_for_model(meta, source)
        train = _images_for_model(meta, Path(source) / "train")
        return train, test
    full = load_for_model(meta, source)
    task = meta["task"]
    if kind == "images":  # training stratified folders by class, for any task
        names = meta["preprocessing"]["class_names"]
        strata = np.array([names.index(c) for c in full.labels], np.int64)
    else:
        strata = full.y if task in ("binary", "classify") else None
    train_idx, test_idx = _split(
        len(full.x), settings.get("test_split", 0.2), settings.get("seed", 0), strata
    )
    if len(test_idx) == 0:
        test_idx = train_idx

    def part(idx):
        return ModelData(
            full.x[idx],
            None if full.y is None else full.y[idx],
            [full.ids[i] for i in idx],
            None if full.labels is None else [full.labels[i] for i in idx],
            f"{Path(source).name} test split ({len(idx):,} "
            f"{'images' if kind == 'images' else 'rows'})",
        )

    return part(train_idx), part(test_idx)
