"""The refinement is fitted once per run (`sdnet fit-refine`, on train and val); eval and predict only read
the run, and a run copied elsewhere predicts with refinement after its dataset is gone."""
import hashlib
import json
import shutil

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.config import RefineFitConfig
from pipeline.fit_refine import refine_summary
from pipeline.rundir import RunDir
from tests.helpers import make_tiny_data_dir
from tests.run_helpers import make_untrained_run

CROP = 32


def _snapshot(folder):
    """{relative path: sha256} of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny data dir, a smoke-model run on it, and that run after `sdnet fit-refine` (test split removed
    from the data and the source tree first, so the fit cannot have read it)."""
    tmp = tmp_path_factory.mktemp("fit_refine")
    data = make_tiny_data_dir(tmp, rotations=1, crop_size=CROP, train_seqs=3, frames_per_seq=4,
                              test_frames=(4, 2))
    run = make_untrained_run(tmp / "run", data, CROP)
    unfitted = tmp / "run_unfitted"
    shutil.copytree(run, unfitted)

    hidden = tmp / "hidden"
    hidden.mkdir()
    shutil.move(tmp / "icvl" / "Testing", hidden / "Testing")
    test_shards = sorted(data.glob("test*"))
    assert test_shards
    for p in test_shards:
        shutil.move(p, hidden / p.name)
    assert main(["fit-refine", "--run", str(run), "--data", str(data)]) == 0
    shutil.move(hidden / "Testing", tmp / "icvl" / "Testing")
    for p in test_shards:
        shutil.move(hidden / p.name, p)
    return {"tmp": tmp, "data": data, "run": run, "unfitted": unfitted}


def test_fit_refine_fits_the_prior_on_train_and_chooses_the_weights_on_val(fitted):
    run = RunDir(fitted["run"])
    assert run.has_refinement
    record = json.loads(run.refine.read_text())
    n_cells = int(np.prod([len(v) for v in RefineFitConfig().grid().values()]))
    assert len(record["table"]) == n_cells
    best = min(record["table"], key=lambda row: row["mean_error_mm"])
    assert record["val_refined_mm"] == pytest.approx(best["mean_error_mm"])
    # The best cell is chosen whether or not it beats the CNN (no identity cell); refine_summary warns.
    assert record["val_unrefined_mm"] > 0 and record["val_refined_mm"] > 0
    assert "val frames" in record["note"]
    for key in ("radius_mm", "gamma_d", "gamma_m", "window"):
        assert record["config"][key] == best[key]
    prior = json.loads(run.prior.read_text())
    assert prior  # a mixture document; its content is checked by the refinement tests


def test_eval_only_reads_the_run_and_asks_for_fit_refine_when_unfitted(fitted, tmp_path, capsys):
    before = _snapshot(fitted["run"])
    out = tmp_path / "report"
    assert main(["eval", "--run", str(fitted["run"]), "--data", str(fitted["data"]), "--out", str(out)]) == 0
    assert _snapshot(fitted["run"]) == before
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"SDNet CNN", "SDNet CNN + refinement"}
    settings = json.loads((out / "settings.json").read_text())
    assert settings["refinement"]["config"] == json.loads(RunDir(fitted["run"]).refine.read_text())["config"]

    capsys.readouterr()
    unfitted = fitted["unfitted"]
    before = _snapshot(unfitted)
    out2 = tmp_path / "report2"
    assert main(["eval", "--run", str(unfitted), "--data", str(fitted["data"]), "--out", str(out2)]) == 2
    err = capsys.readouterr().err
    assert "prior.json" in err and "sdnet fit-refine" in err and "--no-refine" in err
    assert len(err.strip().splitlines()) == 1
    assert not out2.exists() and _snapshot(unfitted) == before


def test_a_copied_run_predicts_with_refinement_after_its_dataset_is_deleted(fitted, tmp_path):
    tmp = fitted["tmp"]
    frames = tmp_path / "frames"
    shutil.copytree(tmp / "icvl" / "Testing" / "Depth" / "test_seq_1", frames)
    here = tmp_path / "here"
    assert main(["predict", "--run", str(fitted["run"]), str(frames), "--out", str(here), "--no-overlays"]) == 0

    # Copy the run elsewhere, then remove the dataset (data dir and source tree) it was trained on.
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(fitted["run"], moved)
    gone = tmp_path / "gone"
    gone.mkdir()
    shutil.move(fitted["data"], gone / "data")
    shutil.move(tmp / "icvl", gone / "icvl")
    try:
        there = tmp_path / "there"
        assert main(["predict", "--run", str(moved), str(frames), "--out", str(there), "--no-overlays"]) == 0
    finally:
        shutil.move(gone / "data", fitted["data"])
        shutil.move(gone / "icvl", tmp / "icvl")
    a = json.loads((here / "predictions.json").read_text())
    b = json.loads((there / "predictions.json").read_text())
    assert b["refined"] is True and b["centre"]["method"] == "blob"
    assert b["counts"]["ok"] == a["counts"]["ok"] == 4
    assert [f["xyz"] for f in b["frames"]] == [f["xyz"] for f in a["frames"]]
    assert any(f["uvd"] != f["uvd_cnn"] for f in b["frames"])  # the refinement ran


def test_fit_refine_refuses_data_cut_differently_from_the_run(fitted, tmp_path, capsys):
    other = make_tiny_data_dir(tmp_path, rotations=1, crop_size=24, train_seqs=2, frames_per_seq=3,
                               test_frames=(2,))
    before = _snapshot(fitted["unfitted"])
    assert main(["fit-refine", "--run", str(fitted["unfitted"]), "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert "crop 24 px" in err and f"{CROP} px" in err and len(err.strip().splitlines()) == 1
    assert _snapshot(fitted["unfitted"]) == before


def test_refine_summary_warns_when_no_grid_cell_lowers_the_validation_error(tmp_path):
    refine = tmp_path / "run" / "refine.json"
    base = {"note": "chosen on 4 val frames", "seconds": 1.0}
    better = refine_summary({**base, "val_unrefined_mm": 12.0, "val_refined_mm": 11.5}, refine)
    worse = refine_summary({**base, "val_unrefined_mm": 47.29, "val_refined_mm": 47.36}, refine)
    assert "12.00 mm (CNN) -> 11.50 mm refined" in better and "warning" not in better
    assert "47.29 mm (CNN) -> 47.36 mm refined" in worse and "no grid cell lowers the validation error" in worse
    assert refine_summary({**base, "note": "no validation split: defaults used", "val_unrefined_mm": None,
                           "val_refined_mm": None}, refine).endswith(str(refine))
