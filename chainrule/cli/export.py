"""`chainrule export`: write a model as ONNX."""

from __future__ import annotations

import os
from pathlib import Path

from ..io import load as load_model
from ..models.graph import Graph
from ._common import CLIError, _input_shape


def _check_target(target: str, model_path: str, force: bool) -> None:
    """Refuse to write the ONNX file over the model it comes from (whatever the
    spelling: a link, ``./``, ``..``), over a directory, or over any existing
    file unless ``--force``."""
    out = Path(target)
    if out.is_dir():
        raise CLIError(f"--onnx {target!r} is a directory; give a file name.")
    if not out.parent.is_dir():
        raise CLIError(f"--onnx {target!r}: folder {str(out.parent)!r} does not exist.")
    if not out.exists():
        return
    source = Path(model_path)
    if source.exists() and os.path.samefile(out, source):
        raise CLIError(
            f"--onnx {target!r} is the model file being exported; "
            "give another name, such as model.onnx."
        )
    if not force:
        raise CLIError(
            f"--onnx {target!r} already exists; pass --force to replace it."
        )


# ------------------------------------------------------------------ export
def cmd_export(args) -> int:
    try:
        from ..onnx import export
    except ImportError:
        raise CLIError(
            "exporting to ONNX needs onnx: pip install 'chainrule[onnx]'"
        ) from None

    out = Path(args.onnx)
    _check_target(args.onnx, args.model, getattr(args, "force", False))
    model = load_model(args.model)
    if args.input_shape:
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise CLIError(
                f"--input-shape must be whole numbers joined by commas, such as "
                f"1,28,28; got {args.input_shape!r}."
            ) from None
        if not shape or min(shape) < 1:
            raise CLIError(
                f"--input-shape must be positive whole numbers; got "
                f"{args.input_shape!r}."
            )
    elif isinstance(model, Graph):
        # A Graph's Input nodes declare their shapes; export reads them there.
        shape = None
    else:
        shape = _input_shape(model)
    proto = export(model, out, input_shape=shape, opset=args.opset)
    dims = proto.graph.input[0].type.tensor_type.shape.dim[1:]
    shown = ", ".join(str(d.dim_value) for d in dims)
    print(
        f"wrote {out} (ONNX opset {args.opset}, {len(proto.graph.node)} nodes, "
        f"input (N, {shown}))"
    )
    return 0
