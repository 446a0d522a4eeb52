"""The findings paragraphs: the paper's four findings checked on one test set's numbers, and the
sentences that say plainly which hold (generated from the numbers, never written by hand)."""
from __future__ import annotations

from typing import Mapping, Sequence


def _holds(flags: list[bool]) -> str | None:
    if not flags:
        return None
    return "holds" if all(flags) else ("partly" if any(flags) else "does not hold")


def findings(stats: dict, paired: Mapping[float, dict | None] | None = None) -> dict:
    """The paper's four findings checked on one test set, on the paper's pure-w settings.

    ``stats``: w (float) -> {"cnn", "refined", "tips_cnn", "tips_refined", "auc_cnn", ...}, each a
    ``spread`` dict (at least "mean", "min", "max"). Errors in mm (lower is better), auc in % (higher
    is better). ``paired`` (optional): w > 0 -> ``paired_difference`` of the CNN error against the
    baseline (w = 0). Each finding has a verdict 'holds', 'partly', 'does not hold' or None (cannot be
    checked, e.g. no baseline) and the numbers it rests on. Findings 1, 2, 4 use the CNN alone (the
    paper's Table 1 compares trained networks); finding 3 compares refined against CNN fingertips.

    Finding 1 with paired intervals for every SDNet weight (n >= 2 seeds): 'holds' when every
    interval lies below 0, 'does not hold' when no mean is below the baseline, else 'partly'.
    Otherwise it compares the means over seeds.
    """
    weights = sorted(stats)
    sdnet = [w for w in weights if w > 0]
    base = stats.get(0.0)
    out = {}

    below = {w: stats[w]["cnn"]["mean"] < base["cnn"]["mean"] for w in sdnet} if base else {}
    clear = {w: stats[w]["cnn"]["max"] < base["cnn"]["min"] for w in sdnet} if base else {}
    paired = paired or {}
    intervals = {w: [paired[w]["low"], paired[w]["high"]] for w in sdnet
                 if paired.get(w) and paired[w]["low"] is not None}
    use_ci = bool(base) and bool(sdnet) and len(intervals) == len(sdnet)
    ci_below = {w: iv[1] < 0 for w, iv in intervals.items()}
    if not base:
        verdict = None
    elif use_ci:
        verdict = ("holds" if all(ci_below.values()) else "does not hold" if not any(below.values())
                   else "partly")
    else:
        verdict = _holds(list(below.values()))
    out["sdnet_below_baseline"] = {
        "verdict": verdict, "below": below, "beyond_seed_range": clear, "by_paired_interval": use_ci,
        "interval_below_zero": ci_below, "intervals": intervals,
        "mean_difference_mm": {w: paired[w]["mean"] for w in sdnet if paired.get(w)}}

    means = [stats[w]["cnn"]["mean"] for w in weights]
    pairs = list(zip(means[:-1], means[1:]))
    monotone = bool(pairs) and all(b < a for a, b in pairs)
    best_w = weights[min(range(len(weights)), key=lambda i: means[i])] if weights else None
    largest_best = bool(weights) and best_w == weights[-1]
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


def _ci(low: float, high: float) -> str:
    return f"[{low:+.2f}, {high:+.2f}]"


def _finding1(b: dict, stats: dict, seeds: int) -> str:
    """The sentence on the paper's first finding (SDNet below the baseline)."""
    weights = sorted(stats)
    base = stats[0.0]["cnn"]["mean"]
    said = {"holds": "holds", "does not hold": "does not hold", "partly": "holds only in part"}[b["verdict"]]
    below = [w for w, v in b["below"].items() if v]
    if b["by_paired_interval"]:
        nums = ", ".join(f"w={w:g} {stats[w]['cnn']['mean']:.2f} mm, Δ {b['mean_difference_mm'][w]:+.2f} "
                         f"{_ci(*b['intervals'][w])}" for w in weights if w > 0)
        sure = [w for w, v in b["interval_below_zero"].items() if v]
        unsure = [w for w in below if w not in sure]
        if b["verdict"] == "holds":
            phrase = ("SDNet is below the baseline for every weight, with a paired 95% interval excluding 0 "
                      "for each")
        elif b["verdict"] == "does not hold":
            phrase = "SDNet is not below the baseline for any weight"
        elif sure:
            phrase = f"SDNet is below the baseline with a paired 95% interval excluding 0 only for {_ws(sure)}"
            if unsure:
                phrase += f" (its mean is lower also for {_ws(unsure)}, but there the interval includes 0)"
        else:
            phrase = (f"SDNet's mean error is below the baseline for {_ws(below)}, but no paired 95% "
                      "interval excludes 0")
        return (f"{phrase} (baseline {base:.2f} mm; {nums}; Δ = SDNet - baseline per seed, mean "
                f"[95% interval]): the paper's first finding {said}.")
    nums = ", ".join(f"w={w:g} {stats[w]['cnn']['mean']:.2f} mm" for w in weights if w > 0)
    clear = [w for w, v in b["beyond_seed_range"].items() if v]
    phrase = {"holds": "SDNet is below the baseline for every weight",
              "partly": f"SDNet is below the baseline only for {_ws(below)}",
              "does not hold": "SDNet is not below the baseline for any weight"}[b["verdict"]]
    extra = ""
    if seeds > 1 and below:
        extra = (f"; the seed ranges do not overlap for {_ws(clear)}" if clear
                 else "; but every gap lies within the spread over seeds")
    elif seeds == 1:
        extra = "; one seed, so no interval"
    return f"{phrase} (baseline {base:.2f} mm; {nums}){extra}: the paper's first finding {said}."


def other_settings_sentence(others: Sequence[dict]) -> str | None:
    """A sentence on settings beyond the paper's pure-w ones.

    ``others``: [{"name", "source" (or None), "baseline_name" (or None), "note" (or None),
    "paired": {"cnn": paired_difference or None, "refined": ...}}]. None when empty.
    """
    if not others:
        return None
    parts = []
    for o in others:
        name = o["name"] + (f" ({o['source']})" if o.get("source") else "")
        cnn, ref = o["paired"].get("cnn"), o["paired"].get("refined")
        if o.get("baseline_name") is None or cnn is None:
            parts.append(f"{name} cannot be compared ({o.get('note') or 'no common seed with its baseline'})")
            continue
        vs = f"vs {o['baseline_name']}" + (f", {o['note']}" if o.get("note") else "")
        if cnn["low"] is None:
            parts.append(f"{name} differs from {o['baseline_name']} by {cnn['mean']:+.2f} mm (CNN) and "
                         f"{ref['mean']:+.2f} mm (refined) on the one common seed, too few for an interval")
            continue
        parts.append(f"{name}: {cnn['verdict']} on the CNN error (Δ {cnn['mean']:+.2f} "
                     f"{_ci(cnn['low'], cnn['high'])} mm) and {ref['verdict']} after refinement "
                     f"(Δ {ref['mean']:+.2f} {_ci(ref['low'], ref['high'])} mm; {vs}; n={cnn['n']} seeds)")
    return ("Other settings, paired with their baseline by seed (Δ = setting - baseline, mean [95% "
            "interval]; better = the interval lies below 0): " + "; ".join(parts) + ".")


def findings_paragraph(f: dict, stats: dict, label: str, seeds: int, others: Sequence[dict] = ()) -> str:
    """One paragraph, generated from ``findings(stats)``, saying plainly which findings hold; with
    ``others`` (see ``other_settings_sentence``) a sentence on the settings beyond the paper's."""
    weights = sorted(stats)
    parts = [f"On {label} ({seeds} seed{'s' if seeds != 1 else ''} per setting, CNN errors unless "
             "stated):"]
    b = f["sdnet_below_baseline"]
    if not weights:
        parts.append("none of the paper's settings (w alone) was trained, so its findings are not checked.")
    elif b["verdict"] is None and 0.0 in stats:
        parts.append("no SDNet weight (w > 0) was trained, so SDNet cannot be compared with the baseline.")
    elif b["verdict"] is None:
        parts.append("there is no baseline run (w=0), so SDNet cannot be compared with it.")
    else:
        parts.append(_finding1(b, stats, seeds))
    m = f["larger_w_better"]
    if not weights:
        pass
    elif m["verdict"] is None:
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
    if t["verdict"] is not None:
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
    if verdicts:
        n_hold = sum(v == "holds" for v in verdicts)
        overall = ("all of the paper's findings that could be checked hold" if n_hold == len(verdicts)
                   else "none of the paper's findings holds" if all(v == "does not hold" for v in verdicts)
                   else f"{n_hold} of {len(verdicts)} of the paper's findings hold fully")
        parts.append(f"In short: {overall} on this test set.")
    other = other_settings_sentence(others)
    if other:
        parts.append(other)
    return " ".join(parts)
