"""Image folders: listing, modes, sizes, limits."""

from __future__ import annotations

import numpy as np
import pytest
from _requires import importorskip

from chainrule.data import folders
from chainrule.data.folders import (
    ImageFolderError,
    list_image_folder,
    looks_like_image_folder,
    read_headers,
    read_images,
)

Image = importorskip("PIL.Image")


def make(path, mode="L", size=(6, 4), value=200):
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode in ("L",) else (value, 0, 0, 128)[: len(mode)]
    Image.new(mode, size, colour).save(path)
    return path


def test_listing_sorted_classes_and_splits(tmp_path):
    make(tmp_path / "b" / "1.png")
    make(tmp_path / "a" / "x" / "2.PNG")  # nested files and any-case suffixes count
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    listing = list_image_folder(tmp_path)
    assert listing.classes == ["a", "b"]
    assert [(p.name, c) for p, c in listing.train] == [("2.PNG", 0), ("1.png", 1)]
    assert looks_like_image_folder(tmp_path)
    split = tmp_path / "s"
    make(split / "train" / "cat" / "1.png")
    make(split / "train" / "dog" / "1.png")
    make(split / "test" / "dog" / "2.png")
    listing = list_image_folder(split)
    assert listing.classes == ["cat", "dog"] and len(listing.test) == 1
    make(split / "test" / "cow" / "3.png")
    with pytest.raises(ImageFolderError, match="class folder 'cow' that the training"):
        list_image_folder(split)


def test_folder_errors(tmp_path):
    make(tmp_path / "loose.png")
    with pytest.raises(ImageFolderError, match="no class folders \\(1 images lie"):
        list_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFolderError, match="holds no images"):
        list_image_folder(tmp_path)


def test_modes_sizes_and_transparency_are_converted_and_said(tmp_path):
    files = [
        make(tmp_path / "1.png", "L", (6, 4), 255),
        make(tmp_path / "2.png", "RGB", (6, 4)),
        make(tmp_path / "3.png", "RGBA", (3, 3)),
    ]
    headers = read_headers(files)
    assert headers.default_channels() == 3
    assert headers.default_size() == (4, 6)
    x, notes = read_images(files, (4, 6), 3, headers)
    assert x.shape == (3, 3, 4, 6) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(x[0], 1.0)
    assert "converted 1 L image to RGB" in notes
    assert "converted 1 RGBA image to RGB" in notes
    assert "composited 1 image(s) with transparency onto white" in notes
    assert "resized 1 of 3 images to 4x6" in notes
    grey, notes = read_images(files[:1], (4, 6), 1)
    assert grey.shape == (1, 1, 4, 6) and notes == []


def test_unreadable_and_oversized_images_are_named(tmp_path, monkeypatch):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageFolderError, match="cannot read image .*bad.png"):
        read_headers([bad])
    big = make(tmp_path / "big.png", size=(50, 50))
    monkeypatch.setattr(folders, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageFolderError, match="big.png' has 50x50 pixels; at most 100"):
        read_headers([big])
    monkeypatch.undo()
    with pytest.raises(ImageFolderError, match="--image-size must be two sides"):
        read_images([big], (2000, 5), 1)
    with pytest.raises(ImageFolderError, match="--channels must be 1 or 3"):
        read_images([big], (5, 5), 2)


def test_only_the_formats_the_names_stand_for_are_decoded(tmp_path):
    # Pillow goes by a file's content: PostScript named .png would reach its
    # EPS decoder, which runs Ghostscript. A GIF is refused the same way; a
    # camera's JPEG holding two pictures (MPO) is a JPEG and reads.
    eps = tmp_path / "drawing.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    gif = make(tmp_path / "anim.png", "L").with_suffix(".gif")
    Image.new("L", (6, 4), 9).save(gif, "GIF")
    gif = gif.rename(tmp_path / "gif.png")
    for path in (eps, gif):
        with pytest.raises(
            ImageFolderError, match=f"'{path}': it is not a PNG, JPEG or BMP picture"
        ):
            read_headers([path])
    mpo = tmp_path / "camera.jpg"
    first, second = Image.new("RGB", (6, 4), (200, 0, 0)), Image.new("RGB", (6, 4))
    first.save(mpo, "MPO", save_all=True, append_images=[second])
    with Image.open(mpo) as img:
        assert img.format == "MPO"
    x, _ = read_images([mpo], (4, 6), 3)
    assert x.shape == (1, 3, 4, 6) and abs(x[0, 0].mean() - 200 / 255) < 0.02


def _bmp_declaring(path, width, height):
    """An 8x8 BMP (246 bytes) whose header is edited to declare another size."""
    import struct

    make(path, "RGB", (8, 8))
    blob = bytearray(path.read_bytes())
    blob[18:26] = struct.pack("<ii", width, height)
    path.write_bytes(bytes(blob))
    return path


def test_a_header_declaring_more_pixels_than_its_file_holds_is_refused(tmp_path):
    # 8 x 1,048,584 pixels in 246 bytes: Pillow would allocate the declared
    # 8.4 million pixels (about 34 MB) before finding the file short.
    bmp = _bmp_declaring(tmp_path / "forged.bmp", 8, 1_048_584)
    with pytest.raises(
        ImageFolderError,
        match=r"forged.bmp' declares 8x1048584 pixels in a file of 246 bytes, more than "
        r"8,192 a byte: compression packs that much only into a blank page",
    ):
        read_headers([bmp])
    # A blank 1-bit PNG, the densest picture deflate makes (about 7,000
    # pixels a byte), still reads.
    blank = tmp_path / "blank.png"
    Image.new("1", (2000, 2000), 0).save(blank, optimize=True)
    assert 2000 * 2000 / blank.stat().st_size > 5000
    assert read_headers([blank]).sizes == [(2000, 2000)]


# ----------------------------------------------- pictures of more than 8 bits
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(28, 28), (20, 24)])
def test_16_bit_grey_pngs_read_as_their_8_bit_copies(tmp_path, channels, size):
    """Pillow's convert("L") clips 16-bit levels to 0..255 instead of scaling
    them: a 16-bit picture came out white. Level v of 65535 is v / 257 of 255."""
    from chainrule.data import load

    x, _ = load("mnist5k")[1]
    levels = 255 - np.round(x[0, 0] * 255).astype(np.uint8)  # dark ink on white
    eight, sixteen = tmp_path / "8" / "a.png", tmp_path / "16" / "a.png"
    eight.parent.mkdir(), sixteen.parent.mkdir()
    Image.fromarray(levels).save(eight)
    Image.fromarray(levels.astype(np.uint16) * 257).save(sixteen)  # mode I;16
    headers = read_headers([sixteen])
    wide = headers.modes[0]
    assert wide in ("I;16", "I")  # "I" in older versions of Pillow
    assert headers.default_channels() == 1
    x8, notes8 = read_images([eight], size, channels)
    x16, notes16 = read_images([sixteen], size, channels, headers)
    assert x8.min() < 0.1 and x8.max() > 0.9  # the digit is there to compare
    # Resized, the 8-bit copy is rounded to whole levels after each of
    # Pillow's two passes (rows, then columns): half a level more.
    atol = (1 if size == (28, 28) else 1.5) / 255
    np.testing.assert_allclose(x16, x8, atol=atol)
    assert notes16 == [n.replace(" L ", f" {wide} ") for n in notes8]


def test_wide_grey_levels_conventions():
    """16-bit levels are fractions of 65535; 32-bit integers are read on the
    16-bit scale; floats within [0, 1] are fractions, else on 0..255; NaN is
    0 and infinities are clipped."""
    grey = folders.wide_grey_levels
    v = np.array([[0, 257, 128 * 257, 65535]], np.uint16)
    expected = np.array([[0, 1, 128, 255]]) / 255
    np.testing.assert_allclose(grey(Image.fromarray(v)), expected, atol=1e-6)
    big_endian = Image.frombytes("I;16B", (4, 1), v.astype(">u2").tobytes())
    np.testing.assert_allclose(grey(big_endian), expected, atol=1e-6)
    ints = Image.fromarray(np.array([[-5, 257, 128 * 257, 70000]], np.int32))
    np.testing.assert_allclose(grey(ints), expected, atol=1e-6)
    fractions = np.array([[0, 0.5, 1, np.nan, np.inf, -np.inf]], np.float32)
    np.testing.assert_array_equal(
        grey(Image.fromarray(fractions)), [[0, 0.5, 1, 0, 1, 0]]
    )
    levels = np.array([[-3, 51, 255, 300, np.nan, np.inf]], np.float32)
    np.testing.assert_allclose(
        grey(Image.fromarray(levels)), [[0, 0.2, 1, 1, 0, 1]], atol=1e-6
    )
    for a in (fractions, levels):
        assert grey(Image.fromarray(a)).dtype == np.float32
