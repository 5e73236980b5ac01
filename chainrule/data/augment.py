"""Data augmentation on a batch of images: new, label-preserving views of the
training samples, drawn afresh every time a batch is visited.

An augmentation is a callable ``aug(x, rng) -> x`` on an (N, C, H, W) batch;
``rng`` is a ``np.random.Generator``. ``cr.fit(..., augment=aug)`` applies it
to each training batch only (never to validation or test data) with a
generator derived from the run's seed, the epoch and the batch number, so the
same run draws the same views, and a run resumed mid-epoch draws exactly what
the uninterrupted run would have.

Which augmentations suit which data is a property of the data, not of the
network: a shifted garment, or one mirrored left to right, is still the same
garment (Fashion-MNIST), so ``RandomCrop`` and ``RandomHorizontalFlip`` suit
it. A mirrored digit is not always a digit (a 2, a 3, a 7 mirrored), so for
digits use ``RandomCrop`` only.

>>> import numpy as np
>>> from chainrule.data import augment
>>> aug = augment.Compose(augment.RandomCrop(padding=2), augment.RandomHorizontalFlip())
>>> x = np.ones((4, 1, 28, 28), dtype=np.float32)
>>> aug(x, np.random.default_rng(0)).shape
(4, 1, 28, 28)
"""

from __future__ import annotations

import numpy as np


def _check_batch(who: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"{who}: expected a batch of images of shape (N, C, H, W); got shape "
            f"{x.shape}."
        )
    return x


class Augmentation:
    """Base class: ``__call__(x, rng) -> x``; ``get_config()`` gives the
    constructor arguments, so a run's settings can be written down."""

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class RandomCrop(Augmentation):
    """Pad each image with ``padding`` zeros on every side, then cut an H x W
    window at a random offset: the image moves by up to ``padding`` pixels
    in each direction, a different shift for every sample.

    Parameters
    ----------
    padding : int >= 1
        The largest shift in pixels.
    """

    def __init__(self, padding: int = 2) -> None:
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)):
            raise TypeError(f"RandomCrop: padding must be an integer; got {padding!r}.")
        if padding < 1:
            raise ValueError(f"RandomCrop: padding must be >= 1; got {padding}.")
        self.padding = int(padding)

    def get_config(self) -> dict:
        return {"padding": self.padding}

    def __call__(self, x, rng):
        x = _check_batch("RandomCrop", x)
        n, c, h, w = x.shape
        p = self.padding
        if 2 * p >= min(h, w):
            # Shifted that far most images would leave the frame, and train
            # as blanks under their labels.
            raise ValueError(
                f"RandomCrop: padding {p} shifts {h}x{w} images by up to {p} "
                f"pixels; it must be below half their smaller side "
                f"({(min(h, w) - 1) // 2} at most here)."
            )
        padded = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
        padded[:, :, p : p + h, p : p + w] = x
        dy = rng.integers(0, 2 * p + 1, n)
        dx = rng.integers(0, 2 * p + 1, n)
        # One gather for the whole batch: sample i takes rows dy_i .. dy_i + H - 1
        # and columns dx_i .. dx_i + W - 1 of its padded image.
        rows = (dy[:, None] + np.arange(h))[:, None, :, None]
        cols = (dx[:, None] + np.arange(w))[:, None, None, :]
        samples = np.arange(n)[:, None, None, None]
        channels = np.arange(c)[None, :, None, None]
        return padded[samples, channels, rows, cols]


class RandomHorizontalFlip(Augmentation):
    """Mirror each image left to right with probability ``p``.

    Parameters
    ----------
    p : float in [0, 1]
    """

    def __init__(self, p: float = 0.5) -> None:
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1]; got {p!r}.")
        self.p = p

    def get_config(self) -> dict:
        return {"p": self.p}

    def __call__(self, x, rng):
        x = _check_batch("RandomHorizontalFlip", x)
        flip = rng.random(len(x)) < self.p
        out = x.copy()  # never write into the caller's training set
        out[flip] = x[flip, :, :, ::-1]
        return out


class Compose(Augmentation):
    """Apply augmentations one after the other, with the same generator."""

    def __init__(self, *augmentations) -> None:
        for a in augmentations:
            if not callable(a):
                raise TypeError(
                    f"Compose: every augmentation must be callable as aug(x, rng); "
                    f"got {type(a).__name__}."
                )
        self.augmentations = list(augmentations)

    def __call__(self, x, rng):
        for a in self.augmentations:
            x = a(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.augmentations))})"


def from_spec(text: str) -> Augmentation | None:
    """Augmentations from a short text, as ``chainrule train --augment`` takes:
    comma-separated ``cropP`` (RandomCrop(padding=P)) and ``flip``
    (RandomHorizontalFlip()); ``none`` or an empty text gives None.

    >>> from chainrule.data import augment
    >>> augment.from_spec("crop2,flip")
    Compose(RandomCrop(padding=2), RandomHorizontalFlip(p=0.5))
    """
    parts = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not parts or parts == ["none"]:
        return None
    made: list[Augmentation] = []
    for part in parts:
        digits = part[4:]
        if part == "flip":
            made.append(RandomHorizontalFlip())
        elif part.startswith("crop") and digits.isascii() and digits.isdigit():
            made.append(RandomCrop(int(digits)))
        elif part == "none":
            raise ValueError(
                f"augment: 'none' stands alone; got {text!r} (leave it out to "
                "combine the others)."
            )
        else:
            raise ValueError(
                f"augment: unknown augmentation {part!r} in {text!r}; expected "
                "cropP (a random shift of up to P pixels), flip, or none."
            )
    return made[0] if len(made) == 1 else Compose(*made)


def batch_rng(seed: int, epoch: int, batch: int) -> np.random.Generator:
    """The generator for one batch's augmentation: a function of the run's
    seed, the epoch and the batch alone, so that it needs no saved state to
    resume exactly and does not disturb the stream that shuffles the data."""
    return np.random.default_rng([int(seed) % 2**63, 0xA0_6E47, int(epoch), int(batch)])


__all__ = [
    "Augmentation",
    "Compose",
    "RandomCrop",
    "RandomHorizontalFlip",
    "batch_rng",
    "from_spec",
]
