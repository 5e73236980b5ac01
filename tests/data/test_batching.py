import numpy as np
import pytest

from chainrule.data import iterate_minibatches, stratified_split


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 10), (1, 1), (0, 4)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_index_once_per_epoch(n, batch_size, shuffle):
    batches = list(iterate_minibatches(n, batch_size, shuffle=shuffle, rng=0))
    assert all(len(b) == batch_size for b in batches[:-1])
    if batches:
        assert 1 <= len(batches[-1]) <= batch_size
    assert len(batches) == -(-n // batch_size)
    seen = np.concatenate(batches) if batches else np.empty(0, int)
    assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(n))


def test_shuffle_differs_between_epochs_and_repeats_with_seed():
    rng = np.random.default_rng(0)
    e1 = np.concatenate(list(iterate_minibatches(100, 16, rng=rng)))
    e2 = np.concatenate(list(iterate_minibatches(100, 16, rng=rng)))
    assert not np.array_equal(e1, e2)
    again = np.random.default_rng(0)
    np.testing.assert_array_equal(
        e1, np.concatenate(list(iterate_minibatches(100, 16, rng=again)))
    )


def test_bad_batch_size():
    with pytest.raises(
        ValueError, match="batch_size must be a positive integer; got 0"
    ):
        iterate_minibatches(10, 0)
    with pytest.raises(ValueError, match="n must be a non-negative integer; got -1"):
        iterate_minibatches(-1, 2)


def test_stratified_split_keeps_class_proportions():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    tr, va = stratified_split(y, 0.2, seed=0)
    assert tr.dtype == va.dtype == np.int64
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(len(y)))
    assert np.bincount(y[va]).tolist() == [20, 10, 6, 4]
    assert np.bincount(y[tr]).tolist() == [80, 40, 24, 16]


def test_stratified_split_is_seeded():
    y = np.arange(100) % 3
    a = stratified_split(y, 0.3, seed=1)
    b = stratified_split(y, 0.3, seed=1)
    c = stratified_split(y, 0.3, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_float_targets_get_a_plain_random_split():
    t = np.linspace(0, 1, 50).reshape(50, 1)
    tr, va = stratified_split(t, 0.2, seed=0)
    assert len(va) == 10 and len(tr) == 40
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(50))


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        stratified_split(np.zeros(10, int), fraction)
