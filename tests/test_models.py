"""Tests of models/sdnet.py: presets, shapes, FLOP count."""
from __future__ import annotations

import numpy as np
import pytest

from models.sdnet import PRESETS, build_model, count_flops, preset, with_input_size
from pipeline.skeleton import NUM_JOINTS


def test_paper_preset_is_zf_net_with_one_fc_2048():
    cfg = preset("paper")
    assert cfg.input_size == 224
    assert cfg.conv_filters == (96, 256, 384, 384, 256)
    assert cfg.conv_kernels == (7, 5, 3, 3, 3) and cfg.conv_strides == (2, 2, 1, 1, 1)
    assert cfg.pool_after == (True, True, False, False, True)
    assert cfg.fc_units == 2048 and cfg.dropout == 0.5


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_model_maps_crops_to_3j_outputs(name):
    cfg = with_input_size(preset(name), 48)
    model = build_model(cfg)
    assert model.input_shape == (None, 48, 48, 1)
    out = model(np.zeros((2, 48, 48, 1), "float32"), training=False)
    assert out.shape == (2, 3 * NUM_JOINTS)
    assert np.all(np.isfinite(out.numpy()))


def test_paper_preset_output_and_feature_map_sizes():
    model = build_model(preset("paper"))
    assert model.output_shape == (None, 3 * NUM_JOINTS)
    assert model.get_layer("pool5").output.shape[1:] == (7, 7, 256)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="smoke"):
        preset("huge")


def test_flops_match_a_hand_count():
    # smoke at 16 px: conv1 5x5/2 8ch -> 8x8, pool -> 4x4; conv2 3x3 16ch -> 4x4, pool -> 2x2;
    # conv3..5 3x3 16ch at 2x2, pool -> 1x1; fc 16 -> 64; out 64 -> 48.
    model = build_model(with_input_size(preset("smoke"), 16))
    expected = (
        8 * 8 * 8 * (2 * 25 * 1 + 1)
        + 4 * 4 * 16 * (2 * 9 * 8 + 1)
        + 3 * (2 * 2 * 16 * (2 * 9 * 16 + 1))
        + 64 * (2 * 16 + 1)
        + 3 * NUM_JOINTS * (2 * 64 + 1)
    )
    assert count_flops(model) == expected


def test_presets_are_ordered_by_cost():
    flops = {name: count_flops(build_model(cfg)) for name, cfg in PRESETS.items()}
    assert flops["smoke"] < flops["cpu"] < flops["paper"]
    assert 2.0e9 < flops["paper"] < 2.6e9  # ZF-net conv layers at 224 px: about 2.3 GFLOPs
