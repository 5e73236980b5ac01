"""History: what ``fit`` records per epoch, saved as CSV or JSON."""

from __future__ import annotations

import csv
from pathlib import Path

from . import _json


class History:
    """Per-epoch training and validation values, like Keras's ``History``.

    Attributes
    ----------
    history : dict of str -> list of float
        "loss", each metric, "val_loss", "val_<metric>", "lr" and "time"
        (seconds), one entry per epoch.
    epoch : list of int
        The epoch numbers (0-based) the entries belong to.
    grad_norms : dict of str -> list of float
        Mean gradient norm per parameter and epoch (with ``GradientNorms``).
    stop_reason, diverged : str or None
        Why training stopped early; ``diverged`` is set by ``NaNGuard``.
    best_epoch : int or None
        The epoch whose weights ``EarlyStopping`` restored.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.grad_norms: dict[str, list[float]] = {}
        self.stop_reason: str | None = None
        self.diverged: str | None = None
        self.best_epoch: int | None = None

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def to_dict(self) -> dict:
        return {
            "epoch": list(self.epoch),
            "history": {k: list(v) for k, v in self.history.items()},
            "grad_norms": {k: list(v) for k, v in self.grad_norms.items()},
            "stop_reason": self.stop_reason,
            "diverged": self.diverged,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        h = cls()
        h.epoch = list(d.get("epoch", []))
        h.history = {k: list(v) for k, v in d.get("history", {}).items()}
        h.grad_norms = {k: list(v) for k, v in d.get("grad_norms", {}).items()}
        h.stop_reason = d.get("stop_reason")
        h.diverged = d.get("diverged")
        h.best_epoch = d.get("best_epoch")
        return h

    def to_json(self, path) -> None:
        Path(path).write_text(_json.dumps(self.to_dict(), indent=2) + "\n")

    def to_csv(self, path) -> None:
        """One row per epoch: epoch, then every logged value."""
        keys = list(self.history)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", *keys])
            for i, e in enumerate(self.epoch):
                w.writerow([e + 1, *(self.history[k][i] for k in keys)])

    def save(self, path) -> None:
        """Save as CSV or JSON, chosen by the file's suffix."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            self.to_csv(path)
        elif suffix == ".json":
            self.to_json(path)
        else:
            raise ValueError(
                f"History.save: path must end in .csv or .json; got {path!r}."
            )

    def _repr_html_(self) -> str:
        """For Jupyter: the curves (with matplotlib) above the per-epoch table."""
        from ._html import history_html

        return history_html(self)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"
