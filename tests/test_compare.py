"""`sdnet compare`, eval.compare and eval.plots: published numbers, bad files, figures."""
import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from eval import compare, plots
from eval.metrics import SUMMARY_KEYS, success_at, summarize
from eval.results_io import write_results
from pipeline.cli import main
from pipeline.datasets import ICVL, NYU, EvalSequence
from pipeline.errors import SdnetError
from pipeline.skeleton import ICVL_SKELETON

NUM_JOINTS = ICVL.num_joints  # the result files here are ICVL's unless a test says otherwise
from tests.helpers import is_a_drawn_figure

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "icvl"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared ICVL files not found at {SHARED}")
PUBLISHED_MM = {"LRF": 12.578, "DeepModel": 11.561, "Pose-REN": 6.791, "V2V-PoseNet": 6.284}
FIGURES = ("per_joint.png", "success_max_frame.png", "success_mean_frame.png", "success_joint.png")


@needs_shared
def test_compare_reproduces_the_published_mean_errors(tmp_path, capsys):
    out = tmp_path / "cmp"
    rc = main(["compare", "--gt", str(SHARED / "icvl_test_groundtruth_label.txt"),
               "--pred", str(SHARED / "published"), "--out", str(out), "--with-reported"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == set(PUBLISHED_MM)
    for name, mm in PUBLISHED_MM.items():
        assert abs(metrics[name]["mean_error_mm"] - mm) <= 0.001, name  # the README's 3 decimals
        assert metrics[name]["frames"] == 1596
        assert len(metrics[name]["per_joint_mm"]) == NUM_JOINTS
        assert len(metrics[name]["max_frame"]) == 81
    assert list(metrics) == ["V2V-PoseNet", "Pose-REN", "DeepModel", "LRF"]  # sorted by mean error
    settings = json.loads((out / "settings.json").read_text())
    assert settings["intrinsics"]["fx"] == 240.99 and settings["intrinsics"]["fy"] == 240.96
    _check_figures(out)

    rows = list(csv.DictReader((out / "table.csv").open()))
    recomputed = [r for r in rows if r["source"] == "recomputed"]
    assert [r["method"] for r in recomputed] == ["V2V-PoseNet", "Pose-REN", "DeepModel", "LRF"]
    assert all(float(r["reported_mm"]) == PUBLISHED_MM[r["method"]] for r in recomputed)
    reported = {r["method"]: r for r in rows if r["source"] == "reported, not recomputed"}
    assert float(reported["SDNet (paper)"]["reported_mm"]) == 8.40
    assert reported["SDNet (paper)"]["mean_error_mm"] == ""  # never recomputed
    keys = [float(r["mean_error_mm"] or r["reported_mm"]) for r in rows]
    assert keys == sorted(keys) and [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))

    printed = capsys.readouterr().out
    assert printed.index("V2V-PoseNet") < printed.index("Pose-REN") < printed.index("LRF")
    assert "6.284" in printed and "reported, not recomputed" in printed


def _check_figures(out):
    """One figure per metric, named from it, each a real plot (not a blank canvas)."""
    assert {plots.figure_name(m) for m in ("per_joint", "max_frame", "mean_frame", "joint")} == set(FIGURES)
    for fig in FIGURES:
        assert is_a_drawn_figure(out / fig), fig


def test_a_perfect_prediction_scores_zero_mm_and_full_success(tmp_path, capsys):
    gt_path, uvd = _tiny_gt(tmp_path, frames=4)
    perfect = tmp_path / "perfect.txt"
    perfect.write_bytes(gt_path.read_bytes())
    off = tmp_path / "off.txt"
    write_results(off, uvd + [0.0, 0.0, 2.0], NUM_JOINTS)  # every joint 2 mm deeper
    out = tmp_path / "cmp"
    assert main(["compare", "--gt", str(gt_path), "--pred", f"perfect={perfect}", f"off={off}",
                 "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["perfect"]["mean_error_mm"] == 0.0 and m["perfect"]["per_joint_mm"] == [0.0] * NUM_JOINTS
    for curve in ("max_frame", "mean_frame", "joint"):
        assert m["perfect"][curve] == [1.0] * 81, curve  # 100% at every threshold, 0 mm included
    # 2 mm deeper along the pixel's ray: at least 2 mm off in camera xyz
    assert 2.0 <= m["off"]["mean_error_mm"] < 2.2 and m["off"]["max_frame"][0] == 0.0
    rows = {r["method"]: r for r in csv.DictReader((out / "table.csv").open())}
    assert float(rows["perfect"]["mean_error_mm"]) == 0.0 and float(rows["perfect"]["max_frame_le_20mm_pct"]) == 100.0
    perfect_line = next(l for l in capsys.readouterr().out.splitlines() if " perfect " in l)
    assert perfect_line.split()[:3] == ["1", "perfect", "0.000"] and "100.0" in perfect_line.split()
    _check_figures(out)


def _tiny_gt(tmp_path, frames=3):
    rng = np.random.default_rng(0)
    uvd = np.empty((frames, NUM_JOINTS, 3))
    uvd[..., :2] = rng.uniform(100, 200, size=(frames, NUM_JOINTS, 2))
    uvd[..., 2] = rng.uniform(300, 400, size=(frames, NUM_JOINTS))
    uvd = np.round(uvd, 3)
    write_results(tmp_path / "gt.txt", uvd, NUM_JOINTS)
    return tmp_path / "gt.txt", uvd


def _corrupt(path, lineno, fn):
    lines = path.read_text().splitlines()
    lines[lineno - 1] = fn(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("case,mutate,message", [
    ("fields", lambda p: _corrupt(p, 2, lambda l: " ".join(l.split()[:-2])),
     r"pred\.txt:2: expected 48 values \(16 joints x u v d\), got 46"),
    ("text", lambda p: _corrupt(p, 3, lambda l: "x" + l), r"pred\.txt:3: field 1 is not a number"),
    ("nan", lambda p: _corrupt(p, 1, lambda l: l.rsplit(" ", 1)[0] + " NaN"),
     r"pred\.txt:1: field 48 is 'NaN' \(NaN or infinite"),
    ("count", lambda p: p.write_text("\n".join(p.read_text().splitlines()[:2]) + "\n"),
     r"pred\.txt: has 2 frames \(lines\) but the ground truth .*gt\.txt has 3"),
])
def test_bad_prediction_files_exit_non_zero_with_one_line_and_write_nothing(tmp_path, capsys, case,
                                                                           mutate, message):
    gt_path, uvd = _tiny_gt(tmp_path)
    pred = tmp_path / "pred.txt"
    write_results(pred, uvd + 1.0, NUM_JOINTS)
    mutate(pred)
    out = tmp_path / "out"
    rc = main(["compare", "--gt", str(gt_path), "--pred", f"mine={pred}", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sdnet compare: error: "), err
    assert __import__("re").search(message, lines[0]), lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.txt", "pred.txt"]  # no temp dirs left


def test_custom_intrinsics_hand_computed(tmp_path, capsys):
    gt = np.zeros((2, NUM_JOINTS, 3))
    gt[..., 0], gt[..., 1], gt[..., 2] = 160.0, 120.0, 500.0
    pred = gt.copy()
    pred[..., 0] += 10.0  # 10 px right at 500 mm: x error = 10 * 500 / fx
    write_results(tmp_path / "gt.txt", gt, NUM_JOINTS)
    write_results(tmp_path / "p.txt", pred, NUM_JOINTS)
    rc = main(["compare", "--gt", str(tmp_path / "gt.txt"), "--pred", str(tmp_path / "p.txt"),
               "--out", str(tmp_path / "custom"), "--fx", "100", "--fy", "100", "--cx", "160", "--cy", "120"])
    assert rc == 0
    m = json.loads((tmp_path / "custom" / "metrics.json").read_text())
    assert m["p"]["mean_error_mm"] == pytest.approx(50.0)  # bare file: named by its stem
    rc = main(["compare", "--gt", str(tmp_path / "gt.txt"), "--pred", str(tmp_path / "p.txt"),
               "--out", str(tmp_path / "bench")])
    assert rc == 0
    m = json.loads((tmp_path / "bench" / "metrics.json").read_text())
    assert m["p"]["mean_error_mm"] == pytest.approx(10.0 * 500.0 / 240.99)


@pytest.mark.parametrize("extra,message", [
    (["--fx", "100"], "need all of --fx --fy --cx --cy"),
    (["--camera", "icvl", "--fx", "1", "--fy", "1", "--cx", "1", "--cy", "1"], "either --camera or"),
    (["--fx", "-1", "--fy", "1", "--cx", "1", "--cy", "1"], "fx must be a positive number"),
])
def test_bad_intrinsics_flags(tmp_path, capsys, extra, message):
    gt_path, uvd = _tiny_gt(tmp_path)
    rc = main(["compare", "--gt", str(gt_path), "--pred", str(gt_path), "--out", str(tmp_path / "o"), *extra])
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_output_dir_is_not_overwritten_without_flag(tmp_path, capsys):
    gt_path, uvd = _tiny_gt(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["compare", "--gt", str(gt_path), "--pred", f"a={gt_path}", "--out", str(out)]
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err and (out / "keep.txt").exists()
    assert main(args + ["--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "metrics.json").exists()


def test_pred_specs_names_and_duplicates(tmp_path):
    f = tmp_path / "CVPR14_LRF_Results.txt"
    f.write_text("")
    g = tmp_path / "other.txt"
    g.write_text("")
    specs = compare.parse_pred_specs([str(f), f"mine={g}"])
    assert [(s.name, s.path) for s in specs] == [("LRF", f), ("mine", g)]
    assert [s.name for s in compare.parse_pred_specs([str(tmp_path)])] == ["LRF", "other"]
    with pytest.raises(SdnetError, match="given twice"):
        compare.parse_pred_specs([str(g), f"other={f}"])
    with pytest.raises(SdnetError, match="expected NAME=FILE"):
        compare.parse_pred_specs(["=x.txt"])


def _two_methods():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(20, NUM_JOINTS, 3)) * 30 + [0, 0, 350]
    return {"good": summarize(gt + rng.normal(size=gt.shape) * 3, gt, skeleton=ICVL_SKELETON),
            "bad": summarize(gt + rng.normal(size=gt.shape) * 12, gt, skeleton=ICVL_SKELETON)}


def test_per_joint_plot_has_joint_names_units_and_legend():
    metrics = _two_methods()
    ax = Figure().add_subplot()
    plots.plot_per_joint(ax, metrics, ICVL_SKELETON)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [n.replace("_", " ") for n in ICVL_SKELETON.joint_names] + ["mean"]
    assert "mm" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("good (") and legend[1].startswith("bad (")
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 2 * (NUM_JOINTS + 1)
    assert heights[NUM_JOINTS] == pytest.approx(metrics["good"]["mean_error_mm"])


def test_per_joint_plot_labels_the_nyu_joints_in_the_kits_order():
    sk = NYU.skeleton
    gt = np.random.default_rng(0).normal(size=(20, sk.num_joints, 3)) * 30 + [0, 0, 900]
    metrics = {"nyu run": summarize(gt + 2.0, gt, skeleton=sk)}
    ax = Figure().add_subplot()
    plots.plot_per_joint(ax, metrics, sk)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "pinky tip" and labels[13] == "palm" and labels[-1] == "mean" and len(labels) == 15
    with pytest.raises(ValueError, match="14 per-joint errors, skeleton has 16 joints"):
        plots.plot_per_joint(Figure().add_subplot(), metrics, ICVL_SKELETON)


@pytest.mark.parametrize("curve", ["max_frame", "mean_frame", "joint"])
def test_success_plot_axes_and_curves(curve):
    metrics = _two_methods()
    ax = Figure().add_subplot()
    plots.plot_success_curve(ax, metrics, curve)
    assert "(mm)" in ax.get_xlabel() and "%" in ax.get_ylabel()
    assert ax.get_xlim() == (0.0, 80.0) and ax.get_ylim() == (0.0, 100.0)
    lines = ax.get_lines()
    assert len(lines) == 2 and len(ax.get_legend().get_texts()) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), 100 * np.asarray(metrics["good"][curve]))
    assert plots.figure_name(curve) == f"success_{curve}.png"


@needs_shared
def test_published_methods_are_scored_on_plausibility_within_each_test_sequence(tmp_path, capsys):
    """The image list gives the two test sequences: a method's bone-length sd and jitter, beside the
    ground truth's own, the same whether the sequences come from the list or from the label files."""
    out = tmp_path / "cmp"
    gt_file = SHARED / "icvl_test_groundtruth_label.txt"
    assert main(["compare", "--gt", str(gt_file), "--list", str(SHARED / "icvl_test_list.txt"),
                 "--pred", str(SHARED / "published"), f"GT={gt_file}", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    gt = metrics["GT"]
    assert gt["bone_length_error_mm"] == 0.0 and gt["bone_length_sd_mm"] == pytest.approx(gt["gt_bone_length_sd_mm"])
    assert 0.5 < gt["gt_bone_length_sd_mm"] < 5.0 and 0.0 < gt["gt_jitter_mm"] < 30.0  # annotation noise, motion
    for name in PUBLISHED_MM:
        m = metrics[name]
        assert m["bone_length_error_mm"] > 0 and m["bone_length_sd_mm"] > 0 and m["jitter_mm"] > 0, name
        assert m["gt_jitter_mm"] == gt["gt_jitter_mm"]
    # DeepModel fits a kinematic hand of fixed bone lengths: its bones waver the least
    assert min(PUBLISHED_MM, key=lambda n: metrics[n]["bone_length_sd_mm"]) == "DeepModel"
    out2 = tmp_path / "labels"
    assert main(["compare", "--gt", str(SHARED / "test_seq_1.txt"), str(SHARED / "test_seq_2.txt"),
                 "--pred", str(SHARED / "published"), "--out", str(out2)]) == 0
    again = json.loads((out2 / "metrics.json").read_text())
    assert again["V2V-PoseNet"]["jitter_mm"] == pytest.approx(metrics["V2V-PoseNet"]["jitter_mm"], rel=1e-3)
    # without paths: the frame order is unknown, so no sd and no jitter, and the command says so
    out3 = tmp_path / "nolist"
    capsys.readouterr()
    assert main(["compare", "--gt", str(gt_file), "--pred", str(SHARED / "published"), "--out", str(out3)]) == 0
    assert "give --list" in capsys.readouterr().err
    plain = json.loads((out3 / "metrics.json").read_text())["LRF"]
    assert plain["jitter_mm"] is None and plain["bone_length_error_mm"] == pytest.approx(metrics["LRF"]["bone_length_error_mm"])


def test_an_image_list_of_another_length_is_refused_naming_it(tmp_path, capsys):
    gt = np.full((3, NUM_JOINTS, 3), 100.0)
    write_results(tmp_path / "gt.txt", gt, NUM_JOINTS)
    (tmp_path / "list.txt").write_text("a/1.png\na/2.png\n")
    assert main(["compare", "--gt", str(tmp_path / "gt.txt"), "--list", str(tmp_path / "list.txt"),
                 "--pred", f"X={tmp_path / 'gt.txt'}", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "list.txt: 2 image paths" in err and "3 frames" in err
    assert not (tmp_path / "out").exists()


# ---- NYU: the evaluation kit's 14 joints, intrinsics and subjects ---------------------------------------

SHARED_NYU = Path(__file__).resolve().parents[1].parent / "shared" / "nyu"
needs_shared_nyu = pytest.mark.skipif(not SHARED_NYU.is_dir(), reason=f"shared NYU files not found at {SHARED_NYU}")
NYU_KIT_MM = {"V2V-PoseNet": 8.419, "Point-to-Point": 9.045, "HandPointNet": 10.540, "Pose-REN": 11.811,
              "DeepPrior++": 12.238}
NYU_KIT_SUBJECT_MM = {"V2V-PoseNet": (4.217, 10.184), "DeepPrior++": (6.930, 14.467)}
NYU_J = NYU.num_joints  # 14


def _nyu_line(uvd) -> str:
    return " ".join(f"{v:.5f}" for v in np.asarray(uvd).reshape(-1))


def _tiny_nyu(tmp_path):
    """Three frames of 14 joints, written by hand: the ground truth on the optical axis (u = cx, v = cy,
    so x = y = 0 mm), joint j at d = 1000 + 10 j mm; the prediction off by
      frame 0: every joint 5 mm deeper (5 mm each);
      frame 1: pinky tip (joint 0, d = 1000) at u = cx + 7.05636, v = cy - 2.93535, i.e. x = 7.05636 *
               1000 / 588.03 = 12 mm and |y| = 2.93535 * 1000 / 587.07 = 5 mm: 13 mm;
      frame 2: palm (joint 13) 7 mm deeper (7 mm).
    Mean over 3 x 14 joints = (14 x 5 + 13 + 7) / 42 = 90 / 42 mm."""
    gt = np.zeros((3, NYU_J, 3))
    gt[..., 0], gt[..., 1], gt[..., 2] = 320.0, 240.0, 1000.0 + 10.0 * np.arange(NYU_J)
    pred = gt.copy()
    pred[0, :, 2] += 5.0
    pred[1, 0, :2] = 320.0 + 7.05636, 240.0 - 2.93535
    pred[2, 13, 2] += 7.0
    (tmp_path / "gt.txt").write_text("".join(_nyu_line(f) + "\n" for f in gt))
    (tmp_path / "pred.txt").write_text("".join(_nyu_line(f) + "\n" for f in pred))
    return tmp_path / "gt.txt", tmp_path / "pred.txt"


def test_nyu_kit_scoring_of_a_hand_computed_pair(tmp_path):
    gt_path, pred_path = _tiny_nyu(tmp_path)
    two_subjects = dataclasses.replace(NYU, test_sequences=(EvalSequence("s1", 0, 1, 300.0),
                                                            EvalSequence("s2", 1, 3, 250.0)))
    rows, metrics = compare.run_compare([gt_path], [f"mine={pred_path}"], tmp_path / "out",
                                        two_subjects.scoring_camera, dataset=two_subjects, log=io.StringIO())
    m = metrics["mine"]
    assert m["mean_error_mm"] == pytest.approx(90 / 42, abs=1e-6)
    expected_per_joint = [6.0] + [5 / 3] * 12 + [4.0]  # pinky tip (5 + 13) / 3, palm (5 + 7) / 3
    np.testing.assert_allclose(m["per_joint_mm"], expected_per_joint, atol=1e-6)
    # success at 5 mm: only frame 0's worst joint (5 mm) is within; at 13 mm every frame
    assert success_at(m, "max_frame", 5.0) == pytest.approx(1 / 3)
    assert success_at(m, "max_frame", 13.0) == 1.0
    assert m["per_sequence"]["s1"] == {"frames": 1, "mean_error_mm": pytest.approx(5.0),
                                       "per_joint_mm": pytest.approx([5.0] * NYU_J)}
    assert m["per_sequence"]["s2"]["frames"] == 2
    assert m["per_sequence"]["s2"]["mean_error_mm"] == pytest.approx(20 / 28, abs=1e-6)
    # NYU's 13 bones: frame 1's pinky bone 10 -> sqrt(12^2 + 5^2 + 10^2) mm, frame 2's seven palm bones +7 mm
    assert m["bone_length_error_mm"] == pytest.approx((np.sqrt(269) - 10 + 7 * 7) / (3 * 13), abs=1e-6)
    assert m["jitter_mm"] is None  # no subject has 3 frames
    assert rows[0]["fingertip_mm"] == pytest.approx(np.mean([5 / 3] * 4 + [6.0]), abs=1e-6)
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert settings["dataset"] == "nyu" and settings["intrinsics"]["fx"] == 588.03


def test_nyu_compare_cli_end_to_end_on_tiny_files(tmp_path, capsys):
    gt_path, pred_path = _tiny_nyu(tmp_path)
    out = tmp_path / "cmp"
    assert main(["compare", "--dataset", "nyu", "--gt", str(gt_path), "--pred", f"mine={pred_path}",
                 f"gt={gt_path}", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "not the 8252 of nyu's test set" in captured.err and "camera nyu-kit" in captured.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["gt", "mine"]
    assert set(metrics["mine"]) == set(SUMMARY_KEYS) | {"per_sequence"}
    assert metrics["mine"]["mean_error_mm"] == pytest.approx(90 / 42, abs=1e-6)
    assert len(metrics["mine"]["per_joint_mm"]) == NYU_J and metrics["mine"]["per_sequence"] is None
    assert metrics["gt"]["mean_error_mm"] == 0.0
    _check_figures(out)
    # the ICVL default refuses the 42-value lines, naming the file and the line
    assert main(["compare", "--gt", str(gt_path), "--pred", f"mine={pred_path}", "--out", str(tmp_path / "icvl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gt.txt:1: expected 48 values" in err and "got 42 fields" in err


@pytest.mark.parametrize("mutate, message", [
    (lambda p: _corrupt(p, 2, lambda l: " ".join(l.split()[:-1])),
     r"pred\.txt:2: expected 42 values \(14 joints x u v d\), got 41"),
    (lambda p: _corrupt(p, 3, lambda l: l + " 1 2 3 4 5 6"), r"pred\.txt:3: expected 42 values .* got 48"),
    (lambda p: p.write_text("\n".join(p.read_text().splitlines()[:2]) + "\n"),
     r"pred\.txt: has 2 frames \(lines\) but the ground truth .*gt\.txt has 3"),
])
def test_nyu_bad_result_files_exit_non_zero_with_one_line(tmp_path, capsys, mutate, message):
    gt_path, pred_path = _tiny_nyu(tmp_path)
    mutate(pred_path)
    out = tmp_path / "out"
    rc = main(["compare", "--dataset", "nyu", "--gt", str(gt_path), "--pred", f"mine={pred_path}", "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("sdnet compare: error: "), lines
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()


def test_an_unknown_dataset_flag_is_refused(tmp_path, capsys):
    gt_path, _ = _tiny_nyu(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["compare", "--dataset", "bighand", "--gt", str(gt_path), "--pred", str(gt_path),
              "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "invalid choice: 'bighand'" in capsys.readouterr().err


def test_find_published_recognises_icvl_and_nyu_folders(tmp_path):
    nyu_dir, icvl_dir = tmp_path / "nyu", tmp_path / "icvl"
    (nyu_dir / "published").mkdir(parents=True)
    gt_path, pred_path = _tiny_nyu(tmp_path)
    (nyu_dir / "nyu_test_groundtruth_label.txt").write_bytes(gt_path.read_bytes())
    (nyu_dir / "published" / "CVPR18_NYU_V2V_PoseNet.txt").write_bytes(pred_path.read_bytes())
    found = compare.find_published(nyu_dir)
    assert found.dataset is NYU and found.ground_truth == (nyu_dir / "nyu_test_groundtruth_label.txt",)
    assert found.image_list is None
    scored = compare.score_published(list(found.ground_truth), found.folder, NYU.scoring_camera, dataset=NYU)
    assert scored["dataset"] == "nyu" and list(scored["metrics"]) == ["V2V-PoseNet"]
    assert scored["rows"][0]["reported_mm"] == 8.419
    assert scored["metrics"]["V2V-PoseNet"]["mean_error_mm"] == pytest.approx(90 / 42, abs=1e-6)
    (icvl_dir / "published").mkdir(parents=True)
    write_results(icvl_dir / "test_seq_1.txt", np.zeros((1, NUM_JOINTS, 3)), NUM_JOINTS)  # names only matter here
    (icvl_dir / "test_seq_2.txt").write_text("")
    (icvl_dir / "published" / "A.txt").write_text("")
    found = compare.find_published(icvl_dir)
    assert found.dataset is ICVL and [p.name for p in found.ground_truth] == ["test_seq_1.txt", "test_seq_2.txt"]
    assert compare.find_published(tmp_path) is None


@needs_shared_nyu
def test_nyu_compare_reproduces_the_kits_means_and_subjects(tmp_path, capsys):
    out = tmp_path / "cmp"
    rc = main(["compare", "--dataset", "nyu", "--gt", str(SHARED_NYU / "nyu_test_groundtruth_label.txt"),
               "--list", str(SHARED_NYU / "nyu_test_list.txt"), "--pred", str(SHARED_NYU / "published"),
               "--out", str(out)])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == list(NYU_KIT_MM)  # sorted by mean error
    for name, mm in NYU_KIT_MM.items():
        m = metrics[name]
        assert abs(m["mean_error_mm"] - mm) <= 0.001, (name, m["mean_error_mm"])
        assert m["frames"] == 8252 and len(m["per_joint_mm"]) == NYU_J
        assert set(m["per_sequence"]) == {"subject_1", "subject_2"}
        assert (m["per_sequence"]["subject_1"]["frames"], m["per_sequence"]["subject_2"]["frames"]) == (2440, 5812)
        # plausibility within each subject, on NYU's bones
        assert m["bone_length_error_mm"] > 0 and m["bone_length_sd_mm"] > 0 and m["jitter_mm"] > 0, name
        assert 0 < m["gt_bone_length_sd_mm"] < m["bone_length_sd_mm"] + 5
    for name, (s1, s2) in NYU_KIT_SUBJECT_MM.items():
        per = metrics[name]["per_sequence"]
        assert abs(per["subject_1"]["mean_error_mm"] - s1) <= 0.001, name
        assert abs(per["subject_2"]["mean_error_mm"] - s2) <= 0.001, name
    settings = json.loads((out / "settings.json").read_text())
    assert settings["camera"] == "nyu-kit" and settings["dataset"] == "nyu"
    _check_figures(out)
    printed = capsys.readouterr().out
    assert "8.419" in printed and "subject_1 (mm)" in printed and "10.184" in printed
    rows = {r["method"]: r for r in csv.DictReader((out / "table.csv").open())}
    assert all(float(rows[n]["reported_mm"]) == mm for n, mm in NYU_KIT_MM.items())
