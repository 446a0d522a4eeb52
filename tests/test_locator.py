"""The full-frame hand localizer: letterbox geometry, targets, augmentation, the model's shapes, a tiny
training on scenes with a nearer distractor, storage and the CLI's errors."""
from pathlib import Path

import numpy as np
import pytest

from models.locator import STRIDE, build_locator_model
from pipeline.camera import ICVL_INTRINSICS, Intrinsics, xyz_to_uvd
from pipeline.cli import main
from pipeline.errors import SdnetError
from pipeline.icvl import format_label_line, write_depth_png
from pipeline.locator import (LOCATOR_META, LOCATOR_MODEL, augment_sample, cell_to_work, decode_peak,
                              frame_input, grid_shape, heatmap_targets, letterbox, load_locator,
                              normalize_depth, resample_frame, train_locator, work_to_cell)


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (424, 240)])
def test_letterbox_round_trip_and_resampling(size):
    w, h = size
    lb = letterbox(w, h)
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0, w - 1, 50), rng.uniform(0, h - 1, 50)
    uw, vw = lb.to_work(u, v)
    assert np.all((uw > -0.5) & (uw < lb.width - 0.5) & (vw > -0.5) & (vw < lb.height - 0.5))
    u2, v2 = lb.to_source(uw, vw)
    np.testing.assert_allclose(u2, u, atol=1e-9)
    np.testing.assert_allclose(v2, v, atol=1e-9)
    # a block of valid depth in an empty frame lands at its letterboxed place
    depth = np.zeros((h, w), np.uint16)
    depth[100:120, 200:220] = 500
    work = resample_frame(depth, lb)
    cu, cv = lb.to_work(209.5, 109.5)
    assert work[int(round(float(cv))), int(round(float(cu)))] == 500
    assert work.shape == (120, 160) and set(np.unique(work)) <= {0.0, 500.0}


def test_normalization_and_background():
    depth = np.full((240, 320), 800, np.uint16)
    depth[:, :10] = 0
    depth[:, 10:20] = 32001
    depth[50:60, 50:60] = 300
    x, t = frame_input(depth, ICVL_INTRINSICS)
    assert t.ref_mm == 800.0 and x.dtype == np.float32 and x.shape == (120, 160)
    assert x[:, :5].max() == 1.0 and x[:, 5:10].min() == 1.0   # background +1
    assert x[27, 27] == pytest.approx(-1.0)                     # 500 mm nearer: clipped at -1
    assert x[100, 100] == 0.0
    with pytest.raises(SdnetError):
        frame_input(depth, Intrinsics(fx=476, fy=476, cx=320, cy=240, width=640, height=480))
    assert normalize_depth(np.zeros((8, 8), np.float32))[0].min() == 1.0


def test_targets_peak_at_the_palm_cell_and_zero_without_a_hand():
    grid = grid_shape()
    assert grid == (30, 40)
    palm = np.array([57.3, 81.9])
    t = heatmap_targets(palm, -0.4, grid)
    col, row = work_to_cell(*palm)
    i, j = np.unravel_index(np.argmax(t[..., 0]), grid)
    assert (i, j) == (round(float(row)), round(float(col))) and t[i, j, 0] == 1.0
    assert np.all(t[..., 1] == np.float32(-0.4)) and np.array_equal(t[..., 2], t[..., 0])
    assert np.count_nonzero(t[..., 0] == 1.0) == 1
    np.testing.assert_allclose(cell_to_work(col, row), palm)
    assert not heatmap_targets(None, 0.0, grid).any()
    assert not heatmap_targets(np.array([-30.0, 10.0]), 0.0, grid).any()


def test_decode_peak_is_subpixel():
    logits = np.full((30, 40), -9.0)
    logits[10, 20] = logits[10, 21] = 3.0
    depth = np.full((30, 40), -0.25)
    uw, vw, dn, conf = decode_peak(logits, depth)
    assert uw == pytest.approx(cell_to_work(20.5, 10)[0], abs=0.01) and vw == pytest.approx(cell_to_work(0, 10)[1])
    assert dn == pytest.approx(-0.25) and conf == pytest.approx(1 / (1 + np.exp(-3.0)))


def test_augmented_negatives_have_no_hand_and_positives_one():
    rng = np.random.default_rng(1)
    frame, palm = _scene(rng)
    lb = letterbox(320, 240)
    work = resample_frame(frame, lb)
    uw, vw = lb.to_work(palm[0], palm[1])
    palm_w = np.array([float(uw), float(vw), palm[2]])
    for _ in range(10):
        x, y = augment_sample(work, palm_w, ICVL_INTRINSICS.fx * lb.scale, rng, negative=True)
        assert not y.any() and x.shape == (120, 160) and -1 <= x.min() and x.max() <= 1
        x, y = augment_sample(work, palm_w, ICVL_INTRINSICS.fx * lb.scale, rng, negative=False)
        assert y[..., 0].max() == 1.0


def test_model_output_shapes():
    model = build_locator_model(120, 160)
    out = model(np.zeros((2, 120, 160, 1), np.float32))
    assert tuple(out["heatmap"].shape) == (2, 120 // STRIDE, 160 // STRIDE, 1)
    assert tuple(out["depth"].shape) == (2, 30, 40, 1)
    # the depth map starts as the mean of each cell's valid pixels; background-only cells read +1
    x = np.ones((1, 120, 160, 1), np.float32)
    x[0, :4, :4] = -0.5
    x[0, 0, 0] = 1.0
    d = model(x)["depth"].numpy()[0, ..., 0]
    assert d[0, 0] == pytest.approx(-0.5) and d[5, 5] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        build_locator_model(100, 160)


# ----------------------------------------------------------------------------- a tiny training

def _scene(rng, intr=ICVL_INTRINSICS, hand=True):
    """(depth (H, W) uint16 mm, palm uvd (3,)): a wall 700-900 mm away, a bar (another arm) nearer
    than the hand, and a disc hand of 45 mm radius at 330-420 mm away from the bar."""
    h, w = intr.height, intr.width
    vv, uu = np.mgrid[0:h, 0:w]
    depth = np.full((h, w), rng.uniform(700, 900), np.float32)
    bu, bv = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    depth[(np.abs(uu - bu) < 0.08 * w) & (np.abs(vv - bv) < 0.3 * h)] = rng.uniform(200, 260)
    while True:
        palm = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h, rng.uniform(330, 420)])
        if abs(palm[0] - bu) > 0.2 * w:
            break
    if hand:
        dist = np.hypot(uu - palm[0], vv - palm[1])
        disc = dist <= 45.0 * intr.fx / palm[2]
        depth[disc] = palm[2] + 0.2 * dist[disc]
    return depth.astype(np.uint16), palm


def _write_scene_tree(root: Path, seqs: int = 4, per_seq: int = 8, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for s in range(seqs):
        for i in range(per_seq):
            depth, palm = _scene(rng)
            rel = f"synth_{s:04d}/image_{i:04d}.png"  # the generator's folder names (not ICVL timestamps)
            (root / "Training/Depth" / rel).parent.mkdir(parents=True, exist_ok=True)
            write_depth_png(root / "Training/Depth" / rel, depth)
            uvd = np.repeat(palm[None], 16, axis=0) + rng.normal(0, 2, (16, 3))
            uvd[0] = palm
            lines.append(format_label_line(rel, uvd))
    (root / "Training/labels.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("locator")
    tree = _write_scene_tree(base / "tree")
    doc = train_locator(tree, "icvl", ICVL_INTRINSICS, base / "run", steps=100, batch_size=8, seed=0,
                        width_mult=0.5, learning_rate=2e-3, progress=False)
    return {"dir": base / "run", "doc": doc, "tree": tree}


def test_trained_locator_finds_the_hand_not_the_nearer_distractor(trained):
    doc = trained["doc"]
    assert doc["validation"]["holdout"] == "sequences" and len(doc["validation"]["sequences"]) == 1
    assert doc["mirrored_training_frames"] is True  # ICVL's images show a left hand
    loc = load_locator(trained["dir"])
    rng = np.random.default_rng(7)
    scenes = [_scene(rng) for _ in range(12)]
    xyz, conf = loc.locate_batch([d for d, _ in scenes], ICVL_INTRINSICS)
    uvd = xyz_to_uvd(xyz, ICVL_INTRINSICS)
    px = np.hypot(*(uvd[:, :2] - np.array([p[:2] for _, p in scenes])).T)
    # chance (a random pixel) is about 130 px away; the bar is nearer than the hand
    assert np.median(px) < 12.0, px
    assert np.median(np.abs(uvd[:, 2] - [p[2] for _, p in scenes])) < 30.0
    empty = [_scene(rng, hand=False)[0] for _ in range(12)]
    _, conf_empty = loc.locate_batch(empty, ICVL_INTRINSICS)
    assert np.median(conf_empty) < np.median(conf), (conf_empty, conf)
    one_xyz, one_conf = loc.locate(scenes[0][0], ICVL_INTRINSICS)
    np.testing.assert_allclose(one_xyz, xyz[0], atol=1e-3)
    assert one_conf == pytest.approx(conf[0], abs=1e-5) and 0.0 < loc.threshold < 1.0


def test_locator_files_round_trip_absent_and_broken(trained, tmp_path):
    doc = trained["doc"]
    assert load_locator(trained["dir"]).doc == doc
    assert load_locator(tmp_path) is None
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / LOCATOR_MODEL).write_bytes(b"not a model")
    (broken / LOCATOR_META).write_text((trained["dir"] / LOCATOR_META).read_text())
    with pytest.raises(SdnetError, match=LOCATOR_MODEL):
        load_locator(broken)
    (broken / LOCATOR_META).write_text("{")
    with pytest.raises(SdnetError, match=LOCATOR_META):
        load_locator(broken)
    (broken / LOCATOR_META).unlink()
    with pytest.raises(SdnetError, match=LOCATOR_META):
        load_locator(broken)


def test_cli_errors(tmp_path, capsys):
    assert main(["fit-locator", "--tree", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "missing: no such tree directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "Training").mkdir(parents=True)
    (empty / "Training/labels.txt").write_text("")
    assert main(["fit-locator", "--tree", str(empty), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdnet fit-locator: error:") and len(err.strip().splitlines()) == 1
    assert main(["fit-locator", "--tree", str(empty), "--out", str(tmp_path / "o"), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert not (tmp_path / "o" / LOCATOR_MODEL).exists()
