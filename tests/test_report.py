"""eval.report: report.md / report.html and the qualitative pose figure."""
import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from eval.compare import PAPER_TABLE1_MM, score_published
from eval.metrics import joint_errors, summarize
from eval.plots import (plot_sequence_errors, rolling_mean, save_figure, sequence_errors_figure,
                        write_metric_figures)
from eval.report import (FINGER_COLORS, Section, Strong, Table, html_table, markdown_table,
                         plot_pose_examples, pose_examples_figure, settings_rows, write_report)
from eval.results_io import write_results
from eval.run_report import (CNN, PER_FRAME_FILE, PUBLISHED_FILE, REFINED, TestSet, TestSetKind,
                             build_sections, fingertip_error, grid_table, lead_paragraphs, per_frame_table,
                             write_run_report)
from pipeline.camera import ICVL_BENCHMARK_INTRINSICS
from pipeline.errors import SdnetError
from pipeline.fsutil import write_json
from pipeline.skeleton import FINGERS, ICVL_SKELETON, NYU_SKELETON
from tests.helpers import html_tables, is_a_drawn_figure

SK = ICVL_SKELETON
NUM_JOINTS = SK.num_joints


def _figure(path):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return save_figure(fig, path)


def _report(tmp_path, figures):
    table = pd.DataFrame({"method": ["SDNet", "SDNet + refinement"], "mean_error_mm": [8.41234, 8.3],
                          "frames": [1596, 1596]})
    runtime = [{"stage": "cnn", "ms_per_frame": 7.0}, {"stage": "refine", "ms_per_frame": 12.5}]
    settings = settings_rows({"preset": "smoke", "loss": {"alpha": 0.5, "beta": 1.0}, "steps": 20})
    return write_report(
        tmp_path / "report", "SDNet on ICVL <test>",
        [Section("Summary", ["First paragraph.", "Second & last paragraph."],
                 [Table("Mean error", table, {"mean_error_mm": ".2f"}, id="summary"), Table("Runtime", runtime)]),
         Section("Figures", figures=figures),
         Section("Settings", tables=[Table("Run", settings, compact=True)])],
        subtitle="evaluated today")


def test_report_md_links_figures_and_html_embeds_them(tmp_path):
    png = _figure(tmp_path / "report" / "figs" / "per_joint.png")
    paths = _report(tmp_path, [("Per-joint error", png)])
    md = paths["md"].read_text()
    html = paths["html"].read_text()
    assert md.startswith("# SDNet on ICVL <test>\n\n*evaluated today*")
    assert "![Per-joint error](figs/per_joint.png)" in md  # relative to the report
    assert "| loss.alpha | 0.500 |" in md and "| preset | smoke |" in md
    assert "| SDNet | 8.41 | 1596 |" in md and "| refine | 12.500 |" in md
    assert "Second & last paragraph." in md
    assert md.index("## Summary") < md.index("## Figures") < md.index("## Settings")

    assert "SDNet on ICVL &lt;test&gt;" in html and "Second &amp; last paragraph." in html
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == png.read_bytes()
    assert '<th scope="col">mean_error_mm</th>' in html and '<td class="num">8.41</td>' in html
    assert '<table id="summary">' in html and '<div class="kv">' in html
    assert "<style>" in html and "http" not in html.replace("<!DOCTYPE html>", "")  # self-contained
    assert "<script" not in html


def test_table_cells_strong_and_formats():
    rows = [[Strong(8.08554), "a|b", None, float("nan"), [1.0, 2.0], 3]]
    md = markdown_table(["x", "y", "z", "w", "v", "n"], rows, {"x": ".2f", "n": ","})
    assert md.splitlines()[-1] == "| **8.09** | a\\|b | - | - | 1.000, 2.000 | 3 |"
    assert md.splitlines()[1].startswith("|---:|---|")
    html_text = html_table(["x"], [[Strong(8.08554)]], {"x": ".1f"}, table_id="grid")
    assert '<table id="grid">' in html_text and '<td class="num"><strong>8.1</strong></td>' in html_text


def test_report_refuses_missing_or_non_png_figures_and_writes_nothing(tmp_path):
    with pytest.raises(SdnetError, match="missing.png: figure not found"):
        _report(tmp_path, [("x", tmp_path / "missing.png")])
    (tmp_path / "fake.png").write_text("not a png")
    with pytest.raises(SdnetError, match="fake.png: figure is not a PNG"):
        _report(tmp_path, [("x", tmp_path / "fake.png")])
    assert not (tmp_path / "report" / "report.md").exists()
    assert not (tmp_path / "report" / "report.html").exists()


def _hand(k=3, sk=SK):
    """k raw depth images (H, W) uint16 mm with a blob, and gt / pred joints in pixels (k, J, 2)."""
    rng = np.random.default_rng(0)
    images = []
    for _ in range(k):
        img = np.full((60, 80), 32001, np.uint16)
        img[15:45, 20:60] = rng.integers(300, 340, size=(30, 40))
        images.append(img)
    gt = rng.uniform(20, 55, size=(k, sk.num_joints, 2))
    return images, gt, gt + rng.normal(size=gt.shape) * 3


@pytest.mark.parametrize("sk, others", [(ICVL_SKELETON, 0), (NYU_SKELETON, 2)], ids=["icvl", "nyu"])
def test_pose_examples_draw_both_skeletons_per_finger(sk, others):
    images, gt, pred = _hand(sk=sk)
    fig = Figure()
    axes = fig.subplots(1, 3)
    plot_pose_examples(axes, images, gt, pred, ["best", "median", "worst"], sk)
    for i, (ax, title) in enumerate(zip(axes, ["best", "median", "worst"])):
        lines = ax.get_lines()
        per_skeleton = len(FINGERS) + others  # a chain per finger, a bone per joint in no part (NYU's wrist)
        assert len(lines) == 2 * per_skeleton
        gt_lines, pred_lines = lines[:per_skeleton], lines[per_skeleton:]
        assert {l.get_linestyle() for l in gt_lines} != {l.get_linestyle() for l in pred_lines}
        assert all(l.get_color() == "#9e9e9e" for l in gt_lines[len(FINGERS):])  # grey: in no part
        thumb = list(sk.part_chains[0])
        np.testing.assert_allclose(gt_lines[0].get_xydata(), gt[i, thumb])
        np.testing.assert_allclose(pred_lines[0].get_xydata(), pred[i, thumb])
        assert ax.get_title() == title
        assert ax.get_xlim() == (-0.5, 79.5) and ax.get_ylim() == (59.5, -0.5)  # the image frame
        image = ax.get_images()[0].get_array()
        assert image.mask[0, 0] and not image.mask[30, 40]  # 32001 background is masked
    legend = [t.get_text() for t in axes[-1].get_legend().get_texts()]
    assert legend == ["ground truth", "prediction", *FINGERS] + (["in no part"] if others else [])
    assert len(set(FINGER_COLORS.values())) == len(FINGERS)


def test_pose_examples_figure_saves_and_checks_lengths(tmp_path):
    images, gt, pred = _hand(2)
    path = save_figure(pose_examples_figure(images, gt, pred, ["a", "b"], SK), tmp_path / "examples.png")
    assert is_a_drawn_figure(path)
    with pytest.raises(ValueError, match="as many axes"):
        pose_examples_figure(images, gt, pred, ["only one title"], SK)
    with pytest.raises(ValueError, match="joints must be"):
        pose_examples_figure(images, gt[:, :5], pred[:, :5], ["a", "b"], SK)


# ----------------------------------------------------------------------------- the eval report

def _fake_eval_report(tmp_path, with_published=True):
    """A report dir as `sdnet eval` leaves it (metrics, settings, per-frame errors, figures, published
    scores of two tiny result files) and a run dir with a history.csv of every logged column."""
    rng = np.random.default_rng(3)
    report, run = tmp_path / "report", tmp_path / "run-x"
    report.mkdir()
    run.mkdir()
    n = 30
    gt = rng.uniform(-80, 80, size=(n, NUM_JOINTS, 3)) + [0, 0, 350]
    preds = {CNN: gt + rng.normal(0, 9, gt.shape), REFINED: gt + rng.normal(0, 8, gt.shape)}
    metrics = {k: summarize(p, gt, skeleton=SK) for k, p in preds.items()}
    write_json(report / "metrics.json", metrics)
    seq = np.array(["test_seq_1"] * 12 + ["test_seq_2"] * 18)
    frame = np.concatenate([np.arange(12), np.arange(18)])
    table = per_frame_table(seq, frame, {k: joint_errors(p, gt) for k, p in preds.items()}, SK)
    (report / PER_FRAME_FILE).write_text(table.to_csv(index=False, float_format="%.4f"))
    write_metric_figures(report, metrics, SK)
    _figure(report / "examples.png")
    grid = {"radius_mm": [4.0, 8.0], "gamma_d": [0.0, 0.01], "gamma_m": [0.0], "window": [2, 4]}
    search = [{"radius_mm": r, "gamma_d": g, "gamma_m": 0.0, "window": w, "mean_error_mm": 8 + r / 10 - g * 10 + w / 100}
              for r in grid["radius_mm"] for g in grid["gamma_d"] for w in grid["window"]]
    write_json(report / "settings.json", {
        "run": str(run), "data": "/d", "source": None, "test set": "the synthetic test sequences (sdnet synth)",
        "test_set_kind": "synthetic", "test frames": n, "preset": "cpu", "loss": {"sdl_weight": 0.125, "alpha": 1.0, "beta": 0.5},
        "steps": 12345, "trained": "2025-01-02", "evaluated": "2025-01-03",
        "eval intrinsics": {"fx": 241.42}, "runtime (ms/frame, this machine)": {"cnn_ms_per_frame": 1.5,
                                                                                 "refine_ms_per_frame": 3.0},
        "refinement": {"config": {"radius_mm": 4.0, "gamma_d": 0.01, "gamma_m": 0.0, "window": 2},
                       "note": "chosen on 10 val frames", "val_unrefined_mm": 9.0, "val_refined_mm": 8.5,
                       "grid": grid, "table": search}})
    (run / "history.csv").write_text(
        "epoch,step,loss,mean_error_mm,joint,sdl,loss_a,loss_b,sdl_weight,val_loss,val_mean_error_mm,val_joint,seconds\n"
        "1,100,2.0,30,1.5,4.0,3.0,1.0,0.125,1.8,25,1.4,60\n2,200,1.0,16,0.8,2.0,1.5,0.5,0.125,1.2,14,0.9,120\n"
        "3,300,0.5,11,0.4,1.0,0.8,0.2,0.125,0.9,11.5,0.7,180\n")
    published = None
    if with_published:
        icvl = tmp_path / "icvl"
        (icvl / "published").mkdir(parents=True)
        gt_uvd = rng.uniform(100, 300, size=(5, NUM_JOINTS, 3))
        write_results(icvl / "icvl_test_groundtruth_label.txt", gt_uvd, NUM_JOINTS)
        write_results(icvl / "published" / "A.txt", gt_uvd + rng.normal(0, 2, gt_uvd.shape), NUM_JOINTS)
        write_results(icvl / "published" / "B.txt", gt_uvd + rng.normal(0, 4, gt_uvd.shape), NUM_JOINTS)
        published = score_published([icvl / "icvl_test_groundtruth_label.txt"], icvl / "published",
                                    ICVL_BENCHMARK_INTRINSICS)
        write_json(report / PUBLISHED_FILE, published)
    return report, run, metrics, published


def _cells(table):
    """Parsed table rows -> {first cell: {column: cell text}}."""
    header, *rows = table
    return {r[0]: dict(zip(header, r)) for r in rows}


def test_eval_report_summary_numbers_equal_metrics_json(tmp_path):
    """Parsed with a real HTML parser: the summary's numbers are metrics.json's, the paper's are
    Table 1's, the published methods' are their recomputed scores; results come before settings."""
    report, run, _, published = _fake_eval_report(tmp_path)
    paths = write_run_report(report)
    page = paths["html"].read_text()
    metrics = json.loads((report / "metrics.json").read_text())  # what the page must agree with

    tables = html_tables(page)
    summary = _cells(tables["summary"])
    assert list(summary) == list(metrics)
    for name, m in metrics.items():
        row = summary[name]
        tips = np.mean([m["per_joint_mm"][j] for j in ICVL_SKELETON.fingertips])
        assert row["mean error (mm)"] == f"{m['mean_error_mm']:.2f}"
        assert row["fingertips (mm)"] == f"{tips:.2f}" == f"{fingertip_error(m, SK):.2f}"
        assert row["max-frame <= 20 mm (%)"] == f"{100 * m['max_frame'][20]:.1f}"
        assert row["max-frame <= 40 mm (%)"] == f"{100 * m['max_frame'][40]:.1f}"
        assert row["frames"] == str(m["frames"]) and row["source"] == "this run"

    paper = _cells(tables["paper"])
    means = {k: v["mean error (mm)"] for k, v in paper.items()}
    assert means["SDNet (paper), w = 0.125 [this run's w]"] == f"{PAPER_TABLE1_MM[0.125]:.2f}"
    assert means["SDNet (paper), w = 0.5"] == "8.40" and means["SDNet (paper), w = 0, baseline"] == "12.70"
    for name, m in published["metrics"].items():
        assert paper[name]["mean error (mm)"] == f"{m['mean_error_mm']:.2f}"
        assert paper[name]["source"] == "result file, recomputed"
    assert [float(v) for v in means.values()] == sorted(float(v) for v in means.values())

    grid = _cells(tables["refine-grid"])  # radius 4, gamma_d 0.01, window 2 is the chosen cell
    assert grid["4"]["gamma_m 0, window 2"] == f"{8 + 0.4 - 0.1 + 0.02:.3f}"
    assert "<strong>8.320</strong>" in page
    assert [r[0] for r in tables["sequences"][1:]] == ["test_seq_1", "test_seq_2"]

    title = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert title == "SDNet run-x: cpu preset, w = 0.125, alpha = 1, beta = 0.5, 12,345 steps, trained 2025-01-02"
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[0] == "Summary" and headings[-1] == "Settings" and "Training" in headings
    assert "<script" not in page and page.count("data:image/png;base64,") == 7
    for name in ("learning_curve.png", "per_sequence.png", "success_max_frame_published.png"):
        assert is_a_drawn_figure(report / name), name

    md = paths["md"].read_text()
    assert md.index("## Summary") < md.index("## Results") < md.index("## Settings")
    cnn = metrics["SDNet CNN"]
    assert f"| SDNet CNN | {cnn['mean_error_mm']:.2f} | {fingertip_error(cnn, SK):.2f} |" in md
    assert "| SDNet (paper), w = 0.5 | 8.40 |" in md


def test_eval_report_without_published_or_history_says_how_to_add_them(tmp_path):
    report, run, _, _ = _fake_eval_report(tmp_path, with_published=False)
    (run / "history.csv").unlink()
    page = write_run_report(report)["html"].read_text()
    paper = _cells(html_tables(page)["paper"])
    assert all(row["source"] == "paper, Table 1" for row in paper.values()) and len(paper) == 4
    assert "--published DIR" in page and "<h2>Training</h2>" not in page


def test_grid_table_pivots_the_search_and_marks_the_choice():
    grid = {"a": [1.0, 2.0], "b": [0.0], "c": [0.1, 0.2]}
    search = [{"a": a, "b": 0.0, "c": c, "mean_error_mm": a + c} for a in grid["a"] for c in grid["c"]]
    rows = grid_table(search, grid, {"a": 2.0, "b": 0.0, "c": 0.1})
    assert [list(r) for r in rows] == [["a", "b", "c 0.1", "c 0.2"]] * 2
    assert rows[0]["c 0.2"] == 1.2 and isinstance(rows[1]["c 0.1"], Strong) and rows[1]["c 0.1"].value == 2.1


def test_sequence_errors_plot_every_frame_and_a_moving_average():
    np.testing.assert_allclose(rolling_mean([0.0, 3.0, 6.0, 9.0], 3), [1.5, 3.0, 6.0, 7.5])
    np.testing.assert_allclose(rolling_mean([1.0, 2.0], 25), [1.5, 1.5])  # window longer than the series
    ax = Figure().add_subplot()
    frames = np.array([2, 0, 1])
    plot_sequence_errors(ax, frames, {"cnn": np.array([3.0, 1.0, 2.0])}, "test_seq_1", window=1)
    raw, smooth = ax.get_lines()
    assert list(raw.get_xdata()) == [0, 1, 2] and list(raw.get_ydata()) == [1.0, 2.0, 3.0]  # frame order
    assert "mean 2.00 mm" in ax.get_legend().get_texts()[0].get_text()
    fig = sequence_errors_figure({"a": (np.arange(5), {"m": np.ones(5)}), "b": (np.arange(3), {"m": np.ones(3)})})
    assert [a.get_title().split(" ")[0] for a in fig.axes] == ["a", "b"]


def test_test_set_is_read_from_the_source_trees_synth_json(tmp_path):
    assert TestSet.from_source(None) == TestSet(TestSetKind.SPLIT)
    assert TestSet.from_source(None).describe() == "the test split"
    real = TestSet.from_source(str(tmp_path))  # no synth.json: a real ICVL tree
    assert real == TestSet(TestSetKind.REAL_ICVL, str(tmp_path))
    assert real.describe() == f"the test sequences of the ICVL tree {tmp_path}"
    (tmp_path / "synth.json").write_text(json.dumps({"generator": "sdnet synth"}))
    assert TestSet.from_source(str(tmp_path)).kind is TestSetKind.SYNTHETIC
    assert TestSet.from_source(str(tmp_path)).describe() == "the synthetic test sequences (sdnet synth)"
    (tmp_path / "synth.json").write_text(json.dumps({"generator": "sdnet synth --poses", "sensor_profile": "occluded"}))
    poses = TestSet.from_source(str(tmp_path))
    assert poses == TestSet(TestSetKind.RENDERED_POSES, str(tmp_path), "occluded")
    assert poses.describe() == ("the real ICVL test poses rendered by sdnet synth --poses (synthetic depth images, "
                                "sensor profile 'occluded')")
    fields = json.loads(json.dumps(poses.settings_fields()))  # as settings.json holds them
    assert fields == {"test set": poses.describe(), "test_set_kind": "rendered_icvl_poses",
                      "test_set_sensor_profile": "occluded"}
    assert TestSet.from_settings({"source": str(tmp_path), **fields}) == poses
    metrics = {"SDNet CNN": {"mean_error_mm": 9.0, "frames": 4}}
    text = " ".join(lead_paragraphs(metrics, {"source": str(tmp_path), **fields, "loss": {"sdl_weight": 0.5}}, None))
    assert "9.00 mm from the CNN (refinement off)" in text and "its row with this run's w = 0.5: 8.40 mm" in text
    assert "bone lengths measured on these test labels" in text and "--published DIR" in text
    assert f"frames of {poses.describe()}:" in text


def test_settings_without_a_test_set_kind_are_refused():
    """No guessing from the sentence or the tree: a settings.json without the kind asks for a new eval."""
    with pytest.raises(SdnetError, match="no valid test_set_kind.*sdnet eval again"):
        TestSet.from_settings({"test set": "the test sequences of the ICVL tree /x", "source": "/x"})


@pytest.mark.parametrize("kind, note, where", [
    ("real_icvl", None, "real ICVL"),
    ("rendered_icvl_poses", "bone lengths measured on these test labels", "our test set"),
    ("synthetic", "ours on other images", "our test set"),
    ("split", "ours on other images", "our test set"),
])
def test_the_kind_decides_the_summary_whatever_the_sentence_says(tmp_path, kind, note, where):
    """The stored sentence is for readers: rewording it (here into other cases' words) changes nothing;
    the page shows the sentence made from the values."""
    metrics = {"SDNet CNN": {"mean_error_mm": 9.0, "frames": 4}}
    tested = TestSet(TestSetKind(kind), "/trees/icvl")
    misleading = "the real ICVL test poses rendered by sdnet synth --poses, i.e. the test sequences of the ICVL tree"
    for sentence in (tested.describe(), misleading, ""):
        settings = {"source": "/trees/icvl", **tested.settings_fields(), "test set": sentence}
        text = " ".join(lead_paragraphs(metrics, settings, None))
        notes = [n for n in ("bone lengths measured on these test labels", "ours on other images") if n in text]
        assert notes == ([note] if note else []), (sentence, text)
        assert f"frames of {tested.describe()}:" in text
        if sentence not in ("", tested.describe()):
            assert sentence not in text
        summary = build_sections(tmp_path, {"SDNet CNN": _metrics_of(9.0)}, settings, None, None, None, {})[0]
        assert summary.tables[0].caption == f"This run, {where}: {tested.describe()}"
    assert json.loads(json.dumps(tested.settings_fields()))["test_set_kind"] == kind


def _metrics_of(mean_mm: float) -> dict:
    """A ``summarize``-shaped result: every joint ``mean_mm`` off, success curves at 0..80 mm."""
    gt = np.zeros((2, NUM_JOINTS, 3)) + [0, 0, 350]
    return summarize(gt + [mean_mm, 0, 0], gt, skeleton=SK)
