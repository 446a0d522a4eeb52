"""Tests of models/sdnet.py: presets, shapes, FLOP count."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.sdnet import PRESETS, build_model, count_flops, fit_pose_pca, preset, with_input_size
from pipeline.datasets import ICVL, NYU

NUM_JOINTS = ICVL.num_joints


def test_paper_preset_is_zf_net_with_one_fc_2048():
    cfg = preset("paper")
    assert cfg.input_size == 224
    assert cfg.conv_filters == (96, 256, 384, 384, 256)
    assert cfg.conv_kernels == (7, 5, 3, 3, 3) and cfg.conv_strides == (2, 2, 1, 1, 1)
    assert cfg.pool_after == (True, True, False, False, True)
    assert cfg.fc_units == 2048 and cfg.dropout == 0.5


@pytest.mark.parametrize("dataset", [ICVL, NYU], ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_model_maps_crops_to_3j_outputs(name, dataset):
    cfg = with_input_size(preset(name), 48)
    model = build_model(cfg, dataset.num_joints)  # 16 joints for ICVL, 14 for NYU
    assert model.input_shape == (None, 48, 48, 1)
    out = model(np.zeros((2, 48, 48, 1), "float32"), training=False)
    assert out.shape == (2, 3 * dataset.num_joints)
    assert np.all(np.isfinite(out.numpy()))


def test_paper_preset_output_and_feature_map_sizes():
    model = build_model(preset("paper"), NUM_JOINTS)
    assert model.output_shape == (None, 3 * NUM_JOINTS)
    assert model.get_layer("pool5").output.shape[1:] == (7, 7, 256)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="smoke"):
        preset("huge")


def test_flops_match_a_hand_count():
    # smoke at 16 px: conv1 5x5/2 8ch -> 8x8, pool -> 4x4; conv2 3x3 16ch -> 4x4, pool -> 2x2;
    # conv3..5 3x3 16ch at 2x2, pool -> 1x1; fc 16 -> 64; out 64 -> 48.
    model = build_model(with_input_size(preset("smoke"), 16), NUM_JOINTS)
    expected = (
        8 * 8 * 8 * (2 * 25 * 1 + 1)
        + 4 * 4 * 16 * (2 * 9 * 8 + 1)
        + 3 * (2 * 2 * 16 * (2 * 9 * 16 + 1))
        + 64 * (2 * 16 + 1)
        + 3 * NUM_JOINTS * (2 * 64 + 1)
    )
    assert count_flops(model) == expected


def test_presets_are_ordered_by_cost():
    flops = {name: count_flops(build_model(cfg, NUM_JOINTS)) for name, cfg in PRESETS.items()}
    assert flops["smoke"] < flops["cpu"] < flops["paper"]
    assert 2.0e9 < flops["paper"] < 2.6e9  # ZF-net conv layers at 224 px: about 2.3 GFLOPs


def test_batch_norm_option_adds_normalization_without_conv_biases():
    cfg = dataclasses.replace(with_input_size(preset("smoke"), 32), batch_norm=True)
    model = build_model(cfg, NUM_JOINTS)
    names = [layer.name for layer in model.layers]
    assert {"bn1", "bn5", "bn_fc"} <= set(names)
    assert model.get_layer("conv1").use_bias is False
    plain = build_model(with_input_size(preset("smoke"), 32), NUM_JOINTS)
    assert not any(n.startswith("bn") for n in (layer.name for layer in plain.layers))


def test_pose_pca_basis_reconstructs_poses_in_its_span():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(3 * NUM_JOINTS, 4)))[0].T  # (4, 3J) orthonormal rows
    mean = rng.normal(size=3 * NUM_JOINTS)
    coeff = rng.normal(size=(200, 4)) * [3, 2, 1, 0.5]
    poses = coeff @ basis + mean  # (200, 3J) in a 4-d affine subspace
    components, mu = fit_pose_pca(poses, 4)
    np.testing.assert_allclose(components @ components.T, np.eye(4), atol=1e-5)
    recon = (poses - mu) @ components.T @ components + mu
    np.testing.assert_allclose(recon, poses, atol=1e-4)
    # the model's fixed output layer applies that basis
    cfg = dataclasses.replace(with_input_size(preset("smoke"), 32), pca_dims=4)
    model = build_model(cfg, NUM_JOINTS, pca=(components, mu))
    layer = model.get_layer("joints")
    assert not layer.trainable
    np.testing.assert_allclose(layer.get_weights()[0], components)
    assert model.get_layer("pose_pca").units == 4
