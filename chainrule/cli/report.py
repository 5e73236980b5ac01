"""Scores and pictures of a trained model, per task: what ``train`` prints at
the end and ``evaluate`` prints for a model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import _say, _test_scores, _write_plots


def _probabilities(outputs: np.ndarray, loss: str) -> np.ndarray:
    from ..functional import softmax

    if loss == "nll":  # the outputs are log-probabilities
        return np.exp(outputs.astype(np.float64))
    return softmax(outputs.astype(np.float64))


def to_units(meta: dict, y: np.ndarray) -> np.ndarray:
    """Regression outputs in the target columns' units."""
    from ..data.preprocessing import TablePreprocessing

    return TablePreprocessing(meta["preprocessing"]).to_units(y)


def encode(model, meta: dict, x: np.ndarray) -> np.ndarray:
    """An autoencoder's codes: the output of its code layer."""
    from ..inference import predict
    from ..models.sequential import Sequential

    encoder = Sequential(*[model[i] for i in range(int(meta["code_layer"]) + 1)])
    return predict(encoder, x)


def task_scores(model, meta: dict, x, y, y_in_units: bool, x_fit=None) -> tuple:
    """(scores, outputs) of a task model on inputs ``x`` with targets ``y``.

    ``y_in_units``: regression targets are in the columns' units (read from a
    file), not standardised (as training holds them). ``x_fit``: the inputs PCA
    is fitted on for an autoencoder's baseline (default ``x`` itself).
    """
    from ..inference import predict
    from ..tasks import (
        autoencode_metrics,
        binary_metrics,
        classification_metrics,
        regression_metrics,
    )

    task = meta["task"]
    outputs = predict(model, x)
    if task == "regress":
        true = y if y_in_units else to_units(meta, y)
        scores = regression_metrics(to_units(meta, outputs), true, meta["target_names"])
    elif task == "binary":
        scores = binary_metrics(outputs[:, 0], np.asarray(y).reshape(-1))
    elif task == "classify":
        scores = classification_metrics(outputs, y, len(meta["class_names"]))
    else:
        scores = autoencode_metrics(
            x if x_fit is None else x_fit, x, outputs, int(meta["code_size"])
        )
    return scores, outputs


def score_lines(meta: dict, scores: dict) -> list[str]:
    """The scores as the lines train and evaluate print."""
    task = meta["task"]
    if task == "regress":
        lines = [
            f"RMSE {scores['rmse']:.4g}  MAE {scores['mae']:.4g}  R\u00b2 {scores['r2']:.4f}"
        ]
        if len(scores["per_target"]) > 1:
            lines += [
                f"  {name}: RMSE {s['rmse']:.4g}  MAE {s['mae']:.4g}  "
                f"R\u00b2 {s['r2']:.4f}"
                for name, s in scores["per_target"].items()
            ]
        return lines
    if task == "binary":
        pos = meta["class_names"][1]
        return [
            f"accuracy {scores['accuracy']:.4f}  precision {scores['precision']:.4f}  "
            f"recall {scores['recall']:.4f}  F1 {scores['f1']:.4f}  ROC AUC "
            f"{scores['roc_auc']:.4f}  (positive class {pos!r}, threshold 0.5)"
        ]
    if task == "classify":
        return [
            f"accuracy {scores['accuracy']:.4f}  macro precision "
            f"{scores['precision']:.4f}  recall {scores['recall']:.4f}  F1 "
            f"{scores['f1']:.4f}"
        ]
    return [
        f"reconstruction MSE {scores['reconstruction_mse']:.5g}  PCA with "
        f"{scores['code_size']} component(s) {scores['pca_mse']:.5g}  (ratio "
        f"{scores['ratio_to_pca']:.3f}; below 1 the autoencoder wins)"
    ]


def task_pictures(run_dir: Path, model, history, meta, x, y, outputs, labels, x_is_images):
    """The task's pictures; [] without matplotlib."""
    try:
        from ..metrics import confusion_matrix
        from ..plots import (
            plot_confusion_matrix,
            plot_grad_norms,
            plot_history,
            plot_misclassified,
        )
        from ..plots.tasks import (
            plot_codes,
            plot_predicted_vs_true,
            plot_reconstructions,
            plot_roc_curve,
        )

        paths = []
        if history is not None:
            paths.append(plot_history(history, run_dir / "history.png"))
            norms = getattr(history, "grad_norms", None)
            if norms and any(len(v) for v in norms.values()):
                paths.append(plot_grad_norms(history, run_dir / "grad_norms.png"))
        task, names = meta["task"], meta.get("class_names")
        if task == "regress":
            paths.append(
                plot_predicted_vs_true(
                    to_units(meta, outputs),
                    to_units(meta, y),
                    meta["target_names"],
                    run_dir / "predicted_vs_true.png",
                )
            )
        elif task == "binary":
            t = np.asarray(y).reshape(-1).astype(np.int64)
            paths.append(
                plot_roc_curve(t, outputs[:, 0], run_dir / "roc_curve.png", names[1])
            )
            cm = confusion_matrix(t, (outputs[:, 0] >= 0.5).astype(np.int64), 2)
            paths.append(
                plot_confusion_matrix(cm, names, run_dir / "confusion_matrix.png")
            )
        elif task == "classify":
            cm = confusion_matrix(y, outputs.argmax(axis=1), len(names))
            paths.append(
                plot_confusion_matrix(cm, names, run_dir / "confusion_matrix.png")
            )
            if x_is_images:
                probs = _probabilities(outputs, meta.get("loss", "ce"))
                paths.append(
                    plot_misclassified(
                        x, y, probs, names, run_dir / "misclassified.png"
                    )
                )
        else:
            if x_is_images:
                paths.append(
                    plot_reconstructions(x, outputs, run_dir / "reconstructions.png")
                )
            codes = encode(model, meta, x)
            paths.append(
                plot_codes(
                    codes,
                    labels,
                    run_dir / "codes.png",
                    meta.get("label_column") or "class",
                )
            )
        return paths
    except ImportError:
        return []


def report_training(args, run_dir: Path, model, history, data, meta) -> dict:
    """Score the test part, draw the pictures, print; the JSON results."""
    import chainrule as cr

    if data.kind == "builtin" and data.task == "classify":
        logits, test = _test_scores(model, data.x_test, data.y_test)
        probs = cr.functional.softmax(logits)
        pictures = _write_plots(
            run_dir, model, history, data.x_test, data.y_test, probs, data.class_names
        )
        _wrote(args, run_dir, pictures)
        _say(
            args,
            f"test accuracy {test['accuracy']:.4f}  test loss {test['loss']:.4f}",
        )
        return {"test_accuracy": test["accuracy"], "test_loss": test["loss"]}
    scores, outputs = task_scores(
        model, meta, data.x_test, data.y_test, y_in_units=False, x_fit=data.x_train
    )
    pictures = task_pictures(
        run_dir,
        model,
        history,
        meta,
        data.x_test,
        data.y_test,
        outputs,
        data.labels_test,
        data.kind != "table",
    )
    _wrote(args, run_dir, pictures)
    where = "training rows" if data.test_is_train else "test"
    for line in score_lines(meta, scores):
        _say(args, f"{where} {line}")
    return {"task": meta["task"], "test": scores}


def _wrote(args, run_dir: Path, pictures: list) -> None:
    _say(
        args,
        f"wrote {run_dir / 'model.npz'}, checkpoint.npz, history.csv"
        + (
            f" and {len(pictures)} pictures"
            if pictures
            else " (pip install 'chainrule[plots]' for pictures)"
        ),
    )
