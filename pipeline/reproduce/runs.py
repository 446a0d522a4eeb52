"""The runs of a reproduction, each resumable: the ICVL test poses rendered and converted like the
data dir, one training per setting and seed (finished, continued from its checkpoint, or new), its
refinement, its evals, and the calibration among candidate settings (on validation only).

``reproduce.json`` in the output directory records the base experiment every run starts from, every
setting trained there (tag -> overrides) and each session's wall-clock time.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

from eval.evaluate import run_eval
from pipeline.build_data import convert_tree
from pipeline.build_synth import MANIFEST as SYNTH_MANIFEST
from pipeline.build_synth import BeamOptions, build_pose_tree
from pipeline.camera import Intrinsics
from pipeline.config import DataConfig, RefineFitConfig, TrainConfig, from_dict
from pipeline.errors import SdnetError
from pipeline.experiment import bind_data, differences, experiment_from_dict, experiment_json, override
from pipeline.fit_refine import fit_refinement
from pipeline.input import MANIFEST, read_manifest
from pipeline.reproduce.settings import (LOSS_KEYS, ReproduceOptions, Setting, check_setting_keys, loss_sets,
                                         run_sets, run_tag, setting_arg, setting_name, setting_tag)
from pipeline.rundir import RunDir, read_summary
from pipeline.train import train

OPTIONS_FILE = "reproduce.json"
SMOKE_BEAM_DATA = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
SMOKE_BEAM_SYNTH = BeamOptions(running_mode="in_memory", progress=False)


def icvl_label_files(icvl_dir: Path) -> list[Path]:
    """The ICVL test label files (test_seq_1.txt, test_seq_2.txt, ...) in ``icvl_dir``."""
    files = sorted(Path(icvl_dir).glob("test_seq_*.txt"))
    if not files:
        raise SdnetError(f"{icvl_dir}: no test_seq_*.txt label files (ICVL test poses)")
    return files


def check_extra_test(name: str, data_dir: Path, manifest: dict) -> str:
    """SdnetError unless ``data_dir`` has a manifest with the crop size and cube of ``manifest``
    (the training data's); returns the test set's label."""
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
    tree, conv = Path(out) / "icvl_poses_tree", Path(out) / "icvl_poses_data"
    if not (tree / SYNTH_MANIFEST).is_file():
        labels = icvl_label_files(icvl_dir)
        log(f"rendering the ICVL test poses of {', '.join(p.name for p in labels)} into {tree}")
        build_pose_tree(tree, labels, beam=SMOKE_BEAM_SYNTH if smoke else BeamOptions(), overwrite=True)
    if not (conv / MANIFEST).is_file():
        manifest = read_manifest(data_dir)
        try:
            cfg = from_dict(DataConfig, manifest["config"], where=f"{data_dir}/manifest.json: config")
        except (KeyError, TypeError, ValueError) as e:
            raise SdnetError(f"{data_dir}/manifest.json: no usable data config ({e})") from None
        intr = Intrinsics.from_dict(json.loads((tree / SYNTH_MANIFEST).read_text())["intrinsics"])
        log(f"converting them with the data dir's crop {cfg.crop_size} px and cube {cfg.cube_mm:g} mm into {conv}")
        convert_tree(tree, conv, cfg, intr, SMOKE_BEAM_DATA if smoke else beam_args, overwrite=True,
                     progress=not smoke)
    return conv


def run_config(opts: ReproduceOptions, setting: Setting, seed: int, manifest: dict, data_dir: Path) -> TrainConfig:
    """The experiment of one run: the base experiment with the setting's loss keys and the seed set
    (``run_sets``), bound to the data; SdnetError naming the setting when a value is refused."""
    cfg = override(opts.train, run_sets(setting, seed), f"--setting {setting_arg(setting)}")
    return bind_data(cfg, manifest, data_dir)


def train_setting(data, data_dir: Path, run_dir: Path, opts: ReproduceOptions, setting: Setting, seed: int,
                  log: Callable[[str], None]) -> dict:
    """Train (or finish, or reuse) one run of ``setting``; returns its summary. KeyboardInterrupt when
    interrupted."""
    run = RunDir(run_dir)
    if run.summary.is_file():
        return read_summary(run_dir)
    cfg = run_config(opts, setting, seed, data.manifest, data_dir)
    resumable = run.config.is_file() and run.checkpoints.is_dir()
    log(f"{'resuming' if resumable else 'training'} {setting_name(setting)}, seed {seed} in {run_dir}")
    summary = train(cfg, data, run_dir, resume=resumable, force=not resumable,
                       log=(lambda m: None) if opts.smoke else None, verbose=0 if opts.smoke else None)
    if "interrupted" in summary:
        raise KeyboardInterrupt
    return summary


def ensure_refinement(run_dir: Path, data_dir: Path, fit: RefineFitConfig, log: Callable[[str], None],
                      progress: bool = True) -> None:
    """Fit the run's refinement (RUN/prior.json on DATA's train split, RUN/refine.json chosen on its val
    split, as ``sdnet fit-refine`` does) as the experiment's refine section ``fit`` says (its grid and
    frames; whatever its ``fit`` flag: the study scores the refined network too), unless both are there.
    --smoke's base searches a 2-cell grid."""
    if RunDir(run_dir).has_refinement:
        return
    log(f"fitting the refinement of {run_dir} on {data_dir} (train, val)")
    fit_refinement(run_dir, data_dir, fit, progress=progress)


def evaluate_setting(run_dir: Path, test_data: Path, out: Path) -> dict:
    """metrics.json of ``run_dir`` on ``test_data`` (CNN and CNN + refinement); reused when done."""
    path = out / "metrics.json"
    if path.is_file():
        return json.loads(path.read_text())
    return run_eval(run_dir, test_data, out, refine=True, overwrite=True)


def _changed_keys(saved, cfg: TrainConfig) -> list[str]:
    """The dotted keys in which reproduce.json's base experiment ``saved`` differs from ``cfg``
    (['the format'] for a reproduce.json of an older sdnet, whose training options were flat)."""
    try:
        return differences(experiment_from_dict(saved, OPTIONS_FILE), cfg)
    except (TypeError, ValueError):
        return ["the format (an older sdnet's flat training options)"]


def check_options(out: Path, opts: ReproduceOptions) -> dict:
    """reproduce.json: refuse another base experiment in the same directory (runs would not be
    comparable) and a setting whose directory name is taken by other overrides; record every setting."""
    path = out / OPTIONS_FILE
    every = [*opts.settings, *(c for c in opts.candidates if c not in opts.settings)]
    want = [{"tag": setting_tag(s), "overrides": dict(s)} for s in every]
    if path.is_file():
        state = json.loads(path.read_text())
        changed = _changed_keys(state.get("train"), opts.train)
        if changed:
            raise SdnetError(f"{path}: the runs in {out} were made with other training options (the base "
                             f"experiment differs in {', '.join(changed)}); use the same --config and --set, "
                             "or another --out")
        known = {r["tag"]: r["overrides"] for r in state.get("settings", [])}
        for r in want:
            if r["tag"] in known and known[r["tag"]] != r["overrides"]:
                raise SdnetError(f"{path}: {r['tag']} holds runs of {known[r['tag']]}, not of {r['overrides']}; "
                                 f"use another --out")
        state["settings"] = [*state.get("settings", []), *(r for r in want if r["tag"] not in known)]
        return state
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SdnetError(f"{out}: exists, is not empty and holds no {OPTIONS_FILE}")
    return {"train": experiment_json(opts.train), "settings": want, "sessions": []}


def validate_settings(opts: ReproduceOptions, manifest: dict, data_dir: Path) -> None:
    """SdnetError, before any training, when the data was not cut as the base experiment says, on a
    setting key that is not a loss key, or on a value the experiment refuses."""
    bind_data(opts.train, manifest, data_dir)
    for setting in (*opts.settings, *opts.candidates):
        check_setting_keys(setting, LOSS_KEYS)
        try:
            override(opts.train, loss_sets(setting))
        except SdnetError as e:
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
