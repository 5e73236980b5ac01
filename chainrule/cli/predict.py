"""`chainrule predict`: classify PNG images, .npy arrays or IDX files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data import read_idx
from ..io import load as load_model
from ._common import CLIError, _input_shape


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
    with open(path, "rb") as f:  # the magic bytes say which reader to use
        head = f.read(8)
    if head.startswith(b"\x89PNG"):
        return _read_png(path, shape)
    if head.startswith(b"\x93NUMPY"):
        try:
            a = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise CLIError(f"cannot read {str(path)!r}: {exc}") from None
        return _as_batch(a, shape, path)
    try:
        a = read_idx(path)
    except ValueError as exc:
        raise CLIError(
            f"{str(path)!r} is not a PNG, .npy or IDX file ({exc})"
        ) from None
    return _as_batch(a, shape, path)


def cmd_predict(args) -> int:
    import chainrule as cr

    model = load_model(args.model)
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
    names = model.metadata.get("class_names")
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
