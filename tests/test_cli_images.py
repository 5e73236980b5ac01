"""``chainrule predict`` on pictures as people make them: transparent PNGs,
digits cropped tight or lost on a wide canvas, JPEG, BMP and TIFF."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr
from chainrule.cli import main
from chainrule.cli._images import frame_like_mnist, read_image

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


# ---------------------------------------------- pictures of more than 8 bits
@pytest.fixture(scope="module")
def a_digit():
    """One test digit of mnist5k, light on dark in [0, 1] (no model needed)."""
    x, _ = cr.data.load("mnist5k")[1]
    return x[0, 0]


def _wide_copy(levels: np.ndarray, mode: str):
    """An 8-bit picture's levels as a picture of a wider mode: 16-bit levels
    (each 8-bit level times 257, the same fraction of full scale) in either
    byte order, or as 32-bit integers; floats as fractions of full scale."""
    if mode == "F":
        return Image.fromarray((levels / 255).astype(np.float32))
    v = levels.astype(np.uint16) * 257
    if mode == "I":
        return Image.fromarray(v.astype(np.int32))
    order = ">u2" if mode == "I;16B" else "<u2"  # "I;16" is little-endian
    return Image.frombytes(mode, v.shape[::-1], v.astype(order).tobytes())


@pytest.mark.parametrize(
    "fmt, mode",
    [
        ("PNG", "I;16"),
        ("TIFF", "I;16"),
        ("TIFF", "I;16B"),
        ("TIFF", "I"),
        ("TIFF", "F"),
    ],
)
@pytest.mark.parametrize("digits", [False, True])
def test_wide_pictures_read_as_their_8_bit_copies(tmp_path, a_digit, fmt, mode, digits):
    """16-bit, 32-bit and float greys were clipped to 0..255 by Pillow's
    convert("L"): a 16-bit picture came out white, a float one black."""
    levels = 255 - _ink(a_digit, 4, crop=False)  # dark ink on white
    Image.fromarray(levels).save(tmp_path / "8-bit.png")
    wide = tmp_path / f"wide.{fmt.lower()}"
    _wide_copy(levels, mode).save(wide, fmt)
    with Image.open(wide) as img:
        assert img.mode in (mode, "I")  # "I": a 16-bit PNG in older Pillow
    expected = read_image(tmp_path / "8-bit.png", (1, 28, 28), digits)
    got = read_image(wide, (1, 28, 28), digits)
    assert expected.max() > 0.5  # the digit is there to compare
    np.testing.assert_allclose(got, expected, atol=1 / 255)


def test_float_pictures_on_the_8_bit_scale_and_with_holes(tmp_path, a_digit):
    """Floats beyond [0, 1] are on Pillow's 0..255 scale (its convert("F") of
    an 8-bit picture); NaN and infinities (a damaged file) read as finite."""
    levels = 255 - _ink(a_digit, 4, crop=False)
    Image.fromarray(levels).save(tmp_path / "8-bit.png")
    Image.fromarray(levels).convert("F").save(tmp_path / "levels.tiff")
    expected = read_image(tmp_path / "8-bit.png", (1, 28, 28), True)
    got = read_image(tmp_path / "levels.tiff", (1, 28, 28), True)
    np.testing.assert_allclose(got, expected, atol=1 / 255)
    holes = levels.astype(np.float32)
    holes[:3, :3] = [[np.nan, np.inf, -np.inf]] * 3
    Image.fromarray(holes).save(tmp_path / "holes.tiff")
    got = read_image(tmp_path / "holes.tiff", (1, 28, 28), True)
    assert np.isfinite(got).all() and got.min() >= 0 and got.max() <= 1


def test_a_transparent_level_of_a_16_bit_png_is_white(tmp_path, a_digit):
    """A grey PNG may name one level transparent: on white it is white, in 16
    bits as in 8."""
    ink = _ink(a_digit, 4, crop=False)  # light ink on a ground of level 0
    Image.fromarray(ink).save(tmp_path / "8-bit.png", transparency=0)
    _wide_copy(ink, "I;16").save(tmp_path / "16-bit.png", transparency=0)
    expected = read_image(tmp_path / "8-bit.png", (1, 28, 28), True)
    got = read_image(tmp_path / "16-bit.png", (1, 28, 28), True)
    assert expected.max() > 0.5
    np.testing.assert_allclose(got, expected, atol=1 / 255)


def test_predict_reads_16_bit_greyscale_pngs(tmp_path, model_file, digits, capsys):
    paths = []
    for k, digit in enumerate(digits[0]):
        paths.append(tmp_path / f"{k}.png")
        _wide_copy(255 - _ink(digit, 4, crop=False), "I;16").save(paths[-1])
    assert predict(model_file, paths, capsys) == digits[1]
