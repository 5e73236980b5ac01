"""The claim of example 11, checked by running the script's ``run`` with
``fast=True`` (3 epochs instead of 12), its pictures in a temporary folder."""

from __future__ import annotations

from _requires import importorskip

importorskip("matplotlib")
importorskip("scipy")


def test_11_conv_autoencoder_beats_the_linear_one_at_the_same_code_size(
    tmp_path, load_example
):
    module = load_example("11_conv_autoencoder")
    assert module.__doc__.startswith("Example 11:")
    r = module.run(fast=True, out=tmp_path)
    assert r["figure"].is_file()
    assert r["figure"].stat().st_size > 10_000  # a real picture, not a blank
    assert r["conv_ae_test_error"] < r["pca_test_error"]
    assert r["conv_ae_test_error"] < 0.85 * r["linear_ae_test_error"]
