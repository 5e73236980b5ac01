"""`chainrule predict`: classify images (PNG, JPEG, BMP, TIFF, GIF), .npy arrays or IDX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _json
from .._safe_npz import read_npy
from ..data import read_idx
from ..io import load as load_model
from ._common import CLIError, _input_shape
from ._images import DIGIT_SETS, image_format, read_image

#: The most bytes of an ``.npy`` or IDX input ``predict`` reads.
MAX_INPUT_BYTES = 1 << 30


# ----------------------------------------------------------------- predict
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


def _read_inputs(path: Path, shape, digits: bool = False) -> np.ndarray:
    if path.is_dir():
        raise CLIError(f"{str(path)!r} is a directory; give image, .npy or IDX files.")
    if not path.exists():
        raise CLIError(f"no such file {str(path)!r}.")
    with open(path, "rb") as f:  # the magic bytes say which reader to use
        head = f.read(8)
    if image_format(head):
        return read_image(path, shape, digits=digits)
    if head.startswith(b"\x93NUMPY"):
        a = read_npy(
            path, MAX_INPUT_BYTES, "chainrule.cli.predict.MAX_INPUT_BYTES", CLIError
        )
        return _as_batch(a, shape, path)
    try:
        a = read_idx(path, max_bytes=MAX_INPUT_BYTES)
    except ValueError as exc:
        if "is not an IDX file" not in str(exc):  # an IDX file, damaged or too big
            raise CLIError(str(exc)) from None
        raise CLIError(
            f"{str(path)!r} is not an image (PNG, JPEG, BMP, TIFF, GIF), .npy or "
            f"IDX file ({exc})"
        ) from None
    return _as_batch(a, shape, path)


def _label(names, k) -> str:
    """Output ``k``'s class name; its number when the file names no classes
    (check_digit_metadata has made sure names, when given, fit the outputs)."""
    k = int(k)
    return names[k] if names and k < len(names) else str(k)


def cmd_predict(args) -> int:
    import chainrule as cr

    model = load_model(args.model)
    from ._metadata import check_digit_metadata
    from .use import is_task_model, predict_own

    if is_task_model(model):  # trained on your own data: CSV out
        return predict_own(args, model)
    for flag in ("output", "id", "proba"):
        if getattr(args, flag, None):
            raise CLIError(
                f"--{flag} applies to models trained on your own data (CSV files, "
                "image folders); this digit model prints its predictions."
            )
    shape = _input_shape(model)
    # Before any input is read: names that do not fit the outputs are refused.
    check_digit_metadata(model, args.model, shape)
    names = model.metadata.get("class_names")
    digits = model.metadata.get("data") in DIGIT_SETS
    results = []
    for item in args.inputs:
        x = _read_inputs(Path(item), shape, digits)
        probs = cr.functional.softmax(cr.predict(model, x).astype(np.float64))
        for i, p in enumerate(probs):
            k = int(p.argmax())
            label = _label(names, k)
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
        print(_json.dumps(results))
        return 0
    for r in results:
        top = np.argsort(r["probabilities"])[::-1][:3]
        alts = ", ".join(
            f"{_label(names, j)} {r['probabilities'][j]:.3f}" for j in top[1:]
        )
        print(f"{r['input']}: {r['label']} ({r['probability']:.3f}); next: {alts}")
    return 0
