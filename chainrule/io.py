"""Model files and checkpoints that never execute code when loaded.

A file is one ``.npz`` archive: every array, plus ``__manifest__``, a JSON
document (stored as bytes) with the format version, the chainrule version, the
architecture as a list of layer specs, each array's dtype, shape and SHA-256,
and optional metadata (class names, input normalisation, training settings).

Loading never unpickles, builds layers only from the registry
(``chainrule.registry``: the built-in layers and those registered with
``cr.register_layer``; nothing named in a file is imported or evaluated),
checks every hash and shape, and refuses anything else with a message that
names the file and the problem. It also checks before it allocates
(``chainrule._safe_npz``): the zip directory, every ``.npy`` header, the
manifest and the sizes against :data:`MAX_BYTES`, then the architecture built
without initialising its weights, and only then streams the arrays from disk,
once, into the model; a small forged file is refused cheaply. Saving writes a temporary file in the same
directory, fsyncs it and renames it over the target, so a crash leaves either
the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np

from . import random as _random
from ._atomic import atomic_write
from ._checks import all_finite
from ._deferred import MAX_SAMPLE_ELEMENTS as _MAX_SAMPLE_ELEMENTS
from ._deferred import ParameterBudgetError, deferred_init
from ._safe_npz import NpzReader, sha256_c_order
from .models.graph import Graph, Input, Node
from .models.sequential import Sequential
from .module import Module
from .registry import UnknownLayerError, layer_class, layer_name

FORMAT_VERSION = 1
MODEL_FORMAT = "chainrule-model"
CHECKPOINT_FORMAT = "chainrule-checkpoint"

#: The most bytes of arrays a model file or checkpoint may hold (2 GiB), unless
#: the caller of ``load`` / ``read_checkpoint`` passes ``max_bytes=``.
MAX_BYTES = 2 << 30
#: A manifest (the JSON document) of at most this many bytes.
MAX_MANIFEST_BYTES = 8 << 20
#: An architecture of at most this many layers.
MAX_LAYERS = 10_000
#: Models within models (a Sequential inside a Sequential ...) at most this deep.
MAX_NESTING = 64
#: Graph inputs and ``metadata["input_shape"]``: at most this many values per
#: sample (building a graph passes one zero sample through it).
MAX_SAMPLE_ELEMENTS = _MAX_SAMPLE_ELEMENTS  # the same limit holds for every layer's output


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be trusted or read."""


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------ architecture
def layer_spec(module: Module) -> dict:
    """A JSON description of ``module`` from which :func:`build` rebuilds it."""
    if isinstance(module, Sequential):
        # A layer object listed twice (its weights used at two depths) is
        # written once; its later places say {"same_as": first position}.
        first: dict[int, int] = {}
        layers = []
        for i, m in enumerate(module.layers):
            if id(m) in first:
                layers.append({"same_as": first[id(m)]})
            else:
                first[id(m)] = i
                layers.append(layer_spec(m))
        return {"type": "Sequential", "layers": layers}
    if isinstance(module, Graph):
        names = dict(zip((id(m) for m in module.layers), module.layer_names))
        nodes = []
        for node in module.order:
            entry = {"id": node.id, "shape": list(node.shape)}
            if node.is_input:
                entry["layer"] = None
            else:
                entry["layer"] = names[id(node.layer)]
                entry["parents"] = [p.id for p in node.parents]
            nodes.append(entry)
        return {
            "type": "Graph",
            "layers": [
                {"name": n, **layer_spec(m)}
                for n, m in zip(module.layer_names, module.layers)
            ],
            "nodes": nodes,
            "inputs": [n.id for n in module.inputs],
            "outputs": [n.id for n in module.outputs],
        }
    name = layer_name(module)
    if name is None:
        raise TypeError(
            f"save: layer type {type(module).__name__} is not registered; decorate "
            "its class with @cr.register_layer (and give it get_config()) so that "
            "model files can name it."
        )
    config = module.get_config()
    try:
        # A round trip through JSON text: tuples become lists, and a value
        # JSON cannot hold fails here, naming the layer, not midway through.
        config = json.loads(json.dumps(config, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"save: {type(module).__name__}.get_config() must return JSON values; "
            f"{exc}."
        ) from None
    return {"type": name, "config": config}


def build(spec: dict, where: str = "model") -> Module:
    """Rebuild a module from :func:`layer_spec` output, using only the registry."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ModelFileError(f"{where}: a layer spec must be an object with a 'type'.")
    kind = spec["type"]
    if kind == "Sequential":
        layers = spec.get("layers")
        if not isinstance(layers, list):
            raise ModelFileError(f"{where}: Sequential needs a list of layers.")
        built: list[Module] = []
        for i, entry in enumerate(layers):
            same = entry.get("same_as") if isinstance(entry, dict) else None
            if same is None:
                built.append(build(entry, f"{where}[{i}]"))
            elif type(same) is int and 0 <= same < i and "same_as" not in layers[same]:
                built.append(built[same])
            else:
                raise ModelFileError(
                    f"{where}[{i}]: same_as must name an earlier layer's position "
                    f"(0 to {i - 1}) that is not itself a repeat; got {same!r}."
                )
        return Sequential(*built)
    if kind == "Graph":
        return _build_graph(spec, where)
    try:
        cls = layer_class(kind, where)
    except UnknownLayerError as exc:
        raise ModelFileError(str(exc)) from None
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}: the config of {kind} must be an object.")
    params = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        # rng is a run-time object, never a setting a file may give.
        unknown = set(config) - (set(params) - {"rng"})
        if unknown:
            raise ModelFileError(
                f"{where}: {kind} has no setting(s) {sorted(unknown)}."
            )
    # The weights are overwritten by the file's arrays; the throwaway initial
    # values must not move the global random stream, so it is put back.
    state = _random.state_dict()
    try:
        return cls(**config)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: invalid {kind} settings: {exc}") from exc
    finally:
        _random.load_state_dict(state)


def _build_graph(spec: dict, where: str) -> Graph:
    try:
        layers = {
            entry["name"]: build(entry, f"{where}.{entry['name']}")
            for entry in spec["layers"]
        }
        nodes: dict[int, Node] = {}
        for entry in spec["nodes"]:
            if entry["layer"] is None:
                nodes[entry["id"]] = Input(tuple(entry["shape"]))
            else:
                layer = layers[entry["layer"]]
                nodes[entry["id"]] = layer(*(nodes[p] for p in entry["parents"]))
        inputs = [nodes[i] for i in spec["inputs"]]
        outputs = [nodes[i] for i in spec["outputs"]]
        for name, layer in layers.items():
            if not name.isdigit():  # digits are positions, given back by Graph
                layer.name = name
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"{where}: the graph description is incomplete ({exc!r})."
        ) from exc
    graph = Graph(inputs, outputs)
    if graph.layer_names != [entry["name"] for entry in spec["layers"]]:
        raise ModelFileError(f"{where}: the graph's layers do not match their names.")
    return graph


# ------------------------------------------------------------------ writing
def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _non_finite(a: np.ndarray) -> int:
    """How many NaN or infinite values a float array holds (0 for the others)."""
    if a.dtype.kind not in "fc" or all_finite(a):
        return 0
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def _write_archive(path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    # A weight that is NaN or infinite makes every prediction NaN: a model
    # that diverged is refused here, before anything is written, rather than
    # found out by whoever loads it (load refuses such a file too).
    for key, a in arrays.items():
        if bad := _non_finite(a):
            raise ValueError(
                f"save: {key} holds {bad:,} NaN or infinite value(s) of {a.size:,}: "
                "the model diverged, so nothing was written. Train with a smaller "
                "learning rate, or with the NaNGuard callback, which stops (or "
                "rolls back) before a bad step reaches the weights."
            )
    manifest = dict(manifest)
    manifest["arrays"] = {
        k: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": _sha256(a)}
        for k, a in arrays.items()
    }
    try:
        text = json.dumps(manifest)
    except TypeError as exc:  # the architecture was checked: the metadata
        raise TypeError(
            f"save: metadata must hold JSON values only (str, int, float, bool, "
            f"None, and lists and dicts of them; a NumPy number is not one): {exc}."
        ) from None
    blob = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"save: {str(path)!r} is a directory; give a file name."
        )
    if not path.parent.exists():
        raise FileNotFoundError(
            f"save: the directory {str(path.parent)!r} does not exist."
        )
    with atomic_write(path) as f:
        np.savez(f, __manifest__=blob, **arrays)


def save_model(model: Module, path, metadata: dict | None = None) -> None:
    """Write ``model`` (architecture and weights) to ``path`` atomically.

    Parameters
    ----------
    model : Sequential, Graph or a built-in layer
    path : str or Path
        Conventionally ``*.npz``.
    metadata : dict, optional
        JSON-serialisable extras: class names, input normalisation, settings.
    """
    manifest, arrays = _model_record(MODEL_FORMAT, model)
    manifest["metadata"] = metadata or {}
    _write_archive(path, manifest, arrays)


def _model_record(fmt: str, model: Module) -> tuple[dict, dict[str, np.ndarray]]:
    """What a model file and a checkpoint both hold: the header, the
    architecture, the ``param/<name>`` arrays and the ``buffer/<name>`` ones."""
    manifest = {
        "format": fmt,
        "format_version": FORMAT_VERSION,
        "chainrule_version": _version(),
        "architecture": layer_spec(model),
    }
    arrays = {f"param/{k}": p.data for k, p in model.named_parameters()}
    arrays.update((f"buffer/{k}", b) for k, b in model.named_buffers())
    return manifest, arrays


def _rebuild(manifest: dict, arrays: dict, path, who: str) -> Module:
    """The model a file describes, built from the registry, with its weights."""
    shapes = {k: a.shape for k, a in arrays.items() if k.startswith(_STATE_PREFIXES)}
    model = _skeleton(manifest, shapes, path, who)
    _adopt(model, arrays, path, who)
    return model


# ------------------------------------------------------------------ reading
# Reading checks a file in the order that keeps a forged one cheap to refuse
# (see _safe_npz and the README's "Safe model files"): the zip directory and
# every .npy header, the manifest, the sizes against the manifest and
# max_bytes, the architecture built without filling its weights, and its
# parameter shapes against the file; only then is any array data read, once,
# into the arrays the model keeps.


def _read_archive(
    path, expected_format: str, who: str, max_bytes: int | None = None
) -> tuple[dict, dict[str, np.ndarray], Module]:
    """The checked manifest, the hash-checked arrays and the model skeleton
    (built, uninitialised, with the shapes the arrays have)."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{who}: {str(path)!r} is a directory, not a model file.")
    if not path.exists():
        raise FileNotFoundError(f"{who}: no such file {str(path)!r}.")
    max_bytes = MAX_BYTES if max_bytes is None else int(max_bytes)
    with NpzReader(path, who, ModelFileError, "model file") as archive:
        manifest = _read_manifest(archive, expected_format)
        _check_arrays(archive, manifest, max_bytes)
        _check_optimizer_state(archive)
        shapes = {
            k: m.shape
            for k, m in archive.members.items()
            if k.startswith(_STATE_PREFIXES)
        }
        skeleton = _skeleton(manifest, shapes, path, who)
        arrays = {
            key: _read_checked(archive, key, manifest["arrays"][key])
            for key in archive.members
            if key != "__manifest__"
        }
    return manifest, arrays, skeleton


def _check_optimizer_state(archive: NpzReader) -> None:
    """A checkpoint's optimizer state, ``optim/<parameter>/<key>``, from the
    headers alone: an array kept per parameter (a velocity, Adam's moments)
    has that parameter's shape. (State named by position, from an optimizer
    given a list of parameters, is checked when it is loaded into one.)"""
    for key, m in archive.members.items():
        if not key.startswith("optim/"):
            continue
        name = key[len("optim/") :].rpartition("/")[0]
        param = archive.members.get(f"param/{name}")
        if param is not None and m.shape != param.shape:
            archive.fail(
                f"optimizer state {key!r} in {{file}} has shape {m.shape}; its "
                f"parameter {name!r} has {param.shape}. The file was modified or "
                "damaged."
            )


def _read_manifest(archive: NpzReader, expected_format: str) -> dict:
    member = archive.members.get("__manifest__")
    if member is None or member.dtype != np.uint8 or len(member.shape) != 1:
        archive.fail(
            "{file} is not a chainrule model (no manifest); was it written by save()?"
        )
    if member.nbytes > MAX_MANIFEST_BYTES:
        archive.fail(
            f"the manifest of {{file}} has {member.nbytes:,} bytes; at most "
            f"{MAX_MANIFEST_BYTES:,} are read."
        )
    blob = archive.read("__manifest__")
    try:
        manifest = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        archive.fail("the manifest of {file} is not valid JSON.")
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if fmt != expected_format:
        archive.fail(
            f"{{file}} is a {fmt if isinstance(fmt, str) else 'unknown'} file; "
            f"expected a {expected_format}."
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        archive.fail(
            f"{{file}} has format version {manifest.get('format_version')}; this "
            f"chainrule reads version {FORMAT_VERSION}."
        )
    return manifest


def _check_arrays(archive: NpzReader, manifest: dict, max_bytes: int) -> None:
    """Members against the manifest, from the headers alone, and the limit."""
    described = manifest.get("arrays", {})
    if not isinstance(described, dict) or not all(
        isinstance(info, dict) for info in described.values()
    ):
        archive.fail("the manifest of {file} does not describe its arrays.")
    present = set(archive.members) - {"__manifest__"}
    if set(described) != present:
        extra = sorted(present - set(described))
        missing = sorted(set(described) - present)
        archive.fail(
            f"the arrays of {{file}} do not match its manifest (unlisted: {extra}, "
            f"missing: {missing})."
        )
    for key in sorted(present):
        m, info = archive.members[key], described[key]
        if list(m.shape) != info.get("shape") or str(m.dtype) != info.get("dtype"):
            archive.fail(
                f"array {key!r} in {{file}} has shape {m.shape} and dtype {m.dtype}; "
                f"the manifest says {info.get('shape')} and {info.get('dtype')}."
            )
        if m.dtype.kind not in "fiub":
            archive.fail(f"array {key!r} in {{file}} is not numeric.")
    archive.check_limit(
        max_bytes,
        "a chainrule model file holds at most chainrule.io.MAX_BYTES unless "
        "the caller passes a larger max_bytes= (only for a file you trust).",
        keys=present,
    )
    _check_architecture_size(archive, manifest.get("architecture"))


def _check_architecture_size(archive: NpzReader, spec) -> None:
    """Refuse descriptions whose mere construction would be costly: too many
    layers, or graph inputs too large to pass one zero sample through (a
    graph learns its shapes that way). Layer settings are checked by the
    layers themselves, and their parameters by the budget in _skeleton."""
    layers = 0
    stack = [(spec, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            # Refused here, not by the interpreter's recursion limit in
            # build(), which other code may have raised.
            archive.fail(
                f"the architecture of {{file}} is nested too deeply (more than "
                f"{MAX_NESTING} levels of models within models)."
            )
        if isinstance(item, dict):
            layers += "type" in item
            for node in (
                item.get("nodes", ()) if isinstance(item.get("nodes"), list) else ()
            ):
                shape = node.get("shape") if isinstance(node, dict) else None
                if isinstance(shape, list) and all(isinstance(d, int) for d in shape):
                    _check_sample_shape(archive, shape, "a graph node")
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth) for v in item)
    if layers > MAX_LAYERS:
        archive.fail(
            f"the architecture of {{file}} has {layers:,} layers; at most "
            f"{MAX_LAYERS:,} are built."
        )


def _check_sample_shape(archive: NpzReader, shape, what: str) -> None:
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    if n > MAX_SAMPLE_ELEMENTS:
        archive.fail(
            f"{what} in {{file}} has samples of shape {tuple(shape)} ({n:,} values); "
            f"at most {MAX_SAMPLE_ELEMENTS:,} are accepted."
        )


def _skeleton(manifest: dict, shapes: dict, path, who: str) -> Module:
    """The architecture, built with uninitialised parameters holding no more
    values than the file's ``param/`` arrays (``shapes``: array key -> shape),
    checked against those shapes. Nothing is drawn or copied."""
    where = f"{who}: {str(path)!r}"
    budget = sum(
        int(np.prod(s, dtype=object))
        for k, s in shapes.items()
        if k.startswith("param/")
    )
    try:
        # np.empty weights may hold anything; the graph's shape inference
        # runs forward on them, and only the shapes matter.
        with deferred_init(budget), np.errstate(all="ignore"):
            model = build(manifest.get("architecture"), where=where)
    except ModelFileError:
        raise
    except ParameterBudgetError as exc:
        raise ModelFileError(f"{where} does not fit its architecture: {exc}.") from None
    except MemoryError:
        raise ModelFileError(
            f"{where}: the architecture needs more memory than this machine has."
        ) from None
    except RecursionError:
        raise ModelFileError(
            f"{where}: the architecture is nested too deeply."
        ) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ModelFileError(f"{where}: the architecture is invalid: {exc}") from None
    implied = _state_shapes(model)
    problems = [f"missing {k}" for k in implied if k not in shapes]
    problems += [f"unexpected {k}" for k in shapes if k not in implied]
    problems += [
        f"{k} has shape {tuple(shapes[k])}, the architecture implies {s}"
        for k, s in implied.items()
        if k in shapes and tuple(shapes[k]) != s
    ]
    if problems:
        raise ModelFileError(
            f"{where} does not fit its architecture: {'; '.join(problems)}."
        )
    return model


_STATE_PREFIXES = ("param/", "buffer/")


def _buffers(model: Module):
    """``model.named_buffers()`` where modules keep non-trainable state
    (running statistics), else nothing."""
    named_buffers = getattr(model, "named_buffers", None)
    return named_buffers() if named_buffers is not None else ()


def _state_shapes(model: Module) -> dict[str, tuple]:
    """The arrays a file must hold for ``model``, with their shapes."""
    shapes = {f"param/{k}": tuple(p.shape) for k, p in model.named_parameters()}
    shapes.update((f"buffer/{k}", tuple(b.shape)) for k, b in _buffers(model))
    return shapes


def _read_checked(archive: NpzReader, key: str, info: dict) -> np.ndarray:
    a = archive.read(key)
    if sha256_c_order(a) != info.get("sha256"):
        archive.fail(
            f"array {key!r} in {{file}} fails its SHA-256 check; the file was "
            "modified or damaged."
        )
    if bad := _non_finite(a):
        archive.fail(
            f"array {key!r} in {{file}} holds {bad:,} NaN or infinite value(s) of "
            f"{a.size:,}: the model it was saved from had diverged, and every "
            "prediction would be NaN."
        )
    return a


def _adopt(model: Module, arrays: dict[str, np.ndarray], path, who: str) -> None:
    """Make the checked ``param/`` arrays the parameters of ``model`` (a
    skeleton from _skeleton), converting only where dtype or layout differ,
    and copy the ``buffer/`` arrays, if any, into its buffers."""
    state = {k[len("param/") :]: a for k, a in arrays.items() if k.startswith("param/")}
    dtypes = {a.dtype for a in state.values()}
    # One float dtype in the file: the model takes it (float64 stays float64).
    common = dtypes.pop() if len(dtypes) == 1 else None
    common = common if common is not None and common.kind == "f" else None
    for name, p in model.named_parameters():
        value = state[name]
        if value.dtype.kind not in "fiu":
            raise ModelFileError(
                f"{who}: {str(path)!r}: param/{name} has non-numeric dtype "
                f"{value.dtype}."
            )
        # Keep the layer's memory layout (Linear keeps its weight column-major).
        f_order = p.data.ndim > 1 and not p.data.flags.c_contiguous
        p.data = np.asarray(
            value, dtype=common or p.dtype, order="F" if f_order else "C"
        )
        p.grad = np.empty_like(p.data)
        p.zero_grad()  # marked zero; filled only if a gradient is read
    if common is not None:
        # Float buffers follow the parameters (no copy of those). The buffers
        # are still the skeleton's uninitialised memory (the file's values
        # are copied in next): converting it may meet a signalling-NaN bit
        # pattern, which NumPy would report as an invalid value, at random.
        with np.errstate(invalid="ignore"):
            model.to(common)
    for name, b in _buffers(model):  # small: copied, keeping their dtype
        b[...] = arrays[f"buffer/{name}"]


def _load_params(model: Module, arrays: dict[str, np.ndarray], path, who: str) -> None:
    """Copy a file's ``param/`` and ``buffer/`` arrays into an existing model (resuming)."""
    state = {
        k.partition("/")[2]: a
        for k, a in arrays.items()
        if k.startswith(("param/", "buffer/"))
    }
    # The parameters' dtype is the model's (a buffer may be an integer counter).
    dtypes = {a.dtype for k, a in arrays.items() if k.startswith("param/")}
    if len(dtypes) == 1 and next(iter(dtypes)).kind == "f":
        # Convert before copying: float64 values copied into the float32 arrays
        # of a freshly built layer would be rounded.
        model.to(dtypes.pop())
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        raise ModelFileError(
            f"{who}: {str(path)!r} does not fit its architecture: {exc}"
        ) from exc


def load(path, max_bytes: int | None = None) -> Module:
    """Load a model written by ``save_model`` / ``model.save``.

    The file is checked before anything large is read or allocated (see the
    README's "Safe model files"): a forged or damaged file costs little to
    refuse, and the weights are allocated once, from the file's checked
    arrays.

    Parameters
    ----------
    path : str or Path
    max_bytes : int, optional
        The most bytes of arrays to accept; default :data:`MAX_BYTES` (2 GiB).
        Raise it only for a file you trust.

    Returns
    -------
    Module
        The rebuilt model, in eval mode, with its metadata in ``model.metadata``.

    Raises
    ------
    ModelFileError
        (a ValueError) for anything that is not an intact chainrule model, or
        one larger than ``max_bytes``.
    FileNotFoundError
        When the file does not exist.
    """
    manifest, arrays, model = _read_archive(path, MODEL_FORMAT, "load", max_bytes)
    _adopt(model, arrays, path, "load")
    model.metadata = manifest.get("metadata", {})
    if not isinstance(model.metadata, dict):
        raise ModelFileError(f"load: the metadata of {str(path)!r} must be an object.")
    shape = model.metadata.get("input_shape")
    if shape is not None and not (
        isinstance(shape, list)
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        and len(shape) <= 8
    ):
        raise ModelFileError(
            f"load: the metadata of {str(path)!r} has input_shape {shape!r}; expected "
            "a list of positive whole numbers."
        )
    if shape is not None and int(np.prod(shape, dtype=object)) > MAX_SAMPLE_ELEMENTS:
        raise ModelFileError(
            f"load: the metadata of {str(path)!r} has input_shape {shape}; at most "
            f"{MAX_SAMPLE_ELEMENTS:,} values per sample are accepted."
        )
    model.eval()
    return model


# ------------------------------------------------------------- checkpoints
def save_checkpoint(path, trainer, metadata: dict | None = None) -> None:
    """Write everything a run needs to resume exactly: the model, the optimizer
    state, the epoch and batch position, the History and the random state."""
    opt = trainer.optimizer.state_dict()
    manifest, arrays = _model_record(CHECKPOINT_FORMAT, trainer.model)
    for name, s in opt["state"].items():
        for key, a in s.items():
            arrays[f"optim/{name}/{key}"] = a
    manifest["optimizer"] = {k: v for k, v in opt.items() if k != "state"}
    for i, cb in enumerate(trainer.callbacks):
        for key, a in cb.checkpoint_arrays().items():
            arrays[f"callback/{i}/{key}"] = a
    manifest["trainer"] = trainer.state_dict()
    manifest["metadata"] = trainer.metadata if metadata is None else metadata
    _write_archive(path, manifest, arrays)


def read_checkpoint(
    path, max_bytes: int | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """The verified manifest and arrays of a checkpoint (checked as ``load``
    checks a model file; ``max_bytes`` as there)."""
    manifest, arrays, _ = _read_archive(path, CHECKPOINT_FORMAT, "resume", max_bytes)
    return manifest, arrays


def load_checkpoint_model(path, max_bytes: int | None = None) -> tuple[Module, dict]:
    """The model of a checkpoint (rebuilt from its architecture) and its manifest."""
    manifest, arrays, model = _read_archive(
        path, CHECKPOINT_FORMAT, "resume", max_bytes
    )
    _adopt(model, arrays, path, "resume")
    return model, manifest


def load_checkpoint_into(path, trainer, checkpoint=None) -> None:
    """Restore a checkpoint into a Trainer built with the same model and settings.

    ``checkpoint`` is what ``read_checkpoint(path)`` returned, when the caller
    has read it already (the file is then not read and verified again).
    """
    manifest, arrays = checkpoint if checkpoint is not None else read_checkpoint(path)
    _load_params(trainer.model, arrays, path, "resume")
    opt_state = dict(manifest["optimizer"])
    state: dict[str, dict[str, np.ndarray]] = {}
    for key, a in arrays.items():
        if key.startswith("optim/"):
            name, _, sub = key[len("optim/") :].rpartition("/")
            state.setdefault(name, {})[sub] = a
    opt_state["state"] = state
    try:
        trainer.optimizer.load_state_dict(opt_state)
    except ValueError as exc:
        raise ModelFileError(f"resume: {str(path)!r}: {exc}") from exc
    try:
        trainer.load_state_dict(manifest["trainer"])
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        # A state a checkpoint of this version never holds (a count that is
        # not a number, a random state that is not one): the file's error.
        detail = str(exc).removeprefix("resume: ")
        raise ModelFileError(
            f"resume: {str(path)!r}: the training state does not fit: {detail}"
            + ("" if detail.endswith(".") else f" ({type(exc).__name__}).")
        ) from exc
    for i, cb in enumerate(trainer.callbacks):
        prefix = f"callback/{i}/"
        mine = {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)}
        try:
            cb.load_checkpoint_arrays(trainer, mine)
        except (ValueError, TypeError, KeyError) as exc:
            # What a checkpoint of this version never holds: the file's error.
            raise ModelFileError(
                f"resume: {str(path)!r}: a callback's state does not fit: {exc!r}"
            ) from exc
    if not trainer.metadata:  # the caller's own wins
        trainer.metadata = manifest.get("metadata", {})
