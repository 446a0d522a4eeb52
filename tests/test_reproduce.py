"""`sdnet reproduce` end to end on smoke settings; the findings paragraph, the paired intervals, the
baseline pairing and the learning-curve numbers on made-up numbers."""
import dataclasses
import json
import math
import re
import shlex
import shutil

import pytest

from pipeline.cli import build_parser, main
from pipeline.commands.reproduce import extra_tests_from_args, options_from_args
from pipeline.config import LossConfig
from pipeline.errors import SdnetError
from pipeline.experiment import default_experiment, load_experiment, override
from pipeline.reproduce.figures import mean_curve
from pipeline.reproduce.prose import findings, findings_paragraph
from pipeline.reproduce.runs import check_options
from pipeline.reproduce.scoring import flatness, paired_difference, spread
from pipeline.reproduce.settings import (BASELINE, ReproduceOptions, command_line, make_setting, pair_baseline,
                                         parse_extra_test, parse_setting, pure_w, run_tag, setting_arg,
                                         setting_from_tuning, setting_name, setting_tag)
from pipeline.reproduce.tables import format_delta
from tests.helpers import make_tiny_data_dir, write_tiny_icvl_tree


def _stats(cnn, refined, tips_cnn, tips_refined, auc):
    """w -> per-setting spreads from lists of per-seed values (made-up numbers)."""
    return {w: {"cnn": spread(cnn[w]), "refined": spread(refined[w]), "tips_cnn": spread(tips_cnn[w]),
                "tips_refined": spread(tips_refined[w]), "auc_cnn": spread(auc[w])} for w in cnn}


def _numbers(text: str) -> list[str]:
    """The signed or unsigned decimal numbers a paragraph reports, in order ('12.60', '+0.48', ...)."""
    return re.findall(r"[+-]?\d+\.\d+", text)


def _sentences(text: str) -> list[str]:
    return [t for t in re.split(r"(?<=[.])\s+(?=[A-Z])", text) if t]


def _check_paragraph(text: str, f: dict, stats: dict, label: str, seeds: int) -> None:
    """What a findings paragraph must report, whatever its wording: the test set and seed count first;
    the baseline's and every SDNet weight's mean CNN error (mm, 2 decimals) in weight order; every
    fingertip change after refinement (signed); one sentence per finding that could be checked, plus
    a closing sentence counting how many hold. For paragraphs where every finding could be checked."""
    assert text.startswith(f"On {label} ({seeds} seed")
    said = _numbers(text)
    means = [f"{stats[w]['cnn']['mean']:.2f}" for w in sorted(stats)]
    first = [n for n in said if n in means]
    assert first[:len(means)] == means  # baseline first, then w ascending
    t = f["refinement_helps_fingertips"]
    changes = [f"{t['change_mm'][w]:+.2f}" for w in sorted(stats)]
    k = said.index(changes[0])
    assert said[k:k + len(changes)] == changes
    checked = [v["verdict"] for v in f.values() if v["verdict"] is not None]
    assert len(_sentences(text)) == len(checked) + 1  # the opening clause ends in ':' before the first
    holding = sum(v == "holds" for v in checked)
    last = _sentences(text)[-1]
    if holding == len(checked):
        assert "all" in last
    elif holding == 0 and all(v == "does not hold" for v in checked):
        assert "none" in last
    else:
        assert f"{holding} of {len(checked)}" in last


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
    assert f["larger_w_better"]["monotone"] and f["larger_w_better"]["best_w"] == 0.5
    assert f["refinement_helps_fingertips"]["change_mm"] == pytest.approx({w: -0.5 for w in cnn})
    assert f["refinement_helps_fingertips"]["mean_change_mm"] == pytest.approx({w: -0.1 for w in cnn})
    _check_paragraph(findings_paragraph(f, stats, "our test set", 2), f, stats, "our test set", 2)


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
    assert not any(f["sdnet_below_baseline"]["below"].values())
    assert not any(f["success_curve_higher"]["higher"].values())
    _check_paragraph(findings_paragraph(f, stats, "our test set", 2), f, stats, "our test set", 2)


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
    assert f["larger_w_better"]["verdict"] == "does not hold" and f["success_curve_higher"]["verdict"] == "partly"
    text = findings_paragraph(f, stats, "X", 2)
    _check_paragraph(text, f, stats, "X", 2)
    # the weights a partial verdict holds for are named in its sentence, the others not
    claim = _sentences(text)[0].split(": ", 1)[1].split("(")[0]
    assert "w=0.125" in claim and "w=0.5" not in claim
    # Without a baseline the comparisons with it are not made: no verdict, no baseline number.
    g = findings({w: s for w, s in stats.items() if w > 0})
    assert g["sdnet_below_baseline"]["verdict"] is None and g["success_curve_higher"]["verdict"] is None
    text = findings_paragraph(g, {w: s for w, s in stats.items() if w > 0}, "X", 2)
    assert f"{stats[0.0]['cnn']['mean']:.2f}" not in text and "(w=0)" in _sentences(text)[0]


# ---- paired differences, pairing, settings, learning curves (made-up numbers) --------------------------

def test_paired_difference_interval_by_hand():
    # diffs [-1, -2, -3]: mean -2, sd 1, t_{0.975, 2} = 4.3027 -> -2 -+ 4.3027 / sqrt(3) = [-4.484, 0.484]
    p = paired_difference({0: 9.0, 1: 8.0, 2: 7.0}, {0: 10.0, 1: 10.0, 2: 10.0, 3: 5.0})
    assert p["seeds"] == [0, 1, 2] and p["diffs"] == [-1.0, -2.0, -3.0] and p["n"] == 3
    assert p["mean"] == pytest.approx(-2.0) and p["sd"] == pytest.approx(1.0)
    assert p["t"] == pytest.approx(4.3027, abs=1e-4)
    assert p["low"] == pytest.approx(-4.484, abs=1e-3) and p["high"] == pytest.approx(0.484, abs=1e-3)
    assert p["verdict"] == "no clear difference"
    assert format_delta(p) == "-2.00 [-4.48, +0.48] no clear difference"
    # diffs [2, 2.5, 3]: mean 2.5, sd 0.5 -> 2.5 -+ 4.3027 * 0.5 / sqrt(3) = [1.258, 3.742]: worse
    w = paired_difference({0: 12.0, 1: 12.5, 2: 13.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    assert (w["low"], w["high"]) == pytest.approx((1.2579, 3.7421), abs=1e-3) and w["verdict"] == "worse"
    # diffs [-1, -1.2, -0.8, -1.1]: mean -1.025, sd 0.170783, t_{0.975, 3} = 3.1824 -> [-1.2968, -0.7532]
    b = paired_difference({0: 9.0, 1: 8.8, 2: 9.2, 3: 8.9}, {0: 10.0, 1: 10.0, 2: 10.0, 3: 10.0})
    assert b["sd"] == pytest.approx(math.sqrt(0.0875 / 3))
    assert (b["low"], b["high"]) == pytest.approx((-1.2968, -0.7532), abs=1e-3) and b["verdict"] == "better"
    # one common seed: a difference but no interval; none in common: no comparison
    one = paired_difference({0: 9.0, 1: 8.0}, {1: 8.5})
    assert one["n"] == 1 and one["mean"] == pytest.approx(-0.5)
    assert one["low"] is None and one["high"] is None and one["verdict"] is None
    assert format_delta(one) == "-0.50 (1 seed: no interval)"
    assert paired_difference({0: 9.0}, {1: 8.0}) is None and format_delta(None) == "-"


def test_pairing_rule():
    base, base_d = BASELINE, parse_setting("sdl_weight=0,joint_loss=distance")
    base_h = parse_setting("sdl_weight=0,penalty=hinge")  # an SDL key only: still a plain baseline
    w = pure_w(0.125)
    w_d = parse_setting("sdl_weight=0.03,joint_loss=distance,sdl_start=0.5")
    w_h = parse_setting("sdl_weight=0.5,penalty=hinge,alpha=2")
    w_x = parse_setting("sdl_weight=0.1,joint_loss=other")
    settings = [base_h, base, base_d, w, w_d, w_h, w_x]
    assert pair_baseline(w, settings) == (base, None)  # of two plain baselines, the one without SDL keys
    assert pair_baseline(w_h, settings) == (base, None)  # SDL keys do not take part in the pairing
    assert pair_baseline(w_d, settings) == (base_d, None)  # same joint_loss; sdl_start is an SDL key
    b, note = pair_baseline(w_x, settings)  # no baseline with joint_loss=other: the plain one, noted
    assert b == base and note == "no baseline with joint_loss=other: compared with the plain baseline (w=0)"
    assert pair_baseline(base_d, settings) == (None, None)  # baselines are not compared
    assert pair_baseline(w, [base_h, w]) == (base_h, None)
    b, note = pair_baseline(w_x, [base_d, w_x])  # neither its own nor the plain baseline
    assert b is None and "not compared" in note
    assert pair_baseline(w, [w]) == (None, "no baseline (w=0) among the settings: not compared")


def test_setting_tags_names_and_parsing():
    # pure-w tags are the directory names of earlier versions, so old output dirs resume
    assert run_tag(pure_w(0.5), 0) == "w0.5_s0" and run_tag(pure_w(0), 1) == "w0_s1"
    assert run_tag(pure_w(0.125), 2) == "w0.125_s2"
    s = parse_setting("joint_loss=distance, sdl_weight=0.03,sdl_start=0.5")
    assert s == (("sdl_weight", 0.03), ("joint_loss", "distance"), ("sdl_start", 0.5))
    assert s == parse_setting("sdl_start=0.5,joint_loss=distance,sdl_weight=0.03")  # order-free
    assert run_tag(s, 0) == "w0.03-joint_loss=distance-sdl_start=0.5_s0"
    assert setting_name(s) == "SDNet w=0.03, joint_loss=distance, sdl_start=0.5"
    assert setting_name(pure_w(0)) == "baseline (w=0)" and setting_name(pure_w(0.125)) == "SDNet w=0.125"
    assert setting_name(parse_setting("sdl_weight=0,joint_loss=distance")) == "baseline (w=0, joint_loss=distance)"
    assert parse_setting(setting_arg(s)) == s
    assert setting_tag(parse_setting("sdl_weight=0.1,penalty=a/b c")) == "w0.1-penalty=a_b_c"
    assert parse_setting("sdl_weight=1,penalty=hinge") == (("sdl_weight", 1.0), ("penalty", "hinge"))
    for bad, says in (("penalty=hinge", "sdl_weight"), ("sdl_weight", "KEY=VALUE"),
                      ("sdl_weight=0.1,sdl_weight=0.2", "twice"), ("sdl_weight=nan", "finite"),
                      ("sdl_weight=-1", ">= 0"), ("sdl_weight=big", "number"), ("sdl_weight=0.1,=3", "KEY=VALUE")):
        with pytest.raises(ValueError, match=says):
            parse_setting(bad)
    assert parse_extra_test("icvl_real-2=/x/y") == ("icvl_real-2", __import__("pathlib").Path("/x/y"))
    for bad in ("a b=/x", "noequals", "synthetic=/x", "x="):
        with pytest.raises(ValueError):
            parse_extra_test(bad)
    with pytest.raises(ValueError, match="must not repeat"):
        ReproduceOptions(train=default_experiment(), settings=(pure_w(0), make_setting({"sdl_weight": 0.0})))
    with pytest.raises(ValueError, match="directory name"):
        ReproduceOptions(train=default_experiment(), settings=(parse_setting("sdl_weight=0.1,penalty=a/b"),
                                             parse_setting("sdl_weight=0.1,penalty=a_b")))


def test_learning_curve_flatness_and_mean():
    # the last validation minus the one nearest 75% of the steps (300 of 400)
    f = flatness([100, 200, 300, 400], [20.0, 15.0, 12.0, 11.5])
    assert f == {"change_mm": pytest.approx(-0.5), "from_step": 300, "to_step": 400, "final_mm": 11.5}
    assert flatness([10, 100], [30.0, 20.0])["from_step"] == 10  # never the last validation itself
    assert flatness([50], [20.0]) is None
    steps, mean = mean_curve([([1, 2, 3], [10.0, 8.0, 6.0]), ([1, 2, 3], [12.0, 10.0, 8.0])])
    assert list(steps) == [1, 2, 3] and list(mean) == [11.0, 9.0, 7.0]
    # other step grids: interpolated on the union of steps up to the shorter run's end
    steps, mean = mean_curve([([0, 2, 4], [10.0, 8.0, 6.0]), ([0, 3], [12.0, 9.0])])
    assert list(steps) == [0, 2, 3] and list(mean) == pytest.approx([11.0, 9.0, 8.0])


def _paired_w(cnn):
    return {w: paired_difference(dict(enumerate(cnn[w])), dict(enumerate(cnn[0.0]))) for w in cnn if w > 0}


def _interval(p: dict) -> str:
    return f"{p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]"


def test_findings_with_paired_intervals():
    cnn = {0.0: [12.7, 12.5, 12.9], 0.125: [8.9, 8.8, 9.2], 0.5: [8.4, 8.3, 8.5]}
    stats = _stats(cnn, cnn, {w: [v + 3 for v in vs] for w, vs in cnn.items()},
                   {w: [v + 2 for v in vs] for w, vs in cnn.items()}, {w: [50 + w, 51 + w, 52] for w in cnn})
    paired = _paired_w(cnn)
    f = findings(stats, paired)
    b = f["sdnet_below_baseline"]
    assert b["verdict"] == "holds" and b["by_paired_interval"] and all(b["interval_below_zero"].values())
    assert b["mean_difference_mm"][0.125] == pytest.approx(-3.7333, abs=1e-4)  # diffs -3.8, -3.7, -3.7
    assert b["intervals"][0.125] == [paired[0.125]["low"], paired[0.125]["high"]]
    text = findings_paragraph(f, stats, "X", 3)
    _check_paragraph(text, f, stats, "X", 3)
    # each weight's mean, then its paired difference and interval, in weight order
    first = _sentences(text)[0]
    for w in (0.125, 0.5):
        assert f"{stats[w]['cnn']['mean']:.2f} mm, Δ {_interval(paired[w])}" in first

    # Means below the baseline, but the paired intervals include 0 for w=0.125: only in part.
    cnn = {0.0: [10.0, 11.0, 10.5], 0.125: [9.0, 11.5, 10.4], 0.5: [8.0, 9.0, 8.4]}
    stats = _stats(cnn, cnn, cnn, cnn, {w: [50, 50, 50] for w in cnn})
    paired = _paired_w(cnn)
    f = findings(stats, paired)
    b = f["sdnet_below_baseline"]
    assert b["verdict"] == "partly" and b["interval_below_zero"] == {0.125: False, 0.5: True}
    assert b["below"] == {0.125: True, 0.5: True}
    text = findings_paragraph(f, stats, "X", 3)
    _check_paragraph(text, f, stats, "X", 3)
    first = _sentences(text)[0]
    assert all(_interval(paired[w]) in first for w in (0.125, 0.5))
    # the weight whose interval excludes 0 is named before the one whose interval does not
    head = first.split("(baseline")[0]
    assert head.index("w=0.5") < head.index("w=0.125")
    # a mean below the baseline but no interval excluding 0: only in part, the interval reported
    cnn = {0.0: [10.0, 11.0, 10.5], 0.125: [9.0, 11.5, 10.4]}
    stats = _stats(cnn, cnn, cnn, cnn, {w: [50, 50, 50] for w in cnn})
    paired = _paired_w(cnn)
    f = findings(stats, paired)
    b = f["sdnet_below_baseline"]
    assert b["verdict"] == "partly" and b["below"] == {0.125: True} and b["interval_below_zero"] == {0.125: False}
    assert _interval(paired[0.125]) in findings_paragraph(f, stats, "X", 3)


def test_findings_paragraph_on_other_settings():
    cnn = {0.0: [10.0, 10.0, 10.0], 0.5: [9.0, 8.0, 7.0]}
    stats = _stats(cnn, cnn, cnn, cnn, {w: [50, 50, 50] for w in cnn})
    worse = paired_difference({0: 12.0, 1: 12.5, 2: 13.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    better = paired_difference({0: 9.0, 1: 8.8, 2: 9.2, 3: 8.9}, {0: 10.0, 1: 10.0, 2: 10.0, 3: 10.0})
    unclear = paired_difference({0: 9.0, 1: 8.0, 2: 7.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    one = paired_difference({0: 9.5}, {0: 10.0})
    others = [
        {"name": "SDNet w=0.03, joint_loss=distance", "source": None, "note": None,
         "baseline_name": "baseline (w=0, joint_loss=distance)", "paired": {"cnn": better, "refined": worse}},
        {"name": "SDNet w=0.3, alpha=2", "source": "chosen on validation by t/best.json", "note": None,
         "baseline_name": "baseline (w=0)", "paired": {"cnn": unclear, "refined": unclear}},
        {"name": "SDNet w=0.1, joint_loss=x", "source": None, "baseline_name": None, "paired": {},
         "note": "no baseline (w=0, joint_loss=x) among the settings: not compared"},
        {"name": "SDNet w=0.2, penalty=hinge", "source": None, "note": None, "baseline_name": "baseline (w=0)",
         "paired": {"cnn": one, "refined": one}}]
    text = findings_paragraph(findings(stats, _paired_w(cnn)), stats, "X", 3, others)
    other = _sentences(text)[-1]
    assert other not in findings_paragraph(findings(stats, _paired_w(cnn)), stats, "X", 3)
    # one part per setting, in the given order, each naming the setting (and where it came from)
    parts = other.split(": ", 1)[1].split("; SDNet")
    assert len(parts) == 4
    assert [other.index(o["name"]) for o in others] == sorted(other.index(o["name"]) for o in others)
    assert "chosen on validation by t/best.json" in parts[1]
    # compared settings: the CNN and refined differences with their intervals, verdicts, baseline, n
    assert _interval(better) in parts[0] and _interval(worse) in parts[0]
    assert "better" in parts[0] and "worse" in parts[0] and "baseline (w=0, joint_loss=distance)" in parts[0]
    assert f"n={better['n']}" in parts[0]
    assert _interval(unclear) in parts[1] and unclear["verdict"] in parts[1]
    # not compared: the reason; one common seed: the differences without an interval
    assert others[2]["note"] in parts[2] and "Δ" not in parts[2]
    assert f"{one['mean']:+.2f}" in parts[3] and "[" not in parts[3]
    # only other settings: the paper's findings are not checked, the others are still reported
    text = findings_paragraph(findings({}), {}, "X", 3, others[:1])
    assert _interval(better) in text and not findings({})["sdnet_below_baseline"]["verdict"]


def _write_best(path, **loss):
    """A best.json of `sdnet tune` whose loss is the default LossConfig with w=0.3, alpha=2, beta=0.5."""
    full = dataclasses.asdict(LossConfig(**{"sdl_weight": 0.3, "alpha": 2.0, "beta": 0.5, **loss}))
    path.write_text(json.dumps({"sdl_weight": full["sdl_weight"], "alpha": full["alpha"], "beta": full["beta"],
                                "val_mean_error_mm": 9.1, "trial_id": "3", "loss": full}))
    return path


def test_setting_from_tuning_and_command_line_round_trip(tmp_path):
    best = _write_best(tmp_path / "best.json", penalty="hinge")
    assert setting_from_tuning(best) == (("sdl_weight", 0.3), ("alpha", 2.0), ("beta", 0.5), ("penalty", "hinge"))
    assert setting_from_tuning(tmp_path) == setting_from_tuning(best)  # the tune dir works too
    # keys at the base experiment's values are left to it
    assert setting_from_tuning(best, LossConfig(penalty="hinge")) == (("sdl_weight", 0.3), ("alpha", 2.0),
                                                                      ("beta", 0.5))
    # a tuned joint-loss reading is kept only when it is not the default (squared)
    distance = _write_best(tmp_path / "distance.json", joint_loss="distance")
    assert dict(setting_from_tuning(distance))["joint_loss"] == "distance"
    with pytest.raises(SdnetError, match="best.json"):
        setting_from_tuning(tmp_path / "none.json")

    def parse(argv):
        args, _ = build_parser().parse_known_args(argv)
        return options_from_args(args), extra_tests_from_args(args)

    argv = ["reproduce", "--data", "D", "--out", "O", "--seeds", "0", "3", "--weights", "0", "0.125",
            "--setting", "sdl_weight=0.03,joint_loss=distance,sdl_start=0.5",
            "--setting", "sdl_weight=0,joint_loss=distance",
            "--from-tuning", str(best), "--preset", "cpu", "--steps", "500", "--extra-test", "real=E"]
    opts, extra = parse(argv)
    # the base experiment: the default one with the flags applied (a flag at its value changes nothing)
    assert opts.train == override(default_experiment(), {"steps": 500}) and opts.config is None
    assert opts.sets == (("steps", 500),)
    assert [setting_tag(s) for s in opts.settings] == [
        "w0", "w0.125", "w0.03-joint_loss=distance-sdl_start=0.5", "w0-joint_loss=distance",
        "w0.3-alpha=2-beta=0.5-penalty=hinge"]
    assert opts.source(opts.settings[-1]) == f"chosen on validation by {best}"
    assert opts.source(opts.settings[0]) is None
    line = command_line("D", "O", opts, None, extra)
    assert "--setting sdl_weight=0.03,joint_loss=distance,sdl_start=0.5" in line
    assert f"--from-tuning {best}" in line and "--extra-test real=E" in line
    assert "--set steps=500" in line and "--config" not in line and "--preset" not in line
    assert parse(line.split()[1:]) == (opts, extra)
    # an experiment file as the base, with overrides: the line names the file and the overrides that change it
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"version": 1, "data": {"crop_size": 64}, "steps": 300, "minutes": None}))
    opts, _ = parse(["reproduce", "--data", "D", "--out", "O", "--config", str(base),
                     "--set", "model.preset=smoke", "--set", "refine.gamma_m=[0.05]", "--epochs", "2"])
    assert opts.train == load_experiment(base, {"model.preset": "smoke", "refine.gamma_m": [0.05], "epochs": 2})
    assert opts.train.steps is None and opts.train.model.input_size == 64 and opts.config == str(base)
    line = command_line("D", "O", opts, None)
    assert f"--config {base} --set model.preset=smoke" in line and "--set 'refine.gamma_m=[0.05]'" in line
    assert "--set epochs=2" in line and "--set steps=null" in line  # (quoted for the shell where needed)
    assert parse(shlex.split(line)[1:])[0] == opts
    # without --weights, --setting or --from-tuning: the paper's weights; --setting alone: only it
    opts, _ = parse(["reproduce", "--data", "D", "--out", "O", "--smoke"])
    assert opts.settings == tuple(pure_w(w) for w in (0, 0.125, 0.25, 0.5))
    assert parse(command_line("D", "O", opts, None).split()[1:])[0] == opts
    opts, _ = parse(["reproduce", "--data", "D", "--out", "O", "--smoke", "--steps", "2",
                     "--setting", "sdl_weight=0.5,penalty=hinge"])
    assert opts.settings == (parse_setting("sdl_weight=0.5,penalty=hinge"),)
    assert parse(command_line("D", "O", opts, None).split()[1:])[0] == opts


def test_settings_may_be_added_to_an_output_dir(tmp_path):
    out = tmp_path / "r"
    two, three = (override(default_experiment(), {"steps": n}) for n in (2, 3))
    first = ReproduceOptions(train=two, settings=(pure_w(0), parse_setting("sdl_weight=0.1,penalty=a/b")))
    state = check_options(out, first)
    out.mkdir()
    (out / "reproduce.json").write_text(json.dumps(state))
    more = ReproduceOptions(train=two, settings=(pure_w(0), pure_w(0.5)))
    assert [r["tag"] for r in check_options(out, more)["settings"]] == ["w0", "w0.1-penalty=a_b", "w0.5"]
    with pytest.raises(SdnetError, match="w0.1-penalty=a_b holds runs of"):  # same directory, other overrides
        check_options(out, ReproduceOptions(train=two, settings=(parse_setting("sdl_weight=0.1,penalty=a_b"),)))
    with pytest.raises(SdnetError, match="other training options .*differs in steps"):
        check_options(out, ReproduceOptions(train=three, settings=(pure_w(0),)))
    # a reproduce.json of an older sdnet (flat training options) is not taken for this base experiment
    (out / "reproduce.json").write_text(json.dumps({**state, "train": {"preset": "cpu", "steps": 2}}))
    with pytest.raises(SdnetError, match="other training options .*older sdnet"):
        check_options(out, more)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repro")
    data = make_tiny_data_dir(tmp, rotations=2, crop_size=32, train_seqs=3, frames_per_seq=4,
                              test_frames=(3, 2))
    # Stand-in for the real ICVL test labels: ICVL-format label files of other stick-hand poses.
    other = write_tiny_icvl_tree(tmp / "other", train_seqs=1, frames_per_seq=1, test_frames=(2, 2), seed=7)
    icvl = tmp / "icvl_labels"
    icvl.mkdir()
    for k in (1, 2):
        (icvl / f"test_seq_{k}.txt").write_text((other / f"Testing/test_seq_{k}.txt").read_text())
    # A second data dir of the same crop size and cube: an --extra-test set.
    second = make_tiny_data_dir(tmp / "second", rotations=1, crop_size=32, train_seqs=1, frames_per_seq=2,
                                test_frames=(2, 1), seed=11)
    return tmp, data, icvl, second


def test_reproduce_runs_end_to_end_and_resumes(tiny, capsys):
    tmp, data, icvl, second = tiny
    out = tmp / "reproduce"
    argv = ["reproduce", "--data", str(data), "--out", str(out), "--smoke", "--steps", "4", "--seeds", "0",
            "--weights", "0", "0.5", "--setting", "penalty=hinge,sdl_weight=0.5", "--icvl-poses", str(icvl),
            "--extra-test", f"second={second}"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    tags = ["w0", "w0.5", "w0.5-penalty=hinge"]
    assert [s["tag"] for s in res["settings"]] == tags
    assert res["settings"][2]["overrides"] == {"sdl_weight": 0.5, "penalty": "hinge"}
    assert res["settings"][2]["baseline"] == "w0" and res["settings"][2]["baseline_note"] is None
    # the base experiment: --smoke's, recorded whole and as what it changes from the default experiment
    assert res["experiment"]["model"]["preset"] == "smoke" and res["experiment"]["steps"] == 4
    assert res["train"]["steps"] == 4 and res["train"]["data.crop_size"] == 32 and "seed" not in res["train"]
    assert list(res["testsets"]) == ["synthetic", "icvl_poses", "second"]
    assert res["testsets"]["synthetic"]["frames"] == 5 and res["testsets"]["icvl_poses"]["frames"] == 4
    assert res["testsets"]["second"]["frames"] == 3 and res["extra_tests"] == {"second": str(second)}
    assert res["testsets"]["second"]["label"] == f"second: the test split of {second}"
    for name, ts in res["testsets"].items():
        assert list(ts["settings"]) == tags
        for tag, s in ts["settings"].items():
            metrics = json.loads((out / "evals" / name / f"{tag}_s0" / "metrics.json").read_text())
            assert s["cnn"]["mean"] == pytest.approx(metrics["SDNet CNN"]["mean_error_mm"])
            assert s["refined"]["mean"] == pytest.approx(metrics["SDNet CNN + refinement"]["mean_error_mm"])
            assert s["cnn"]["values"] == [s["cnn"]["mean"]] and s["cnn"]["sd"] == 0.0
            # the pose plausibility of each run, from the same metrics.json
            assert s["bone_sd_refined"]["mean"] == pytest.approx(metrics["SDNet CNN + refinement"]["bone_length_sd_mm"])
            if metrics["SDNet CNN"]["jitter_mm"] is None:  # test sequences of fewer than 3 frames
                assert s["jitter_cnn"] is None and s["gt_jitter"] is None
            else:
                assert s["jitter_cnn"]["mean"] == pytest.approx(metrics["SDNet CNN"]["jitter_mm"])
                assert s["gt_jitter"]["mean"] == pytest.approx(metrics["SDNet CNN"]["gt_jitter_mm"])
        # the paired differences (one seed: no interval) are the per-seed differences
        base = ts["settings"]["w0"]
        assert base["paired"] is None and base["verdict"] is None
        for tag in tags[1:]:
            p = ts["settings"][tag]["paired"]
            assert p["cnn"]["n"] == 1 and p["cnn"]["low"] is None and ts["settings"][tag]["verdict"] is None
            for m in ("cnn", "refined", "tips_cnn", "tips_refined", "bone_err_cnn", "bone_sd_cnn"):
                assert p[m]["mean"] == pytest.approx(ts["settings"][tag][m]["mean"] - base[m]["mean"])
        # the verdict follows the numbers of the paper's settings (w alone); the paragraph reports them
        base, sd = ts["settings"]["w0"]["cnn"]["mean"], ts["settings"]["w0.5"]["cnn"]["mean"]
        assert ts["findings"]["sdnet_below_baseline"]["verdict"] == ("holds" if sd < base else "does not hold")
        text = ts["paragraph"]
        assert text.startswith(f"On {ts['label']} (1 seed") and f"{base:.2f}" in text and f"{sd:.2f}" in text
        assert text.index(f"{base:.2f}") < text.index(f"{sd:.2f}", text.index(f"{base:.2f}") + 1) or base == sd
        # the setting beyond the paper's is reported last, with its one-seed CNN difference
        other = _sentences(text)[-1]
        hinge = ts["settings"]["w0.5-penalty=hinge"]["paired"]["cnn"]["mean"]
        assert "SDNet w=0.5, penalty=hinge" in other and f"{hinge:+.2f}" in other
        assert (out / f"per_joint_{name}.png").stat().st_size > 5000
        assert (out / f"success_max_frame_{name}.png").stat().st_size > 5000
    # the prior and the refinement weights come from the data dir (train/val), never from the test sets
    for tag in tags:
        refine = json.loads((out / "runs" / f"{tag}_s0" / "refine.json").read_text())
        assert "val frames" in refine["note"]
        assert refine["grid"] == {"radius_mm": [8.0], "gamma_d": [0.0, 0.002], "gamma_m": [0.05], "window": [4]}
        for name, kind in (("icvl_poses", "rendered_icvl_poses"), ("second", "real_icvl")):
            settings = json.loads((out / "evals" / name / f"{tag}_s0" / "settings.json").read_text())
            assert settings["refinement"] == refine
            assert settings["test_set_kind"] == kind  # from the source tree's synth.json (or its absence)
    # the runs trained what their setting says
    config = json.loads((out / "runs/w0.5-penalty=hinge_s0/config.json").read_text())
    assert config["loss"]["penalty"] == "hinge" and config["loss"]["sdl_weight"] == 0.5
    assert config["seed"] == 0 and config["steps"] == 4 and config["data"]["crop_size"] == 32
    assert config["source"]["data_dir"] == str(data.resolve())
    # convergence: 4 steps of 2 per epoch -> validations at steps 2 and 4
    for tag in tags:
        c = res["convergence"][tag]
        seed0 = c["per_seed"][0]
        assert (seed0["from_step"], seed0["to_step"]) == (2, 4)
        assert c["change_mm"]["mean"] == pytest.approx(seed0["change_mm"])
    assert (out / "learning_curves.png").stat().st_size > 5000
    table = (out / "table1.md").read_text()
    assert "| baseline (w=0) | 12.70 |" in table and "| SDNet w=0.5 | 8.40 |" in table
    assert "| SDNet w=0.5, penalty=hinge | - |" in table and "(1 seed: no interval)" in table
    assert "Δ vs baseline (95% CI), CNN" in table and f"## second: the test split of {second}" in table
    assert "## Convergence" in table and "learning_curves.png" in table
    assert table.count("| setting | bone length error, CNN | Δ (95% CI) |") == 3  # one per test set
    syn = res["testsets"]["synthetic"]["settings"]["w0"]
    assert f"| baseline (w=0) | {syn['bone_err_cnn']['mean']:.2f} | - | {syn['bone_sd_cnn']['mean']:.2f} |" in table
    assert f"bone length sd {syn['gt_bone_sd']['mean']:.2f} mm" in table
    assert "Wall-clock duration:" in table and res["testsets"]["synthetic"]["paragraph"] in table
    assert res["duration"]["last_invocation_s"] > 0
    assert res["command"] == (f"sdnet reproduce --data {data} --out {out} --seeds 0 --weights 0 0.5 "
                              f"--setting sdl_weight=0.5,penalty=hinge --smoke --icvl-poses {icvl} "
                              f"--extra-test second={second}")

    # Running again reuses every run and evaluation; a run trained without its refinement (e.g. by an
    # earlier version, which left the fitting to eval) gets it fitted, from the data dir.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*/*/metrics.json")}
    stamps.update({p: p.stat().st_mtime_ns for p in out.glob("runs/*/model.keras")})
    assert len(stamps) == 12
    stamps.update({p: p.stat().st_mtime_ns for p in out.glob("runs/w0.5_s0/*.json")})
    assert {"summary.json", "prior.json", "refine.json"} <= {p.name for p in stamps}
    for name in ("prior.json", "refine.json"):
        (out / "runs/w0_s0" / name).unlink()
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "training" not in err and "fitting the refinement of" in err and "w0_s0" in err
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert "val frames" in json.loads((out / "runs/w0_s0/refine.json").read_text())["note"]
    assert (out / "runs/w0_s0/prior.json").is_file()
    state = json.loads((out / "reproduce.json").read_text())
    assert len(state["sessions"]) == 2 and [s["tag"] for s in state["settings"]] == tags
    # another budget cannot be mixed into the same table
    i = argv.index("--steps")
    assert main([*argv[:i + 1], "3", *argv[i + 2:]]) == 2
    assert "other training options" in capsys.readouterr().err


def test_reproduce_bad_inputs_are_one_line_errors(tiny, tmp_path, capsys):
    _, data, _, second = tiny
    base = ["reproduce", "--data", str(data), "--out", str(tmp_path / "r")]
    # the default experiment's data section (128-px crops) is not how the tiny data was cut
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "data.crop_size=32" in err and "--config" in err and len(err.strip().splitlines()) == 1
    assert main([*base, "--smoke", "--config", str(tmp_path / "x.json")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main([*base, "--smoke", "--set", "loss.nope=1"]) == 2
    assert "loss.nope: unknown key" in capsys.readouterr().err
    assert main([*base, "--smoke", "--weights", "0", "-0.5"]) == 2
    assert ">= 0" in capsys.readouterr().err
    assert main([*base, "--smoke", "--icvl-poses", str(tmp_path)]) == 2
    assert "no test_seq_*.txt" in capsys.readouterr().err
    assert main(["reproduce", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r"), "--smoke"]) == 2
    assert "manifest" in capsys.readouterr().err
    # settings: an unknown loss option is named; a value the loss refuses; no sdl_weight
    assert main([*base, "--smoke", "--setting", "sdl_weight=0.5,pneality=hinge"]) == 2
    err = capsys.readouterr().err
    assert "unknown loss option 'pneality'" in err and len(err.strip().splitlines()) == 1
    assert main([*base, "--smoke", "--setting", "sdl_weight=0.5,seed=3"]) == 2
    assert "unknown loss option 'seed'" in capsys.readouterr().err
    assert main([*base, "--smoke", "--setting", "sdl_weight=0.5,penalty=square"]) == 2
    assert "penalty must be one of step, hinge" in capsys.readouterr().err
    assert main([*base, "--smoke", "--setting", "penalty=hinge"]) == 2
    assert "give sdl_weight" in capsys.readouterr().err
    assert main([*base, "--smoke", "--weights", "0.5", "--setting", "sdl_weight=0.5"]) == 2
    assert "must not repeat" in capsys.readouterr().err
    assert main([*base, "--smoke", "--from-tuning", str(tmp_path / "best.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    # extra test sets: bad name, no manifest, another crop or cube, a name given twice
    assert main([*base, "--smoke", "--extra-test", f"a b={second}"]) == 2
    assert "NAME must be" in capsys.readouterr().err
    assert main([*base, "--smoke", "--extra-test", f"x={tmp_path}"]) == 2
    assert "no manifest" in capsys.readouterr().err
    other = tmp_path / "other_cube"
    shutil.copytree(second, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "cube_mm": manifest["cube_mm"] + 50}))
    assert main([*base, "--smoke", "--extra-test", f"x={other}"]) == 2
    assert "cube_mm" in capsys.readouterr().err
    assert main([*base, "--smoke", "--extra-test", f"x={second}", "--extra-test", f"x={second}"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_calibration_trains_candidates_once_and_keeps_the_one_of_lowest_validation_error(tiny, capsys):
    tmp, data, _, _ = tiny
    out = tmp / "calibrated"
    argv = ["reproduce", "--data", str(data), "--out", str(out), "--smoke", "--steps", "4", "--seeds", "0", "1",
            "--weights", "0", "--candidate", "sdl_weight=0.5", "--candidate", "sdl_weight=0.01,penalty=hinge"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    cal = res["calibration"]
    val = {c["tag"]: json.loads((out / "runs" / f"{c['tag']}_s0" / "summary.json").read_text())["val_mean_error_mm"]
           for c in cal["candidates"]}
    assert set(val) == {"w0.5", "w0.01-penalty=hinge"} and cal["seed"] == 0
    assert cal["chosen"] == min(val, key=val.get)  # chosen on validation, never on test
    assert [c["val_mm"] for c in cal["candidates"]] == pytest.approx([val["w0.5"], val["w0.01-penalty=hinge"]])
    other = next(t for t in val if t != cal["chosen"])
    # the chosen candidate is trained and evaluated with every seed; the other one only trained once
    assert [s["tag"] for s in res["settings"]] == ["w0", cal["chosen"]]
    assert "calibration" in res["settings"][1]["source"]
    for seed in (0, 1):
        assert (out / "evals/synthetic" / f"{cal['chosen']}_s{seed}" / "metrics.json").is_file()
    assert (out / "runs" / f"{other}_s0" / "summary.json").is_file()
    assert not (out / "runs" / f"{other}_s1").exists() and not (out / "evals/synthetic" / f"{other}_s0").exists()
    assert res["testsets"]["synthetic"]["settings"][cal["chosen"]]["paired"]["cnn"]["n"] == 2
    table = (out / "table1.md").read_text()
    assert "## Calibration (chosen on the validation split)" in table and "calibration_curves.png" in table
    assert (out / "calibration_curves.png").stat().st_size > 5000
    assert res["command"].endswith("--candidate sdl_weight=0.5 --candidate sdl_weight=0.01,penalty=hinge --smoke")
