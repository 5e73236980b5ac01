"""`chainrule gradcheck`: a model's gradients against finite differences."""

from __future__ import annotations

import os

import numpy as np

from ..io import load as load_model
from ._common import _input_shape, load_data


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
