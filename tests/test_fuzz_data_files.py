"""Fuzzing the readers of data and input files: IDX (plain and gzip), the
command line's ``.npy`` inputs and its pictures.

Each test writes random or damaged files and reads every one. Each must
either give back what it holds (an IDX array or ``.npy`` array of exactly
the bytes that follow its header; a picture as a finite float32 batch in
[0, 1]) or raise the reader's own error naming the file, and nothing else:
no other exception (a NumPy ``ValueError`` naming no file, an
``OverflowError``...), no growth of the peak resident memory over
:data:`PEAK_BYTES`. About 900 files in CI, in seconds; before the empty-shape
checks, the IDX and ``.npy`` tests failed on NumPy's "array is too big".
(``test_fuzz_model_files.py`` does the same for model files;
``CHAINRULE_FUZZ_SCALE`` multiplies the examples here too.)
"""

from __future__ import annotations

import functools
import gzip
import io

import _fuzz
import numpy as np
import pytest
from _fuzz import fuzz, given, st
from _requires import importorskip

from chainrule._safe_npz import read_npy
from chainrule.data import read_idx

PEAK_BYTES = 16 << 20

# Sizes that break naive readers: 0 beside huge ones (NumPy multiplies the
# dimensions before it meets the 0), the 32-bit limits, and small ones.
DIMS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 2**16, 2**31 - 1, 2**31, 2**32 - 1]),
    st.integers(0, 40),
)


@pytest.fixture(scope="module")
def bounded():
    """bounded(read) -> read's result, with the peak resident memory it grew
    by held under PEAK_BYTES (where the kernel's peak can be reset)."""
    return functools.partial(_fuzz.bounded, limit=PEAK_BYTES)


@fuzz(300)
@given(
    code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
    dims=st.lists(DIMS, max_size=5),
    body=st.integers(0, 300),
    cut=st.integers(0, 40),
    gz=st.booleans(),
)
def test_idx_files_read_exactly_or_are_refused_by_name(
    tmp_path, bounded, code, dims, body, cut, gz
):
    path = tmp_path / "f-idx-ubyte"
    head = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    blob = (head + bytes(body))[: max(0, len(head) + body - cut)]
    path.write_bytes(gzip.compress(blob) if gz else blob)
    try:
        a = bounded(lambda: read_idx(path))
    except ValueError as exc:
        assert "f-idx-ubyte" in str(exc), str(exc)
        return
    assert a.nbytes == len(blob) - len(head)
    assert list(a.shape) == dims


@fuzz(300)
@given(
    descr=st.sampled_from(["<f4", ">f8", "|u1", "<i8", "|b1", "<c8", "|V4", "<U3", "|O"]),
    dims=st.lists(DIMS | st.sampled_from([2**62, 2**63 - 1]), max_size=5),
    fortran=st.booleans(),
    body=st.integers(0, 300),
    version=st.sampled_from([(1, 0), (2, 0)]),
)
def test_npy_inputs_read_exactly_or_are_refused_by_name(
    tmp_path, bounded, descr, dims, fortran, body, version
):
    header = {"descr": descr, "fortran_order": fortran, "shape": tuple(dims)}
    buf = io.BytesIO()
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    path = tmp_path / "input.npy"
    path.write_bytes(buf.getvalue() + bytes(body))
    try:
        a = bounded(lambda: read_npy(path, 1 << 20, "the limit"))
    except ValueError as exc:
        assert "input.npy" in str(exc), str(exc)
        return
    assert a.nbytes == body and list(a.shape) == dims


@functools.cache
def _pictures() -> list[bytes]:
    """A small grey picture in each format and mode the reader meets."""
    Image = importorskip("PIL.Image")
    grey = (np.arange(64).reshape(8, 8) * 3).astype(np.uint8)
    out = []
    for fmt, mode in [
        ("PNG", "L"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "I;16"),
        ("BMP", "RGB"), ("GIF", "L"), ("TIFF", "F"), ("JPEG", "L"),
    ]:  # fmt: skip
        buf = io.BytesIO()
        Image.fromarray(grey).convert(mode).save(buf, fmt)
        out.append(buf.getvalue())
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on damaged TIFF tags
@fuzz(300)
@given(data=st.data(), digits=st.booleans())
def test_damaged_pictures_read_or_are_refused_by_name(tmp_path, bounded, data, digits):
    from chainrule.cli._common import CLIError
    from chainrule.cli._images import read_image

    blob = bytearray(data.draw(st.sampled_from(_pictures())))
    for _ in range(data.draw(st.integers(0, 4))):  # a few bytes changed anywhere
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    blob = blob[: max(8, data.draw(st.integers(0, len(blob))))]  # and maybe cut
    path = tmp_path / "picture"
    path.write_bytes(bytes(blob))
    try:
        a = bounded(lambda: read_image(path, (1, 28, 28), digits=digits))
    except CLIError as exc:
        assert "picture" in str(exc), str(exc)
        return
    assert a.shape == (1, 1, 28, 28) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
