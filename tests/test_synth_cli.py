"""`sdnet synth` end to end on tiny trees: ICVL format, determinism, --poses, --preview, bad input."""
import argparse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.build_synth import OPTION_FLAGS, OptionError, config_from_options, synth_config
from pipeline.camera import CAMERAS, ICVL_INTRINSICS, uvd_to_xyz, xyz_to_uvd
from pipeline.cli import main
from pipeline.commands.synth import register
from pipeline.datasets import ICVL
from pipeline.icvl import ICVL_BACKGROUND, format_label_line, read_depth_png, read_label_file
from pipeline.synth.frames import rng_for
from pipeline.synth.poses import sample_frame, sample_subject
from tests.helpers import SHARED

ICVL_J = ICVL.num_joints  # ICVL label files: 16 joints a line

INPROC = ["--running-mode", "in_memory", "--no-progress"]
SHARED_SEQ1 = SHARED / "icvl" / "test_seq_1.txt"  # the real ICVL test labels, when present


def _synth(out, *extra):
    return main(["synth", "--out", str(out), *extra, *INPROC])


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "tree"
    assert _synth(out, "--train-frames", "14", "--test-frames", "9", "--sequence-length", "6",
                  "--seed", "3") == 0
    return out


def test_tree_has_the_icvl_layout_and_format(tree):
    train, errors = read_label_file(tree / "Training/labels.txt", ICVL_J)
    assert not errors and len(train) == 14
    assert [r.path for r in train[:7]] == [f"synth_0000/image_{i:04d}.png" for i in range(6)] + [
        "synth_0001/image_0000.png"]
    t1, _ = read_label_file(tree / "Testing/test_seq_1.txt", ICVL_J)
    t2, _ = read_label_file(tree / "Testing/test_seq_2.txt", ICVL_J)
    assert (len(t1), len(t2)) == (3, 6)  # 702:894
    assert t1[0].path == "test_seq_1/image_0000.png"
    for line in (tree / "Training/labels.txt").read_text().splitlines():
        assert len(line.split()) == 49
    for depth_dir, records in (("Training/Depth", train), ("Testing/Depth", t1 + t2)):
        for rec in records:
            png = tree / depth_dir / rec.path
            with Image.open(png) as img:
                assert img.mode.startswith("I;16") and img.size == (320, 240)
            depth = read_depth_png(png)
            assert (depth == ICVL_BACKGROUND).mean() > 0.5  # background written as 32001
            hand = depth[depth != ICVL_BACKGROUND]
            assert 150 < np.median(hand) < 500
            # The labelled palm joint lies on the hand, at about its depth.
            u, v, d = rec.uvd[0]
            patch = depth[int(v) - 2:int(v) + 3, int(u) - 2:int(u) + 3]
            near = patch[patch != ICVL_BACKGROUND]
            assert near.size and abs(np.median(near) - d) < 30
    manifest = (tree / "synth.json").read_text()
    assert '"seed": 3' in manifest and '"train_frames": 14' in manifest
    assert not list(tree.parent.glob(".tree.tmp-*"))  # nothing left beside the output


def test_same_seed_same_bytes_other_seed_other_bytes(tree, tmp_path):
    again = tmp_path / "again"
    assert _synth(again, "--train-frames", "14", "--test-frames", "9", "--sequence-length", "6",
                  "--seed", "3") == 0
    assert _files(again) == _files(tree)
    other = tmp_path / "other"
    assert _synth(other, "--train-frames", "14", "--test-frames", "9", "--sequence-length", "6",
                  "--seed", "4") == 0
    assert (other / "Training/labels.txt").read_bytes() != (tree / "Training/labels.txt").read_bytes()


def test_multi_processing_workers_write_the_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--train-frames", "8", "--test-frames", "4", "--sequence-length", "4", "--seed", "1"]
    assert main(["synth", "--out", str(a), *args, "--no-progress", "--running-mode", "multi_processing",
                 "--workers", "2"]) == 0
    assert _synth(b, *args) == 0
    assert _files(a) == _files(b)


def _label_file(path: Path, n: int, name: str = "seq") -> list[str]:
    lines = []
    for i in range(n):
        subject = sample_subject(rng_for(8, 0, i, 0))
        uvd = xyz_to_uvd(sample_frame(rng_for(8, 0, i, 1), subject, ICVL_INTRINSICS), ICVL_INTRINSICS)
        lines.append(format_label_line(f"{name}/image_{i:04d}.png", np.round(uvd, 3)))
    path.write_text("".join(line + "\n" for line in lines))
    return lines


def test_poses_renders_the_given_labels(tmp_path):
    src = tmp_path / "test_seq_2.txt"
    lines = _label_file(src, 4, "test_seq_2")
    out = tmp_path / "posed"
    assert _synth(out, "--poses", str(src)) == 0
    assert (out / "Testing/test_seq_2.txt").read_text().splitlines() == lines  # the same numbers
    records, _ = read_label_file(out / "Testing/test_seq_2.txt", ICVL_J)
    for rec in records:
        depth = read_depth_png(out / "Testing/Depth" / rec.path).astype(float)
        for u, v, d in rec.uvd:
            patch = depth[int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2]
            hand = patch[patch != ICVL_BACKGROUND]
            assert hand.size and hand.min() <= d + 3  # on the hand, never behind the joint


@pytest.mark.skipif(not SHARED_SEQ1.is_file(), reason="the real ICVL test labels are not present")
def test_poses_renders_real_icvl_labels(tmp_path):
    src = tmp_path / "test_seq_1.txt"
    src.write_text("".join(SHARED_SEQ1.read_text().splitlines(keepends=True)[:3]))
    out = tmp_path / "icvl"
    assert _synth(out, "--poses", str(src)) == 0
    want, _ = read_label_file(src, ICVL_J)
    got, _ = read_label_file(out / "Testing/test_seq_1.txt", ICVL_J)
    assert [r.path for r in got] == [r.path for r in want]
    np.testing.assert_array_equal(np.stack([r.uvd for r in got]), np.stack([r.uvd for r in want]))
    depth = read_depth_png(out / "Testing/Depth" / want[0].path)
    u, v, d = want[0].uvd[0]
    assert abs(float(depth[int(round(v)), int(round(u))]) - d) < 25
    np.testing.assert_allclose(uvd_to_xyz(want[0].uvd, ICVL_INTRINSICS)[:, 2], want[0].uvd[:, 2])


@pytest.mark.parametrize("bad, message", [
    ("seq/image_0000.png 1 2 3\n", "expected 49 fields"),
    ("seq/image_0000.png " + " ".join(["1"] * 47) + " x\n", "non-numeric"),
    ("seq/image_0000.png " + " ".join(["1"] * 47) + " nan\n", "NaN"),
    ("../escape.png " + " ".join(["100"] * 48) + "\n", "relative .png path"),
])
def test_poses_bad_lines_fail_with_file_and_line(tmp_path, capsys, bad, message):
    src = tmp_path / "labels.txt"
    good = _label_file(tmp_path / "good.txt", 1, "seq")[0].replace("image_0000", "image_0009")
    src.write_text(good + "\n" + bad)
    out = tmp_path / "out"
    assert _synth(out, "--poses", str(src)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{src}:2" in err[0] and message in err[0]
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_refuses_a_non_empty_out_without_overwrite(tmp_path, capsys):
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert _synth(out, "--train-frames", "2", "--test-frames", "0") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert _synth(out, "--train-frames", "2", "--test-frames", "0", "--overwrite") == 0
    assert not (out / "keep.txt").exists() and (out / "Training/labels.txt").is_file()
    assert not (out / "Testing").exists()


@pytest.mark.parametrize("args, message", [
    (["--train-frames", "-1", "--test-frames", "2"], "error: --train-frames: train_frames must be >= 0, got -1"),
    (["--train-frames", "2", "--test-frames", "-5"], "error: --test-frames: "),
    (["--train-frames", "0", "--test-frames", "0"], "error: --train-frames, --test-frames: nothing to make"),
    (["--train-frames", "4", "--test-frames", "2", "--sequence-length", "0"], "error: --sequence-length: "),
    (["--poses", "missing.txt", "--train-frames", "3"], "do not apply"),
])
def test_impossible_options_fail_cleanly(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert _synth(out, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_option_errors_carry_the_options_as_values():
    """The options at fault come from the fields SynthConfig's checks name (ConfigError.fields), never from its message."""
    cases = [({"train_frames": -1}, ("train_frames",)), ({"test_scene_fraction": -0.5}, ("test_scene_fraction",)),
             ({"scene_fraction": 2.0, "test_frames": 3}, ("scene_fraction",)),
             ({"back_fraction": -0.1}, ("back_fraction",)), ({"scene_back_fraction": 1.5}, ("scene_back_fraction",)),
             ({"train_frames": 0, "test_frames": 0, "seed": 4}, ("train_frames", "test_frames")),
             ({"train_frames": 0, "test_frames": 0,  # a custom camera is tried with its intrinsics, never alone
               "camera": {"camera": "custom", "intrinsics": CAMERAS["realsense"].to_dict()}},
              ("train_frames", "test_frames"))]
    for kwargs, fields in cases:
        with pytest.raises(OptionError) as e:
            synth_config(**kwargs)
        assert e.value.fields == fields and e.value.flags == tuple(OPTION_FLAGS[f] for f in fields), kwargs
        assert str(e.value) == f"{', '.join(e.value.flags)}: {e.value.reason}"
    with pytest.raises(OptionError) as e:  # build_pose_tree's config
        config_from_options({"seed": -1, "sensor_profile": "occluded"})
    assert e.value.flags == ("--seed",)
    assert synth_config(scene_fraction=0.5).scene_fraction == 0.5
    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    flags = {f for a in sub.choices["synth"]._actions for f in a.option_strings}
    assert set(OPTION_FLAGS.values()) <= flags  # every flag named is one of sdnet synth's


def test_preview_montage(tree, tmp_path):
    png = tmp_path / "preview.png"
    assert main(["synth", "--preview", str(png), "--preview-frames", "4"]) == 0
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size[0] > 300
    from_tree = tmp_path / "tree.png"
    assert main(["synth", "--preview", str(from_tree), "--from-tree", str(tree), "--preview-frames", "3"]) == 0
    assert from_tree.stat().st_size > 10_000
