"""chainrule's scikit-learn estimators against sklearn.neural_network's MLP.

The same settings on both sides: hidden layers (100,), ReLU, solver adam,
learning_rate_init 1e-3, alpha 1e-4, batch_size "auto" (min(200, n)),
max_iter 200, tol 1e-4 with n_iter_no_change 10; inputs standardised by a
StandardScaler in a Pipeline (and the diabetes target by a
TransformedTargetRegressor), one fixed 75/25 split per data set. Each figure
is the median over 5 seeds (the estimators' random_state) of the test
accuracy (classifiers) or R^2 (diabetes) and of the fit time; the ratios are
chainrule / scikit-learn.

Usage::

    python benchmarks/sklearn_compare.py              # 5 seeds, about a minute
    python benchmarks/sklearn_compare.py --seeds 1    # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from sklearn import neural_network
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from chainrule import sklearn as crsk

DATASETS = {
    "digits": (load_digits, "classifier"),
    "breast_cancer": (load_breast_cancer, "classifier"),
    "wine": (load_wine, "classifier"),
    "diabetes": (load_diabetes, "regressor"),
}


def settings(max_iter: int) -> dict:
    return dict(
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        learning_rate_init=1e-3,
        alpha=1e-4,
        batch_size="auto",
        max_iter=max_iter,
        tol=1e-4,
        n_iter_no_change=10,
    )


def make(library, kind: str, seed: int, max_iter: int):
    cls = {
        ("sklearn", "classifier"): neural_network.MLPClassifier,
        ("sklearn", "regressor"): neural_network.MLPRegressor,
        ("chainrule", "classifier"): crsk.MLPClassifier,
        ("chainrule", "regressor"): crsk.MLPRegressor,
    }[library, kind]
    est = make_pipeline(StandardScaler(), cls(random_state=seed, **settings(max_iter)))
    if kind == "regressor":
        est = TransformedTargetRegressor(est, transformer=StandardScaler())
    return est


def n_iter(est) -> int:
    inner = est.regressor_ if hasattr(est, "regressor_") else est
    return inner[-1].n_iter_


def run(name: str, seeds: int, max_iter: int) -> dict:
    loader, kind = DATASETS[name]
    X, y = loader(return_X_y=True)
    split = train_test_split(
        X,
        y,
        test_size=0.25,
        random_state=0,
        stratify=y if kind == "classifier" else None,
    )
    X_train, X_test, y_train, y_test = split
    row = {"data": name, "metric": "accuracy" if kind == "classifier" else "R^2"}
    for library in ("sklearn", "chainrule"):
        scores, times, iters = [], [], []
        for seed in range(seeds):
            est = make(library, kind, seed, max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                est.fit(X_train, y_train)
                times.append(time.perf_counter() - start)
            scores.append(est.score(X_test, y_test))
            iters.append(n_iter(est))
        row[library] = (
            statistics.median(scores),
            statistics.median(times),
            statistics.median(iters),
        )
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--max-iter", type=int, default=200)
    args = p.parse_args()
    print(
        f"median of {args.seeds} seeds; hidden (100,), adam lr 1e-3, alpha 1e-4, "
        f"batch auto, max_iter {args.max_iter}; ratio = chainrule / sklearn\n"
    )
    head = (
        f"{'data':<14}{'metric':<9}{'sklearn':>8}{'chainrule':>10}{'ratio':>7}"
        f"{'sk fit s':>10}{'cr fit s':>10}{'ratio':>7}{'sk ep':>7}{'cr ep':>7}"
    )
    print(head)
    print("-" * len(head))
    for name in DATASETS:
        r = run(name, args.seeds, args.max_iter)
        (s_sc, s_t, s_it), (c_sc, c_t, c_it) = r["sklearn"], r["chainrule"]
        print(
            f"{name:<14}{r['metric']:<9}{s_sc:>8.4f}{c_sc:>10.4f}{c_sc / s_sc:>7.3f}"
            f"{s_t:>10.3f}{c_t:>10.3f}{c_t / s_t:>7.2f}{s_it:>7.0f}{c_it:>7.0f}"
        )


if __name__ == "__main__":
    main()
