"""table1.md: the tables per test set (mean over seeds +- sample sd, the paper's numbers beside ours,
the difference with the baseline and its 95% interval), the convergence and calibration sections."""
from __future__ import annotations

from pipeline.reproduce.figures import LEARNING_CURVES
from pipeline.reproduce.scoring import CURVE, FLAT_FROM


def format_delta(p: dict | None) -> str:
    """A table cell: '-0.42 [-0.80, -0.04] better', '-0.42 (1 seed: no interval)' or '-'."""
    if p is None:
        return "-"
    if p["low"] is None:
        return f"{p['mean']:+.2f} (1 seed: no interval)"
    return f"{p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}] {p['verdict']}"


def _pm(s: dict | None, seeds: int, fmt: str = "{:.2f}") -> str:
    if s is None:
        return "-"
    return fmt.format(s["mean"]) + (f" ± {fmt.format(s['sd'])}" if len(s["values"]) > 1 else "")


def format_duration(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min {s:02d} s" if h else f"{m} min {s:02d} s"


def _setting_cell(s: dict) -> str:
    return s["name"] + (f" ({s['source']})" if s.get("source") else "")


def convergence_markdown(conv: dict) -> list[str]:
    """The convergence section of table1.md (lines)."""
    lines = ["## Convergence: validation error during training", "",
             f"Change = validation mean error at the last epoch minus the error at the epoch nearest "
             f"{FLAT_FROM:.0%} of the steps (mm; near 0 = flat, negative = still falling; from history.csv "
             "of each run, validation split of the data dir). Cells: mean over seeds ± sd.", "",
             "Skeleton share = w|g_SDL| / (|g_D| + w|g_SDL|) and balance w = |g_D| / |g_SDL| in the last "
             "epoch, where g are the gradients of the joint loss (D) and of the unweighted psi_SDL with "
             "respect to the network's outputs (training batches; history.csv sdl_grad_share, "
             "sdl_grad_balance_w).", "",
             "| setting | final val error (mm) | change over about the last 25% of steps (mm) | "
             "skeleton share of the gradient, last epoch | balance w, last epoch | "
             "per seed: change (from→to step) |",
             "|---|---:|---:|---:|---:|---|"]
    for c in conv.values():
        per = "; ".join(f"s{p['seed']}: " + (f"{p['change_mm']:+.2f} ({p['from_step']}→{p['to_step']})"
                                             if p["change_mm"] is not None else "one validation only")
                        for p in c["per_seed"]) or "no history"
        change = _pm(c["change_mm"], 0, "{:+.2f}") if c["change_mm"] else "-"
        share = _pm(c["grad_share"], 0, "{:.3f}") if c.get("grad_share") else "-"
        bal = _pm(c["balance_w"], 0, "{:.4f}") if c.get("balance_w") else "-"
        lines.append(f"| {c['name']} | {_pm(c['final_mm'], 0)} | {change} | {share} | {bal} | {per} |")
    lines += ["", f"![learning curves]({LEARNING_CURVES})", ""]
    return lines


def calibration_markdown(calibration: dict, baseline_val: float | None) -> list[str]:
    lines = ["## Calibration (chosen on the validation split)", "",
             f"Each candidate trained once (seed {calibration['seed']}, the same budget); the one of lowest "
             "final validation error joins the table above with every seed."
             + (f" Baseline (w=0), same seed: {baseline_val:.2f} mm." if baseline_val is not None else ""), "",
             "| candidate | validation mean error (mm) | chosen |", "|---|---:|:-:|"]
    for r in calibration["candidates"]:
        lines.append(f"| {r['name']} | {r['val_mm']:.2f} | {'yes' if r['tag'] == calibration['chosen'] else ''} |")
    lines += ["", "![calibration curves](calibration_curves.png)", ""]
    return lines


def plausibility_markdown(ts: dict, seeds: int) -> list[str]:
    """The pose-plausibility table of one test set: per setting, bone length error, bone length sd within
    a sequence and jitter (mm; CNN and refined), with the paired difference from the baseline, and the
    ground truth's own sd and jitter under it."""
    first = next(iter(ts["settings"].values()))
    lines = ["", "Pose plausibility (mm; lower is more plausible): |L_pred - L_true| of the bones, the sd of "
             "each bone's length within a test sequence, the joints' second difference over frames "
             "(eval.metrics.plausibility).", "",
             "| setting | bone length error, CNN | Δ (95% CI) | bone length sd, CNN | Δ (95% CI) | jitter, CNN | "
             "Δ (95% CI) | bone length error, refined | bone length sd, refined | jitter, refined |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in ts["settings"].values():
        paired = s.get("paired") or {}
        lines.append(f"| {_setting_cell(s)} | {_pm(s['bone_err_cnn'], seeds)} | {format_delta(paired.get('bone_err_cnn'))} | "
                     f"{_pm(s['bone_sd_cnn'], seeds)} | {format_delta(paired.get('bone_sd_cnn'))} | "
                     f"{_pm(s['jitter_cnn'], seeds)} | {format_delta(paired.get('jitter_cnn'))} | "
                     f"{_pm(s['bone_err_refined'], seeds)} | {_pm(s['bone_sd_refined'], seeds)} | "
                     f"{_pm(s['jitter_refined'], seeds)} |")
    lines += ["", f"The ground truth's own bone length sd {_pm(first['gt_bone_sd'], 1)} mm and jitter "
              f"{_pm(first['gt_jitter'], 1)} mm (annotation noise and the hand's real motion)."]
    return lines


def table_markdown(res: dict, command: str, session_s: float, total_s: float) -> str:
    seeds = len(res["seeds"])
    train = ", ".join(f"{k}={v}" for k, v in res["train"].items())
    lines = ["# Table 1 of the SDNet paper, reproduced on our data", "",
             f"Command: `{command}`", "",
             f"Wall-clock duration: {format_duration(session_s)} for the last invocation, {format_duration(total_s)} "
             "over all invocations of this output directory (training, evaluation, data preparation).", "",
             f"Every run: {train}; seeds {', '.join(map(str, res['seeds']))}; loss options a setting does "
             "not name at the `sdnet train` defaults (alpha = beta = 1).", "",
             "Cells: mean over seeds" + (" ± sample standard deviation (min and max per seed are in "
                                         "results.json)" if seeds > 1 else " (one seed: no spread)")
             + ". CNN = the network alone; + refinement = after the hierarchical refinement (prior fitted "
             "on the training split, weights chosen on the validation split). The paper's column is its "
             "Table 1 on the real ICVL test set (it does not say whether those numbers include the "
             "refinement; its final 8.40 mm does). Success: frames with every joint within 20 mm (max-frame), "
             "after refinement.", "",
             "Δ vs baseline (95% CI): the error of the setting minus that of its baseline (the setting with "
             "w = 0 and the same non-SDL options, e.g. joint_loss) trained with the same seed, mean over "
             "seeds [95% interval mean ± t(0.975, n-1)·sd/√n] in mm; better / worse = the interval lies "
             "below / above 0, else no clear difference.", ""]
    for name, ts in res["testsets"].items():
        lines += [f"## {ts['label']}", "", f"{ts['frames']} test frames.", "",
                  "| setting | paper (mm) | CNN (mm) | Δ vs baseline (95% CI), CNN | CNN + refinement (mm) | "
                  "Δ vs baseline (95% CI), refined | fingertips, CNN (mm) | fingertips, refined (mm) | "
                  "max-frame ≤ 20 mm (%) | training steps |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        notes = []
        for s in ts["settings"].values():
            paper = f"{s['paper_mm']:.2f}" if s["paper_mm"] is not None else "-"
            steps = "/".join(str(v) for v in s["steps"])
            paired = s.get("paired") or {}
            lines.append(f"| {_setting_cell(s)} | {paper} | {_pm(s['cnn'], seeds)} | "
                         f"{format_delta(paired.get('cnn'))} | {_pm(s['refined'], seeds)} | {format_delta(paired.get('refined'))} | "
                         f"{_pm(s['tips_cnn'], seeds)} | {_pm(s['tips_refined'], seeds)} | "
                         f"{_pm(s['success20_refined'], seeds, '{:.1f}')} | {steps} |")
            if s.get("baseline_note"):
                notes.append(f"{s['name']}: {s['baseline_note']}.")
        if notes:
            lines += ["", "Notes: " + " ".join(notes)]
        lines += plausibility_markdown(ts, seeds)
        lines += ["", ts["paragraph"], "",
                  f"![per joint](per_joint_{name}.png) ![max-frame success](success_{CURVE}_{name}.png)", ""]
    if res.get("convergence"):
        lines += convergence_markdown(res["convergence"])
    return "\n".join(lines)
