"""`chainrule evaluate`: loss, accuracy, per-class scores and the confusion matrix."""

from __future__ import annotations

import sys

from .. import _json
from ..io import load as load_model
from ._common import (
    _check_input_shape,
    _class_names,
    _input_shape,
    _test_scores,
    load_data,
)


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:

    from ..metrics import confusion_matrix, precision_recall

    model = load_model(args.model)
    meta = model.metadata
    from ._common import CLIError
    from ._metadata import check_digit_metadata
    from .use import evaluate_own, is_task_model

    data_arg = getattr(args, "data_arg", None)
    if data_arg and args.data:
        raise CLIError("give the data once: as an argument or with --data, not both.")
    data_arg = data_arg or args.data
    if is_task_model(model):
        return evaluate_own(args, model, data_arg)
    # The file's data set and class names, before anything is loaded or
    # printed: names that do not fit the outputs are refused.
    check_digit_metadata(model, args.model, _input_shape(model))
    data = data_arg or meta.get("data") or "mnist5k"
    _, (x_test, y_test) = load_data(data)
    _check_input_shape(model, x_test.shape[1:], f"data {data!r}")
    # Again, for the data's shape: a file may record none.
    check_digit_metadata(model, args.model, x_test.shape[1:])
    scores, result = _test_scores(model, x_test, y_test)
    n_classes = scores.shape[1]
    cm = confusion_matrix(y_test, scores, n_classes)
    precision, recall = precision_recall(cm)
    names = meta.get("class_names") or _class_names(data, n_classes)
    _warn_other_classes(meta, data, _class_names(data, n_classes))
    if args.json:
        print(
            _json.dumps(
                {
                    "data": data,
                    "n": len(x_test),
                    "loss": result["loss"],
                    "accuracy": result["accuracy"],
                    "per_class": [
                        {"class": str(n), "precision": float(p), "recall": float(r)}
                        for n, p, r in zip(names, precision, recall)
                    ],
                    "confusion_matrix": cm.tolist(),
                }
            )
        )
        return 0
    print(f"{args.model} on {data} test set ({len(x_test):,} images)")
    print(f"loss {result['loss']:.4f}  accuracy {result['accuracy']:.4f}\n")
    width = max(len("class"), *(len(str(n)) for n in names))
    print(f"{'class':<{width}}  precision  recall")
    for n, p, r in zip(names, precision, recall):
        print(f"{str(n):<{width}}  {p:9.3f}  {r:6.3f}")
    print("\nconfusion matrix (rows: true class, columns: predicted)")
    cell = max(len(str(cm.max())), 3)
    print(" " * (width + 2) + " ".join(f"{i:>{cell}}" for i in range(n_classes)))
    for n, row in zip(names, cm):
        print(f"{str(n):<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    return 0


def _warn_other_classes(meta: dict, data: str, names: list[str]) -> None:
    """A digits model scored on clothes (or the reverse) gives numbers that
    mean nothing: say so, on stderr, and go on."""
    trained = meta.get("class_names")
    if trained and list(map(str, trained)) != names:
        shown = ", ".join(names[:3])
        sys.stderr.write(
            f"chainrule evaluate: warning: the model was trained on "
            f"{meta.get('data', 'another data set')!r} (classes "
            f"{', '.join(map(str, trained[:3]))}, ...); {data!r} has other classes "
            f"({shown}, ...), so these scores compare different things.\n"
        )

