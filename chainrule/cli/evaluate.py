"""`chainrule evaluate`, `info` and `gradcheck`: look at a model."""

from __future__ import annotations

import json
import os

import numpy as np

from ..data import load as load_data
from ..io import load as load_model
from ._common import (
    _check_input_shape,
    _class_names,
    _input_shape,
    _test_scores,
)


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:

    from ..metrics import confusion_matrix, precision_recall

    model = load_model(args.model)
    meta = model.metadata
    from ._common import CLIError
    from .use import evaluate_own, is_task_model

    data_arg = getattr(args, "data_arg", None)
    if data_arg and args.data:
        raise CLIError("give the data once: as an argument or with --data, not both.")
    data_arg = data_arg or args.data
    if is_task_model(model):
        return evaluate_own(args, model, data_arg)
    data = data_arg or meta.get("data") or "mnist5k"
    _, (x_test, y_test) = load_data(data)
    _check_input_shape(model, x_test.shape[1:], f"data {data!r}")
    scores, result = _test_scores(model, x_test, y_test)
    n_classes = scores.shape[1]
    cm = confusion_matrix(y_test, scores, n_classes)
    precision, recall = precision_recall(cm)
    names = meta.get("class_names") or _class_names(data, n_classes)
    if args.json:
        print(
            json.dumps(
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
    for i, row in enumerate(cm):
        print(f"{str(names[i]):<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    return 0


# --------------------------------------------------------------- gradcheck
def cmd_gradcheck(args) -> int:
    import chainrule as cr

    from ..spec import build_spec

    if args.model.endswith(".npz") or os.path.exists(args.model):
        model = load_model(args.model)
        model.train()
        shape = _input_shape(model)
    else:
        shape = (1, 28, 28)
        model = build_spec(args.model, input_shape=shape, rng=args.seed)
    rng = np.random.default_rng(args.seed)
    try:
        _, (x_test, _) = load_data("mnist5k")
        x = x_test[: args.batch].reshape(args.batch, *shape).astype(np.float64)
    except (ValueError, FileNotFoundError):
        x = rng.random((args.batch, *shape))
    # Real digits have large all-zero regions; with zero biases a ReLU there sits
    # exactly on its kink, where no derivative exists and no finite difference
    # can agree. A small jitter moves every unit off the kink.
    x = x + rng.uniform(0.0, 0.01, x.shape)
    print(
        f"gradient check of {args.model} on {args.batch} images, float64, central "
        f"differences (tensors over {args.max_elements} elements along "
        f"{args.directions} random directions)"
    )
    report = cr.gradcheck(
        model,
        x,
        seed=args.seed,
        max_elements=args.max_elements,
        n_directions=args.directions,
        raise_on_failure=False,
    )
    print(report)
    return 0 if report.passed else 1


# -------------------------------------------------------------------- info
def cmd_info(args) -> int:
    import chainrule as cr

    model = load_model(args.model)
    meta = model.metadata
    shape = _input_shape(model, default=())
    if args.json:
        print(
            json.dumps(
                {
                    "file": args.model,
                    "parameters": model.num_parameters(),
                    "layers": {
                        name: int(p.size) for name, p in model.named_parameters()
                    },
                    "metadata": meta,
                }
            )
        )
        return 0
    print(f"{args.model} ({os.path.getsize(args.model):,} bytes, dtype {model.dtype})")
    print(model)
    print()
    print(cr.summary(model, shape or None))
    if meta:
        print("\nmetadata")
        for k, v in meta.items():
            print(f"  {k}: {json.dumps(v)}")
    return 0
