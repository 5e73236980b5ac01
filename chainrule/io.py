"""Model files and checkpoints that never execute code when loaded.

A file is one ``.npz`` archive: every array, plus ``__manifest__``, a JSON
document (stored as bytes) with the format version, the chainrule version, the
architecture as a list of layer specs, each array's dtype, shape and SHA-256,
and optional metadata (class names, input normalisation, training settings).

Loading uses ``np.load(..., allow_pickle=False)``, builds layers only from the
registry (``chainrule.registry``: the built-in layers and those registered
with ``cr.register_layer``; nothing named in a file is imported or evaluated),
checks every hash and shape, and refuses anything else with a message that
names the file and the problem. Saving writes a temporary file in the same
directory, fsyncs it and renames it over the target, so a crash leaves either
the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from . import layers as _builtin_layers  # noqa: F401 - registers the built-in layers
from . import random as _random
from ._atomic import atomic_write
from .models.graph import Graph, Input, Node
from .models.sequential import Sequential
from .module import Module
from .registry import UnknownLayerError, layer_class, layer_name

FORMAT_VERSION = 1
MODEL_FORMAT = "chainrule-model"
CHECKPOINT_FORMAT = "chainrule-checkpoint"


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be trusted or read."""


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------ architecture
def layer_spec(module: Module) -> dict:
    """A JSON description of ``module`` from which :func:`build` rebuilds it."""
    if isinstance(module, Sequential):
        return {"type": "Sequential", "layers": [layer_spec(m) for m in module.layers]}
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
        return Sequential(*(build(s, f"{where}[{i}]") for i, s in enumerate(layers)))
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


def _write_archive(path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    manifest = dict(manifest)
    manifest["arrays"] = {
        k: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": _sha256(a)}
        for k, a in arrays.items()
    }
    blob = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
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
    model = build(manifest.get("architecture"), where=f"{who}: {str(path)!r}")
    _load_params(model, arrays, path, who)
    return model


# ------------------------------------------------------------------ reading
def _read_archive(
    path, expected_format: str, who: str
) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{who}: {str(path)!r} is a directory, not a model file.")
    if not path.exists():
        raise FileNotFoundError(f"{who}: no such file {str(path)!r}.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"{who}: cannot read {str(path)!r}: {exc.strerror}."
        ) from exc
    if not data:
        raise ModelFileError(f"{who}: model file {str(path)!r} is empty.")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelFileError(
            f"{who}: {str(path)!r} is not a chainrule model file (not an .npz archive, "
            "or truncated)."
        )
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            for key in archive.files:
                arrays[key] = archive[key]
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ModelFileError(
                f"{who}: {str(path)!r} contains a pickled object; chainrule never "
                "unpickles, so the file is refused."
            ) from exc
        raise ModelFileError(f"{who}: {str(path)!r} is damaged: {exc}.") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(
            f"{who}: {str(path)!r} is damaged or truncated ({exc})."
        ) from exc
    blob = arrays.pop("__manifest__", None)
    if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
        raise ModelFileError(
            f"{who}: {str(path)!r} is not a chainrule model (no manifest); was it written "
            "by save()?"
        )
    try:
        manifest = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{who}: the manifest of {str(path)!r} is not valid JSON."
        ) from exc
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if fmt != expected_format:
        raise ModelFileError(
            f"{who}: {str(path)!r} is a {fmt or 'unknown'} file; expected a {expected_format}."
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{who}: {str(path)!r} has format version {manifest.get('format_version')}; this "
            f"chainrule reads version {FORMAT_VERSION}."
        )
    described = manifest.get("arrays", {})
    if not isinstance(described, dict) or not all(
        isinstance(info, dict) for info in described.values()
    ):
        raise ModelFileError(
            f"{who}: the manifest of {str(path)!r} does not describe its arrays."
        )
    if set(described) != set(arrays):
        extra = sorted(set(arrays) - set(described))
        missing = sorted(set(described) - set(arrays))
        raise ModelFileError(
            f"{who}: the arrays of {str(path)!r} do not match its manifest "
            f"(unlisted: {extra}, missing: {missing})."
        )
    for key, a in arrays.items():
        info = described[key]
        if list(a.shape) != info.get("shape") or str(a.dtype) != info.get("dtype"):
            raise ModelFileError(
                f"{who}: array {key!r} in {str(path)!r} has shape {a.shape} and dtype "
                f"{a.dtype}; the manifest says {info.get('shape')} and {info.get('dtype')}."
            )
        if a.dtype.kind not in "fiub":
            raise ModelFileError(
                f"{who}: array {key!r} in {str(path)!r} is not numeric."
            )
        if _sha256(a) != info.get("sha256"):
            raise ModelFileError(
                f"{who}: array {key!r} in {str(path)!r} fails its SHA-256 check; the file "
                "was modified or damaged."
            )
    return manifest, arrays


def _load_params(model: Module, arrays: dict[str, np.ndarray], path, who: str) -> None:
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


def load(path) -> Module:
    """Load a model written by ``save_model`` / ``model.save``.

    Returns
    -------
    Module
        The rebuilt model, in eval mode, with its metadata in ``model.metadata``.

    Raises
    ------
    ModelFileError
        (a ValueError) for anything that is not an intact chainrule model.
    FileNotFoundError
        When the file does not exist.
    """
    manifest, arrays = _read_archive(path, MODEL_FORMAT, "load")
    model = _rebuild(manifest, arrays, path, "load")
    model.metadata = manifest.get("metadata", {})
    if not isinstance(model.metadata, dict):
        raise ModelFileError(f"load: the metadata of {str(path)!r} must be an object.")
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
    manifest["trainer"] = trainer.state_dict()
    manifest["metadata"] = trainer.metadata if metadata is None else metadata
    _write_archive(path, manifest, arrays)


def read_checkpoint(path) -> tuple[dict, dict[str, np.ndarray]]:
    """The verified manifest and arrays of a checkpoint."""
    return _read_archive(path, CHECKPOINT_FORMAT, "resume")


def load_checkpoint_model(path) -> tuple[Module, dict]:
    """The model of a checkpoint (rebuilt from its architecture) and its manifest."""
    manifest, arrays = read_checkpoint(path)
    return _rebuild(manifest, arrays, path, "resume"), manifest


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
    trainer.load_state_dict(manifest["trainer"])
    if not trainer.metadata:  # the caller's own wins
        trainer.metadata = manifest.get("metadata", {})
