"""The claims of examples 1-5, each checked by running the script's ``run``.

The scripts live in examples/, outside the package, so they are imported from
their paths. Each test runs with ``fast=True`` and writes its pictures into a
temporary folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def polynomial(tmp_path_factory, load_example):
    return load_example("01_polynomial_regression").run(
        fast=True, out=tmp_path_factory.mktemp("ex1")
    )


def test_01_gd_and_sgd_reach_the_least_squares_solution(polynomial):
    assert polynomial["error_gd"] < 1e-3
    assert polynomial["error_sgd"] < 1e-3
    np.testing.assert_allclose(polynomial["w_gd"], polynomial["w_star"], atol=1e-3)
    np.testing.assert_allclose(polynomial["w_sgd"], polynomial["w_star"], atol=1e-3)


def test_01_sgd_needs_fewer_passes_for_the_same_learning_rate(polynomial):
    assert polynomial["passes_sgd"] is not None
    assert polynomial["passes_gd"] is not None
    assert polynomial["passes_sgd"] < polynomial["passes_gd"] / 2


def test_01_constant_step_sgd_stalls_at_its_noise_floor(polynomial):
    assert polynomial["error_sgd_constant_lr"] > 1e-3


def test_01_writes_its_figure(polynomial):
    assert polynomial["figure"].stat().st_size > 10_000


@pytest.fixture(scope="module")
def sigmoid_softmax(tmp_path_factory, load_example):
    return load_example("02_sigmoid_vs_softmax").run(
        fast=True, out=tmp_path_factory.mktemp("ex2")
    )


def test_02_two_way_softmax_is_a_sigmoid_of_the_difference(sigmoid_softmax):
    assert sigmoid_softmax["identity_max_diff"] < 1e-12


def test_02_same_probabilities_and_hidden_gradients_every_step(sigmoid_softmax):
    assert len(sigmoid_softmax["prob_diff"]) >= 50
    assert sigmoid_softmax["prob_diff"].max() < 1e-10
    assert sigmoid_softmax["grad_diff"].max() < 1e-10


def test_02_same_learning_rate_on_both_output_layers_drifts_apart(sigmoid_softmax):
    diff = sigmoid_softmax["prob_diff_same_lr"]
    assert diff[0] < 1e-10  # same function before the first step
    assert diff[1:].max() > 1e-3  # the softmax rows move twice as far


@pytest.fixture(scope="module")
def depth(tmp_path_factory, load_example):
    return load_example("03_depth_without_nonlinearity").run(
        fast=True, out=tmp_path_factory.mktemp("ex3")
    )


def test_03_identity_network_is_one_linear_map(depth):
    assert depth["collapse_error"] < 1e-10


def test_03_identity_depth_is_no_better_than_logistic_regression(depth):
    acc = depth["accuracy"]
    assert acc["3 layers, identity"] <= acc["logistic regression"] + 0.01
    assert acc["3 layers, identity"] < 0.92  # a line cannot separate the moons


def test_03_tanh_and_relu_solve_two_moons(depth):
    assert depth["accuracy"]["3 layers, tanh"] >= 0.97
    assert depth["accuracy"]["3 layers, ReLU"] >= 0.97


def test_04_fifty_tanh_units_fit_sine(tmp_path, load_example):
    r = load_example("04_universal_approximation").run(fast=True, out=tmp_path)
    assert r["hidden"] == 50
    assert r["mse"] < 1e-3
    assert r["figure"].exists()


@pytest.mark.slow
def test_05_digit_recogniser_reaches_95_percent(tmp_path, load_example):
    # The full claim: fast mode trains the same 5 epochs (about 5-10 s).
    r = load_example("05_digit_recognizer").run(fast=True, out=tmp_path)
    assert r["test_accuracy"] >= 0.95
    assert all(p.exists() for p in r["figures"])


@pytest.mark.parametrize(
    "stem",
    [
        "01_polynomial_regression",
        "02_sigmoid_vs_softmax",
        "03_depth_without_nonlinearity",
        "04_universal_approximation",
        "05_digit_recognizer",
    ],
)
def test_scripts_have_run_and_main(stem, load_example):
    module = load_example(stem)
    assert callable(module.run) and callable(module.main)
    assert module.__doc__.startswith(f"Example {int(stem[:2])}:")


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "stem",
    sorted(p.stem for p in EXAMPLES.glob("[01][0-9]_*.py")),
)
def test_every_script_runs_from_its_command_line(stem, load_example, tmp_path, capsys):
    load_example(stem).main(["--fast", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    pngs = sorted(tmp_path.glob("*.png"))
    assert pngs and all(str(p) in printed for p in pngs)
    assert re.search(r"wrote .* in \d+\.\d s", printed)
