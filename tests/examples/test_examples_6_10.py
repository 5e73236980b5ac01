"""The claims of examples 6-10, each checked by running the script's ``run``.

The scripts live in examples/, outside the package, so they are imported from
their paths. Each test runs with ``fast=True`` (fewer epochs, looser bounds
where training is cut short) and writes its pictures into a temporary folder.
"""

from __future__ import annotations

import math

import pytest
from _requires import importorskip

importorskip("matplotlib")
importorskip("scipy")


@pytest.fixture
def run(tmp_path, load_example):
    """A function: run example ``stem`` with fast settings, check its picture."""

    def run_example(stem: str) -> dict:
        result = load_example(stem).run(fast=True, out=tmp_path)
        assert result["figure"].is_file()
        assert result["figure"].stat().st_size > 10_000  # a real picture, not a blank
        return result

    return run_example


def test_06_linear_autoencoder_finds_the_pca_subspace(run):
    r = run("06_autoencoder_pca")
    assert 0 <= r["relative_gap"] < 0.02  # PCA is optimal: never beaten
    assert r["mean_angle_deg"] < 5
    assert r["linear_ae_error"] >= r["pca_error"] * (1 - 1e-6)
    # depth and ReLUs beat every linear reduction with the same code size
    assert r["relu_ae_error"] < r["pca_error"]
    assert r["relu_ae_test_error"] < r["pca_test_error"]


def test_07_momentum_needs_fewer_steps(run):
    r = run("07_momentum")
    assert r["bowl_steps_momentum"] < r["bowl_steps_plain"]
    assert r["bowl_steps_momentum"] < r["bowl_steps_plain_best_lr"]
    assert math.isfinite(r["mlp_steps_momentum"])
    assert r["mlp_steps_momentum"] < r["mlp_steps_plain"]


def test_08_hand_backprop_matches_chainrule_and_finite_differences(run):
    r = run("08_backprop_by_hand")
    assert r["max_err_hand_vs_chainrule"] < 1e-14
    assert r["max_err_hand_vs_finite_diff"] < 1e-8
    assert r["gradcheck_passed"]


def test_09_gradient_is_the_sum_over_both_paths(run):
    r = run("09_two_paths")
    assert r["max_err_vs_path_sum"] < 1e-14
    assert r["max_err_dh"] < 1e-14
    assert r["max_err_vs_finite_diff"] < 1e-9
    assert r["gradcheck_passed"]
    assert r["dot"].read_text().startswith("digraph")


def test_10_losses_are_negative_log_likelihoods(run):
    r = run("10_max_likelihood")
    assert r["ce_vs_loglik"] < 1e-12
    assert r["ce_vs_one_hot"] < 1e-12
    assert r["nll_vs_logpdf"] < 1e-12
    assert r["mse_vs_nll_params"] < 1e-12  # the same steps, up to rounding
    assert r["params_vs_lstsq"] < 1e-4  # fast: 1,500 steps instead of 4,000
