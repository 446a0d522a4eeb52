"""eval.report: report.md / report.html and the qualitative pose figure."""
import base64
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from eval.plots import save_figure
from eval.report import FINGER_COLORS, plot_pose_examples, pose_examples_figure, write_report
from pipeline.errors import SdnetError
from pipeline.skeleton import FINGERS, ICVL_SKELETON, NUM_JOINTS


def _figure(path):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return save_figure(fig, path)


def _report(tmp_path, figures):
    table = pd.DataFrame({"method": ["SDNet", "SDNet + refinement"], "mean_error_mm": [8.41234, 8.3],
                          "frames": [1596, 1596]})
    runtime = [{"stage": "cnn", "ms_per_frame": 7.0}, {"stage": "refine", "ms_per_frame": 12.5}]
    return write_report(
        tmp_path / "report", "SDNet on ICVL <test>",
        settings={"preset": "smoke", "loss": {"alpha": 0.5, "beta": 1.0}, "steps": 20},
        tables=[("Mean error", table), ("Runtime", runtime)],
        figures=figures, notes="First paragraph.\n\nSecond & last paragraph.")


def test_report_md_links_figures_and_html_embeds_them(tmp_path):
    png = _figure(tmp_path / "report" / "figs" / "per_joint.png")
    paths = _report(tmp_path, [("Per-joint error", png)])
    md = paths["md"].read_text()
    html = paths["html"].read_text()
    assert md.startswith("# SDNet on ICVL <test>")
    assert "![Per-joint error](figs/per_joint.png)" in md  # relative to the report
    assert "| loss.alpha | 0.500 |" in md and "| preset | smoke |" in md
    assert "| SDNet | 8.412 | 1596 |" in md and "| refine | 12.500 |" in md
    assert "Second & last paragraph." in md

    assert "SDNet on ICVL &lt;test&gt;" in html and "Second &amp; last paragraph." in html
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == png.read_bytes()
    assert "<th>mean_error_mm</th>" in html and '<td class="num">8.412</td>' in html
    assert "<style>" in html and "http" not in html.replace("<!DOCTYPE html>", "")  # self-contained


def test_report_refuses_missing_or_non_png_figures_and_writes_nothing(tmp_path):
    with pytest.raises(SdnetError, match="missing.png: figure not found"):
        _report(tmp_path, [("x", tmp_path / "missing.png")])
    (tmp_path / "fake.png").write_text("not a png")
    with pytest.raises(SdnetError, match="fake.png: figure is not a PNG"):
        _report(tmp_path, [("x", tmp_path / "fake.png")])
    assert not (tmp_path / "report" / "report.md").exists()
    assert not (tmp_path / "report" / "report.html").exists()


def _hand(k=3):
    """k raw depth images (H, W) uint16 mm with a blob, and gt / pred joints in pixels (k, J, 2)."""
    rng = np.random.default_rng(0)
    images = []
    for _ in range(k):
        img = np.full((60, 80), 32001, np.uint16)
        img[15:45, 20:60] = rng.integers(300, 340, size=(30, 40))
        images.append(img)
    gt = rng.uniform(20, 55, size=(k, NUM_JOINTS, 2))
    return images, gt, gt + rng.normal(size=gt.shape) * 3


def test_pose_examples_draw_both_skeletons_per_finger():
    images, gt, pred = _hand()
    fig = Figure()
    axes = fig.subplots(1, 3)
    plot_pose_examples(axes, images, gt, pred, ["best", "median", "worst"])
    for i, (ax, title) in enumerate(zip(axes, ["best", "median", "worst"])):
        lines = ax.get_lines()
        assert len(lines) == 2 * len(FINGERS)  # one gt and one prediction chain per finger
        gt_lines, pred_lines = lines[:len(FINGERS)], lines[len(FINGERS):]
        assert {l.get_linestyle() for l in gt_lines} != {l.get_linestyle() for l in pred_lines}
        thumb = list(ICVL_SKELETON.part_chains[0])
        np.testing.assert_allclose(gt_lines[0].get_xydata(), gt[i, thumb])
        np.testing.assert_allclose(pred_lines[0].get_xydata(), pred[i, thumb])
        assert ax.get_title() == title
        assert ax.get_xlim() == (-0.5, 79.5) and ax.get_ylim() == (59.5, -0.5)  # the image frame
        image = ax.get_images()[0].get_array()
        assert image.mask[0, 0] and not image.mask[30, 40]  # 32001 background is masked
    legend = [t.get_text() for t in axes[-1].get_legend().get_texts()]
    assert legend == ["ground truth", "prediction", *FINGERS]
    assert len(set(FINGER_COLORS.values())) == len(FINGERS)


def test_pose_examples_figure_saves_and_checks_lengths(tmp_path):
    images, gt, pred = _hand(2)
    path = save_figure(pose_examples_figure(images, gt, pred, ["a", "b"]), tmp_path / "examples.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="as many axes"):
        pose_examples_figure(images, gt, pred, ["only one title"])
    with pytest.raises(ValueError, match="joints must be"):
        pose_examples_figure(images, gt[:, :5], pred[:, :5], ["a", "b"])
