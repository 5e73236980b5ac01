"""Taking a chainrule model file (an .npz archive) apart and putting it back,
for the tests that forge or damage one (test_io, test_safe_files,
test_fuzz_model_files)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np


def members(path) -> dict[str, bytes]:
    """Every member of the archive at ``path`` (a path or a file object)."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def repack(path, items: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in items.items():
            z.writestr(name, data)


def npy(a: np.ndarray) -> bytes:
    """``a`` as the bytes of a .npy member."""
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def manifest(items: dict[str, bytes]) -> dict:
    blob = np.load(io.BytesIO(items["__manifest__.npy"]), allow_pickle=False)
    return json.loads(blob.tobytes().decode("utf-8"))


def set_manifest(items: dict[str, bytes], value: dict) -> None:
    blob = np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)
    items["__manifest__.npy"] = npy(blob)


def edit_manifest(path, change):
    """Rewrite the archive at ``path`` with its manifest passed through
    ``change`` (which edits the dict in place); returns ``path``."""
    items = members(path)
    value = manifest(items)
    change(value)
    set_manifest(items, value)
    repack(path, items)
    return path
