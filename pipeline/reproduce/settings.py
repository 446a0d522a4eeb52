"""The study plan: settings (loss overrides), their names and directory tags, the pairing of each SDL
setting with its baseline, the base experiment every run starts from, and the command line that makes
them.

Every run is the base experiment (``ReproduceOptions.train``: ``--config FILE`` with ``--set``
overrides, or the in-code smoke base of ``--smoke``) with its setting's loss keys and its seed set
(``run_sets``: ``loss.sdl_weight``, ..., ``seed``).

A *setting* is a set of loss keys (``LossConfig`` fields, ``LOSS_KEYS``; ``sdl_weight`` always given; 0 =
a baseline), e.g. {sdl_weight: 0} (the baseline), {sdl_weight: 0.125} (the paper's pure-w settings
0.125, 0.25, 0.5) or {sdl_weight: 0.03, joint_loss: distance, sdl_start: 0.5}.

Each SDL setting (sdl_weight > 0) is compared with *its* baseline: the setting with sdl_weight 0 and
the same non-SDL keys (those not in ``SDL_KEYS``, e.g. joint_loss); without one, with the plain
baseline {sdl_weight: 0} (noted in the table); without that, not at all.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from pipeline.config import LossConfig, TrainConfig
from pipeline.errors import SdnetError
from pipeline.experiment import default_experiment, default_of, differences, experiment_json, override
from pipeline.tune import TUNED_NUMBERS, read_best

DEFAULT_WEIGHTS = (0.0, 0.125, 0.25, 0.5)
TESTSET_LABELS = {"synthetic": "(a) synthetic test sequences (the data dir's test split)",
                  "icvl_poses": "(b) real ICVL test poses rendered by `sdnet synth --poses`"}
# The loss keys a setting may give (every LossConfig field but the derived per-angle thresholds).
LOSS_KEYS = tuple(f.name for f in dataclasses.fields(LossConfig) if f.name != "angle_thresholds_deg")
# --smoke chooses the refinement weights on 'val' from 2 candidates instead of the full grid.
SMOKE_REFINE_GRID = {"radius_mm": (8.0,), "gamma_d": (0.0, 0.002), "gamma_m": (0.05,), "window": (4,)}
# --smoke's base experiment, as overrides of the default experiment: the smoke preset, 4 steps of 8 crops
# (1 warm-up step), validated once per pass over the training split, no time budget; the data section
# of the tests' tiny data dirs (tests.helpers.make_tiny_data_dir: 32-px crops, 2 rotations, 30% of the
# training sequences held out); the 2-cell refinement grid; no centre refiner.
SMOKE_TRAIN = {"model.preset": "smoke", "steps": 4, "batch_size": 8, "warmup_steps": 1, "minutes": None,
               "steps_per_epoch": None, "data.crop_size": 32, "data.rotations": 2, "data.val_fraction": 0.3,
               "centre_refiner.fit": False, **{f"refine.{k}": list(v) for k, v in SMOKE_REFINE_GRID.items()}}
# Keys the command line and the run summaries leave out: what follows from others or says nothing.
UNSTATED_KEYS = ("description", "source", "model.input_size")
# Loss keys that only shape the skeleton-difference loss: a baseline (w = 0) ignores them, so they do
# not take part in choosing a setting's baseline. Every other key (e.g. joint_loss) does.
SDL_KEYS = frozenset({"sdl_weight", "alpha", "beta", "omega1", "omega2", "threshold_deg", "threshold_percentile",
                      "penalty", "sdl_start", "sdl_ramp"})
EXTRA_NAME = re.compile(r"[A-Za-z0-9_-]+")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# A setting: ((key, value), ...) with ("sdl_weight", w) first and the other keys sorted; values are
# floats or strings. Hashable, and equal for equal overrides whatever order they were given in.
Setting = tuple


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


def setting_from_tuning(path: Path, base: LossConfig | None = None) -> Setting:
    """The loss setting chosen on validation by a ``sdnet tune`` best.json (or its directory): the
    tuned keys (sdl_weight, alpha, beta) and every other loss key that differs from ``base`` (the
    loss section of the study's base experiment; default: the default experiment's)."""
    loss = read_best(path)["loss"]
    defaults = dataclasses.asdict(base if base is not None else LossConfig())
    keep = {k: loss[k] for k in LOSS_KEYS
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


def loss_sets(setting: Setting) -> dict[str, Any]:
    """A setting as experiment overrides: {'loss.sdl_weight': w, 'loss.KEY': value, ...}."""
    return {f"loss.{k}": v for k, v in setting}


def run_sets(setting: Setting, seed: int) -> dict[str, Any]:
    """The overrides that make one run of the base experiment: the setting's loss keys and the seed."""
    return {**loss_sets(setting), "seed": seed}


def smoke_experiment() -> TrainConfig:
    """The base experiment of ``--smoke`` (``SMOKE_TRAIN`` on the default experiment)."""
    return override(default_experiment(), SMOKE_TRAIN, "--smoke")


def sets_between(start: TrainConfig, cfg: TrainConfig) -> dict[str, Any]:
    """The dotted overrides that turn experiment ``start`` into ``cfg`` (``override(start, sets) == cfg``,
    up to ``UNSTATED_KEYS``): ``model.preset`` first when it changes, then every key that differs."""
    sets: dict[str, Any] = {}
    if cfg.model.preset != start.model.preset:
        sets["model.preset"] = cfg.model.preset
        start = override(start, sets)
    for key in differences(start, cfg, skip=("source",)):
        if key not in UNSTATED_KEYS:
            sets[key] = default_of(key, cfg)
    return sets


def set_text(key: str, value) -> str:
    """One ``--set`` argument, ``KEY=VALUE`` as ``sdnet`` reads it back (JSON, or a bare word), quoted
    for the shell when needed."""
    if isinstance(value, str):
        try:
            json.loads(value)
            raw = json.dumps(value)  # a word JSON would read as something else ("true", "1")
        except json.JSONDecodeError:
            raw = value
    else:
        raw = json.dumps(value, separators=(",", ":"))
    return shlex.quote(f"{key}={raw}")


@dataclasses.dataclass(frozen=True)
class ReproduceOptions:
    """What a reproduction trains: ``train`` = the base experiment every run starts from (each run sets
    its setting's loss keys and its seed on it: ``run_sets``); ``config`` = the experiment file it was
    read from (None: the default experiment, or the smoke base with ``smoke``) and ``sets`` = the
    overrides applied to that (((dotted key, value), ...), as ``sets_between`` gives them), for the
    command line; ``settings`` (canonical, see ``make_setting``) and ``seeds`` span the runs;
    ``tuning``: ((setting, path of the best.json that chose it on validation), ...)."""

    train: TrainConfig
    config: str | None = None
    sets: tuple = ()
    settings: tuple = DEFAULT_SETTINGS
    seeds: tuple = (0, 1)
    smoke: bool = False
    tuning: tuple = ()
    candidates: tuple = ()

    def __post_init__(self) -> None:
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"train: expected the base experiment (a TrainConfig), got {type(self.train).__name__}")
        if self.smoke and self.config is not None:
            raise ValueError("--smoke is its own base experiment: give --config or --smoke, not both")
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

    def changes(self) -> dict[str, Any]:
        """What the base experiment changes from the default experiment ({dotted key: value}, JSON)."""
        return json.loads(json.dumps(sets_between(default_experiment(), self.train)))

    def experiment_json(self) -> dict:
        """The base experiment, as an experiment file holds it."""
        return experiment_json(self.train)


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


def command_line(data_dir: Path, out: Path, opts: ReproduceOptions, icvl: Path | None,
                 extra_tests: Mapping[str, Path] | None = None) -> str:
    """The ``sdnet reproduce`` invocation that makes ``opts`` (pure-w settings as --weights, tuned
    ones as --from-tuning, the others as --setting; the base experiment as --config or --smoke and
    --set)."""
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
    elif opts.config is not None:
        parts.append(f"--config {shlex.quote(str(opts.config))}")
    parts += [f"--set {set_text(k, v)}" for k, v in opts.sets]
    if icvl is not None:
        parts.append(f"--icvl-poses {icvl}")
    for name, path in (extra_tests or {}).items():
        parts.append(f"--extra-test {name}={path}")
    return " ".join(parts)
