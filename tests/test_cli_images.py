"""``chainrule predict`` on pictures as people make them: transparent PNGs,
digits cropped tight or lost on a wide canvas, JPEG, BMP and TIFF."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr
from chainrule.cli import main
from chainrule.cli._images import frame_like_mnist

Image = importorskip("PIL.Image")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("images") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("chainrule.cli.report._write_plots", lambda *a, **k: [])
        code = main(["train", "--epochs", "3", "--out", str(out), "--json"])
    assert code == 0
    return out / "model.npz"


@pytest.fixture(scope="module")
def digits(model_file):
    """Five test digits of different classes the model gets right with
    confidence: (images light on dark in [0, 1], labels)."""
    x, y = cr.data.load("mnist5k")[1]
    probs = cr.functional.softmax(cr.predict(cr.load(model_file), x).astype(float))
    chosen: dict[int, int] = {}
    for i in np.argsort(-probs.max(axis=1)):
        if probs[i].argmax() == y[i] and int(y[i]) not in chosen:
            chosen[int(y[i])] = int(i)
        if len(chosen) == 5:
            break
    idx = list(chosen.values())
    return x[idx, 0], y[idx].tolist()


def predict(model_file, paths, capsys) -> list[int]:
    capsys.readouterr()
    assert main(["predict", str(model_file), *map(str, paths), "--json"]) == 0
    return [a["class"] for a in json.loads(capsys.readouterr().out)]


def _ink(digit: np.ndarray, scale: int, crop: bool) -> np.ndarray:
    """The digit's ink in [0, 255], optionally cropped to its bounding box,
    enlarged ``scale`` times."""
    if crop:
        rows, cols = np.nonzero(digit > 0.1)
        digit = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    img = Image.fromarray(np.round(digit * 255).astype(np.uint8))
    size = (digit.shape[1] * scale, digit.shape[0] * scale)
    return np.asarray(img.resize(size, Image.BILINEAR))


def test_transparent_png_is_composited_on_white(tmp_path, model_file, digits, capsys):
    """Black strokes on transparency, as drawing apps export them."""
    paths = []
    for k, (digit, label) in enumerate(zip(*digits)):
        alpha = _ink(digit, 10, crop=False)
        rgba = np.zeros((*alpha.shape, 4), np.uint8)  # black everywhere ...
        rgba[..., 3] = alpha  # ... visible only where the ink is
        paths.append(tmp_path / f"{k}-{label}.png")
        Image.fromarray(rgba, "RGBA").save(paths[-1])
    assert predict(model_file, paths, capsys) == digits[1]


def test_digits_are_framed_as_mnist_was(tmp_path, model_file, digits, capsys):
    """Typeset digits cropped tight, and a digit on a wide canvas."""
    tight, wide = [], []
    for k, digit in enumerate(digits[0]):
        ink = _ink(digit, 10, crop=True)
        tight.append(tmp_path / f"tight{k}.png")
        Image.fromarray(255 - ink).save(tight[-1])  # black on white, no margin
        canvas = np.full((280, 560), 255, np.uint8)
        small = _ink(digit, 6, crop=True)
        canvas[20 : 20 + small.shape[0], 300 : 300 + small.shape[1]] = 255 - small
        wide.append(tmp_path / f"wide{k}.png")
        Image.fromarray(canvas).save(wide[-1])
    assert predict(model_file, tight, capsys) == digits[1]
    assert predict(model_file, wide, capsys) == digits[1]


@pytest.mark.parametrize("fmt", ["JPEG", "MPO", "BMP", "TIFF", "GIF"])
def test_other_image_formats(tmp_path, model_file, digits, capsys, fmt):
    paths = []
    for k, digit in enumerate(digits[0]):
        paths.append(tmp_path / f"{k}.{fmt.lower()}")
        Image.fromarray(255 - _ink(digit, 4, crop=False)).convert("RGB").save(
            paths[-1], format=fmt
        )
    assert predict(model_file, paths, capsys) == digits[1]


def test_framing_an_mnist_digit_gives_it_back(digits):
    """MNIST's digits are framed already: framing one again changes it little,
    and puts its ink in a 20-pixel box with its centre of mass in the middle."""
    for digit in digits[0]:
        framed = frame_like_mnist(np.kron(digit, np.ones((3, 3))))
        assert framed.shape == (28, 28)
        rows, cols = np.nonzero(framed > 0.2 * framed.max())
        assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)
        total = framed.sum()
        cy = (framed.sum(axis=1) * np.arange(28)).sum() / total
        cx = (framed.sum(axis=0) * np.arange(28)).sum() / total
        assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
        assert np.corrcoef(framed.ravel(), digit.ravel())[0, 1] > 0.7
    assert not frame_like_mnist(np.zeros((40, 30))).any()


def test_a_picture_is_decoded_only_as_the_formats_predict_reads(
    tmp_path, model_file, capsys
):
    # The first bytes of a PNG, then not a PNG: no other of Pillow's decoders
    # is tried on it (one of them hands PostScript to Ghostscript).
    (tmp_path / "odd.png").write_bytes(b"\x89PNG%!PS-Adobe-3.0 EPSF-3.0\n")
    capsys.readouterr()
    assert main(["predict", str(model_file), str(tmp_path / "odd.png")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"chainrule predict: error: cannot read image '{tmp_path / 'odd.png'}': it is "
        "not a PNG, JPEG, BMP, TIFF or GIF picture.\n"
    )


def test_a_picture_declaring_more_pixels_than_its_file_holds_is_one_line(
    tmp_path, model_file, capsys
):
    import struct

    path = tmp_path / "forged.bmp"
    Image.new("RGB", (8, 8)).save(path)
    blob = bytearray(path.read_bytes())
    blob[18:26] = struct.pack("<ii", 8, 1_048_584)  # width, height
    path.write_bytes(bytes(blob))
    capsys.readouterr()
    assert main(["predict", str(model_file), str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"chainrule predict: error: image '{path}' declares 8x1048584 pixels in a file "
        "of 246 bytes, more than 8,192 a byte"
    )
    assert err.count("\n") == 1


def test_a_damaged_image_is_one_line(tmp_path, model_file, capsys):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    capsys.readouterr()
    assert main(["predict", str(model_file), str(tmp_path / "broken.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule predict: error: cannot read image '{tmp_path}")
    assert err.count("\n") == 1
