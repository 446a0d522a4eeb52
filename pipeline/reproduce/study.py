"""``sdnet reproduce``'s driver: validate everything, then train, evaluate, score and write the tables
and figures (see ``pipeline.reproduce``)."""
from __future__ import annotations

import dataclasses
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_text, write_json
from pipeline.reproduce.figures import write_figures, write_learning_curves
from pipeline.reproduce.runs import (OPTIONS_FILE, calibrate, check_extra_test, check_options, ensure_refinement,
                                     evaluate_setting, icvl_label_files, prepare_icvl_poses, train_setting,
                                     validate_settings, with_calibrated)
from pipeline.reproduce.scoring import (add_gradient_numbers, collect, convergence_numbers, read_curves,
                                        run_numbers)
from pipeline.reproduce.settings import (BASELINE, EXTRA_NAME, TESTSET_LABELS, ReproduceOptions, command_line,
                                         run_tag, setting_name)
from pipeline.reproduce.tables import calibration_markdown, format_duration, table_markdown
from pipeline.datasets import dataset_of
from pipeline.rundir import load_run_config, read_summary, run_skeleton
from pipeline.training.data import data_from_dir


def _log_default(msg: str) -> None:
    print(f"[reproduce] {msg}", file=sys.stderr, flush=True)


def reproduce(data_dir: Path, out: Path, opts: ReproduceOptions, icvl_poses: Path | None = None,
              beam_args: list[str] | None = None, log: Callable[[str], None] | None = None,
              extra_tests: Mapping[str, Path] | None = None) -> dict:
    """Train, evaluate and tabulate (see ``pipeline.reproduce``); returns results.json's content.
    ``extra_tests``: NAME -> data dir whose test split every run is also evaluated on."""
    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log = log or _log_default
    data_dir, out = Path(data_dir), Path(out)
    extra_tests = {name: Path(p) for name, p in (extra_tests or {}).items()}
    data = data_from_dir(data_dir)
    validate_settings(opts, data.manifest, data_dir)  # validate every option before any work
    skeleton = dataset_of(data.manifest["dataset"], data.manifest["skeleton"], str(data_dir)).skeleton
    if icvl_poses is not None:
        icvl_label_files(icvl_poses)
    labels = dict(TESTSET_LABELS)
    for name, path in extra_tests.items():
        if not EXTRA_NAME.fullmatch(name) or name in TESTSET_LABELS:
            raise SdnetError(f"--extra-test {name}={path}: NAME must be letters, digits, _ or - and not "
                             f"{' or '.join(TESTSET_LABELS)}")
        labels[name] = check_extra_test(name, path, data.manifest)
    state = check_options(out, opts)
    out.mkdir(parents=True, exist_ok=True)
    state["sessions"].append({"started": started, "seconds": None})
    write_json(out / OPTIONS_FILE, state)

    def save_time():
        state["sessions"][-1]["seconds"] = round(time.perf_counter() - t0, 1)
        write_json(out / OPTIONS_FILE, state)

    try:
        testsets = {"synthetic": data_dir}
        if icvl_poses is not None:
            testsets["icvl_poses"] = prepare_icvl_poses(icvl_poses, data_dir, out, opts.smoke,
                                                        beam_args or [], log)
        testsets.update(extra_tests)
        calibration, asked = None, opts
        if opts.candidates:
            calibration = calibrate(data, data_dir, out, opts, log)
            opts = with_calibrated(opts, calibration)
        runs = [(seed, setting) for seed in opts.seeds for setting in opts.settings]
        for k, (seed, setting) in enumerate(runs, start=1):
            run_dir = out / "runs" / run_tag(setting, seed)
            summary = train_setting(data, data_dir, run_dir, opts, setting, seed, log)
            # from DATA's train/val, for every test set, as the base experiment's refine section says
            ensure_refinement(run_dir, data_dir, opts.train.refine, log, progress=not opts.smoke)
            msg = [f"run {k}/{len(runs)} {setting_name(setting)}, seed {seed}: "
                   f"val {summary['val_mean_error_mm']:.2f} mm"]
            for name, test_data in testsets.items():
                metrics = evaluate_setting(run_dir, test_data, out / "evals" / name / run_tag(setting, seed))
                n = run_numbers(metrics, run_skeleton(load_run_config(run_dir)))
                msg.append(f"{name} {n['cnn']:.2f} -> {n['refined']:.2f} mm")
            log("; ".join(msg) + f" ({time.perf_counter() - t0:.0f} s so far)")
        res = collect(out, opts, {name: labels[name] for name in testsets})
        for name, ts in res["testsets"].items():
            write_figures(out, name, ts.pop("_plots"), skeleton)
        curves = read_curves(out, opts)
        res["convergence"] = add_gradient_numbers(convergence_numbers(curves), out, opts)
        write_learning_curves(out, curves)
        res["extra_tests"] = {name: str(p) for name, p in extra_tests.items()}
        if calibration is not None:
            res["calibration"] = calibration
            cand = dataclasses.replace(asked, settings=asked.candidates, seeds=(calibration["seed"],), tuning=())
            write_learning_curves(out, read_curves(out, cand), "calibration_curves.png")
        save_time()
        session_s = state["sessions"][-1]["seconds"]
        total_s = sum(s["seconds"] or 0.0 for s in state["sessions"])
        res["duration"] = {"last_invocation_s": session_s, "all_invocations_s": total_s,
                           "sessions": state["sessions"]}
        res["command"] = command_line(data_dir, out, asked, icvl_poses, extra_tests)
        write_json(out / "results.json", res)
        text = table_markdown(res, res["command"], session_s, total_s)
        if calibration is not None:
            base = read_summary(out / "runs" / run_tag(BASELINE, calibration["seed"]))
            base_val = base["val_mean_error_mm"] if base is not None else None
            text += "\n" + "\n".join(calibration_markdown(calibration, base_val))
        atomic_write_text(out / "table1.md", text)
    finally:
        save_time()
    log(f"done in {format_duration(time.perf_counter() - t0)}: {out / 'table1.md'}")
    return res
