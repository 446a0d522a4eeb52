"""`sdnet compare`, eval.compare and eval.plots: published numbers, bad files, figures."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from eval import compare, plots
from eval.metrics import summarize
from eval.results_io import write_results
from pipeline.cli import main
from pipeline.errors import SdnetError
from pipeline.skeleton import ICVL_SKELETON, NUM_JOINTS
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
    write_results(off, uvd + [0.0, 0.0, 2.0])  # every joint 2 mm deeper
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
    write_results(tmp_path / "gt.txt", uvd)
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
    write_results(pred, uvd + 1.0)
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
    write_results(tmp_path / "gt.txt", gt)
    write_results(tmp_path / "p.txt", pred)
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
    return {"good": summarize(gt + rng.normal(size=gt.shape) * 3, gt),
            "bad": summarize(gt + rng.normal(size=gt.shape) * 12, gt)}


def test_per_joint_plot_has_joint_names_units_and_legend():
    metrics = _two_methods()
    ax = Figure().add_subplot()
    plots.plot_per_joint(ax, metrics)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [n.replace("_", " ") for n in ICVL_SKELETON.joint_names] + ["mean"]
    assert "mm" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("good (") and legend[1].startswith("bad (")
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 2 * (NUM_JOINTS + 1)
    assert heights[NUM_JOINTS] == pytest.approx(metrics["good"]["mean_error_mm"])


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
    write_results(tmp_path / "gt.txt", gt)
    (tmp_path / "list.txt").write_text("a/1.png\na/2.png\n")
    assert main(["compare", "--gt", str(tmp_path / "gt.txt"), "--list", str(tmp_path / "list.txt"),
                 "--pred", f"X={tmp_path / 'gt.txt'}", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "list.txt: 2 image paths" in err and "3 frames" in err
    assert not (tmp_path / "out").exists()
