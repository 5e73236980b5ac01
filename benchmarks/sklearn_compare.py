"""chainrule's scikit-learn estimators against sklearn.neural_network's MLP.

The same settings on both sides: hidden layers (100,), ReLU, alpha 1e-4,
batch_size "auto" (min(200, n)), max_iter 200, tol 1e-4 with
n_iter_no_change 10, and the solver's defaults (adam: learning_rate_init
1e-3; sgd: the same rate, momentum 0.9 with Nesterov's); inputs standardised
by a StandardScaler in a Pipeline (and the regression targets by a
TransformedTargetRegressor); one fixed 75/25 split per data set. Each figure
is the median over the seeds (the estimators' random_state) of the test
accuracy (classifiers) or R^2 (regressors), of the fit time and of the
epochs (lbfgs: iterations) run. Fit time is the process's CPU time
(``time.process_time``) with BLAS held to one thread (threadpoolctl, which
scikit-learn installs): on a shared machine it moves far less than the wall
clock, which is printed too. The two libraries alternate seed by seed, so
that a busy machine slows both alike; ratios are chainrule / scikit-learn.

Usage::

    python benchmarks/sklearn_compare.py                   # adam, 5 seeds
    python benchmarks/sklearn_compare.py --solver all      # adam, sgd, lbfgs
    python benchmarks/sklearn_compare.py --seeds 1 --only iris wine
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from sklearn import neural_network
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
    make_friedman1,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from chainrule import sklearn as crsk


def _classification():
    return make_classification(
        n_samples=1000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )


DATASETS = {
    "iris": (lambda: load_iris(return_X_y=True), "classifier"),
    "wine": (lambda: load_wine(return_X_y=True), "classifier"),
    "breast_cancer": (lambda: load_breast_cancer(return_X_y=True), "classifier"),
    "digits": (lambda: load_digits(return_X_y=True), "classifier"),
    "make_classif": (_classification, "classifier"),
    "diabetes": (lambda: load_diabetes(return_X_y=True), "regressor"),
    "friedman1": (
        lambda: make_friedman1(n_samples=1000, noise=1.0, random_state=0),
        "regressor",
    ),
}


def settings(solver: str, max_iter: int) -> dict:
    return dict(
        hidden_layer_sizes=(100,),
        activation="relu",
        solver=solver,
        learning_rate_init=1e-3,
        alpha=1e-4,
        batch_size="auto",
        max_iter=max_iter,
        tol=1e-4,
        n_iter_no_change=10,
    )


def make(library: str, kind: str, solver: str, seed: int, max_iter: int):
    cls = {
        ("sklearn", "classifier"): neural_network.MLPClassifier,
        ("sklearn", "regressor"): neural_network.MLPRegressor,
        ("chainrule", "classifier"): crsk.MLPClassifier,
        ("chainrule", "regressor"): crsk.MLPRegressor,
    }[library, kind]
    est = make_pipeline(
        StandardScaler(), cls(random_state=seed, **settings(solver, max_iter))
    )
    if kind == "regressor":
        est = TransformedTargetRegressor(est, transformer=StandardScaler())
    return est


def n_iter(est) -> int:
    inner = est.regressor_ if hasattr(est, "regressor_") else est
    return inner[-1].n_iter_


def run(name: str, solver: str, seeds: int, max_iter: int) -> dict:
    load, kind = DATASETS[name]
    X, y = load()
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=0.25,
        random_state=0,
        stratify=y if kind == "classifier" else None,
    )
    results = {lib: ([], [], [], []) for lib in ("sklearn", "chainrule")}
    for seed in range(seeds):
        # Alternate which library goes first, so neither always runs warm.
        order = ("sklearn", "chainrule") if seed % 2 == 0 else ("chainrule", "sklearn")
        for library in order:
            scores, times, walls, iters = results[library]
            est = make(library, kind, solver, seed, max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start, cpu = time.perf_counter(), time.process_time()
                est.fit(X_train, y_train)
                times.append(time.process_time() - cpu)
                walls.append(time.perf_counter() - start)
            scores.append(est.score(X_test, y_test))
            iters.append(n_iter(est))
    row = {"data": name, "metric": "accuracy" if kind == "classifier" else "R^2"}
    for library, columns in results.items():
        row[library] = tuple(statistics.median(c) for c in columns)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--max-iter", type=int, default=200)
    p.add_argument("--solver", choices=["adam", "sgd", "lbfgs", "all"], default="adam")
    p.add_argument("--only", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = p.parse_args()
    with threadpool_limits(args.threads):
        table(args)


def table(args) -> None:
    solvers = ["adam", "sgd", "lbfgs"] if args.solver == "all" else [args.solver]
    print(
        f"median of {args.seeds} seeds; hidden (100,), relu, alpha 1e-4, batch auto, "
        f"max_iter {args.max_iter}; {args.threads} BLAS thread(s); fit ratio = "
        "chainrule / scikit-learn\n"
    )
    print(
        "| data | solver | metric | scikit-learn | chainrule | difference "
        "| sklearn fit CPU s | chainrule fit CPU s | CPU ratio | wall ratio "
        "| epochs (sk / cr) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for solver in solvers:
        for name in args.only:
            r = run(name, solver, args.seeds, args.max_iter)
            (s_sc, s_t, s_w, s_it) = r["sklearn"]
            (c_sc, c_t, c_w, c_it) = r["chainrule"]
            print(
                f"| {name} | {solver} | {r['metric']} | {s_sc:.4f} | {c_sc:.4f} "
                f"| {c_sc - s_sc:+.4f} | {s_t:.3f} | {c_t:.3f} | {c_t / s_t:.2f} "
                f"| {c_w / s_w:.2f} | {s_it:.0f} / {c_it:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
