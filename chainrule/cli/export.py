"""`chainrule export`: write a model as ONNX."""

from __future__ import annotations

from pathlib import Path

from ..io import load as load_model
from ._common import CLIError, _input_shape


# ------------------------------------------------------------------ export
def cmd_export(args) -> int:
    try:
        from ..onnx import export
    except ImportError:
        raise CLIError(
            "exporting to ONNX needs onnx: pip install 'chainrule[onnx]'"
        ) from None

    model = load_model(args.model)
    if args.input_shape:
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise CLIError(
                f"--input-shape must be whole numbers joined by commas, such as "
                f"1,28,28; got {args.input_shape!r}."
            ) from None
    else:
        shape = _input_shape(model)
    out = Path(args.onnx)
    if out.is_dir():
        raise CLIError(f"--onnx {str(out)!r} is a directory; give a file name.")
    proto = export(model, out, input_shape=shape, opset=args.opset)
    print(
        f"wrote {out} (ONNX opset {args.opset}, {len(proto.graph.node)} nodes, "
        f"input (N, {', '.join(map(str, shape))}))"
    )
    return 0
