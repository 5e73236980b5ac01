"""The transform a table model applies to its rows, fitted once, kept as JSON.

Fitted on the training rows only (medians, most frequent categories, means,
standard deviations), stored in the model file's manifest as plain JSON
(``io.save_model(..., metadata=...)``, never pickle), and applied unchanged to
the test rows and to every file given later to ``predict`` and ``evaluate``.

>>> spec = {"kind": "table", "missing": "impute", "inputs": [
...     {"name": "a", "type": "numeric", "mean": 2.0, "scale": 0.5, "fill": 2.0}],
...     "targets": []}
>>> TablePreprocessing(spec).feature_names()
['a']
"""

from __future__ import annotations

import numpy as np

from .tables import RawTable, TableError


class TablePreprocessing:
    """Fitted column transforms of a table, as a JSON-able ``spec``.

    ``spec["inputs"]``: per input column, ``{"name", "type": "numeric", "mean",
    "scale", "fill"}`` (x -> (x - mean) / scale, missing -> fill first) or
    ``{"name", "type": "category", "categories", "fill"}`` (one 0/1 column per
    category). ``spec["targets"]``: ``{"name", "type": "numeric", "mean",
    "scale"}`` (regression targets are standardised too, and predictions turned
    back into the column's units) or ``{"name", "type": "class", "classes"}``.
    ``spec["missing"]``: ``"impute"`` or ``"refuse"``.
    """

    def __init__(self, spec: dict) -> None:
        if not isinstance(spec, dict) or spec.get("kind") != "table":
            raise ValueError(
                "TablePreprocessing: spec must be a dict with kind 'table'; got "
                f"{type(spec).__name__}."
            )
        self.spec = spec

    @property
    def inputs(self) -> list[dict]:
        return self.spec["inputs"]

    @property
    def targets(self) -> list[dict]:
        return self.spec["targets"]

    def to_json(self) -> dict:
        return self.spec

    # ---------------------------------------------------------------- fit
    @classmethod
    def fit(
        cls,
        inputs: list[dict],
        targets: list[dict],
        raw: RawTable,
        train_idx: np.ndarray,
        missing: str = "impute",
    ) -> TablePreprocessing:
        """Learn fills, means and scales from the rows ``train_idx`` of ``raw``.

        Raises
        ------
        TableError
            ``missing="refuse"`` and a value is missing (its line and column).
        """
        if missing not in ("impute", "refuse"):
            raise ValueError(
                f"TablePreprocessing: missing must be 'impute' or 'refuse'; got "
                f"{missing!r}."
            )
        if missing == "refuse" and raw.first_missing is not None:
            line, name = raw.first_missing
            raise TableError(
                f"line {line}, column {name!r}: the value is missing and --missing "
                "refuse is set; fill it in, or use --missing impute (median / most "
                "frequent)."
            )
        fitted = []
        n_num = 0
        n_cat = 0
        for spec in inputs:
            if spec["type"] == "numeric":
                col = raw.numeric[train_idx, n_num].astype(np.float64)
                n_num += 1
                known = col[~np.isnan(col)]
                # The median is robust to the outliers a mean fill would spread.
                fill = float(np.median(known)) if len(known) else 0.0
                col[np.isnan(col)] = fill
                mean, std = _mean_std(col) if len(col) else (0.0, 0.0)
                # A constant column stays constant (0) instead of dividing by 0.
                scale = std if std > 1e-12 * max(1.0, abs(mean)) else 1.0
                fitted.append({**spec, "mean": mean, "scale": scale, "fill": fill})
            else:
                codes = raw.codes[train_idx, n_cat]
                n_cat += 1
                counts = np.bincount(codes[codes >= 0], minlength=len(spec["categories"]))
                fill = spec["categories"][int(counts.argmax())]
                fitted.append({**spec, "fill": fill})
        fitted_targets = []
        for j, spec in enumerate(targets):
            if spec["type"] == "numeric":
                mean, std = _mean_std(raw.targets[j][train_idx])
                scale = std if std > 1e-12 * max(1.0, abs(mean)) else 1.0
                fitted_targets.append({**spec, "mean": mean, "scale": scale})
            else:
                fitted_targets.append(dict(spec))
        return cls(
            {
                "kind": "table",
                "missing": missing,
                "inputs": fitted,
                "targets": fitted_targets,
            }
        )

    # ---------------------------------------------------------- transform
    def feature_names(self) -> list[str]:
        """The model's input columns: numeric names, then ``column=category``."""
        names = [s["name"] for s in self.inputs if s["type"] == "numeric"]
        for s in self.inputs:
            if s["type"] == "category":
                names += [f"{s['name']}={c}" for c in s["categories"]]
        return names

    def missing_counts(self, raw: RawTable) -> list[tuple[str, int, object]]:
        """(column, number missing, fill value) for columns with missing values."""
        out = []
        n_num = n_cat = 0
        for s in self.inputs:
            if s["type"] == "numeric":
                k = int(np.isnan(raw.numeric[:, n_num]).sum())
                n_num += 1
            else:
                k = int((raw.codes[:, n_cat] < 0).sum())
                n_cat += 1
            if k:
                out.append((s["name"], k, s["fill"]))
        return out

    def transform(self, raw: RawTable) -> np.ndarray:
        """The model's inputs, float32 (N, n_features); works in place on
        ``raw.numeric`` to keep memory at about twice the result.

        Raises
        ------
        TableError
            A missing value when the model was trained with ``missing="refuse"``.
        """
        if self.spec["missing"] == "refuse" and raw.first_missing is not None:
            line, name = raw.first_missing
            raise TableError(
                f"line {line}, column {name!r}: the value is missing, and this model "
                "was trained with --missing refuse."
            )
        num = raw.numeric
        numeric = [s for s in self.inputs if s["type"] == "numeric"]
        for j, s in enumerate(numeric):
            col = num[:, j]
            col[np.isnan(col)] = s["fill"]
            col -= np.float32(s["mean"])
            col /= np.float32(s["scale"])
        cats = [s for s in self.inputs if s["type"] == "category"]
        if not cats:
            return num
        n = len(num)
        width = len(numeric) + sum(len(s["categories"]) for s in cats)
        x = np.zeros((n, width), np.float32)
        x[:, : len(numeric)] = num
        offset = len(numeric)
        rows = np.arange(n)
        for j, s in enumerate(cats):
            codes = raw.codes[:, j]
            codes = np.where(codes < 0, s["categories"].index(s["fill"]), codes)
            x[rows, offset + codes] = 1.0
            offset += len(s["categories"])
        return x

    def regression_targets(self, raw: RawTable) -> np.ndarray:
        """Standardised numeric targets, float32 (N, n_targets)."""
        cols = [
            (raw.targets[j] - s["mean"]) / s["scale"] for j, s in enumerate(self.targets)
        ]
        return np.stack(cols, axis=1).astype(np.float32)

    def to_units(self, y: np.ndarray) -> np.ndarray:
        """Regression outputs (N, n_targets) back in the target columns' units."""
        mean = np.array([s["mean"] for s in self.targets])
        scale = np.array([s["scale"] for s in self.targets])
        return np.asarray(y, np.float64) * scale + mean


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation, in float64, of values that may be as large
    as float64 allows: they are divided by the largest magnitude first, as
    the squares of values near 1e300 would overflow to inf (and the scale
    with them, making every prediction inf)."""
    v = np.asarray(values, np.float64)
    top = float(np.abs(v).max())
    if not 0.0 < top < np.inf:
        return float(v.mean()), float(v.std())
    v = v / top
    return float(v.mean()) * top, float(v.std()) * top
