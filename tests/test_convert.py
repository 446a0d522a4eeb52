"""pipeline.convert on in-memory frames: jitter, rotation copies, pre-rotated folders, reproducibility."""
import dataclasses
import shutil

import numpy as np
import pytest

from pipeline import geometry
from pipeline.camera import ICVL_INTRINSICS as INTR, uvd_to_xyz, xyz_to_uvd
from pipeline.config import CentreConfig, ConfigError, DataConfig
from pipeline.convert import convert_frame, plan_frames, rotation_angles
from pipeline.icvl import decode_depth_png, is_prerotated_folder
from tests.helpers import write_tiny_icvl_tree

CROP = 32


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    """(png bytes, FrameItem of a training frame, its label-free hand centre xyz mm)."""
    root = write_tiny_icvl_tree(tmp_path_factory.mktemp("tree") / "icvl", train_seqs=1, frames_per_seq=1,
                                test_frames=())
    (item,) = plan_frames(root, DataConfig(val_fraction=0.0)).frames
    png = open(item.image, "rb").read()
    depth = decode_depth_png(png, item.image, (INTR.width, INTR.height))
    return png, item, geometry.hand_centre(depth, INTR, DataConfig().cube_mm, DataConfig().centre)


def _convert(frame, cfg, split="train"):
    png, item, _ = frame
    recs, reason = convert_frame(png, dataclasses.replace(item, split=split), cfg, INTR)
    assert reason is None, reason
    return recs


def _check_labels_follow_the_crop(recs, item):
    for r in recs:
        np.testing.assert_allclose(
            r["joints"], geometry.normalize_joints(item.uvd, r["centre_xyz"], r["cube_mm"], INTR, r["angle_deg"]))
        np.testing.assert_allclose(
            r["affine"], geometry.crop_affine(xyz_to_uvd(r["centre_xyz"], INTR), r["cube_mm"], CROP, INTR,
                                              r["angle_deg"]))
        centre_uv = xyz_to_uvd(r["centre_xyz"], INTR)[:2]
        np.testing.assert_allclose(geometry.apply_affine(r["affine"], centre_uv), [(CROP - 1) / 2] * 2, atol=1e-9)


def test_without_jitter_every_copy_shares_the_centre_and_cube(frame):
    png, item, centre = frame
    cfg = DataConfig(crop_size=CROP, rotations=4)
    recs = _convert(frame, cfg)
    assert [r["angle_deg"] for r in recs] == rotation_angles("train", cfg) == [0.0, 90.0, 180.0, 270.0]
    for r in recs:
        assert r["cube_mm"] == cfg.cube_mm
        np.testing.assert_array_equal(r["centre_xyz"], centre)
    _check_labels_follow_the_crop(recs, item)
    # An in-plane turn moves the joints across the crop and keeps their depths.
    j0, j90 = recs[0]["joints"], recs[1]["joints"]
    assert np.abs(j0).max() <= cfg.max_joint_extent
    np.testing.assert_allclose(j90[:, 2], j0[:, 2])
    assert np.abs(j90[:, :2] - j0[:, :2]).max() > 0.2


def test_scale_and_centre_jitter_move_training_crops_only_and_are_reproducible(frame):
    png, item, centre = frame
    cfg = DataConfig(crop_size=CROP, rotations=16, scale_jitter=0.2, centre_jitter_mm=8.0, seed=3,
                     max_joint_extent=3.0)
    recs = _convert(frame, cfg)
    cubes = np.array([r["cube_mm"] for r in recs])
    offsets = np.array([r["centre_xyz"] - centre for r in recs])  # (16, 3) mm
    assert [r["angle_deg"] for r in recs] == rotation_angles("train", cfg)  # jitter leaves the angles alone
    assert np.all((cubes >= 200.0) & (cubes <= 300.0)) and cubes.min() < 235 and cubes.max() > 265
    assert len(set(cubes)) == 16  # one draw per copy
    assert np.all(np.abs(offsets) < 6 * 8.0) and 4.0 < offsets.std() < 12.0  # Gaussian, std 8 mm per axis
    _check_labels_follow_the_crop(recs, item)

    again = _convert(frame, cfg)
    for a, b in zip(recs, again):  # the same seed and path give the same records
        assert a["crop_png"] == b["crop_png"] and a["cube_mm"] == b["cube_mm"]
        np.testing.assert_array_equal(a["centre_xyz"], b["centre_xyz"])
    other = _convert(frame, dataclasses.replace(cfg, seed=4))
    assert [r["cube_mm"] for r in other] != list(cubes)

    for split in ("val", "test"):  # evaluation crops: one copy, the nominal cube, the found centre
        (r,) = _convert(frame, cfg, split)
        assert r["angle_deg"] == 0.0 and r["cube_mm"] == cfg.cube_mm
        np.testing.assert_array_equal(r["centre_xyz"], centre)


def test_skip_prerotated_drops_only_training_frames_of_short_named_folders(tmp_path):
    root = write_tiny_icvl_tree(tmp_path / "icvl", train_seqs=2, frames_per_seq=3, test_frames=(2,))
    depth = root / "Training/Depth"
    original = sorted(p.name for p in depth.iterdir())[0]
    shutil.copytree(depth / original, depth / "45")  # ICVL keeps rotated copies in folders like '45'
    labels = root / "Training/labels.txt"
    lines = labels.read_text().splitlines()
    labels.write_text("\n".join(lines + [l.replace(original + "/", "45/", 1) for l in lines
                                         if l.startswith(original + "/")]) + "\n")
    assert is_prerotated_folder("45") and not is_prerotated_folder(original)

    def sequences(skip):
        plan = plan_frames(root, DataConfig(val_fraction=0.0, skip_prerotated=skip))
        return sorted((f.split, f.sequence) for f in plan.frames)

    kept, skipped = sequences(False), sequences(True)
    assert kept.count(("train", "45")) == 3
    assert skipped == [s for s in kept if s != ("train", "45")]
    assert skipped.count(("test", "test_seq_1")) == 2


class _PalmLocator:
    """A localizer answering a fixed palm (3,) camera xyz mm of the frame it is given, with a fixed
    confidence; keeps the frames."""

    def __init__(self, palm, confidence, threshold=0.5):
        self.palm, self.confidence, self.threshold, self.seen = np.asarray(palm), confidence, threshold, []

    def locate(self, depth, intr):
        self.seen.append(np.array(depth))
        return self.palm, self.confidence


def test_the_learned_centre_is_cut_about_the_localizers_palm(frame):
    """ICVL's images show a left hand: the localizer (which finds right hands) is given the frame
    mirrored and its palm is mirrored back; the crop centre is the cube mean about that palm, and a
    frame it is not sure of is rejected with its confidence."""
    png, item, _ = frame
    depth = decode_depth_png(png, item.image, (INTR.width, INTR.height))
    palm = uvd_to_xyz(item.uvd[0], INTR)  # the labelled palm joint, in the frame's camera
    cfg = DataConfig(crop_size=CROP, rotations=1, centre=CentreConfig(method="learned", locator="unused"))
    loc = _PalmLocator(palm * np.array([-1.0, 1.0, 1.0]), 0.9)  # the palm as the mirrored frame has it
    recs, reason = convert_frame(png, item, cfg, INTR, loc)
    assert reason is None, reason
    np.testing.assert_array_equal(loc.seen[0], depth[:, ::-1])
    expect = geometry.centre_near(depth, INTR, palm, cfg.cube_mm, cfg.centre)
    np.testing.assert_allclose(recs[0]["centre_xyz"], expect)
    assert np.linalg.norm(expect - palm) < 60.0  # near the palm, not the seed moved far away
    _check_labels_follow_the_crop(recs, item)
    recs, reason = convert_frame(png, item, cfg, INTR, _PalmLocator(palm, 0.1))
    assert recs == [] and reason == "no hand: the localizer's confidence 0.100 is below its threshold 0.500"
    far = _PalmLocator(palm * np.array([-1.0, 1.0, 1.0]) + np.array([0.0, 0.0, 600.0]), 0.9)
    recs, reason = convert_frame(png, item, cfg, INTR, far)  # an empty cube about the palm
    assert recs == [] and reason.startswith("no hand pixels in the depth band (fewer than")


def test_the_learned_centre_needs_a_localizer_directory():
    with pytest.raises(ConfigError, match="needs the localizer.s directory"):
        CentreConfig(method="learned")
