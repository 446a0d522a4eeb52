"""`sdnet reproduce` end to end on smoke settings, and the findings paragraph on made-up numbers."""
import json

import pytest

from pipeline.cli import main
from pipeline.reproduce import findings, findings_paragraph, spread
from tests.helpers import make_tiny_data_dir, write_tiny_icvl_tree


def _stats(cnn, refined, tips_cnn, tips_refined, auc):
    """w -> per-setting spreads from lists of per-seed values (made-up numbers)."""
    return {w: {"cnn": spread(cnn[w]), "refined": spread(refined[w]), "tips_cnn": spread(tips_cnn[w]),
                "tips_refined": spread(tips_refined[w]), "auc_cnn": spread(auc[w])} for w in cnn}


def test_findings_when_the_paper_holds():
    cnn = {0.0: [12.7, 12.5], 0.125: [8.9, 8.8], 0.25: [8.7, 8.75], 0.5: [8.4, 8.3]}
    refined = {w: [v - 0.1 for v in vs] for w, vs in cnn.items()}
    tips_cnn = {w: [v + 3 for v in vs] for w, vs in cnn.items()}
    tips_refined = {w: [v + 2.5 for v in vs] for w, vs in cnn.items()}
    auc = {0.0: [50, 51], 0.125: [60, 61], 0.25: [62, 62], 0.5: [64, 65]}
    stats = _stats(cnn, refined, tips_cnn, tips_refined, auc)
    f = findings(stats)
    assert {k: v["verdict"] for k, v in f.items()} == {
        "sdnet_below_baseline": "holds", "larger_w_better": "holds",
        "refinement_helps_fingertips": "holds", "success_curve_higher": "holds"}
    assert all(f["sdnet_below_baseline"]["beyond_seed_range"].values())
    text = findings_paragraph(f, stats, "our test set", 2)
    assert "SDNet is below the baseline for every weight (baseline 12.60 mm" in text
    assert "falls monotonically" in text and "the seed ranges do not overlap for w=0.125, w=0.25, w=0.5" in text
    assert "The refinement lowers the fingertip error for every setting" in text
    assert "lies above the baseline's for every SDNet weight" in text
    assert "all of the paper's findings that could be checked hold" in text


def test_findings_when_the_paper_does_not_hold():
    cnn = {0.0: [10.0, 10.4], 0.125: [10.5, 10.9], 0.25: [10.1, 10.8], 0.5: [11.0, 11.2]}
    refined = {w: [v + 0.2 for v in vs] for w, vs in cnn.items()}
    tips_cnn = {w: [v + 3 for v in vs] for w, vs in cnn.items()}
    tips_refined = {w: [v + 3.4 for v in vs] for w, vs in cnn.items()}
    auc = {0.0: [60, 61], 0.125: [58, 59], 0.25: [59, 60], 0.5: [55, 56]}
    stats = _stats(cnn, refined, tips_cnn, tips_refined, auc)
    f = findings(stats)
    assert {k: v["verdict"] for k, v in f.items()} == {
        "sdnet_below_baseline": "does not hold", "larger_w_better": "does not hold",
        "refinement_helps_fingertips": "does not hold", "success_curve_higher": "does not hold"}
    assert f["larger_w_better"]["best_w"] == 0.0 and not f["larger_w_better"]["monotone"]
    text = findings_paragraph(f, stats, "our test set", 2)
    assert "SDNet is not below the baseline for any weight" in text
    assert "the best is w=0, not the largest w" in text
    assert "does not lower the fingertip error for any setting" in text
    assert "none of the paper's findings holds" in text


def test_findings_partly_and_within_the_seed_spread():
    cnn = {0.0: [10.0, 11.0], 0.125: [10.2, 10.6], 0.5: [11.5, 11.6]}
    refined = {w: [v - 0.1 for v in vs] for w, vs in cnn.items()}
    tips_cnn = {0.0: [14, 14], 0.125: [13, 13], 0.5: [15, 15]}
    tips_refined = {0.0: [13.5, 13.5], 0.125: [13.2, 13.2], 0.5: [14.9, 14.9]}
    auc = {0.0: [60, 60], 0.125: [61, 61], 0.5: [50, 50]}
    stats = _stats(cnn, refined, tips_cnn, tips_refined, auc)
    f = findings(stats)
    assert f["sdnet_below_baseline"]["verdict"] == "partly"
    assert f["sdnet_below_baseline"]["below"] == {0.125: True, 0.5: False}
    assert f["sdnet_below_baseline"]["beyond_seed_range"] == {0.125: False, 0.5: False}
    assert f["refinement_helps_fingertips"]["lower"] == {0.0: True, 0.125: False, 0.5: True}
    text = findings_paragraph(f, stats, "X", 2)
    assert "only for w=0.125" in text and "every gap lies within the spread over seeds" in text
    assert "0 of 4 of the paper's findings hold fully" in text
    # Without a baseline the comparisons with it are not made up.
    g = findings({w: s for w, s in stats.items() if w > 0})
    assert g["sdnet_below_baseline"]["verdict"] is None and g["success_curve_higher"]["verdict"] is None
    assert "no baseline run" in findings_paragraph(g, {w: s for w, s in stats.items() if w > 0}, "X", 2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repro")
    data = make_tiny_data_dir(tmp, rotations=2, crop_size=32, train_seqs=3, frames_per_seq=4,
                              test_frames=(3, 2))
    # Stand-in for ../shared/icvl: ICVL-format test label files of other stick-hand poses.
    other = write_tiny_icvl_tree(tmp / "other", train_seqs=1, frames_per_seq=1, test_frames=(2, 2), seed=7)
    icvl = tmp / "icvl_labels"
    icvl.mkdir()
    for k in (1, 2):
        (icvl / f"test_seq_{k}.txt").write_text((other / f"Testing/test_seq_{k}.txt").read_text())
    return tmp, data, icvl


def test_reproduce_runs_end_to_end_and_resumes(tiny, capsys):
    tmp, data, icvl = tiny
    out = tmp / "reproduce"
    argv = ["reproduce", "--data", str(data), "--out", str(out), "--smoke", "--steps", "2", "--seeds", "0",
            "--weights", "0", "0.5", "--icvl-poses", str(icvl)]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["testsets"]) == {"synthetic", "icvl_poses"}
    assert res["testsets"]["synthetic"]["frames"] == 5 and res["testsets"]["icvl_poses"]["frames"] == 4
    for name, ts in res["testsets"].items():
        assert set(ts["settings"]) == {"0", "0.5"}
        for w, s in ts["settings"].items():
            metrics = json.loads((out / "evals" / name / f"w{w}_s0" / "metrics.json").read_text())
            assert s["cnn"]["mean"] == pytest.approx(metrics["SDNet CNN"]["mean_error_mm"])
            assert s["refined"]["mean"] == pytest.approx(metrics["SDNet CNN + refinement"]["mean_error_mm"])
            assert s["cnn"]["values"] == [s["cnn"]["mean"]] and s["cnn"]["sd"] == 0.0
        # the paragraph's verdict follows the numbers
        base, sd = ts["settings"]["0"]["cnn"]["mean"], ts["settings"]["0.5"]["cnn"]["mean"]
        below = "SDNet is below the baseline for every weight" in ts["paragraph"]
        assert below == (sd < base)
        assert ts["findings"]["sdnet_below_baseline"]["verdict"] == ("holds" if sd < base else "does not hold")
        assert (out / f"per_joint_{name}.png").stat().st_size > 5000
        assert (out / f"success_max_frame_{name}.png").stat().st_size > 5000
    # the prior and the refinement weights come from the data dir (train/val), never from the poses
    for w in ("0", "0.5"):
        settings = json.loads((out / "evals/icvl_poses" / f"w{w}_s0" / "settings.json").read_text())
        refine = json.loads((out / "runs" / f"w{w}_s0" / "refine.json").read_text())
        assert settings["refinement"] == refine and "val frames" in refine["note"]
    table = (out / "table1.md").read_text()
    assert "| baseline (w=0) | 12.70 |" in table and "| SDNet w=0.5 | 8.40 |" in table
    assert "Wall-clock duration:" in table and res["testsets"]["synthetic"]["paragraph"] in table
    assert res["duration"]["last_invocation_s"] > 0

    # Running again reuses every run and evaluation.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*/*/metrics.json")}
    stamps.update({p: p.stat().st_mtime_ns for p in out.glob("runs/*/model.keras")})
    assert len(stamps) == 6
    capsys.readouterr()
    assert main(argv) == 0
    assert "training" not in capsys.readouterr().err
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert len(json.loads((out / "reproduce.json").read_text())["sessions"]) == 2
    # another budget cannot be mixed into the same table
    assert main([*argv[:-2], "--steps", "3"]) == 2
    assert "other training options" in capsys.readouterr().err


def test_reproduce_bad_inputs_are_one_line_errors(tiny, tmp_path, capsys):
    _, data, _ = tiny
    base = ["reproduce", "--data", str(data), "--out", str(tmp_path / "r")]
    assert main(base) == 2
    assert "--minutes-per-run, --steps or --epochs" in capsys.readouterr().err
    assert main([*base, "--smoke", "--weights", "0", "-0.5"]) == 2
    assert ">= 0" in capsys.readouterr().err
    assert main([*base, "--smoke", "--icvl-poses", str(tmp_path)]) == 2
    assert "no test_seq_*.txt" in capsys.readouterr().err
    assert main(["reproduce", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r"), "--smoke"]) == 2
    assert "manifest" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
