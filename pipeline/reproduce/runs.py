"""The runs of a reproduction, each resumable: the ICVL test poses rendered and converted like the
data dir, one training per setting and seed (finished, continued from its checkpoint, or new), its
refinement, its evals, and the calibration among candidate settings (on validation only).

``reproduce.json`` in the output directory records the training options every run shares, every
setting trained there (tag -> overrides) and each session's wall-clock time.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

from pipeline.build_synth import BeamOptions
from pipeline.errors import SdnetError
from pipeline.reproduce.settings import (ReproduceOptions, Setting, check_setting_keys, run_tag,
                                         setting_arg, setting_name, setting_tag)
from pipeline.rundir import RunDir, read_summary

OPTIONS_FILE = "reproduce.json"
SMOKE_BEAM_DATA = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
SMOKE_BEAM_SYNTH = BeamOptions(running_mode="in_memory", progress=False)
# --smoke chooses the refinement weights on 'val' from 2 candidates instead of the full grid.
SMOKE_REFINE_GRID = {"radius_mm": (8.0,), "gamma_d": (0.0, 0.002), "gamma_m": (0.05,)}


def icvl_label_files(icvl_dir: Path) -> list[Path]:
    """The ICVL test label files (test_seq_1.txt, test_seq_2.txt, ...) in ``icvl_dir``."""
    files = sorted(Path(icvl_dir).glob("test_seq_*.txt"))
    if not files:
        raise SdnetError(f"{icvl_dir}: no test_seq_*.txt label files (ICVL test poses)")
    return files


def check_extra_test(name: str, data_dir: Path, manifest: dict) -> str:
    """SdnetError unless ``data_dir`` has a manifest with the crop size and cube of ``manifest``
    (the training data's); returns the test set's label."""
    from pipeline.input import read_manifest

    other = read_manifest(data_dir)
    for key, unit in (("crop_size", "px"), ("cube_mm", "mm")):
        if other.get(key) != manifest.get(key):
            raise SdnetError(f"--extra-test {name}={data_dir}: {key} {other.get(key)} {unit} differs from "
                             f"--data's {manifest.get(key)} {unit} (convert it with the same --crop/--cube)")
    if not int(other.get("counts", {}).get("test", 0)):
        raise SdnetError(f"--extra-test {name}={data_dir}: no test frames in its manifest")
    return f"{name}: the test split of {data_dir}"


def prepare_icvl_poses(icvl_dir: Path, data_dir: Path, out: Path, smoke: bool, beam_args: list[str],
                       log: Callable[[str], None]) -> Path:
    """Render the ICVL test poses (as ``sdnet synth --poses`` does) and convert them like ``data_dir``
    (as ``sdnet data`` does: same crop, cube, centre rule); returns the converted data dir. Reused
    when done."""
    from pipeline.build_data import convert_tree
    from pipeline.build_synth import MANIFEST as SYNTH_MANIFEST
    from pipeline.build_synth import BeamOptions, build_pose_tree
    from pipeline.camera import Intrinsics
    from pipeline.config import data_config_from_dict
    from pipeline.input import MANIFEST, read_manifest

    tree, conv = Path(out) / "icvl_poses_tree", Path(out) / "icvl_poses_data"
    if not (tree / SYNTH_MANIFEST).is_file():
        labels = icvl_label_files(icvl_dir)
        log(f"rendering the ICVL test poses of {', '.join(p.name for p in labels)} into {tree}")
        build_pose_tree(tree, labels, beam=SMOKE_BEAM_SYNTH if smoke else BeamOptions(), overwrite=True)
    if not (conv / MANIFEST).is_file():
        manifest = read_manifest(data_dir)
        try:
            cfg = data_config_from_dict(manifest["config"], where=f"{data_dir}/manifest.json: config")
        except (KeyError, TypeError, ValueError) as e:
            raise SdnetError(f"{data_dir}/manifest.json: no usable data config ({e})") from None
        intr = Intrinsics.from_dict(json.loads((tree / SYNTH_MANIFEST).read_text())["intrinsics"])
        log(f"converting them with the data dir's crop {cfg.crop_size} px and cube {cfg.cube_mm:g} mm into {conv}")
        convert_tree(tree, conv, cfg, intr, SMOKE_BEAM_DATA if smoke else beam_args, overwrite=True,
                     progress=not smoke)
    return conv


def train_setting(data, data_dir: Path, run_dir: Path, opts: ReproduceOptions, setting: Setting, seed: int,
                  log: Callable[[str], None]) -> dict:
    """Train (or finish, or reuse) one run of ``setting``; returns its summary. KeyboardInterrupt when
    interrupted."""
    from pipeline.train import train
    from pipeline.training.resolve import resolve_config

    run = RunDir(run_dir)
    if run.summary.is_file():
        return read_summary(run_dir)
    cfg = resolve_config(data.manifest, {**opts.train, **dict(setting), "seed": seed}, data_dir=data_dir)
    resumable = run.config.is_file() and run.checkpoints.is_dir()
    log(f"{'resuming' if resumable else 'training'} {setting_name(setting)}, seed {seed} in {run_dir}")
    summary = train(cfg, data, run_dir, resume=resumable, force=not resumable,
                       log=(lambda m: None) if opts.smoke else None, verbose=0 if opts.smoke else None)
    if "interrupted" in summary:
        raise KeyboardInterrupt
    return summary


def ensure_refinement(run_dir: Path, data_dir: Path, smoke: bool, log: Callable[[str], None]) -> None:
    """Fit the run's refinement (RUN/prior.json on DATA's train split, RUN/refine.json chosen on its val
    split, as ``sdnet fit-refine`` does) unless both are there; --smoke searches a 2-cell grid."""
    from pipeline.fit_refine import DEFAULT_GRID, fit_refinement

    if RunDir(run_dir).has_refinement:
        return
    log(f"fitting the refinement of {run_dir} on {data_dir} (train, val)")
    fit_refinement(run_dir, data_dir, grid=SMOKE_REFINE_GRID if smoke else DEFAULT_GRID, progress=not smoke)


def evaluate_setting(run_dir: Path, test_data: Path, out: Path) -> dict:
    """metrics.json of ``run_dir`` on ``test_data`` (CNN and CNN + refinement); reused when done."""
    from eval.evaluate import run_eval

    path = out / "metrics.json"
    if path.is_file():
        return json.loads(path.read_text())
    return run_eval(run_dir, test_data, out, refine=True, overwrite=True)


def check_options(out: Path, opts: ReproduceOptions) -> dict:
    """reproduce.json: refuse another budget/preset in the same directory (runs would not be
    comparable) and a setting whose directory name is taken by other overrides; record every setting."""
    path = out / OPTIONS_FILE
    every = [*opts.settings, *(c for c in opts.candidates if c not in opts.settings)]
    want = [{"tag": setting_tag(s), "overrides": dict(s)} for s in every]
    if path.is_file():
        state = json.loads(path.read_text())
        saved = state.get("train", {})
        if saved != json.loads(json.dumps(opts.train)):
            raise SdnetError(f"{path}: the runs in {out} were made with other training options ({saved}); "
                             f"use the same budget and preset, or another --out")
        known = {r["tag"]: r["overrides"] for r in state.get("settings", [])}
        for r in want:
            if r["tag"] in known and known[r["tag"]] != r["overrides"]:
                raise SdnetError(f"{path}: {r['tag']} holds runs of {known[r['tag']]}, not of {r['overrides']}; "
                                 f"use another --out")
        state["settings"] = [*state.get("settings", []), *(r for r in want if r["tag"] not in known)]
        return state
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SdnetError(f"{out}: exists, is not empty and holds no {OPTIONS_FILE}")
    return {"train": json.loads(json.dumps(opts.train)), "settings": want, "sessions": []}


def validate_settings(opts: ReproduceOptions, manifest: dict, data_dir: Path) -> None:
    """SdnetError, before any training, on a setting key that is not a loss option or on a value
    ``resolve_config`` refuses."""
    from pipeline.training.resolve import LOSS_OVERRIDES, resolve_config

    for setting in (*opts.settings, *opts.candidates):
        check_setting_keys(setting, LOSS_OVERRIDES)
        try:
            resolve_config(manifest, {**opts.train, **dict(setting)}, data_dir=data_dir)
        except (ValueError, SdnetError) as e:
            raise SdnetError(f"--setting {setting_arg(setting)}: {e}") from None


def calibrate(data, data_dir: Path, out: Path, opts: ReproduceOptions, log: Callable[[str], None]) -> dict:
    """Train every candidate with the first seed and choose the one of lowest validation error.

    Returns {"seed", "chosen" (tag), "candidates": [{"tag", "name", "overrides", "val_mm"}, ...]}
    (val_mm: the run's final validation mean error, mm). Test data is never read here."""
    seed = opts.seeds[0]
    rows = []
    for k, cand in enumerate(opts.candidates, start=1):
        summary = train_setting(data, data_dir, out / "runs" / run_tag(cand, seed), opts, cand, seed, log)
        rows.append({"tag": setting_tag(cand), "name": setting_name(cand), "overrides": dict(cand),
                     "val_mm": float(summary["val_mean_error_mm"])})
        log(f"candidate {k}/{len(opts.candidates)} {setting_name(cand)}: val {rows[-1]['val_mm']:.2f} mm")
    best = min(rows, key=lambda r: r["val_mm"])
    log(f"calibration: chose {best['name']} (val {best['val_mm']:.2f} mm, seed {seed})")
    return {"seed": seed, "chosen": best["tag"], "candidates": rows}


def with_calibrated(opts: ReproduceOptions, calibration: dict) -> ReproduceOptions:
    """``opts`` whose settings include the chosen candidate (labelled as chosen on validation)."""
    chosen = next(c for c in opts.candidates if setting_tag(c) == calibration["chosen"])
    if chosen in opts.settings:
        return opts
    label = (f"calibration: lowest validation error of {len(opts.candidates)} candidates, "
             f"seed {calibration['seed']}")
    return dataclasses.replace(opts, settings=(*opts.settings, chosen), tuning=(*opts.tuning, (chosen, label)))
