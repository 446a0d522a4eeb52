"""pipeline.score: predict's output scored against a labelled tree's labels (ICVL, NYU)."""
import numpy as np

from pipeline.camera import ICVL_INTRINSICS as INTR, uvd_to_xyz, xyz_to_uvd
from pipeline.datasets import ICVL, NYU
from pipeline.score import score_entries, tree_labels
from tests.helpers import write_tiny_icvl_tree, write_tiny_nyu_tree


def test_scores_only_frames_with_a_hand_and_measures_in_camera_mm(tmp_path):
    root = write_tiny_icvl_tree(tmp_path / "tree", train_seqs=1, frames_per_seq=2, test_frames=(3,))
    labels = tree_labels(root, ICVL, INTR)
    assert len(labels) == 5 and all(v.shape == (16, 3) for v in labels.values())
    entries = []
    for k, (path, uvd) in enumerate(sorted(labels.items())):
        xyz = uvd_to_xyz(uvd, INTR) + [3.0, 4.0, 0.0]  # every joint 5 mm off
        entry = {"path": path, "status": "ok", "xyz": xyz.tolist(), "uvd": xyz_to_uvd(xyz, INTR).tolist(),
                 "uvd_cnn": xyz_to_uvd(xyz + [0.0, 0.0, 12.0], INTR).tolist()}
        entries.append(entry if k else {"path": path, "status": "no hand: nothing near"})
    entries.append({"path": str(tmp_path / "unlabelled.png"), "status": "ok", "xyz": [[0, 0, 1]] * 16})
    s = score_entries(entries, labels, INTR)
    assert s["labelled_frames"] == 5 and s["frames_with_hand"] == 4
    np.testing.assert_allclose([s["mean_error_mm"], s["max_joint_error_mm_median"]], [5.0, 5.0], atol=1e-3)
    np.testing.assert_allclose(s["cnn_mean_error_mm"], 13.0, atol=1e-3)
    assert score_entries(entries[-1:], labels, INTR) is None


def test_nyu_tree_labels_are_the_14_kit_joints_of_camera_1_keyed_by_the_png_path(tmp_path):
    root = write_tiny_nyu_tree(tmp_path / "nyu", train_frames=3)
    labels = tree_labels(root, NYU, NYU.camera)
    assert sorted(labels) == sorted(str(root / split / f"depth_1_{i:07d}.png")
                                    for split, n in (("train", 3), ("test", 5)) for i in range(1, n + 1))
    assert all(v.shape == (14, 3) for v in labels.values())
