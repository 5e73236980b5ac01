"""The SPEC mini-language of ``chainrule train --model`` (chainrule/spec.py)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.spec import PRESETS, SpecError, build_spec

L = cr.layers


@pytest.mark.parametrize(
    ("name", "n_params"),
    [("mlp", 235_146), ("seed-cnn", 23_466), ("cnn", 421_642)],
)
def test_presets_have_the_documented_parameter_counts(name, n_params):
    model = build_spec(name, rng=0)
    assert model.num_parameters() == n_params
    assert model.output_shape((1, 28, 28)) == (10,)


def test_preset_is_the_same_as_its_spec():
    a = build_spec("seed-cnn", rng=0)
    b = build_spec(PRESETS["seed-cnn"], rng=0)
    assert [type(m) for m in a] == [L.Conv2D, L.ReLU, L.MaxPool2D, L.Flatten, L.Linear]
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)


def test_conv_stride_padding_pool_stride_and_dropout():
    model = build_spec(
        "conv8x3s2p1-relu-maxpool3s1-dropout0.25-flatten-linear32-tanh-linear10",
        rng=0,
    )
    conv, _, pool, drop, _, lin, _, out = model.layers
    assert conv.get_config()["stride"] == (2, 2)
    assert conv.get_config()["padding"] == (1, 1)
    assert conv.get_config()["kernel_size"] == (3, 3)
    # 28 -> (28 + 2 - 3) // 2 + 1 = 14 -> 14 - 3 + 1 = 12
    assert pool.get_config() == {"kernel_size": (3, 3), "stride": (1, 1)}
    assert drop.p == 0.25
    assert lin.in_features == 8 * 12 * 12
    assert out.out_features == 10
    assert model.output_shape((1, 28, 28)) == (10,)


def test_every_activation_token_and_dense_alias():
    model = build_spec(
        "flatten-dense16-relu-sigmoid-tanh-hardtanh-identity-logsoftmax-softmax",
        input_shape=(2, 3, 3),
    )
    kinds = [type(m) for m in model.layers]
    assert kinds == [
        L.Flatten,
        L.Linear,
        L.ReLU,
        L.Sigmoid,
        L.Tanh,
        L.HardTanh,
        L.Identity,
        L.LogSoftmax,
        L.Softmax,
    ]
    assert model.layers[1].in_features == 18


def test_input_shape_is_inferred_for_other_data():
    model = build_spec("conv4x3-flatten-linear2", input_shape=(3, 8, 8))
    assert model.layers[0].weight.shape == (4, 3, 3, 3)
    assert model.layers[2].in_features == 4 * 6 * 6


def test_tokens_are_case_insensitive_and_surrounding_space_is_ignored():
    model = build_spec("  Flatten-Linear10 ")
    assert [type(m) for m in model.layers] == [L.Flatten, L.Linear]


def test_an_int_seed_repeats_the_model_bit_for_bit():
    a = build_spec("mlp", rng=3)
    b = build_spec("mlp", rng=3)
    for va, vb in zip(a.state_dict().values(), b.state_dict().values()):
        np.testing.assert_array_equal(va, vb)


def test_an_int_seed_does_not_give_same_shaped_layers_the_same_weights():
    model = build_spec("flatten-linear8-relu-linear8-relu-linear8", rng=0)
    assert not np.array_equal(model[3].weight.data, model[5].weight.data)


def test_without_rng_the_global_seed_decides():
    cr.seed(5)
    a = build_spec("flatten-linear8", input_shape=(4,))
    cr.seed(5)
    b = build_spec("flatten-linear8", input_shape=(4,))
    np.testing.assert_array_equal(a[1].weight.data, b[1].weight.data)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", r"model spec is empty; give a preset \(mlp, seed-cnn, cnn\)"),
        ("   ", "model spec is empty"),
        (
            "flatten--linear10",
            r"token 2 '' \(at character 9\): empty token \(two '-' in a row\?\)",
        ),
        ("flatten-linear10-", r"token 3 '' \(at character 18\): empty token"),
        (
            "linear10",
            r"token 1 'linear10' \(at character 1\): Linear needs a flat input but "
            r"the shape here is \(1, 28, 28\); put 'flatten' before it",
        ),
        (
            "flatten-conv3x3",
            r"token 2 'conv3x3' \(at character 9\): Conv2D needs \(channels, height, "
            r"width\) input; the shape here is \(784,\)",
        ),
        (
            "flatten-maxpool2",
            r"token 2 'maxpool2' \(at character 9\): MaxPool2D needs \(channels, "
            r"height, width\) input",
        ),
        ("flatten-linear0", r"token 2 'linear0'.*the number of units must be positive"),
        ("conv0x3", r"token 1 'conv0x3'.*channels, kernel and stride must be positive"),
        ("conv4x3s0", "channels, kernel and stride must be positive"),
        ("maxpool0", r"token 1 'maxpool0'.*pool size and stride must be positive"),
        ("conv4x3-maxpool2s0", "token 2 'maxpool2s0'.*pool size and stride"),
        (
            "dropout1.5",
            r"token 1 'dropout1.5'.*dropout probability must be in \[0, 1\); got 1.5",
        ),
        ("dropout1", r"dropout probability must be in \[0, 1\); got 1.0"),
        (
            "flatten-foo-linear10",
            r"token 2 'foo' \(at character 9\): not a layer; expected one of "
            r".*convCxK\[sS\]\[pP\], .*dropoutP, .*linearN, .*maxpoolK\[sS\], .*flatten",
        ),
        ("conv4x3p1s2", "token 1 'conv4x3p1s2'.*not a layer"),
        ("linear", "token 1 'linear'.*not a layer"),
        (
            "conv4x40",
            r"token 1 'conv4x40' \(at character 1\): does not fit the input of "
            r"shape \(1, 28, 28\)",
        ),
        (
            "conv4x5-maxpool2-conv4x5-maxpool2-conv4x5",
            r"token 5 'conv4x5' \(at character 35\): does not fit",
        ),
    ],
)
def test_errors_point_at_the_bad_token(spec, message):
    with pytest.raises(SpecError, match=message):
        build_spec(spec)


def test_error_positions_count_in_the_text_shown():
    with pytest.raises(
        SpecError, match=r"'flatten-foo'.*token 2 'foo' \(at character 9\)"
    ):
        build_spec("  flatten-foo")


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("seed_cnn", r"not a layer or a preset; did you mean 'seed-cnn'\? expected a "
         r"preset \(mlp, seed-cnn, cnn, fashion-cnn\) or layers from .*linearN"),
        ("cnnn", r"did you mean 'cnn'\?"),
        ("flatten-rleu-linear10", r"token 2 'rleu' .*not a layer; did you mean 'relu'\?"),
        ("flatten-lnear10", r"token 2 'lnear10' .*did you mean 'linear10'"),
        ("flatten-zzz-linear10", r"token 2 'zzz' .*not a layer; expected one of"),
    ],
)  # fmt: skip
def test_typos_get_the_closest_names(spec, message):
    with pytest.raises(SpecError, match=message):
        build_spec(spec)


def test_preset_names_in_any_case():
    assert repr(build_spec("MLP", rng=0)) == repr(build_spec("mlp", rng=0))
    assert build_spec(" Seed-CNN ").num_parameters() == build_spec(
        "seed-cnn"
    ).num_parameters()


def test_a_spec_no_model_file_could_hold_is_refused():
    # Trained, it would write a model that neither info, predict nor --resume
    # can load.
    with pytest.raises(SpecError, match="has 10,001 layers; model files hold at most 10,000"):
        build_spec("relu-" * 10_000 + "linear1", input_shape=(3,))
    with pytest.raises(SpecError, match="more than the 16,777,216 values per sample"):
        build_spec("flatten-relu", input_shape=(5000, 5000))


@pytest.mark.parametrize(
    "spec, message",
    [("linear1e9", "linear is written linearN"), ("hardtanh2", "hardtanh is written hardtanh")],
)
def test_a_known_kind_with_wrong_numbers_says_how_it_is_written(spec, message):
    # Not "did you mean 'linear1e9'?", the token itself.
    with pytest.raises(SpecError, match=message) as exc:
        build_spec(spec, input_shape=(3,))
    assert "did you mean" not in str(exc.value)


@pytest.mark.parametrize("bad", ["ab", (0,), (2.5,), (True,), None, ()])
def test_input_shape_must_be_positive_integers(bad):
    with pytest.raises(SpecError, match="input_shape must be a tuple of positive integers"):
        build_spec("linear2", input_shape=bad)
    # A plain int is a number of features, as Input takes it.
    assert build_spec("linear2", input_shape=4)[0].in_features == 4
