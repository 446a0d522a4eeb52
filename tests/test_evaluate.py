"""A tiny end-to-end eval: a smoke model on a tiny converted tree writes every output."""
import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest

from eval.metrics import bone_length_sd_mm, jitter_mm
from eval.results_io import read_results, write_results
from eval.run_report import PER_FRAME_FILE
from models.sdnet import build_model, preset, with_input_size
from pipeline.camera import ICVL_INTRINSICS, Intrinsics, uvd_to_xyz
from pipeline.cli import main
from pipeline.config import to_dict
from pipeline.geometry import denormalize_joints
from pipeline.input import make_dataset
from pipeline.skeleton import ICVL_SKELETON, NYU_SKELETON
from tests.helpers import (TINY_NYU_SUBJECTS, html_tables, is_a_drawn_figure, make_tiny_data_dir,
                           make_tiny_nyu_data_dir, smoke_run_config)
from tests.run_helpers import make_untrained_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    data = make_tiny_data_dir(tmp, rotations=2, crop_size=32, train_seqs=3, frames_per_seq=4,
                              test_frames=(4, 3))
    run = tmp / "run"
    run.mkdir()
    keras.utils.set_random_seed(0)
    cfg = with_input_size(preset("smoke"), 32)
    build_model(cfg, 16).save(run / "model.keras")  # ICVL's 16 joints
    manifest = json.loads((data / "manifest.json").read_text())
    (run / "config.json").write_text(json.dumps(smoke_run_config(manifest, data)))
    assert main(["fit-refine", "--run", str(run), "--data", str(data), "--quiet"]) == 0
    return tmp, data, run


def test_eval_writes_every_output(tiny, capsys):
    tmp, data, run = tiny
    out = tmp / "report"
    assert main(["eval", "--run", str(run), "--data", str(data), "--out", str(out)]) == 0
    for name in ("predictions_uvd.txt", "predictions_uvd_cnn.txt", "metrics.json", "settings.json",
                 "per_joint.png", "success_max_frame.png", "success_mean_frame.png",
                 "success_joint.png", "examples.png", "per_frame_errors.csv", "per_sequence.png",
                 "report.md", "report.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"SDNet CNN", "SDNet CNN + refinement"}
    for m in metrics.values():
        assert m["frames"] == 7 and len(m["per_joint_mm"]) == 16 and m["mean_error_mm"] > 0
        assert m["max_frame"][-1] >= m["max_frame"][0]
    assert read_results(out / "predictions_uvd.txt", expected_frames=7, num_joints=16).shape == (7, 16, 3)
    # plausibility within the two test sequences (4 + 3 frames), recomputed from the written predictions
    intr = Intrinsics.from_dict(json.loads((data / "manifest.json").read_text())["intrinsics"])
    sequences = pd.read_csv(out / PER_FRAME_FILE)["sequence"].tolist()
    assert sequences == ["test_seq_1"] * 4 + ["test_seq_2"] * 3
    cnn_xyz = uvd_to_xyz(read_results(out / "predictions_uvd_cnn.txt", expected_frames=7, num_joints=16), intr)
    cnn = metrics["SDNet CNN"]
    assert cnn["jitter_mm"] == pytest.approx(jitter_mm(cnn_xyz, sequences), rel=1e-3)  # (the file rounds)
    assert cnn["bone_length_sd_mm"] == pytest.approx(bone_length_sd_mm(cnn_xyz, sequences, ICVL_SKELETON), rel=1e-3)
    assert cnn["gt_jitter_mm"] == metrics["SDNet CNN + refinement"]["gt_jitter_mm"] >= 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") == 6  # per joint, 3 success curves, examples, per sequence
    summary = html_tables(html)["summary"]
    assert [r[0] for r in summary[1:]] == list(metrics)
    for row in summary[1:]:
        assert row[1] == f"{metrics[row[0]]['mean_error_mm']:.2f}"
        assert row[summary[0].index("jitter (mm)")] == f"{metrics[row[0]]['jitter_mm']:.2f}"
    assert "own bone length sd is" in html  # the ground truth's, under the summary
    assert "mean error (mm)" in capsys.readouterr().out
    settings = json.loads((out / "settings.json").read_text())  # the tiny tree has no synth.json: real ICVL
    source = json.loads((data / "manifest.json").read_text())["source_root"]
    assert settings["source"] == source and settings["test_set_kind"] == "real_icvl"
    assert settings["test set"] == f"the test sequences of the ICVL tree {source}"
    assert f"This run, real ICVL: {settings['test set']}" in html and "ours on other images" not in html


def test_eval_scores_published_files_and_rebuilds_the_report_from_its_files(tiny, tmp_path):
    _, data, run = tiny
    icvl = tmp_path / "icvl"
    (icvl / "published").mkdir(parents=True)
    gt = np.random.default_rng(0).uniform(100, 300, size=(4, 16, 3))
    write_results(icvl / "icvl_test_groundtruth_label.txt", gt, 16)
    write_results(icvl / "published" / "NEUCOM18_ICVL_Pose_REN.txt", gt + 1.0, 16)
    out = tmp_path / "r"
    assert main(["eval", "--run", str(run), "--data", str(data), "--out", str(out), "--no-refine",
                 "--published", str(icvl)]) == 0
    published = json.loads((out / "published.json").read_text())
    assert list(published["metrics"]) == ["Pose-REN"] and published["frames"] == 4
    paper = {r[0]: r for r in html_tables((out / "report.html").read_text())["paper"][1:]}
    assert paper["Pose-REN"][1] == f"{published['metrics']['Pose-REN']['mean_error_mm']:.2f}"

    (out / "report.html").unlink()
    assert main(["eval", "--out", str(out), "--report-only"]) == 0
    assert "Pose-REN" in (out / "report.html").read_text()
    assert main(["eval", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "r2"),
                 "--published", str(tmp_path)]) == 2  # no labels there: refused before predicting
    assert not (tmp_path / "r2").exists()


def test_eval_prediction_mapping_is_exact_for_a_perfect_model(tiny):
    """Predicting the records' own normalized joints must give back the labelled uvd."""
    _, data, _ = tiny
    for _, joints, meta in make_dataset(data, "test", 8, with_meta=True):
        uvd = denormalize_joints(joints.numpy().reshape(-1, 16, 3), meta["centre_xyz"].numpy(),
                                 meta["cube_mm"].numpy(), ICVL_INTRINSICS, meta["angle_deg"].numpy())
        assert np.abs(uvd - meta["uvd"].numpy()).max() < 0.01


def test_eval_bad_inputs(tiny, tmp_path, capsys):
    tmp, data, run = tiny
    assert main(["eval", "--run", str(tmp_path), "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    assert "no config.json" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3\n")
    args = ["eval", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "r2"),
            "--no-refine", "--compare", f"other={bad}"]
    assert main(args) == 2
    assert "bad.txt" in capsys.readouterr().err and not (tmp_path / "r2").exists()


def test_eval_draws_the_learning_curve_and_time_to_accuracy_of_a_run_with_history(tiny):
    tmp, data, run = tiny
    with_history = tmp / "run_with_history"
    shutil.copytree(run, with_history)
    (with_history / "history.csv").write_text(
        "epoch,step,loss,mean_error_mm,sdl,val_loss,val_mean_error_mm,val_sdl,learning_rate,seconds\n"
        "1,400,0.3,20,,0.3,16.5,,0.001,120\n2,800,0.2,14,,0.2,13.0,,0.001,240\n"
        "3,1200,0.1,11,,0.1,11.5,,0.0005,360\n")
    out = tmp / "report_history"
    assert main(["eval", "--run", str(with_history), "--data", str(data), "--out", str(out), "--no-refine"]) == 0
    assert is_a_drawn_figure(out / "learning_curve.png")
    settings = json.loads((out / "settings.json").read_text())
    assert settings["time to accuracy (validation)"] == {"15 mm": 4.0, "12 mm": 6.0, "10 mm": None}
    md = (out / "report.md").read_text()
    assert "Training time to reach a validation error" in md and "learning_curve.png" in md


# ----------------------------------------------------------------------------- NYU


@pytest.fixture(scope="module")
def tiny_nyu(tmp_path_factory):
    """A tiny NYU tree, its data (`sdnet data --dataset nyu`), and an untrained smoke run on it with its
    refinement fitted (`sdnet fit-refine`)."""
    tmp = tmp_path_factory.mktemp("eval_nyu")
    data = make_tiny_nyu_data_dir(tmp, crop_size=32)
    run = make_untrained_run(tmp / "run", data, 32)
    assert main(["fit-refine", "--run", str(run), "--data", str(data), "--quiet"]) == 0
    return tmp, data, run


def test_nyu_eval_scores_its_14_joints_per_subject_beside_the_published_files(tiny_nyu, tmp_path, capsys):
    tmp, data, run = tiny_nyu
    assert len(json.loads((run / "prior.json").read_text())["bones"]) == 13  # NYU's tree, the wrist bones too
    kit = tmp_path / "nyu"  # a benchmark folder in the layout of ../shared/nyu
    (kit / "published").mkdir(parents=True)
    gt = np.random.default_rng(0).uniform(200, 400, size=(6, 14, 3)) + [0, 0, 600]
    write_results(kit / "nyu_test_groundtruth_label.txt", gt, 14)
    write_results(kit / "published" / "CVPR18_NYU_V2V_PoseNet.txt", gt + 1.0, 14)
    out = tmp_path / "report"
    assert main(["eval", "--run", str(run), "--data", str(data), "--out", str(out), "--dataset", "nyu",
                 "--published", str(kit)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    subjects = [name for name, _, _, _ in TINY_NYU_SUBJECTS]
    for m in metrics.values():
        assert len(m["per_joint_mm"]) == 14 and m["frames"] == 5
        assert list(m["per_sequence"]) == subjects  # the test subjects, from the records' sequence field
    assert read_results(out / "predictions_uvd.txt", expected_frames=5, num_joints=14).shape == (5, 14, 3)
    assert pd.read_csv(out / PER_FRAME_FILE)["sequence"].tolist() == ["subject_1"] * 2 + ["subject_2"] * 3
    settings = json.loads((out / "settings.json").read_text())
    assert settings["dataset"] == "nyu"
    published = json.loads((out / "published.json").read_text())
    assert published["frames"] == 6 and len(published["metrics"]) == 1
    html = (out / "report.html").read_text()
    assert "Real NYU test set: published methods" in html and "paper, Table 1" not in html
    assert "published methods on real NYU (dashed)" in html and "ICVL" not in html.split("<h2")[1]  # the summary
    capsys.readouterr()
    # a mismatch with the run's dataset, or a benchmark folder of another dataset, is one line
    assert main(["eval", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "r2"),
                 "--dataset", "icvl"]) == 2
    err = capsys.readouterr().err.strip()
    assert "trained on nyu" in err and len(err.splitlines()) == 1 and not (tmp_path / "r2").exists()


def test_nyu_predict_reads_an_nyu_tree_and_writes_nyu_joints(tiny_nyu, tmp_path, capsys):
    tmp, _, run = tiny_nyu
    tree = tmp / "nyu"
    out = tmp_path / "pred"
    assert main(["predict", "--dataset", "nyu", "--run", str(run), str(tree), "--out", str(out),
                 "--split", "test"]) == 0
    doc = json.loads((out / "predictions.json").read_text())
    assert doc["input_kind"] == "nyu-tree" and doc["dataset"] == "nyu"
    assert doc["joint_names"] == list(NYU_SKELETON.joint_names) and doc["refined"] is True
    frames = doc["frames"]
    assert [f["path"].rsplit("/", 1)[1] for f in frames] == [f"depth_1_{i:07d}.png" for i in range(1, 6)]
    assert [f["sequence"] for f in frames] == ["subject_1"] * 2 + ["subject_2"] * 3
    ok = [f for f in frames if f["status"] == "ok"]
    assert ok and all(np.array(f["uvd"]).shape == (14, 3) for f in ok)
    assert doc["error_mm"]["labelled_frames"] == 5  # scored against the tree's joint_data.mat
    assert all((out / f["overlay"]).is_file() for f in frames)
    capsys.readouterr()
    assert main(["predict", "--dataset", "icvl", "--run", str(run), str(tree), "--out", str(tmp_path / "p2")]) == 2
    assert "trained on nyu" in capsys.readouterr().err
