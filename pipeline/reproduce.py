"""``sdnet reproduce``: the paper's Table 1 on our data, with the spread over seeds.

For every seed and every SDL weight w (0 = the baseline; the paper: 0.125, 0.25, 0.5) one training
run with the same budget is made, then evaluated without and with the hierarchical refinement
(``pipeline.evaluate.run_eval``) on
  (a) ``synthetic``: the data dir's test split, and
  (b) ``icvl_poses``: the real ICVL test poses (``test_seq_1.txt``, ``test_seq_2.txt``) rendered by
      ``sdnet synth --poses`` and converted by ``sdnet data`` with the data dir's crop, cube and
      centre settings; evaluation only. The bone prior (``RUN/prior.json``) and the refinement
      weights (``RUN/refine.json``) always come from the data dir's train and val splits: (a) is
      evaluated first and writes them, (b) reuses them.

Output directory (``DIR``):
  reproduce.json          the fixed options (budget, preset) and the wall-clock time of each session
  runs/w<w>_s<seed>/      training run dirs
  evals/<testset>/w<w>_s<seed>/   ``sdnet eval`` reports (metrics.json, figures, report.md)
  icvl_poses_tree/, icvl_poses_data/   the rendered ICVL test poses and their TFRecords
  results.json            every number behind the table, per test set and setting (values per seed)
  table1.md               the table (mean over seeds +- sample standard deviation), the paper's
                          numbers beside ours, the findings paragraph, and the run's duration
  per_joint_<testset>.png, success_max_frame_<testset>.png   every setting, means over seeds

Resumable: a run with a summary.json and an eval with a metrics.json are not redone; an
interrupted run continues from its checkpoint. The findings paragraph is generated from the numbers
(``findings`` and ``findings_paragraph``).
"""
from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_text, write_json

# Paper Table 1: mean Euclidean distance error on ICVL (mm) per SDL weight (0 = baseline).
PAPER_TABLE1 = {0.0: 12.6990, 0.125: 8.8209, 0.25: 8.7291, 0.5: 8.4002}
DEFAULT_WEIGHTS = (0.0, 0.125, 0.25, 0.5)
OPTIONS_FILE = "reproduce.json"
TESTSET_LABELS = {"synthetic": "(a) synthetic test sequences (the data dir's test split)",
                  "icvl_poses": "(b) real ICVL test poses rendered by `sdnet synth --poses`"}
SMOKE_TRAIN = {"preset": "smoke", "steps": 4, "batch_size": 8, "warmup_steps": 1}
SMOKE_BEAM_DATA = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
SMOKE_BEAM_SYNTH = ["--running-mode", "in_memory", "--no-progress"]
# --smoke chooses the refinement weights on 'val' from 2 candidates instead of the full grid.
SMOKE_REFINE_GRID = {"radius_mm": (8.0,), "gamma_d": (0.0, 0.002), "gamma_m": (0.05,)}
CURVE = "max_frame"


@dataclasses.dataclass(frozen=True)
class ReproduceOptions:
    """What a reproduction trains: ``train`` = fixed overrides of ``pipeline.train.resolve_config``
    shared by every run (preset, budget); ``weights`` and ``seeds`` span the runs."""

    train: dict
    weights: tuple = DEFAULT_WEIGHTS
    seeds: tuple = (0, 1)
    smoke: bool = False

    def __post_init__(self) -> None:
        if not self.weights or not self.seeds:
            raise ValueError("need at least one weight and one seed")
        if any(w < 0 for w in self.weights):
            raise ValueError("SDL weights must be >= 0")
        if len(set(self.weights)) != len(self.weights) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("weights and seeds must not repeat")


def setting_name(w: float) -> str:
    return "baseline (w=0)" if w == 0 else f"SDNet w={w:g}"


def run_tag(w: float, seed: int) -> str:
    return f"w{w:g}_s{seed}"


def _log_default(msg: str) -> None:
    print(f"[reproduce] {msg}", file=sys.stderr, flush=True)


# ---- steps: data, training, evaluation ---------------------------------------------------------------

def icvl_label_files(icvl_dir: Path) -> list[Path]:
    """The ICVL test label files (test_seq_1.txt, test_seq_2.txt, ...) in ``icvl_dir``."""
    files = sorted(Path(icvl_dir).glob("test_seq_*.txt"))
    if not files:
        raise SdnetError(f"{icvl_dir}: no test_seq_*.txt label files (ICVL test poses)")
    return files


def prepare_icvl_poses(icvl_dir: Path, data_dir: Path, out: Path, smoke: bool, beam_args: list[str],
                       log: Callable[[str], None]) -> Path:
    """Render the ICVL test poses (``sdnet synth --poses``) and convert them like ``data_dir``
    (``sdnet data``: same crop, cube, centre rule); returns the converted data dir. Reused when done."""
    from pipeline.build_data import convert_tree
    from pipeline.camera import Intrinsics
    from pipeline.cli import main
    from pipeline.config import DataConfig, from_dict
    from pipeline.input import MANIFEST, read_manifest

    tree, conv = Path(out) / "icvl_poses_tree", Path(out) / "icvl_poses_data"
    if not (tree / "synth.json").is_file():
        labels = icvl_label_files(icvl_dir)
        log(f"rendering the ICVL test poses of {', '.join(p.name for p in labels)} into {tree}")
        argv = ["synth", "--poses", *map(str, labels), "--out", str(tree), "--overwrite",
                *(SMOKE_BEAM_SYNTH if smoke else [])]
        if main(argv) != 0:
            raise SdnetError(f"`sdnet {' '.join(argv)}` failed (see above)")
    if not (conv / MANIFEST).is_file():
        manifest = read_manifest(data_dir)
        try:
            cfg = from_dict(DataConfig, manifest["config"], where=f"{data_dir}/manifest.json: config")
        except (KeyError, TypeError, ValueError) as e:
            raise SdnetError(f"{data_dir}/manifest.json: no usable data config ({e})") from None
        intr = Intrinsics.from_dict(json.loads((tree / "synth.json").read_text())["intrinsics"])
        log(f"converting them with the data dir's crop {cfg.crop_size} px and cube {cfg.cube_mm:g} mm into {conv}")
        convert_tree(tree, conv, cfg, intr, SMOKE_BEAM_DATA if smoke else beam_args, overwrite=True,
                     progress=not smoke)
    return conv


def train_setting(data, data_dir: Path, run_dir: Path, opts: ReproduceOptions, w: float, seed: int,
                  log: Callable[[str], None]) -> dict:
    """Train (or finish, or reuse) one run; returns its summary. KeyboardInterrupt when interrupted."""
    from pipeline import train as tr

    summary_path = run_dir / tr.SUMMARY_FILE
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    cfg = tr.resolve_config(data.manifest, {**opts.train, "sdl_weight": w, "seed": seed}, data_dir=data_dir)
    resumable = (run_dir / tr.CONFIG_FILE).is_file() and (run_dir / tr.CHECKPOINT_DIR).is_dir()
    log(f"{'resuming' if resumable else 'training'} {setting_name(w)}, seed {seed} in {run_dir}")
    summary = tr.train(cfg, data, run_dir, resume=resumable, force=not resumable,
                       log=(lambda m: None) if opts.smoke else None, verbose=0 if opts.smoke else None)
    if "interrupted" in summary:
        raise KeyboardInterrupt
    return summary


def smoke_refinement(run_dir: Path, data_dir: Path) -> None:
    """--smoke: fit RUN/prior.json on 'train' and choose RUN/refine.json on 'val' from a small grid
    (``run_eval`` then reuses both)."""
    from pipeline.camera import Intrinsics
    from pipeline.inference import REFINE_FILE, load_model
    from pipeline.input import read_manifest
    from pipeline.refinement import ensure_prior, ensure_refine_config

    if (run_dir / REFINE_FILE).is_file():
        return
    manifest = read_manifest(data_dir)
    prior = ensure_prior(run_dir, data_dir)
    ensure_refine_config(run_dir, data_dir, load_model(run_dir), manifest,
                         Intrinsics.from_dict(manifest["intrinsics"]), prior, grid=SMOKE_REFINE_GRID)


def evaluate_setting(run_dir: Path, test_data: Path, out: Path) -> dict:
    """metrics.json of ``run_dir`` on ``test_data`` (CNN and CNN + refinement); reused when done."""
    from pipeline.evaluate import run_eval

    path = out / "metrics.json"
    if path.is_file():
        return json.loads(path.read_text())
    return run_eval(run_dir, test_data, out, refine=True, overwrite=True)


# ---- numbers ------------------------------------------------------------------------------------------

def spread(values: list[float]) -> dict:
    """mean, sample standard deviation (0 for one value), min, max and the values."""
    v = [float(x) for x in values]
    return {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
            "min": min(v), "max": max(v), "values": v}


def run_numbers(metrics: dict, summary: dict | None = None) -> dict:
    """The per-run numbers of the table from one metrics.json (mm; success in %)."""
    from eval.metrics import success_at
    from pipeline.evaluate import CNN, REFINED
    from pipeline.skeleton import ICVL_SKELETON

    tips = list(ICVL_SKELETON.fingertips)
    out = {"frames": metrics[CNN]["frames"]}
    for key, name in (("cnn", CNN), ("refined", REFINED)):
        m = metrics[name]
        out[key] = m["mean_error_mm"]
        out[f"tips_{key}"] = statistics.fmean(m["per_joint_mm"][j] for j in tips)
        out[f"auc_{key}"] = 100.0 * statistics.fmean(m[CURVE])  # mean success over 0..80 mm, %
        out[f"success20_{key}"] = 100.0 * success_at(m, CURVE, 20.0)
    if summary is not None:
        out["steps"] = summary.get("steps")
    return out


def mean_metrics(per_seed: list[dict]) -> dict:
    """A summarize()-like dict averaged over seeds (per-joint errors and curves), for the figures."""
    import numpy as np

    out = {"mean_error_mm": float(np.mean([m["mean_error_mm"] for m in per_seed])),
           "per_joint_mm": [float(v) for v in np.mean([m["per_joint_mm"] for m in per_seed], axis=0)],
           "frames": per_seed[0]["frames"], "thresholds_mm": per_seed[0]["thresholds_mm"]}
    for curve in ("max_frame", "mean_frame", "joint"):
        out[curve] = [float(v) for v in np.mean([m[curve] for m in per_seed], axis=0)]
    return out


# ---- findings -----------------------------------------------------------------------------------------

def _holds(flags: list[bool]) -> str | None:
    if not flags:
        return None
    return "holds" if all(flags) else ("partly" if any(flags) else "does not hold")


def findings(stats: dict) -> dict:
    """The paper's four findings checked on one test set.

    ``stats``: w (float) -> {"cnn", "refined", "tips_cnn", "tips_refined", "auc_cnn", ...}, each a
    ``spread`` dict (at least "mean", "min", "max"). Errors in mm (lower is better), auc in % (higher
    is better). Each finding has a verdict 'holds', 'partly', 'does not hold' or None (cannot be
    checked, e.g. no baseline) and the numbers it rests on. Findings 1, 2, 4 use the CNN alone (the
    paper's Table 1 compares trained networks); finding 3 compares refined against CNN fingertips.
    """
    weights = sorted(stats)
    sdnet = [w for w in weights if w > 0]
    base = stats.get(0.0)
    out = {}

    below = {w: stats[w]["cnn"]["mean"] < base["cnn"]["mean"] for w in sdnet} if base else {}
    clear = {w: stats[w]["cnn"]["max"] < base["cnn"]["min"] for w in sdnet} if base else {}
    out["sdnet_below_baseline"] = {"verdict": _holds(list(below.values())) if base else None,
                                   "below": below, "beyond_seed_range": clear}

    means = [stats[w]["cnn"]["mean"] for w in weights]
    pairs = list(zip(means[:-1], means[1:]))
    monotone = bool(pairs) and all(b < a for a, b in pairs)
    best_w = weights[min(range(len(weights)), key=lambda i: means[i])]
    largest_best = best_w == weights[-1]
    verdict = None
    if len(weights) >= 2:
        # partly: not monotone, but the largest w is the best or at least beats the smallest w
        trend_down = means[-1] < means[0]
        verdict = "holds" if monotone else ("partly" if largest_best or trend_down else "does not hold")
    out["larger_w_better"] = {"verdict": verdict, "monotone": monotone, "best_w": best_w,
                              "largest_w_best": largest_best, "means": dict(zip(weights, means))}

    tips = {w: stats[w]["tips_refined"]["mean"] < stats[w]["tips_cnn"]["mean"] for w in weights}
    out["refinement_helps_fingertips"] = {
        "verdict": _holds(list(tips.values())), "lower": tips,
        "change_mm": {w: stats[w]["tips_refined"]["mean"] - stats[w]["tips_cnn"]["mean"] for w in weights},
        "mean_change_mm": {w: stats[w]["refined"]["mean"] - stats[w]["cnn"]["mean"] for w in weights}}

    higher = {w: stats[w]["auc_cnn"]["mean"] > base["auc_cnn"]["mean"] for w in sdnet} if base else {}
    out["success_curve_higher"] = {"verdict": _holds(list(higher.values())) if base else None,
                                   "higher": higher}
    return out


def _ws(ws) -> str:
    ws = list(ws)
    return ", ".join(f"w={w:g}" for w in ws) if ws else "none"


def findings_paragraph(f: dict, stats: dict, label: str, seeds: int) -> str:
    """One paragraph, generated from ``findings(stats)``, saying plainly which findings hold."""
    weights = sorted(stats)
    parts = [f"On {label} ({seeds} seed{'s' if seeds != 1 else ''} per setting, CNN errors unless "
             "stated):"]
    b = f["sdnet_below_baseline"]
    if b["verdict"] is None:
        parts.append("there is no baseline run (w=0), so SDNet cannot be compared with it.")
    else:
        base = stats[0.0]["cnn"]["mean"]
        nums = ", ".join(f"w={w:g} {stats[w]['cnn']['mean']:.2f} mm" for w in weights if w > 0)
        below = [w for w, v in b["below"].items() if v]
        clear = [w for w, v in b["beyond_seed_range"].items() if v]
        phrase = {"holds": "SDNet is below the baseline for every weight",
                  "partly": f"SDNet is below the baseline only for {_ws(below)}",
                  "does not hold": "SDNet is not below the baseline for any weight"}[b["verdict"]]
        extra = ""
        if seeds > 1 and below:
            extra = (f"; the seed ranges do not overlap for {_ws(clear)}" if clear
                     else "; but every gap lies within the spread over seeds")
        parts.append(f"{phrase} (baseline {base:.2f} mm; {nums}){extra}: the paper's first finding "
                     f"{'holds' if b['verdict'] == 'holds' else 'does not hold' if b['verdict'] == 'does not hold' else 'holds only in part'}.")
    m = f["larger_w_better"]
    if m["verdict"] is None:
        parts.append("With a single weight, the effect of a larger w cannot be checked.")
    elif m["verdict"] == "holds":
        parts.append(f"The error falls monotonically as w grows ({' > '.join(f'{v:.2f}' for v in m['means'].values())} mm), "
                     "as in the paper.")
    else:
        order = ", ".join(f"w={w:g}: {v:.2f}" for w, v in m["means"].items())
        how = ("the largest w is the best but the decrease is not monotone"
               if m["largest_w_best"] else f"the best is w={m['best_w']:g}, not the largest w")
        parts.append(f"A larger w is not uniformly better ({order} mm): {how}, unlike the paper's monotone trend.")
    t = f["refinement_helps_fingertips"]
    lower = [w for w, v in t["lower"].items() if v]
    changes = ", ".join(f"{t['change_mm'][w]:+.2f}" for w in weights)
    phrase = {"holds": "The refinement lowers the fingertip error for every setting",
              "partly": f"The refinement lowers the fingertip error only for {_ws(lower)}",
              "does not hold": "The refinement does not lower the fingertip error for any setting"}[t["verdict"]]
    mean_changes = ", ".join(f"{t['mean_change_mm'][w]:+.2f}" for w in weights)
    parts.append(f"{phrase} (change {changes} mm; mean error change {mean_changes} mm), so the paper's claim "
                 f"that it refines the fingertips {'holds' if t['verdict'] == 'holds' else 'holds only in part' if t['verdict'] == 'partly' else 'does not hold'} here.")
    s = f["success_curve_higher"]
    if s["verdict"] is not None:
        higher = [w for w, v in s["higher"].items() if v]
        phrase = {"holds": "lies above the baseline's for every SDNet weight",
                  "partly": f"lies above the baseline's only for {_ws(higher)}",
                  "does not hold": "does not lie above the baseline's for any SDNet weight"}[s["verdict"]]
        parts.append(f"The max-frame success curve (mean over 0-80 mm) {phrase}.")
    verdicts = [v["verdict"] for v in f.values() if v["verdict"] is not None]
    n_hold = sum(v == "holds" for v in verdicts)
    overall = ("all of the paper's findings that could be checked hold" if verdicts and n_hold == len(verdicts)
               else "none of the paper's findings holds" if all(v == "does not hold" for v in verdicts)
               else f"{n_hold} of {len(verdicts)} of the paper's findings hold fully")
    parts.append(f"In short: {overall} on this test set.")
    return " ".join(parts)


# ---- outputs ------------------------------------------------------------------------------------------

def collect(out: Path, opts: ReproduceOptions, testsets: list[str]) -> dict:
    """results.json's content from the finished runs and evals in ``out``."""
    from pipeline.evaluate import CNN, REFINED

    res = {"weights": list(opts.weights), "seeds": list(opts.seeds), "train": dict(opts.train),
           "paper_table1_mm": {f"{w:g}": v for w, v in PAPER_TABLE1.items()},
           "spread": "mean over seeds, sample standard deviation (sd), min and max", "testsets": {}}
    for name in testsets:
        settings, plots = {}, {}
        for w in opts.weights:
            per_seed, metrics_seed = [], []
            for seed in opts.seeds:
                metrics = json.loads((out / "evals" / name / run_tag(w, seed) / "metrics.json").read_text())
                summary_path = out / "runs" / run_tag(w, seed) / "summary.json"
                summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
                per_seed.append(run_numbers(metrics, summary))
                metrics_seed.append(metrics)
            keys = [k for k in per_seed[0] if k not in ("frames", "steps")]
            entry = {k: spread([p[k] for p in per_seed]) for k in keys}
            entry["frames"] = per_seed[0]["frames"]
            entry["steps"] = [p.get("steps") for p in per_seed]
            entry["paper_mm"] = PAPER_TABLE1.get(w)
            settings[w] = entry
            plots[setting_name(w)] = mean_metrics([m[CNN] for m in metrics_seed])
            plots[f"{setting_name(w)} + refinement"] = mean_metrics([m[REFINED] for m in metrics_seed])
        f = findings(settings)
        res["testsets"][name] = {
            "label": TESTSET_LABELS[name], "frames": next(iter(settings.values()))["frames"],
            "settings": {f"{w:g}": v for w, v in settings.items()},
            "findings": json.loads(json.dumps(f)),
            "paragraph": findings_paragraph(f, settings, TESTSET_LABELS[name], len(opts.seeds)),
            "_plots": plots}
    return res


def write_figures(out: Path, name: str, plots: dict) -> list[Path]:
    from matplotlib.figure import Figure

    from eval.plots import plot_per_joint, plot_success_curve, save_figure

    from matplotlib import colormaps

    # One hue per setting: light = CNN, dark = CNN + refinement.
    pair = colormaps["tab20"]
    colors = {n: pair((2 * (i // 2)) % 20 + (0 if i % 2 else 1)) for i, n in enumerate(plots)}
    fig = Figure(figsize=(13, 5.2))
    ax = fig.add_subplot()
    plot_per_joint(ax, plots, colors=colors)
    ax.set_title(f"Mean error per joint, {name} test set (mean over seeds)")
    a = save_figure(fig, out / f"per_joint_{name}.png")
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.add_subplot()
    plot_success_curve(ax, plots, CURVE, colors=colors)
    ax.set_title(f"Max-frame success rate, {name} test set (mean over seeds)")
    b = save_figure(fig, out / f"success_{CURVE}_{name}.png")
    return [a, b]


def _pm(s: dict, seeds: int, fmt: str = "{:.2f}") -> str:
    return fmt.format(s["mean"]) + (f" ± {fmt.format(s['sd'])}" if seeds > 1 else "")


def _duration(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min {s:02d} s" if h else f"{m} min {s:02d} s"


def table_markdown(res: dict, command: str, session_s: float, total_s: float) -> str:
    seeds = len(res["seeds"])
    train = ", ".join(f"{k}={v}" for k, v in res["train"].items())
    lines = ["# Table 1 of the SDNet paper, reproduced on our data", "",
             f"Command: `{command}`", "",
             f"Wall-clock duration: {_duration(session_s)} for the last invocation, {_duration(total_s)} "
             "over all invocations of this output directory (training, evaluation, data preparation).", "",
             f"Every run: {train}; seeds {', '.join(map(str, res['seeds']))}; other loss settings at the "
             "`sdnet train` defaults (alpha = beta = 1).", "",
             "Cells: mean over seeds" + (" ± sample standard deviation (min and max per seed are in "
                                         "results.json)" if seeds > 1 else " (one seed: no spread)")
             + ". CNN = the network alone; + refinement = after the hierarchical refinement (prior fitted "
             "on the training split, weights chosen on the validation split). The paper's column is its "
             "Table 1 on the real ICVL test set (it does not say whether those numbers include the "
             "refinement; its final 8.40 mm does). Success: frames with every joint within 20 mm (max-frame), "
             "after refinement.", ""]
    for name, ts in res["testsets"].items():
        lines += [f"## {ts['label']}", "", f"{ts['frames']} test frames.", "",
                  "| setting | paper (mm) | CNN (mm) | CNN + refinement (mm) | fingertips, CNN (mm) | "
                  "fingertips, refined (mm) | max-frame ≤ 20 mm (%) | training steps |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for key, s in ts["settings"].items():
            w = float(key)
            paper = f"{s['paper_mm']:.2f}" if s["paper_mm"] is not None else "-"
            steps = "/".join(str(v) for v in s["steps"])
            lines.append(f"| {setting_name(w)} | {paper} | {_pm(s['cnn'], seeds)} | {_pm(s['refined'], seeds)} | "
                         f"{_pm(s['tips_cnn'], seeds)} | {_pm(s['tips_refined'], seeds)} | "
                         f"{_pm(s['success20_refined'], seeds, '{:.1f}')} | {steps} |")
        lines += ["", ts["paragraph"], "",
                  f"![per joint](per_joint_{name}.png) ![max-frame success](success_{CURVE}_{name}.png)", ""]
    return "\n".join(lines)


def command_line(data_dir: Path, out: Path, opts: ReproduceOptions, icvl: Path | None) -> str:
    parts = ["sdnet reproduce", f"--data {data_dir}", f"--out {out}",
             "--seeds " + " ".join(map(str, opts.seeds)), "--weights " + " ".join(f"{w:g}" for w in opts.weights)]
    if opts.smoke:
        parts.append("--smoke")
    else:
        t = opts.train
        parts.append(f"--preset {t.get('preset', 'cpu')}")
        for key, flag in (("minutes", "--minutes-per-run"), ("steps", "--steps"), ("epochs", "--epochs"),
                          ("batch_size", "--batch-size")):
            if t.get(key) is not None:
                parts.append(f"{flag} {t[key]:g}" if isinstance(t[key], float) else f"{flag} {t[key]}")
    if icvl is not None:
        parts.append(f"--icvl-poses {icvl}")
    return " ".join(parts)


def _check_options(out: Path, opts: ReproduceOptions) -> dict:
    """reproduce.json: refuse another budget/preset in the same directory (runs would not be comparable)."""
    path = out / OPTIONS_FILE
    if path.is_file():
        state = json.loads(path.read_text())
        saved = state.get("train", {})
        want = json.loads(json.dumps(opts.train))
        if saved != want:
            raise SdnetError(f"{path}: the runs in {out} were made with other training options ({saved}); "
                             f"use the same budget and preset, or another --out")
        return state
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SdnetError(f"{out}: exists, is not empty and holds no {OPTIONS_FILE}")
    return {"train": json.loads(json.dumps(opts.train)), "sessions": []}


def reproduce(data_dir: Path, out: Path, opts: ReproduceOptions, icvl_poses: Path | None = None,
              beam_args: list[str] | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Train, evaluate and tabulate (see the module docstring); returns results.json's content."""
    from pipeline import train as tr

    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log = log or _log_default
    data_dir, out = Path(data_dir), Path(out)
    data = tr.data_from_dir(data_dir)
    for w in opts.weights:  # validate the options before any work
        tr.resolve_config(data.manifest, {**opts.train, "sdl_weight": w}, data_dir=data_dir)
    if icvl_poses is not None:
        icvl_label_files(icvl_poses)
    state = _check_options(out, opts)
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
        runs = [(seed, w) for seed in opts.seeds for w in opts.weights]
        for k, (seed, w) in enumerate(runs, start=1):
            run_dir = out / "runs" / run_tag(w, seed)
            summary = train_setting(data, data_dir, run_dir, opts, w, seed, log)
            if opts.smoke:
                smoke_refinement(run_dir, data_dir)
            msg = [f"run {k}/{len(runs)} {setting_name(w)}, seed {seed}: val {summary['val_mean_error_mm']:.2f} mm"]
            for name, test_data in testsets.items():  # 'synthetic' first: it writes prior/refine from DATA
                if name != "synthetic" and not ((run_dir / "prior.json").is_file()
                                                and (run_dir / "refine.json").is_file()):
                    raise SdnetError(f"{run_dir}: no prior.json/refine.json from {data_dir}")
                metrics = evaluate_setting(run_dir, test_data, out / "evals" / name / run_tag(w, seed))
                n = run_numbers(metrics)
                msg.append(f"{name} {n['cnn']:.2f} -> {n['refined']:.2f} mm")
            log("; ".join(msg) + f" ({time.perf_counter() - t0:.0f} s so far)")
        res = collect(out, opts, list(testsets))
        for name, ts in res["testsets"].items():
            write_figures(out, name, ts.pop("_plots"))
        save_time()
        session_s = state["sessions"][-1]["seconds"]
        total_s = sum(s["seconds"] or 0.0 for s in state["sessions"])
        res["duration"] = {"last_invocation_s": session_s, "all_invocations_s": total_s,
                           "sessions": state["sessions"]}
        res["command"] = command_line(data_dir, out, opts, icvl_poses)
        write_json(out / "results.json", res)
        atomic_write_text(out / "table1.md", table_markdown(res, res["command"], session_s, total_s))
    finally:
        save_time()
    log(f"done in {_duration(time.perf_counter() - t0)}: {out / 'table1.md'}")
    return res
