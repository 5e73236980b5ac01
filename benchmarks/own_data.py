"""`chainrule train` on your own data against scikit-learn's MLPs.

Writes scikit-learn's bundled data sets as CSV files (diabetes for
regression, breast cancer for binary classification, wine for multiclass)
and the embedded digits as an image folder (DIR/train/<digit>/*.png,
DIR/test/<digit>/*.png), trains each with the command line, exactly as a user
would (a subprocess per run, its --json line read back), and trains
scikit-learn's MLPRegressor / MLPClassifier with the same hidden sizes,
epochs, batch size, optimizer (Adam, learning rate 1e-3), no weight decay
(alpha 0: chainrule's CLI has none) and no early stopping (except the
"diabetes_early_stop" row: 10% validation, patience 10, best weights kept, on
both sides; scikit-learn watches the validation R², chainrule the validation
loss), on the same
train/test split (the one the CLI makes, recomputed here with its own
function), inputs standardised on the training rows (the diabetes target
too, as the CLI does), images scaled to [0, 1].

Each figure is the mean and standard deviation over --seeds seeds (the CLI's
--seed, the MLPs' random_state, and the test split of the CSV files, the same
on both sides; the digits folder has fixed train/ and test/). The results
are printed as a table and written to ``--out``/results.csv.

Usage::

    python benchmarks/own_data.py                 # 5 seeds, a few minutes
    python benchmarks/own_data.py --seeds 1 --only wine
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn import metrics as skm
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import chainrule as cr  # noqa: E402
from chainrule.cli._data import _split  # noqa: E402

# name: (loader, task, hidden sizes, epochs, batch size)
TABLES = {
    "diabetes": (load_diabetes, "regress", (64, 64), 100, 32),
    # The same with early stopping on both sides: 10% of the training rows
    # held out, patience 10 epochs, the best epoch's weights kept.
    "diabetes_early_stop": (load_diabetes, "regress", (64, 64), 100, 32),
    "breast_cancer": (load_breast_cancer, "binary", (64, 64), 100, 32),
    "wine": (load_wine, "classify", (64, 64), 100, 32),
}
DIGITS = ("digits_folder", "classify", (256, 128), 20, 128)


def write_table(loader, path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = loader()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([str(n).replace(" ", "_") for n in d.feature_names] + ["target"])
        for row, t in zip(d.data, d.target):
            w.writerow([repr(float(v)) for v in row] + [t])
    return d.data, d.target


def write_digits(root: Path) -> None:
    from PIL import Image

    for split, (x, y) in zip(("train", "test"), cr.data.load("mnist5k")):
        for i, (img, label) in enumerate(zip(x, y)):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.round(img[0] * 255).astype(np.uint8)).save(
                folder / f"{i:05d}.png"
            )


def run_cli(data: Path, out: Path, seed: int, hidden, epochs, batch, extra=()) -> dict:
    cmd = [
        sys.executable, "-m", "chainrule", "train", "--data", str(data),
        "--out", str(out), "--seed", str(seed), "--hidden",
        ",".join(map(str, hidden)), "--epochs", str(epochs), "--batch-size",
        str(batch), "--optimizer", "adam", "--lr", "0.001", *extra, "--json",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def sklearn_scores(task, x, y, train, test, seed, hidden, epochs, batch, early) -> dict:
    kw = dict(
        hidden_layer_sizes=hidden, solver="adam", learning_rate_init=1e-3,
        alpha=0.0, batch_size=batch, max_iter=epochs, tol=0.0,
        n_iter_no_change=10 if early else epochs + 1, early_stopping=early,
        validation_fraction=0.1, random_state=seed,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if task == "regress":
            model = TransformedTargetRegressor(
                make_pipeline(StandardScaler(), MLPRegressor(**kw)),
                transformer=StandardScaler(),
            ).fit(x[train], y[train])
            p = model.predict(x[test])
            return {
                "rmse": float(np.sqrt(skm.mean_squared_error(y[test], p))),
                "r2": float(skm.r2_score(y[test], p)),
            }
        scaler = [StandardScaler()] if task != "images" else []
        model = make_pipeline(*scaler, MLPClassifier(**kw)).fit(x[train], y[train])
        proba = model.predict_proba(x[test])
        out = {"accuracy": float(skm.accuracy_score(y[test], proba.argmax(1)))}
        if task == "binary":
            out["roc_auc"] = float(skm.roc_auc_score(y[test], proba[:, 1]))
        return out


def cli_scores(task, result) -> dict:
    t = result["test"]
    if task == "regress":
        return {"rmse": t["rmse"], "r2": t["r2"]}
    out = {"accuracy": t["accuracy"]}
    if task == "binary":
        out["roc_auc"] = t["roc_auc"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--only", default=None, help="one data set")
    ap.add_argument("--out", default=None, help="folder for the data and results")
    args = ap.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="chainrule-own-data-"))
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    jobs = list(TABLES.items()) + [(DIGITS[0], (None, *DIGITS[1:]))]
    for name, (loader, task, hidden, epochs, batch) in jobs:
        if args.only and args.only != name:
            continue
        if loader is not None:
            path = root / f"{name}.csv"
            x, y = write_table(loader, path)
            strata = None if task == "regress" else y.astype(np.int64)
            extra = ["--target", "target", "--test-split", "0.2"]
            early = name.endswith("_early_stop")
            extra += (
                ["--validation-split", "0.1", "--patience", "10"]
                if early
                else ["--validation-split", "0"]
            )
            sk_task = task
        else:
            path = root / "digits"
            if not path.exists():
                write_digits(path)
            (xa, ya), (xb, yb) = cr.data.load("mnist5k", flatten=True)
            x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
            extra = ["--validation-split", "0"]
            early = False
            sk_task = "images"
        ours, theirs = [], []
        for seed in range(args.seeds):
            # The CLI's --seed draws the weights, the shuffles and the test
            # split; scikit-learn gets the same split, recomputed with the
            # CLI's own function (the digits folder has a fixed train/test).
            if loader is not None:
                train, test = _split(len(y), 0.2, seed, strata)
            else:
                train, test = np.arange(len(xa)), np.arange(len(xa), len(x))
            result = run_cli(
                path, root / f"run-{name}-{seed}", seed, hidden, epochs, batch, extra
            )
            ours.append(cli_scores(task, result))
            theirs.append(
                sklearn_scores(
                    sk_task, x, y, train, test, seed, hidden, epochs, batch, early
                )
            )
        for metric in ours[0]:
            a = [o[metric] for o in ours]
            b = [t[metric] for t in theirs]
            rows.append(
                {
                    "data": name,
                    "task": task,
                    "hidden": "-".join(map(str, hidden)),
                    "epochs": epochs,
                    "metric": metric,
                    "chainrule_mean": statistics.mean(a),
                    "chainrule_std": statistics.pstdev(a),
                    "sklearn_mean": statistics.mean(b),
                    "sklearn_std": statistics.pstdev(b),
                    "seeds": args.seeds,
                }
            )
            r = rows[-1]
            print(
                f"{name:14s} {task:9s} {metric:9s} chainrule "
                f"{r['chainrule_mean']:.4f} ± {r['chainrule_std']:.4f}   "
                f"scikit-learn {r['sklearn_mean']:.4f} ± {r['sklearn_std']:.4f}",
                flush=True,
            )
    with open(root / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {root / 'results.csv'}")


if __name__ == "__main__":
    main()
