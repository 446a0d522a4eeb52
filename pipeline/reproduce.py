"""``sdnet reproduce``: the paper's Table 1 on our data, with the spread over seeds, paired comparisons
with each setting's baseline, and learning-curve evidence of convergence.

A *setting* is a set of loss overrides of ``pipeline.train.resolve_config`` (``sdl_weight`` always
given; 0 = a baseline), e.g. {sdl_weight: 0} (the baseline), {sdl_weight: 0.125} (the paper's
pure-w settings 0.125, 0.25, 0.5) or {sdl_weight: 0.03, joint_loss: distance, sdl_start: 0.5}. For
every seed and every setting one training run with the same budget is made, then evaluated without
and with the hierarchical refinement (``pipeline.evaluate.run_eval``) on
  (a) ``synthetic``: the data dir's test split,
  (b) ``icvl_poses``: the real ICVL test poses (``test_seq_1.txt``, ``test_seq_2.txt``) rendered by
      ``sdnet synth --poses`` and converted by ``sdnet data`` with the data dir's crop, cube and
      centre settings; evaluation only, and
  (c) every ``--extra-test NAME=DATA_DIR``: the test split of another data dir of the same crop
      size and cube.
The bone prior (``RUN/prior.json``) and the refinement weights (``RUN/refine.json``) always come
from the data dir's train and val splits: (a) is evaluated first and writes them, the others reuse
them.

Each SDL setting (sdl_weight > 0) is compared with *its* baseline: the setting with sdl_weight 0 and
the same non-SDL keys (those not in ``SDL_KEYS``, e.g. joint_loss); without one, with the plain
baseline {sdl_weight: 0} (noted in the table); without that, not at all. The comparison is paired
by seed: d_i = error(setting, seed i) - error(baseline, seed i), reported as mean d with the 95%
interval mean +- t(0.975, n-1) * sd(d) / sqrt(n) (n >= 2 common seeds).

Output directory (``DIR``):
  reproduce.json          the fixed training options (budget, preset), every setting ever trained
                          here (tag -> overrides) and the wall-clock time of each session
  runs/<tag>_s<seed>/     training run dirs (tag: ``setting_tag``, e.g. w0.5, w0.03-joint_loss=distance)
  evals/<testset>/<tag>_s<seed>/   ``sdnet eval`` reports (metrics.json, figures, report.md)
  icvl_poses_tree/, icvl_poses_data/   the rendered ICVL test poses and their TFRecords
  results.json            every number behind the tables, per test set and setting (values per seed,
                          paired differences with intervals), the convergence numbers
  table1.md               the tables (mean over seeds +- sample standard deviation, the paper's numbers
                          beside ours, Δ vs baseline with 95% intervals), the findings paragraphs, the
                          convergence table and the run's duration
  per_joint_<testset>.png, success_max_frame_<testset>.png   every setting, means over seeds
  learning_curves.png     validation error against training step, one colour per setting

Calibration (``--candidate``): each candidate setting is trained with the first seed only; the one
of lowest *validation* error (never the test splits) joins the settings and is trained with every
seed. The candidates' validation errors and learning curves are reported (``calibration`` in
results.json, ``calibration_curves.png``).

Resumable: a run with a summary.json and an eval with a metrics.json are not redone; an
interrupted run continues from its checkpoint; settings may be added to a directory in a later
invocation (the training options must stay the same). The findings paragraph is generated from the
numbers (``findings`` and ``findings_paragraph``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Sequence

from eval.compare import PAPER_TABLE1_MM
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_text, write_json

# Paper Table 1: mean Euclidean distance error on ICVL (mm) per SDL weight (0 = baseline).
PAPER_TABLE1 = PAPER_TABLE1_MM
DEFAULT_WEIGHTS = (0.0, 0.125, 0.25, 0.5)
OPTIONS_FILE = "reproduce.json"
LEARNING_CURVES = "learning_curves.png"
TESTSET_LABELS = {"synthetic": "(a) synthetic test sequences (the data dir's test split)",
                  "icvl_poses": "(b) real ICVL test poses rendered by `sdnet synth --poses`"}
SMOKE_TRAIN = {"preset": "smoke", "steps": 4, "batch_size": 8, "warmup_steps": 1}
SMOKE_BEAM_DATA = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
SMOKE_BEAM_SYNTH = ["--running-mode", "in_memory", "--no-progress"]
# --smoke chooses the refinement weights on 'val' from 2 candidates instead of the full grid.
SMOKE_REFINE_GRID = {"radius_mm": (8.0,), "gamma_d": (0.0, 0.002), "gamma_m": (0.05,)}
CURVE = "max_frame"
# Loss keys that only shape the skeleton-difference loss: a baseline (w = 0) ignores them, so they do
# not take part in choosing a setting's baseline. Every other key (e.g. joint_loss) does.
SDL_KEYS = frozenset({"sdl_weight", "alpha", "beta", "omega1", "omega2", "threshold_deg", "threshold_percentile",
                      "penalty", "sdl_start", "sdl_ramp"})
# Per-run numbers compared pairwise with the baseline (errors in mm; lower is better).
PAIRED_METRICS = ("cnn", "refined", "tips_cnn", "tips_refined")
CI_LEVEL = 0.95
FLAT_FROM = 0.75  # learning-curve flatness: change of the val error over the last 25% of the steps
EXTRA_NAME = re.compile(r"[A-Za-z0-9_-]+")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# A setting: ((key, value), ...) with ("sdl_weight", w) first and the other keys sorted; values are
# floats or strings. Hashable, and equal for equal overrides whatever order they were given in.
Setting = tuple


# ---- settings -----------------------------------------------------------------------------------------

def _setting_value(key: str, value):
    """A setting's value: a finite float for numbers, a non-empty string otherwise; ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected a number or a word, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{key}: must be a finite number, got {value!r}")
        return float(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"{key}: expected a number or a word, got {value!r}")


def make_setting(overrides: Mapping) -> Setting:
    """The canonical setting of loss ``overrides`` (which must hold sdl_weight >= 0); ValueError."""
    if "sdl_weight" not in overrides:
        raise ValueError(f"setting {dict(overrides)}: give sdl_weight (0 = the baseline)")
    w = _setting_value("sdl_weight", overrides["sdl_weight"])
    if isinstance(w, str):
        raise ValueError(f"sdl_weight must be a number, got {w!r}")
    if w < 0:
        raise ValueError(f"SDL weights must be >= 0, got {w:g}")
    rest = []
    for key in sorted(k for k in overrides if k != "sdl_weight"):
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"setting: {key!r} is not an option name")
        rest.append((key, _setting_value(key, overrides[key])))
    return (("sdl_weight", w), *rest)


def pure_w(w: float) -> Setting:
    """The setting that changes only the SDL weight ``w`` (the paper's Table 1 settings)."""
    return make_setting({"sdl_weight": w})


BASELINE = pure_w(0.0)
DEFAULT_SETTINGS = tuple(pure_w(w) for w in DEFAULT_WEIGHTS)


def sdl_weight(setting: Setting) -> float:
    return setting[0][1]


def is_pure_w(setting: Setting) -> bool:
    return len(setting) == 1


def _fmt_value(v) -> str:
    """A value as written in names, tags and the command line (shortest exact form for floats)."""
    if isinstance(v, float):
        return f"{v:g}" if float(f"{v:g}") == v else repr(v)
    return str(v)


def _extras(setting: Setting) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in setting[1:])


def setting_name(setting: Setting) -> str:
    """'baseline (w=0)', 'baseline (w=0, joint_loss=distance)', 'SDNet w=0.125' or
    'SDNet w=0.03, joint_loss=distance, sdl_start=0.5'."""
    w, extras = sdl_weight(setting), _extras(setting)
    if w == 0:
        return f"baseline (w=0{', ' + extras if extras else ''})"
    return f"SDNet w={_fmt_value(w)}{', ' + extras if extras else ''}"


def setting_tag(setting: Setting) -> str:
    """The directory name of a setting: 'w0.5' for pure w, else e.g. 'w0.03-joint_loss=distance'
    (characters other than letters, digits and . _ = + - replaced by _)."""
    tag = f"w{sdl_weight(setting):g}" + "".join(f"-{k}={_fmt_value(v)}" for k, v in setting[1:])
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", tag)


def run_tag(setting: Setting, seed: int) -> str:
    """The run (and eval) directory name of one setting and seed, e.g. 'w0_s1'."""
    return f"{setting_tag(setting)}_s{seed}"


def setting_arg(setting: Setting) -> str:
    """The ``--setting`` value of a setting: 'sdl_weight=0.03,joint_loss=distance'."""
    return ",".join(f"{k}={_fmt_value(v)}" for k, v in setting)


def parse_setting(text: str) -> Setting:
    """``--setting KEY=VALUE[,KEY=VALUE...]``: values that parse as numbers become floats, the rest
    strings; ValueError naming the problem."""
    overrides = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"--setting {text!r}: expected KEY=VALUE[,KEY=VALUE...], got {item!r}")
        if key in overrides:
            raise ValueError(f"--setting {text!r}: {key} given twice")
        try:
            overrides[key] = float(value)
        except ValueError:
            overrides[key] = value
    try:
        return make_setting(overrides)
    except ValueError as e:
        raise ValueError(f"--setting {text!r}: {e}") from None


def setting_from_tuning(path: Path) -> Setting:
    """The loss setting chosen on validation by a ``sdnet tune`` best.json (or its directory): the
    tuned keys (sdl_weight, alpha, beta) and every other loss option that differs from its default."""
    from pipeline.config import LossConfig
    from pipeline.train import LOSS_OVERRIDES
    from pipeline.tune import TUNED_NUMBERS, read_best

    loss = read_best(path)["loss"]
    defaults = {f.name: f.default for f in dataclasses.fields(LossConfig)}
    keep = {k: loss[k] for k in LOSS_OVERRIDES
            if k in loss and (k in TUNED_NUMBERS or k not in defaults or loss[k] != defaults[k])}
    try:
        return make_setting(keep)
    except ValueError as e:
        raise SdnetError(f"{path}: {e}") from None


def check_setting_keys(setting: Setting, known: Sequence[str]) -> None:
    """SdnetError naming the first key of ``setting`` that is not a loss option in ``known``."""
    for key, _ in setting:
        if key not in known:
            raise SdnetError(f"--setting {setting_arg(setting)}: unknown loss option {key!r} "
                             f"(known: {', '.join(known)})")


# ---- pairing and paired differences -------------------------------------------------------------------

def non_sdl_part(setting: Setting) -> Setting:
    """The keys of a setting that also act without the SDL (not in ``SDL_KEYS``), e.g. joint_loss."""
    return tuple((k, v) for k, v in setting if k not in SDL_KEYS)


def pair_baseline(setting: Setting, settings: Sequence[Setting]) -> tuple[Setting | None, str | None]:
    """The baseline an SDL setting is compared with, and a note when it is not its own.

    Its own baseline: a setting of ``settings`` with sdl_weight 0 and the same non-SDL keys (the one
    with the fewest SDL keys; the first on ties). Otherwise the plain baseline {sdl_weight: 0}, with
    a note; otherwise (None, note). Baselines themselves (sdl_weight 0) get (None, None).
    """
    if sdl_weight(setting) == 0:
        return None, None
    want = non_sdl_part(setting)
    own = [b for b in settings if sdl_weight(b) == 0 and non_sdl_part(b) == want]
    if own:
        return min(own, key=len), None
    what = ", ".join(f"{k}={_fmt_value(v)}" for k, v in want)
    if BASELINE in settings:
        return BASELINE, f"no baseline with {what}: compared with the plain baseline (w=0)"
    return None, f"no baseline (w=0{', ' + what if what else ''}) among the settings: not compared"


def t_quantile(n: int, level: float = CI_LEVEL) -> float:
    """Student's t quantile t_{(1+level)/2, n-1} for a two-sided interval from n >= 2 values."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2.0, n - 1))


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
    interval, sd and verdict are None). None when no seed is shared.
    """
    seeds = [s for s in values if s in base]
    if not seeds:
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


def format_delta(p: dict | None) -> str:
    """A table cell: '-0.42 [-0.80, -0.04] better', '-0.42 (1 seed: no interval)' or '-'."""
    if p is None:
        return "-"
    if p["low"] is None:
        return f"{p['mean']:+.2f} (1 seed: no interval)"
    return f"{p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}] {p['verdict']}"


# ---- learning curves ----------------------------------------------------------------------------------

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


def mean_curve(curves: Sequence[tuple[Sequence[float], Sequence[float]]]):
    """Mean over seeds of (steps, errors) curves: on their common steps when all have the same,
    else linearly interpolated on the union of steps up to the shortest run's end. (steps, mean)."""
    import numpy as np

    first = np.asarray(curves[0][0], dtype=float)
    if all(len(s) == len(first) and np.array_equal(np.asarray(s, dtype=float), first) for s, _ in curves):
        return first, np.mean([np.asarray(e, dtype=float) for _, e in curves], axis=0)
    start = max(float(s[0]) for s, _ in curves)
    end = min(float(s[-1]) for s, _ in curves)
    grid = np.unique(np.concatenate([np.asarray(s, dtype=float) for s, _ in curves]))
    grid = grid[(grid >= start) & (grid <= end)]
    return grid, np.mean([np.interp(grid, s, e) for s, e in curves], axis=0)


def plot_setting_curves(ax, curves: Mapping[str, list], colors: Mapping[str, tuple] | None = None) -> None:
    """Validation error [mm] against optimizer step: per setting (name -> [(steps, errors), ...] over
    seeds) the mean over seeds as a solid line and each seed's curve faint; log-scaled error axis."""
    from matplotlib.ticker import ScalarFormatter

    from eval.plots import method_colors

    colors = colors or method_colors(list(curves))
    for name, runs in curves.items():
        if not runs:
            continue
        for s, e in runs:
            ax.plot(s, e, "-", color=colors[name], alpha=0.25, linewidth=0.9)
        steps, mean = mean_curve(runs)
        if not len(steps):  # the seeds' step ranges do not overlap: faint curves only
            continue
        ax.plot(steps, mean, "-o", ms=2.5, color=colors[name],
                label=f"{name} (last {mean[-1]:.2f} mm, {len(runs)} seed{'s' if len(runs) != 1 else ''})")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="y", which="minor", labelsize="x-small")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("validation mean joint error (mm)")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="best")
    ax.set_title("Learning curves (bold: mean over seeds; faint: each seed)")


def _log_default(msg: str) -> None:
    print(f"[reproduce] {msg}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class ReproduceOptions:
    """What a reproduction trains: ``train`` = fixed overrides of ``pipeline.train.resolve_config``
    shared by every run (preset, budget); ``settings`` (canonical, see ``make_setting``) and ``seeds``
    span the runs; ``tuning``: ((setting, path of the best.json that chose it on validation), ...)."""

    train: dict
    settings: tuple = DEFAULT_SETTINGS
    seeds: tuple = (0, 1)
    smoke: bool = False
    tuning: tuple = ()
    candidates: tuple = ()

    def __post_init__(self) -> None:
        if not self.settings or not self.seeds:
            raise ValueError("need at least one setting and one seed")
        for s in self.settings:
            if make_setting(dict(s)) != tuple(s):
                raise ValueError(f"setting {s!r} is not in canonical form (use make_setting)")
        if len(set(self.settings)) != len(self.settings) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("settings and seeds must not repeat")
        tags = [setting_tag(s) for s in self.settings]
        if len(set(tags)) != len(tags):
            dup = next(t for t in tags if tags.count(t) > 1)
            raise ValueError(f"two settings share the directory name {dup!r}")
        if any(s not in self.settings for s, _ in self.tuning):
            raise ValueError("a tuned setting is not among the settings")
        for s in self.candidates:
            if make_setting(dict(s)) != tuple(s):
                raise ValueError(f"candidate {s!r} is not in canonical form (use make_setting)")
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError("candidates must not repeat")

    def source(self, setting: Setting) -> str | None:
        """'chosen on validation by PATH' for a setting read from a tune best.json, else None."""
        paths = [p for s, p in self.tuning if s == setting]
        return f"chosen on validation by {paths[0]}" if paths else None


def parse_extra_test(text: str) -> tuple[str, Path]:
    """``--extra-test NAME=DATA_DIR`` -> (NAME, DATA_DIR); ValueError on a bad form or name."""
    name, sep, path = text.partition("=")
    if not sep or not path:
        raise ValueError(f"--extra-test {text!r}: expected NAME=DATA_DIR")
    if not EXTRA_NAME.fullmatch(name):
        raise ValueError(f"--extra-test {text!r}: NAME must be letters, digits, _ or -")
    if name in TESTSET_LABELS:
        raise ValueError(f"--extra-test {text!r}: {name!r} is a built-in test set; choose another NAME")
    return name, Path(path)


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
    from pipeline.config import data_config_from_dict
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
            cfg = data_config_from_dict(manifest["config"], where=f"{data_dir}/manifest.json: config")
        except (KeyError, TypeError, ValueError) as e:
            raise SdnetError(f"{data_dir}/manifest.json: no usable data config ({e})") from None
        intr = Intrinsics.from_dict(json.loads((tree / "synth.json").read_text())["intrinsics"])
        log(f"converting them with the data dir's crop {cfg.crop_size} px and cube {cfg.cube_mm:g} mm into {conv}")
        convert_tree(tree, conv, cfg, intr, SMOKE_BEAM_DATA if smoke else beam_args, overwrite=True,
                     progress=not smoke)
    return conv


def train_setting(data, data_dir: Path, run_dir: Path, opts: ReproduceOptions, setting: Setting, seed: int,
                  log: Callable[[str], None]) -> dict:
    """Train (or finish, or reuse) one run of ``setting``; returns its summary. KeyboardInterrupt when
    interrupted."""
    from pipeline import train as tr

    summary_path = run_dir / tr.SUMMARY_FILE
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    cfg = tr.resolve_config(data.manifest, {**opts.train, **dict(setting), "seed": seed}, data_dir=data_dir)
    resumable = (run_dir / tr.CONFIG_FILE).is_file() and (run_dir / tr.CHECKPOINT_DIR).is_dir()
    log(f"{'resuming' if resumable else 'training'} {setting_name(setting)}, seed {seed} in {run_dir}")
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


# ---- outputs ------------------------------------------------------------------------------------------

def read_curves(out: Path, opts: ReproduceOptions) -> dict:
    """setting -> [(seed, steps, val errors [mm]), ...] from each run's history.csv (runs without a
    readable history are left out)."""
    from eval.learning import read_history

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
    from eval.learning import read_history

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


def write_learning_curves(out: Path, curves: Mapping[Setting, list], name: str = LEARNING_CURVES) -> Path:
    """``out/name`` (default learning_curves.png): validation error against step, one colour per setting."""
    from matplotlib.figure import Figure

    from eval.plots import save_figure

    fig = Figure(figsize=(9, 5.5))
    ax = fig.add_subplot()
    plot_setting_curves(ax, {setting_name(s): [(st, e) for _, st, e in runs] for s, runs in curves.items()})
    return save_figure(fig, out / name)


def _per_seed_numbers(out: Path, name: str, setting: Setting, seeds: Sequence[int]) -> tuple[dict, list]:
    """seed -> ``run_numbers`` and the metrics.json of each seed, for one test set and setting."""
    numbers, metrics_seed = {}, []
    for seed in seeds:
        metrics = json.loads((out / "evals" / name / run_tag(setting, seed) / "metrics.json").read_text())
        summary_path = out / "runs" / run_tag(setting, seed) / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
        numbers[seed] = run_numbers(metrics, summary)
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
    from pipeline.evaluate import CNN, REFINED

    pairs = {s: pair_baseline(s, opts.settings) for s in opts.settings}
    res = {"settings": [{"tag": setting_tag(s), "name": setting_name(s), "overrides": dict(s),
                         "source": opts.source(s),
                         "baseline": setting_tag(pairs[s][0]) if pairs[s][0] else None,
                         "baseline_note": pairs[s][1]} for s in opts.settings],
           "seeds": list(opts.seeds), "train": dict(opts.train),
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


def _pm(s: dict | None, seeds: int, fmt: str = "{:.2f}") -> str:
    if s is None:
        return "-"
    return fmt.format(s["mean"]) + (f" ± {fmt.format(s['sd'])}" if len(s["values"]) > 1 else "")


def _duration(seconds: float) -> str:
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


def table_markdown(res: dict, command: str, session_s: float, total_s: float) -> str:
    seeds = len(res["seeds"])
    train = ", ".join(f"{k}={v}" for k, v in res["train"].items())
    lines = ["# Table 1 of the SDNet paper, reproduced on our data", "",
             f"Command: `{command}`", "",
             f"Wall-clock duration: {_duration(session_s)} for the last invocation, {_duration(total_s)} "
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
        lines += ["", ts["paragraph"], "",
                  f"![per joint](per_joint_{name}.png) ![max-frame success](success_{CURVE}_{name}.png)", ""]
    if res.get("convergence"):
        lines += convergence_markdown(res["convergence"])
    return "\n".join(lines)


def command_line(data_dir: Path, out: Path, opts: ReproduceOptions, icvl: Path | None,
                 extra_tests: Mapping[str, Path] | None = None) -> str:
    """The ``sdnet reproduce`` invocation that makes ``opts`` (pure-w settings as --weights, tuned
    ones as --from-tuning, the others as --setting)."""
    tuned = {s: p for s, p in opts.tuning}
    parts = ["sdnet reproduce", f"--data {data_dir}", f"--out {out}", "--seeds " + " ".join(map(str, opts.seeds))]
    weights = [s for s in opts.settings if is_pure_w(s) and s not in tuned]
    if weights:
        parts.append("--weights " + " ".join(_fmt_value(sdl_weight(s)) for s in weights))
    parts += [f"--setting {setting_arg(s)}" for s in opts.settings if not is_pure_w(s) and s not in tuned]
    parts += [f"--from-tuning {p}" for _, p in opts.tuning]
    parts += [f"--candidate {setting_arg(c)}" for c in opts.candidates]
    if opts.smoke:
        parts.append("--smoke")
        t = opts.train
        for key, flag in (("steps", "--steps"), ("batch_size", "--batch-size")):
            if t.get(key) != SMOKE_TRAIN.get(key):
                parts.append(f"{flag} {t[key]}")
    else:
        t = opts.train
        parts.append(f"--preset {t.get('preset', 'cpu')}")
        for key, flag in (("minutes", "--minutes-per-run"), ("steps", "--steps"), ("epochs", "--epochs"),
                          ("batch_size", "--batch-size")):
            if t.get(key) is not None:
                parts.append(f"{flag} {t[key]:g}" if isinstance(t[key], float) else f"{flag} {t[key]}")
    if icvl is not None:
        parts.append(f"--icvl-poses {icvl}")
    for name, path in (extra_tests or {}).items():
        parts.append(f"--extra-test {name}={path}")
    return " ".join(parts)


def _check_options(out: Path, opts: ReproduceOptions) -> dict:
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
    from pipeline import train as tr

    for setting in (*opts.settings, *opts.candidates):
        check_setting_keys(setting, tr.LOSS_OVERRIDES)
        try:
            tr.resolve_config(manifest, {**opts.train, **dict(setting)}, data_dir=data_dir)
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


def reproduce(data_dir: Path, out: Path, opts: ReproduceOptions, icvl_poses: Path | None = None,
              beam_args: list[str] | None = None, log: Callable[[str], None] | None = None,
              extra_tests: Mapping[str, Path] | None = None) -> dict:
    """Train, evaluate and tabulate (see the module docstring); returns results.json's content.
    ``extra_tests``: NAME -> data dir whose test split every run is also evaluated on."""
    from pipeline import train as tr

    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log = log or _log_default
    data_dir, out = Path(data_dir), Path(out)
    extra_tests = {name: Path(p) for name, p in (extra_tests or {}).items()}
    data = tr.data_from_dir(data_dir)
    validate_settings(opts, data.manifest, data_dir)  # validate every option before any work
    if icvl_poses is not None:
        icvl_label_files(icvl_poses)
    labels = dict(TESTSET_LABELS)
    for name, path in extra_tests.items():
        if not EXTRA_NAME.fullmatch(name) or name in TESTSET_LABELS:
            raise SdnetError(f"--extra-test {name}={path}: NAME must be letters, digits, _ or - and not "
                             f"{' or '.join(TESTSET_LABELS)}")
        labels[name] = check_extra_test(name, path, data.manifest)
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
        testsets.update(extra_tests)
        calibration, asked = None, opts
        if opts.candidates:
            calibration = calibrate(data, data_dir, out, opts, log)
            opts = with_calibrated(opts, calibration)
        runs = [(seed, setting) for seed in opts.seeds for setting in opts.settings]
        for k, (seed, setting) in enumerate(runs, start=1):
            run_dir = out / "runs" / run_tag(setting, seed)
            summary = train_setting(data, data_dir, run_dir, opts, setting, seed, log)
            if opts.smoke:
                smoke_refinement(run_dir, data_dir)
            msg = [f"run {k}/{len(runs)} {setting_name(setting)}, seed {seed}: "
                   f"val {summary['val_mean_error_mm']:.2f} mm"]
            for name, test_data in testsets.items():  # 'synthetic' first: it writes prior/refine from DATA
                if name != "synthetic" and not ((run_dir / "prior.json").is_file()
                                                and (run_dir / "refine.json").is_file()):
                    raise SdnetError(f"{run_dir}: no prior.json/refine.json from {data_dir}")
                metrics = evaluate_setting(run_dir, test_data, out / "evals" / name / run_tag(setting, seed))
                n = run_numbers(metrics)
                msg.append(f"{name} {n['cnn']:.2f} -> {n['refined']:.2f} mm")
            log("; ".join(msg) + f" ({time.perf_counter() - t0:.0f} s so far)")
        res = collect(out, opts, {name: labels[name] for name in testsets})
        for name, ts in res["testsets"].items():
            write_figures(out, name, ts.pop("_plots"))
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
            base = out / "runs" / run_tag(BASELINE, calibration["seed"]) / "summary.json"
            base_val = json.loads(base.read_text())["val_mean_error_mm"] if base.is_file() else None
            text += "\n" + "\n".join(calibration_markdown(calibration, base_val))
        atomic_write_text(out / "table1.md", text)
    finally:
        save_time()
    log(f"done in {_duration(time.perf_counter() - t0)}: {out / 'table1.md'}")
    return res
