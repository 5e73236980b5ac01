"""Batch augmentation: what each transform does to the pixels, that it is
reproducible, and that fit applies it to training batches only."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.data.augment import (
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    batch_rng,
)


def _images(n=6, c=2, h=5, w=7):
    return np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w) + 1


def test_random_crop_is_a_shift_with_zero_fill():
    x = _images()
    out = RandomCrop(padding=2)(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    p = 2
    for i in range(len(x)):
        # Some shift (dy, dx) in [-2, 2]^2 explains sample i, for both channels.
        found = False
        padded = np.pad(x[i], ((0, 0), (p, p), (p, p)))
        for dy in range(2 * p + 1):
            for dx in range(2 * p + 1):
                if np.array_equal(out[i], padded[:, dy : dy + 5, dx : dx + 7]):
                    found = True
        assert found, f"sample {i} is not a shifted copy"


def test_random_crop_shifts_differ_between_samples():
    x = np.ones((64, 1, 8, 8), np.float32)
    out = RandomCrop(padding=3)(x, np.random.default_rng(1))
    zeros_per_sample = (out == 0).reshape(64, -1).sum(1)
    assert len(set(zeros_per_sample.tolist())) > 5


def test_flip_mirrors_about_half_and_leaves_the_input_alone():
    x = _images(n=400, c=1, h=2, w=3)
    before = x.copy()
    out = RandomHorizontalFlip(p=0.5)(x, np.random.default_rng(2))
    assert np.array_equal(x, before)
    flipped = np.array([np.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert (flipped ^ kept).all()
    assert 150 < flipped.sum() < 250
    assert (
        RandomHorizontalFlip(p=0.0)(x, np.random.default_rng(0)).tolist() == x.tolist()
    )


def test_same_generator_same_views():
    x = _images()
    aug = Compose(RandomCrop(1), RandomHorizontalFlip())
    a = aug(x, batch_rng(7, 2, 3))
    b = aug(x, batch_rng(7, 2, 3))
    c = aug(x, batch_rng(7, 2, 4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RandomCrop(0), "RandomCrop: padding must be >= 1; got 0"),
        (lambda: RandomCrop(1.5), "RandomCrop: padding must be an integer"),
        (lambda: RandomHorizontalFlip(2), r"p must be in \[0, 1\]; got 2.0"),
        (lambda: Compose(3), "every augmentation must be callable"),
    ],
)
def test_bad_settings(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_a_shift_past_half_the_image_is_refused():
    # crop99 on 28x28 images zeroed 93% of them, trained under their labels.
    with pytest.raises(ValueError, match=r"padding 14 shifts 28x28 images .* \(13 at most here\)"):
        RandomCrop(14)(np.zeros((2, 1, 28, 28)), np.random.default_rng(0))
    assert RandomCrop(13)(np.ones((2, 1, 28, 28)), np.random.default_rng(0)).shape == (2, 1, 28, 28)


@pytest.mark.parametrize(
    "text, match",
    [("none,crop2", "'none' stands alone"), ("crop\u00b2", "unknown augmentation 'crop\u00b2'")],
)
def test_from_spec_refuses_plainly(text, match):
    from chainrule.data.augment import from_spec

    with pytest.raises(ValueError, match=match):
        from_spec(text)


def test_needs_image_batches():
    with pytest.raises(
        ValueError,
        match=r"RandomCrop: expected a batch of images of shape \(N, C, H, W\); got shape \(3, 4\)",
    ):
        RandomCrop(1)(np.zeros((3, 4)), np.random.default_rng(0))


def test_fit_augments_training_batches_only():
    seen = {"train": [], "other": []}

    def spy(x, rng):
        seen["train"].append(x.shape[0])
        return RandomCrop(1)(x, rng)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 2, 20)
    model = cr.Sequential(cr.layers.Flatten(), cr.layers.Linear(16, 2, rng=0))
    cr.fit(
        model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1), x, y,
        epochs=2, batch_size=8, validation_split=0.25, verbose=0, seed=0, augment=spy,
    )  # fmt: skip
    # 15 training samples in batches of 8, two epochs; validation never augmented
    assert seen["train"] == [8, 7, 8, 7]


def test_fit_refuses_a_non_callable_augment():
    model = cr.Sequential(cr.layers.Linear(2, 2, rng=0))
    with pytest.raises(TypeError, match="fit: augment must be callable"):
        cr.fit(
            model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1),
            np.zeros((4, 2), np.float32), np.zeros(4, np.int64), augment="crop",
        )  # fmt: skip
