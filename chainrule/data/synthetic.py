"""Small seeded data sets for the seeds' worked examples and for quick tests.

Each function takes ``seed=``: an int, a ``np.random.Generator``, or None for
the default generator of :mod:`chainrule.random` (so ``cr.seed(n)`` fixes them
too). The same seed gives the same arrays, bit for bit.

Inputs are float32 (the library's default dtype); class labels are int64 in
{0, 1}, with the two classes as balanced as ``n`` allows (n // 2 of class 0).
"""

from __future__ import annotations

import numpy as np

from .._checks import integer
from ..random import get_rng

SeedLike = int | np.random.Generator | None


def polynomial(
    n: int = 100,
    coeffs: tuple[float, ...] = (1.0, -2.0, 3.0),
    noise: float = 0.1,
    x_range: tuple[float, float] = (-1.0, 1.0),
    seed: SeedLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """1-D regression: t = w0 + w1 x + w2 x^2 + ... + noise, as in seed 001.

    Parameters
    ----------
    n : int
        Number of samples.
    coeffs : sequence of float
        (w0, w1, w2, ...), lowest degree first, so f_w(x) = w2 x^2 + w1 x + w0
        for the default three.
    noise : float
        Standard deviation of the Gaussian noise added to t.
    x_range : (low, high)
        x is drawn uniformly from [low, high).
    seed : int, np.random.Generator or None

    Returns
    -------
    x : np.ndarray, shape (n, 1), float32
    t : np.ndarray, shape (n, 1), float32

    Examples
    --------
    >>> from chainrule.data import polynomial
    >>> x, t = polynomial(50, coeffs=(0.0, 0.0, 1.0), noise=0.0, seed=0)
    >>> bool(abs(t - x**2).max() < 1e-6)
    True
    """
    n = _check_n("polynomial", n)
    noise = _check_noise("polynomial", noise)
    coeffs = np.asarray(coeffs, dtype=np.float64)
    if coeffs.ndim != 1 or coeffs.size == 0:
        raise ValueError(
            f"polynomial: coeffs must be a non-empty sequence (w0, w1, ...); got "
            f"{coeffs.tolist()!r}."
        )
    low, high = (float(v) for v in x_range)
    if not low < high:
        raise ValueError(
            f"polynomial: x_range must be (low, high) with low < high; got "
            f"{tuple(x_range)!r}."
        )
    rng = get_rng(seed)
    x = rng.uniform(low, high, size=(n, 1))
    # np.polyval wants the highest degree first.
    t = np.polyval(coeffs[::-1], x) + noise * rng.standard_normal((n, 1))
    return x.astype(np.float32), t.astype(np.float32)


def xor(
    n: int = 200, noise: float = 0.1, seed: SeedLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: four Gaussian blobs at (±1, ±1), label 1 where the signs differ.

    No straight line separates the classes, which is why a network needs a
    hidden layer for it.

    Parameters
    ----------
    n : int
        Number of samples, spread evenly over the four corners.
    noise : float
        Standard deviation of the blobs.
    seed : int, np.random.Generator or None

    Returns
    -------
    x : np.ndarray, shape (n, 2), float32
    y : np.ndarray, shape (n,), int64 in {0, 1}
    """
    n = _check_n("xor", n)
    noise = _check_noise("xor", noise)
    rng = get_rng(seed)
    corners = np.array([[-1, -1], [1, 1], [-1, 1], [1, -1]], dtype=np.float64)
    corner_labels = np.array([0, 0, 1, 1], dtype=np.int64)
    # Corner i gets samples i, i+4, ...: classes 0 and 1 each get n // 2 or so.
    which = rng.permutation(np.arange(n) % 4)
    x = corners[which] + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), corner_labels[which]


def two_moons(
    n: int = 200, noise: float = 0.1, seed: SeedLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``).

    Class 0 is the upper arc (cos t, sin t), class 1 the lower arc
    (1 - cos t, 0.5 - sin t), t in [0, pi]; Gaussian noise of std ``noise``.

    Returns
    -------
    x : np.ndarray, shape (n, 2), float32
    y : np.ndarray, shape (n,), int64 in {0, 1}, shuffled
    """
    n = _check_n("two_moons", n)
    noise = _check_noise("two_moons", noise)
    rng = get_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    order = rng.permutation(n)
    return x[order].astype(np.float32), y[order]


def spirals(
    n: int = 200, noise: float = 0.05, seed: SeedLike = None, turns: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved Archimedean spirals, a hard case for small networks.

    Arm 0 is r (cos theta, sin theta) with r = theta / theta_max, arm 1 the
    same rotated by pi; theta runs from a little above 0 to 2 pi * ``turns``, so
    the points lie in the unit disc before noise.

    Parameters
    ----------
    n : int
        Number of samples.
    noise : float
        Standard deviation of the Gaussian noise, in units of the disc radius.
    seed : int, np.random.Generator or None
    turns : float
        How many times each arm winds around the centre.

    Returns
    -------
    x : np.ndarray, shape (n, 2), float32
    y : np.ndarray, shape (n,), int64 in {0, 1}, shuffled
    """
    n = _check_n("spirals", n)
    noise = _check_noise("spirals", noise)
    if not turns > 0:
        raise ValueError(f"spirals: turns must be > 0; got {turns!r}.")
    rng = get_rng(seed)
    n0 = n // 2
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    theta_max = 2.0 * np.pi * turns
    # sqrt spreads the points evenly along the arm's length instead of
    # crowding them at the centre; the 0.05 offset keeps the arms apart there.
    theta = (0.05 + 0.95 * np.sqrt(rng.uniform(size=n))) * theta_max
    r = theta / theta_max
    angle = theta + np.pi * y
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    x += noise * rng.standard_normal((n, 2))
    order = rng.permutation(n)
    return x[order].astype(np.float32), y[order]


def _check_n(who: str, n) -> int:
    return integer(who, "n", n)


def _check_noise(who: str, noise) -> float:
    noise = float(noise)
    if not noise >= 0.0:  # also rejects nan
        raise ValueError(f"{who}: noise must be >= 0; got {noise!r}.")
    return noise
