"""Scoring: the per-run numbers of one eval (errors in mm, success in %), their spread over seeds,
paired per-seed differences with a setting's baseline (mean and 95% interval), the learning-curve
numbers, and results.json's content gathered from the finished runs and evals.

Paired difference: d_i = error(setting, seed i) - error(baseline, seed i) over the common seeds,
reported as mean d with the interval mean +- t(0.975, n-1) * sd(d) / sqrt(n) (n >= 2 seeds).
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import t as student_t

from eval.compare import PAPER_TABLE1_MM
from eval.learning import read_history
from eval.metrics import success_at
from eval.run_report import CNN, REFINED
from pipeline.reproduce.prose import findings, findings_paragraph
from pipeline.reproduce.settings import (ReproduceOptions, Setting, is_pure_w, pair_baseline, run_tag,
                                         sdl_weight, setting_name, setting_tag)
from pipeline.rundir import load_run_config, read_summary, run_skeleton
from pipeline.skeleton import Skeleton

# Paper Table 1: mean Euclidean distance error on ICVL (mm) per SDL weight (0 = baseline).
PAPER_TABLE1 = PAPER_TABLE1_MM
CURVE = "max_frame"  # the success curve of the tables and figures: every joint of a frame within t
# Per-run numbers compared pairwise with the baseline (errors in mm; lower is better).
# The pose plausibility of every run (eval.metrics.plausibility; mm, lower is more plausible), per variant.
PLAUSIBILITY = {"bone_err": "bone_length_error_mm", "bone_sd": "bone_length_sd_mm", "jitter": "jitter_mm"}
PAIRED_METRICS = ("cnn", "refined", "tips_cnn", "tips_refined") + tuple(
    f"{short}_{key}" for short in PLAUSIBILITY for key in ("cnn", "refined"))
CI_LEVEL = 0.95
FLAT_FROM = 0.75  # learning-curve flatness: change of the val error over the last 25% of the steps


def t_quantile(n: int, level: float = CI_LEVEL) -> float:
    """Student's t quantile t_{(1+level)/2, n-1} for a two-sided interval from n >= 2 values."""
    return float(student_t.ppf(0.5 + level / 2.0, n - 1))


def interval_verdict(low: float | None, high: float | None) -> str | None:
    """'better' (interval below 0: lower error), 'worse' (above 0), 'no clear difference', or None
    (no interval)."""
    if low is None or high is None:
        return None
    return "better" if high < 0 else "worse" if low > 0 else "no clear difference"


def paired_difference(values: Mapping[int, float], base: Mapping[int, float],
                      level: float = CI_LEVEL) -> dict | None:
    """Paired per-seed difference of an error (mm) between a setting and its baseline.

    ``values``, ``base``: seed -> error. Over the n seeds both have: d_i = values - base, their mean,
    sample sd, and the interval mean +- t_{(1+level)/2, n-1} sd / sqrt(n) (n >= 2; for n = 1 the
    interval, sd and verdict are None). None when no seed is shared or a value is missing.
    """
    seeds = [s for s in values if s in base]
    if not seeds or any(values[s] is None or base[s] is None for s in seeds):
        return None
    d = [float(values[s]) - float(base[s]) for s in seeds]
    n, mean = len(d), statistics.fmean(d)
    out = {"seeds": seeds, "diffs": d, "n": n, "mean": mean, "sd": None, "t": None, "level": level,
           "low": None, "high": None}
    if n >= 2:
        sd, t = statistics.stdev(d), t_quantile(n, level)
        half = t * sd / math.sqrt(n)
        out.update(sd=sd, t=t, low=mean - half, high=mean + half)
    out["verdict"] = interval_verdict(out["low"], out["high"])
    return out


def spread(values: list[float | None]) -> dict | None:
    """mean, sample standard deviation (0 for one value), min, max and the values; None when a value is
    missing (e.g. no jitter on test sequences shorter than 3 frames)."""
    if any(x is None for x in values):
        return None
    v = [float(x) for x in values]
    return {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
            "min": min(v), "max": max(v), "values": v}


def run_numbers(metrics: dict, skeleton: Skeleton, summary: dict | None = None) -> dict:
    """The per-run numbers of the table from one metrics.json (mm; success in %); fingertips are the
    tips of the run's ``skeleton`` parts."""
    tips = list(skeleton.fingertips)
    out = {"frames": metrics[CNN]["frames"]}
    for key, name in (("cnn", CNN), ("refined", REFINED)):
        m = metrics[name]
        out[key] = m["mean_error_mm"]
        out[f"tips_{key}"] = statistics.fmean(m["per_joint_mm"][j] for j in tips)
        out[f"auc_{key}"] = 100.0 * statistics.fmean(m[CURVE])  # mean success over 0..80 mm, %
        out[f"success20_{key}"] = 100.0 * success_at(m, CURVE, 20.0)
        for short, metric in PLAUSIBILITY.items():
            out[f"{short}_{key}"] = m[metric]
    out["gt_bone_sd"], out["gt_jitter"] = metrics[CNN]["gt_bone_length_sd_mm"], metrics[CNN]["gt_jitter_mm"]
    if summary is not None:
        out["steps"] = summary.get("steps")
    return out


def mean_metrics(per_seed: list[dict]) -> dict:
    """A summarize()-like dict averaged over seeds (per-joint errors and curves), for the figures."""
    out = {"mean_error_mm": float(np.mean([m["mean_error_mm"] for m in per_seed])),
           "per_joint_mm": [float(v) for v in np.mean([m["per_joint_mm"] for m in per_seed], axis=0)],
           "frames": per_seed[0]["frames"], "thresholds_mm": per_seed[0]["thresholds_mm"]}
    for curve in ("max_frame", "mean_frame", "joint"):
        out[curve] = [float(v) for v in np.mean([m[curve] for m in per_seed], axis=0)]
    return out


def flatness(steps: Sequence[float], errors: Sequence[float], start: float = FLAT_FROM) -> dict | None:
    """How much the validation error [mm] still moved at the end of a run.

    ``steps``, ``errors``: the run's validations (one per epoch), in step order. Returns
    {"change_mm": error at the last validation minus the error at the earlier validation whose step
    is nearest ``start`` of the last step, "from_step", "to_step", "final_mm"}; negative = still
    falling. None with fewer than two validations.
    """
    if len(steps) < 2:
        return None
    last = len(steps) - 1
    target = start * steps[last]
    ref = min(range(last), key=lambda i: (abs(steps[i] - target), -i))
    return {"change_mm": float(errors[last] - errors[ref]), "from_step": int(steps[ref]),
            "to_step": int(steps[last]), "final_mm": float(errors[last])}


def read_curves(out: Path, opts: ReproduceOptions) -> dict:
    """setting -> [(seed, steps, val errors [mm]), ...] from each run's history.csv (runs without a
    readable history are left out)."""
    curves = {}
    for setting in opts.settings:
        curves[setting] = []
        for seed in opts.seeds:
            try:
                h = read_history(out / "runs" / run_tag(setting, seed))
            except ValueError:
                continue
            curves[setting].append((seed, [float(v) for v in h["step"]],
                                    [float(v) for v in h["val_mean_error_mm"]]))
    return curves


def convergence_numbers(curves: Mapping[Setting, list]) -> dict:
    """results.json 'convergence': per setting tag the ``flatness`` of each seed's validation curve
    and, over seeds, the spread of the change over the last 25% of the steps and of the final
    validation error (mm; None when no run had two validations)."""
    out = {}
    for setting, runs in curves.items():
        per_seed = [{"seed": seed, **(flatness(steps, errors) or {"change_mm": None,
                                                                    "final_mm": errors[-1] if errors else None})}
                    for seed, steps, errors in runs]
        changes = [p["change_mm"] for p in per_seed if p["change_mm"] is not None]
        finals = [p["final_mm"] for p in per_seed if p["final_mm"] is not None]
        out[setting_tag(setting)] = {
            "name": setting_name(setting), "per_seed": per_seed,
            "change_mm": spread(changes) if changes else None, "final_mm": spread(finals) if finals else None}
    return out


def add_gradient_numbers(conv: dict, out: Path, opts: ReproduceOptions) -> dict:
    """Add to each setting of ``conv`` (``convergence_numbers``) the spread over seeds of the last
    epoch's ``sdl_grad_share`` (share of the output-gradient norm carried by the weighted skeleton
    terms, training batches) and ``sdl_grad_balance_w`` (the w at which both would pull equally);
    runs whose history lacks the columns are left out."""
    for setting in opts.settings:
        shares, balance = [], []
        for seed in opts.seeds:
            try:
                h = read_history(out / "runs" / run_tag(setting, seed))
            except ValueError:
                continue
            if {"sdl_grad_share", "sdl_grad_balance_w"} <= set(h.columns) and h["sdl_grad_share"].notna().any():
                shares.append(float(h["sdl_grad_share"].dropna().iloc[-1]))
                balance.append(float(h["sdl_grad_balance_w"].dropna().iloc[-1]))
        entry = conv.setdefault(setting_tag(setting), {"name": setting_name(setting), "per_seed": [],
                                                       "change_mm": None, "final_mm": None})
        entry["grad_share"] = spread(shares) if shares else None
        entry["balance_w"] = spread(balance) if balance else None
    return conv


def _per_seed_numbers(out: Path, name: str, setting: Setting, seeds: Sequence[int]) -> tuple[dict, list]:
    """seed -> ``run_numbers`` and the metrics.json of each seed, for one test set and setting."""
    numbers, metrics_seed = {}, []
    for seed in seeds:
        metrics = json.loads((out / "evals" / name / run_tag(setting, seed) / "metrics.json").read_text())
        run_dir = out / "runs" / run_tag(setting, seed)
        numbers[seed] = run_numbers(metrics, run_skeleton(load_run_config(run_dir)), read_summary(run_dir))
        metrics_seed.append(metrics)
    return numbers, metrics_seed


def compare_with_baselines(numbers: Mapping[Setting, dict], settings: Sequence[Setting]) -> dict:
    """setting -> {"baseline": setting or None, "note", "paired": {metric: paired_difference} or None,
    "verdict": the CNN verdict}. ``numbers``: setting -> seed -> ``run_numbers``."""
    out = {}
    for setting in settings:
        base, note = pair_baseline(setting, settings)
        paired = None
        if base is not None:
            paired = {m: paired_difference({sd: v[m] for sd, v in numbers[setting].items()},
                                           {sd: v[m] for sd, v in numbers[base].items()})
                      for m in PAIRED_METRICS}
        out[setting] = {"baseline": base, "note": note, "paired": paired,
                        "verdict": paired["cnn"]["verdict"] if paired and paired["cnn"] else None}
    return out


def collect(out: Path, opts: ReproduceOptions, testsets: Mapping[str, str]) -> dict:
    """results.json's content from the finished runs and evals in ``out``; ``testsets``: name -> label."""
    pairs = {s: pair_baseline(s, opts.settings) for s in opts.settings}
    res = {"settings": [{"tag": setting_tag(s), "name": setting_name(s), "overrides": dict(s),
                         "source": opts.source(s),
                         "baseline": setting_tag(pairs[s][0]) if pairs[s][0] else None,
                         "baseline_note": pairs[s][1]} for s in opts.settings],
           "seeds": list(opts.seeds), "train": opts.changes(), "experiment": opts.experiment_json(),
           "paper_table1_mm": {f"{w:g}": v for w, v in PAPER_TABLE1.items()},
           "spread": "mean over seeds, sample standard deviation (sd), min and max",
           "paired": "per metric: diffs d_i = setting - its baseline for each common seed (mm), mean, sd, "
                     "n, t = t_{0.975, n-1}, 95% interval [low, high] = mean -+ t sd / sqrt(n) (n >= 2), "
                     "verdict better (high < 0) / worse (low > 0) / no clear difference",
           "testsets": {}}
    for name, label in testsets.items():
        numbers, entries, plots = {}, {}, {}
        for setting in opts.settings:
            per_seed, metrics_seed = _per_seed_numbers(out, name, setting, opts.seeds)
            numbers[setting] = per_seed
            rows = list(per_seed.values())
            entry = {"name": setting_name(setting), "overrides": dict(setting), "source": opts.source(setting)}
            entry.update({k: spread([p[k] for p in rows]) for k in rows[0] if k not in ("frames", "steps")})
            entry["frames"] = rows[0]["frames"]
            entry["steps"] = [p.get("steps") for p in rows]
            entry["paper_mm"] = PAPER_TABLE1.get(sdl_weight(setting)) if is_pure_w(setting) else None
            entries[setting] = entry
            plots[setting_name(setting)] = mean_metrics([m[CNN] for m in metrics_seed])
            plots[f"{setting_name(setting)} + refinement"] = mean_metrics([m[REFINED] for m in metrics_seed])
        comparisons = compare_with_baselines(numbers, opts.settings)
        for setting, c in comparisons.items():
            entries[setting].update(baseline=setting_tag(c["baseline"]) if c["baseline"] else None,
                                    baseline_note=c["note"], paired=c["paired"], verdict=c["verdict"])
        stats = {sdl_weight(s): e for s, e in entries.items() if is_pure_w(s)}
        paired_w = {sdl_weight(s): e["paired"]["cnn"] for s, e in entries.items()
                    if is_pure_w(s) and e["paired"]}
        base_names = {s: setting_name(c["baseline"]) if c["baseline"] else None for s, c in comparisons.items()}
        others = [{"name": e["name"], "source": e["source"], "note": e["baseline_note"],
                   "baseline_name": base_names[s], "paired": e["paired"] or {}}
                  for s, e in entries.items() if sdl_weight(s) > 0 and not is_pure_w(s)]
        f = findings(stats, paired_w)
        res["testsets"][name] = {
            "label": label, "frames": next(iter(entries.values()))["frames"],
            "settings": {setting_tag(s): e for s, e in entries.items()},
            "findings": json.loads(json.dumps(f)),
            "paragraph": findings_paragraph(f, stats, label, len(opts.seeds), others),
            "_plots": plots}
    return res
