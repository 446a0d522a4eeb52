"""`sdnet tune` on tiny data: a 2-trial search of a base experiment, continuing it, best.json ->
`sdnet train --from-tuning`."""
import csv
import json

import pytest

import pipeline.tune as tune_mod
from pipeline.cli import main
from pipeline.experiment import experiment_json
from pipeline.tune import CSV_COLUMNS, read_best, read_tuning_csv, trial_config, tuned_sets
from tests.helpers import make_tiny_data_dir

TRIAL = ["--preset", "smoke", "--max-steps", "2", "--batch-size", "8", "--seed", "5", "--initial-points", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The tiny data dir and its experiment file (the data section it was cut with)."""
    tmp = tmp_path_factory.mktemp("tune")
    data_dir = make_tiny_data_dir(tmp, rotations=2, crop_size=32, train_seqs=3, frames_per_seq=4,
                                  test_frames=(2, 2))
    manifest = json.loads((data_dir / "manifest.json").read_text())
    experiment = tmp / "tiny.json"
    experiment.write_text(json.dumps({"version": 1, "data": manifest["config"]}))
    return data_dir, experiment


def _tune(data, out, trials, *extra):
    data_dir, experiment = data
    return main(["tune", "--data", str(data_dir), "--out", str(out), "--trials", str(trials),
                 "--config", str(experiment), *TRIAL, *extra])


def test_search_writes_rows_best_and_plot_then_continues(data, tmp_path, capsys):
    out = tmp_path / "search"
    assert _tune(data, out, 2) == 0
    rows = read_tuning_csv(out / "tuning.csv")
    assert len(rows) == 2 and [r["trial_id"] for r in rows] == ["0", "1"]
    with open(out / "tuning.csv") as f:
        assert tuple(next(csv.reader(f))) == CSV_COLUMNS
    for r in rows:
        assert r["status"] == "COMPLETED" and r["val_mean_error_mm"] > 0
        assert 1e-3 <= r["sdl_weight"] <= 1 and 0.1 <= r["alpha"] <= 10 and 0.1 <= r["beta"] <= 10
        assert r["joint_loss"] in ("squared", "distance")
        run_cfg = json.loads((out / r["run_dir"] / "config.json").read_text())
        # each trial is a training run of the base experiment with the trial's weights
        assert run_cfg["loss"]["sdl_weight"] == pytest.approx(r["sdl_weight"])
        assert run_cfg["loss"]["joint_loss"] == r["joint_loss"]
        assert run_cfg["loss"]["alpha"] == pytest.approx(r["alpha"])
        assert run_cfg["steps"] == 2 and run_cfg["seed"] == 5 and run_cfg["model"]["preset"] == "smoke"
        assert run_cfg["data"]["crop_size"] == 32 and run_cfg["batch_size"] == 8
        assert run_cfg["source"]["data_dir"] == str(data[0].resolve())
        summary = json.loads((out / r["run_dir"] / "summary.json").read_text())
        assert summary["val_mean_error_mm"] == pytest.approx(r["val_mean_error_mm"], rel=1e-5)
    assert rows[0]["alpha"] != rows[1]["alpha"]  # two different points were tried
    best = read_best(out / "best.json")
    winner = min(rows, key=lambda r: r["val_mean_error_mm"])
    assert best["trial_id"] == winner["trial_id"]
    assert best["val_mean_error_mm"] == pytest.approx(winner["val_mean_error_mm"], rel=1e-5)
    assert best["train_options"]["steps"] == 2 and best["train_options"]["model"]["preset"] == "smoke"
    assert json.loads((out / "search.json").read_text())["train"] == best["train_options"]
    assert (out / "tuning.png").stat().st_size > 5000
    first_ctime = (out / "trials/0/summary.json").stat().st_mtime_ns
    capsys.readouterr()

    # The same command again runs nothing new; asking for 3 runs exactly one more trial.
    assert _tune(data, out, 2) == 0
    assert len(read_tuning_csv(out / "tuning.csv")) == 2
    assert "2 of 2 trials finished; 0 to run" in capsys.readouterr().err
    assert _tune(data, out, 3) == 0
    err = capsys.readouterr().err
    assert "2 of 3 trials finished; 1 to run" in err and "trial 2 done" in err and "trial 0 done" not in err
    again = read_tuning_csv(out / "tuning.csv")
    assert len(again) == 3 and again[:2] == rows
    assert (out / "trials/0/summary.json").stat().st_mtime_ns == first_ctime
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0", "1", "2"]

    # Another base experiment (here: another trial length) cannot continue this search.
    i = TRIAL.index("--max-steps")
    assert main(["tune", "--data", str(data[0]), "--out", str(out), "--trials", "3", "--config", str(data[1]),
                 *TRIAL[:i], "--max-steps", "3", *TRIAL[i + 2:]]) == 2
    err = capsys.readouterr().err
    assert "other options" in err and "train.steps=2" in err

    # best.json drives `sdnet train --from-tuning`; an explicit flag still wins.
    best = read_best(out / "best.json")
    sets = tuned_sets(out / "best.json")
    assert sets["loss.beta"] == pytest.approx(best["beta"]) and "loss.angle_thresholds_deg" not in sets
    run = tmp_path / "run"
    assert main(["train", "--data", str(data[0]), "--out", str(run), "--config", str(data[1]), "--preset", "smoke",
                 "--steps", "2", "--batch-size", "8", "--no-fit-refine", "--no-fit-centre",
                 "--from-tuning", str(out / "best.json"), "--alpha", "0.5"]) == 0
    loss = json.loads((run / "config.json").read_text())["loss"]
    assert loss["sdl_weight"] == pytest.approx(best["sdl_weight"])
    assert loss["alpha"] == 0.5 and loss["beta"] == pytest.approx(best["beta"])
    assert loss["joint_loss"] == best["joint_loss"]


def test_bad_inputs_are_one_line_errors(data, tmp_path, capsys):
    data_dir, experiment = data
    assert main(["train", "--data", str(data_dir), "--out", str(tmp_path / "r"), "--from-tuning",
                 str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    bad = tmp_path / "best.json"
    bad.write_text(json.dumps({"alpha": 1.0}))
    assert main(["train", "--data", str(data_dir), "--out", str(tmp_path / "r"), "--from-tuning", str(bad)]) == 2
    assert "not a best.json" in capsys.readouterr().err and not (tmp_path / "r").exists()
    # the default experiment's data section (128-px crops) is not how the tiny data was cut
    assert main(["tune", "--data", str(data_dir), "--out", str(tmp_path / "s"), "--trials", "2"]) == 2
    err = capsys.readouterr().err
    assert "data.crop_size=32" in err and "--config" in err and len(err.strip().splitlines()) == 1
    assert _tune(data, tmp_path / "s", 2, "--set", "loss.nope=1") == 2
    assert "loss.nope: unknown key" in capsys.readouterr().err
    assert _tune((tmp_path / "nodata", experiment), tmp_path / "s", 2) == 2
    assert "manifest" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/file.txt").write_text("x")
    assert _tune(data, tmp_path / "busy", 1) == 2
    assert "not a tuning directory" in capsys.readouterr().err


def test_interrupted_trial_is_retried_with_its_values_and_best_is_the_minimum(data, tmp_path, monkeypatch, capsys):
    """Trials replaced by a fake whose objective is alpha: the search state, not training, is tested."""
    attempts = []

    def fake(out, data_src, options, trial_id, values, train_log=None):
        attempts.append((trial_id, dict(values)))
        if len(attempts) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second trial
        run_dir = out / "trials" / trial_id
        run_dir.mkdir(parents=True)
        cfg = trial_config(options, values, data_src)
        assert cfg.loss.alpha == values["alpha"] and cfg.loss.joint_loss == values["joint_loss"]
        (run_dir / "config.json").write_text(json.dumps(experiment_json(cfg)))
        return {"val_mean_error_mm": values["alpha"]}

    monkeypatch.setattr(tune_mod, "run_one_trial", fake)
    out = tmp_path / "s"
    random_only = ("--initial-points", "9")  # the Gaussian process is exercised in the test above
    assert _tune(data, out, 4, *random_only) == 130
    assert len(read_tuning_csv(out / "tuning.csv")) == 1
    assert _tune(data, out, 4, *random_only) == 0
    ids = [a[0] for a in attempts]
    assert ids == ["0", "1", "1", "2", "3"]  # trial 1 ran again, with the same values
    assert attempts[1][1] == attempts[2][1]
    rows = read_tuning_csv(out / "tuning.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1", "2", "3"]
    best = read_best(out / "best.json")
    assert best["alpha"] == pytest.approx(min(r["alpha"] for r in rows))
    assert best["val_mean_error_mm"] == pytest.approx(best["alpha"])

    def broken(*a, **k):
        raise tune_mod.SdnetError("the data went away")

    monkeypatch.setattr(tune_mod, "run_one_trial", broken)
    capsys.readouterr()
    assert _tune(data, out, 5, *random_only) == 2
    assert "the data went away" in capsys.readouterr().err
    assert len(read_tuning_csv(out / "tuning.csv")) == 4


def test_joint_loss_choice_and_w_range_reach_the_search_space(data, tmp_path, capsys):
    out = tmp_path / "one-reading"
    assert _tune(data, out, 1, "--joint-loss", "distance", "--w-min", "0.002", "--w-max", "0.004") == 0
    row = read_tuning_csv(out / "tuning.csv")[0]
    assert row["joint_loss"] == "distance" and 0.002 <= row["sdl_weight"] <= 0.004
    space = json.loads((out / "search.json").read_text())["space"]
    assert space["joint_losses"] == ["distance"] and space["w_min"] == 0.002
    assert _tune(data, tmp_path / "bad", 1, "--w-min", "0.5", "--w-max", "0.1") == 2
    assert "need 0 < min < max" in capsys.readouterr().err
