"""`chainrule info`: a model file's architecture, parameter counts and metadata."""

from __future__ import annotations

import os

from .. import _json
from ..io import load as load_model
from ._common import CLIError, _input_shape


def cmd_info(args) -> int:
    import chainrule as cr

    model = load_model(args.model)
    meta = model.metadata
    shape = _input_shape(model, default=())
    if args.json:
        print(
            _json.dumps(
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
    # The table first: if the file's input shape does not fit its model, the
    # one error line is all that is printed.
    try:
        table = cr.summary(model, shape or None, unknown_shapes=True)
    except ValueError as exc:
        raise CLIError(
            f"{args.model!r}: the model does not take the input_shape {list(shape)} "
            f"its metadata gives: {exc}"
        ) from None
    print(f"{args.model} ({os.path.getsize(args.model):,} bytes, dtype {model.dtype})")
    print(model)
    print()
    print(table)
    if meta:
        print("\nmetadata")
        for k, v in meta.items():
            print(f"  {k}: {_json.dumps(v)}")
    return 0
