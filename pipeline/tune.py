"""``sdnet tune``: a keras-tuner search over the SDL weight w, alpha, beta and the joint-loss reading.

A search starts from a base experiment (``pipeline.config.TrainConfig``: ``--config FILE``, default
the default experiment, with ``--set`` overrides and the trial-length options). Each trial is one
ordinary training run (``pipeline.train.train``, the same code as ``sdnet train``) of that experiment
with the trial's loss keys set (``loss.sdl_weight``, ``loss.alpha``, ``loss.beta``,
``loss.joint_loss``); its objective is the run's final validation mean error in mm (minimized). The
test split is never used, and trials fit neither the refinement nor the centre refiner.

Why Bayesian optimization (``keras_tuner.BayesianOptimization``) and not Hyperband: a trial is
expensive (minutes of CPU training) and we can afford only a handful; the space is three
continuous parameters on log scales, where a Gaussian-process model of the objective uses every
finished trial to place the next one. Hyperband's strength is stopping many cheap, partially
trained models early; with about six trials and the learning-rate schedule planned over the whole
budget (a truncated run is not a fair early estimate), it would spend the budget on brackets
instead of on information. The first ``initial_points`` trials are random (log-uniform).

Search space (log-uniform): w in [1e-3, 1], alpha in [0.1, 10], beta in [0.1, 10], and the reading
of Eq. 1 (``joint_loss``: squared or distance) as a choice. The w range covers the balance point,
where the skeleton terms' gradient equals the joint loss's (about w = 0.03-0.05 with the squared
reading on normalized joints, about 0.15 with the distance reading: history.csv's
``sdl_grad_balance_w``), by more than a decade on both sides. The baseline w = 0 cannot lie on a
log scale; compare against it with ``sdnet train --config FILE --sdl-weight 0`` (the same base
experiment), or ``sdnet reproduce``, which trains it beside w = 0.125, 0.25, 0.5.

Every trial trains with the experiment's seed, which also seeds the search, so trials differ only by
their loss weights.

Output directory (``DIR``):
  search.json        the search's fixed options (the base experiment, space, seed); a re-run with the
                     same options continues the search, other options are refused
  keras_tuner/       the tuner's own state (oracle.json, trial_*/trial.json): what makes it resumable
  trials/<id>/       one ``sdnet train`` run dir per trial (config.json, model.keras, summary.json)
  tuning.csv         one row per finished trial (rewritten atomically after each trial)
  best.json          the best trial: alpha, beta, sdl_weight, its validation error, trial id, the
                     full loss config and the base experiment (``train_options``); ``sdnet train
                     --from-tuning`` reads it
  tuning.png         validation error against alpha and beta (colour), w as marker size and label

Resuming: finished trials are never re-run; a trial that was interrupted continues from its
run's latest checkpoint; asking for more trials (``--trials``) extends the search.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import keras_tuner as kt
from matplotlib.figure import Figure

from eval.plots import save_figure
from pipeline.config import LossConfig, TrainConfig, from_dict
from pipeline.errors import SdnetError
from pipeline.experiment import bind_data, differences, experiment_from_dict, experiment_json, override
from pipeline.fsutil import atomic_write_text, write_json
from pipeline.rundir import RunDir, load_run_config
from pipeline.train import train
from pipeline.training.data import data_from_dir

OBJECTIVE = "val_mean_error_mm"
SEARCH_FILE = "search.json"
CSV_FILE = "tuning.csv"
BEST_FILE = "best.json"
PLOT_FILE = "tuning.png"
TUNER_DIR = "keras_tuner"
TRIALS_DIR = "trials"
CSV_COLUMNS = ("trial_id", "status", "sdl_weight", "alpha", "beta", "joint_loss", OBJECTIVE, "steps",
               "wall_seconds", "run_dir")
TUNED_NUMBERS = ("sdl_weight", "alpha", "beta")
TUNED = (*TUNED_NUMBERS, "joint_loss")
JOINT_READINGS = ("squared", "distance")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Log-uniform ranges of the tuned loss weights (w > 0: the baseline w = 0 is not on a log scale)
    and the joint-loss readings to choose from (one reading: fixed)."""

    w_min: float = 1e-3
    w_max: float = 1.0
    ab_min: float = 0.1
    ab_max: float = 10.0
    joint_losses: tuple = JOINT_READINGS

    def __post_init__(self) -> None:
        if not (0 < self.w_min < self.w_max and 0 < self.ab_min < self.ab_max):
            raise ValueError("search space: need 0 < min < max for w and for alpha/beta")
        object.__setattr__(self, "joint_losses", tuple(self.joint_losses))
        if not self.joint_losses or any(r not in JOINT_READINGS for r in self.joint_losses) or \
                len(set(self.joint_losses)) != len(self.joint_losses):
            raise ValueError(f"search space: joint losses must be distinct values of {JOINT_READINGS}, "
                             f"got {self.joint_losses}")

    def hyperparameters(self):
        hp = kt.HyperParameters()
        hp.Float("sdl_weight", self.w_min, self.w_max, sampling="log")
        hp.Float("alpha", self.ab_min, self.ab_max, sampling="log")
        hp.Float("beta", self.ab_min, self.ab_max, sampling="log")
        if len(self.joint_losses) > 1:
            hp.Choice("joint_loss", list(self.joint_losses))
        else:
            hp.Fixed("joint_loss", self.joint_losses[0])
        return hp


@dataclasses.dataclass(frozen=True)
class TuneOptions:
    """The fixed part of a search: the base experiment of every trial, the space, the seed.

    ``train``: the experiment each trial trains with its loss keys set (``trial_sets``), unbound (no
    ``source``). ``seed``: of the search (the command takes the experiment's seed).
    ``initial_points``: random trials before the Gaussian process is used.
    """

    train: TrainConfig
    space: SearchSpace = SearchSpace()
    seed: int = 0
    initial_points: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.train, TrainConfig):
            raise TypeError(f"TuneOptions.train: expected a TrainConfig, got {type(self.train).__name__}")

    def to_json(self) -> dict:
        return {"train": experiment_json(self.train), "space": dataclasses.asdict(self.space), "seed": self.seed,
                "initial_points": self.initial_points}


def trial_sets(values: dict) -> dict:
    """The experiment overrides of a trial's values: {'loss.sdl_weight': w, 'loss.alpha': ..., ...}."""
    return {f"loss.{k}": values[k] for k in TUNED}


def trial_config(options: TuneOptions, values: dict, data) -> TrainConfig:
    """The experiment of one trial, bound to ``data`` (a ``DataSource``); SdnetError when the data was
    not cut as the experiment says or a value is refused."""
    return bind_data(override(options.train, trial_sets(values), "trial"), data.manifest, data.data_dir)


class _Stop(kt.errors.FatalError):
    """Ends the search from inside a trial (keras-tuner re-raises FatalError subclasses); ``cause`` is
    the exception to raise once the search state is saved."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


class LossWeightTuner(kt.BayesianOptimization):
    """BayesianOptimization whose trials are ``pipeline.train.train`` runs in ``DIR/trials/<id>``."""

    def __init__(self, out: Path, data, options: TuneOptions, max_trials: int,
                 log: Callable[[str], None], train_log: Callable[[str], None] | None):
        self.out, self.data, self.options, self.log, self.train_log = out, data, options, log, train_log
        self.session_t0 = time.perf_counter()
        super().__init__(
            hypermodel=None, objective=kt.Objective(OBJECTIVE, direction="min"),
            max_trials=max_trials, num_initial_points=options.initial_points, seed=options.seed,
            hyperparameters=options.space.hyperparameters(), tune_new_entries=False,
            allow_new_entries=False, directory=str(out), project_name=TUNER_DIR, overwrite=False)

    def run_trial(self, trial, *args, **kwargs):
        try:
            summary = run_one_trial(self.out, self.data, self.options, trial.trial_id,
                                    {k: trial.hyperparameters.get(k) for k in TUNED}, self.train_log)
        except (SdnetError, KeyboardInterrupt) as e:
            raise _Stop(e) from None
        if "interrupted" in summary:
            raise _Stop(KeyboardInterrupt(f"trial {trial.trial_id} interrupted"))
        return {OBJECTIVE: float(summary[OBJECTIVE])}

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        values = {k: trial.hyperparameters.get(k) for k in TUNED}
        done = sum(1 for t in self.oracle.trials.values() if _ended(t))
        self.log(f"trial {trial.trial_id} ({done + 1} of {self.oracle.max_trials}): "
                 f"w={values['sdl_weight']:.4g}, alpha={values['alpha']:.4g}, beta={values['beta']:.4g}, "
                 f"joint loss {values['joint_loss']}")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # oracle.end_trial + save: the trial counts as finished
        rows = write_outputs(self.out, self.oracle, self.options)
        row = next((r for r in rows if r["trial_id"] == trial.trial_id), None)
        best = min((r for r in rows if r["status"] == "COMPLETED"), key=lambda r: r[OBJECTIVE], default=None)
        status = row["status"] if row else str(trial.status)
        result = f"{row[OBJECTIVE]:.3f} mm" if row and row["status"] == "COMPLETED" else status
        if status != "COMPLETED" and trial.message:
            self.log(f"trial {trial.trial_id} {status}: {trial.message.strip().splitlines()[-1]}")
        best_txt = f"best {best[OBJECTIVE]:.3f} mm (trial {best['trial_id']})" if best else "no best yet"
        self.log(f"trial {trial.trial_id} done: {result}; {best_txt}; "
                 f"{len(rows)} of {self.oracle.max_trials} trials finished, "
                 f"{time.perf_counter() - self.session_t0:.0f} s this session")


def _ended(trial) -> bool:
    return str(getattr(trial.status, "value", trial.status)) in ("COMPLETED", "FAILED", "INVALID")


def run_one_trial(out: Path, data, options: TuneOptions, trial_id: str, values: dict,
                  train_log: Callable[[str], None] | None = None) -> dict:
    """Train (or finish, or reuse) the run of one trial in ``out/trials/<id>``: the base experiment with
    the trial's loss ``values``; returns its summary."""
    run_dir = Path(out) / TRIALS_DIR / str(trial_id)
    summary_path = RunDir(run_dir).summary
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    cfg = trial_config(options, values, data)
    resumable = RunDir(run_dir).config.is_file() and RunDir(run_dir).checkpoints.is_dir()
    return train(cfg, data, run_dir, resume=resumable, force=not resumable, log=train_log, verbose=0)


def trial_rows(out: Path, oracle) -> list[dict]:
    """One row per finished trial (in start order): settings, status, objective, steps, time."""
    rows = []
    order = list(oracle.start_order) + [t for t in oracle.trials if t not in oracle.start_order]
    for trial_id in order:
        trial = oracle.trials[trial_id]
        if not _ended(trial):
            continue
        status = str(getattr(trial.status, "value", trial.status))
        row = {"trial_id": trial_id, "status": status,
               **{k: float(trial.hyperparameters.get(k)) for k in TUNED_NUMBERS},
               "joint_loss": str(trial.hyperparameters.get("joint_loss"))}
        value = trial.metrics.get_best_value(OBJECTIVE) if trial.metrics.exists(OBJECTIVE) else None
        row[OBJECTIVE] = float(value) if value is not None and status == "COMPLETED" else float("nan")
        run_dir = Path(out) / TRIALS_DIR / str(trial_id)
        summary = run_dir / "summary.json"
        s = json.loads(summary.read_text()) if summary.is_file() else {}
        row["steps"] = s.get("steps", "")
        row["wall_seconds"] = s.get("wall_seconds", "")
        row["run_dir"] = str(Path(TRIALS_DIR) / str(trial_id))
        rows.append(row)
    return rows


def rows_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def read_tuning_csv(path: Path) -> list[dict]:
    """The rows of a tuning.csv (numbers as floats)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in (*TUNED_NUMBERS, OBJECTIVE):
            r[k] = float(r[k])
    return rows


def best_record(out: Path, rows: list[dict], options: TuneOptions) -> dict | None:
    """best.json's content: the completed trial of lowest validation error (None when none)."""
    done = [r for r in rows if r["status"] == "COMPLETED" and math.isfinite(r[OBJECTIVE])]
    if not done:
        return None
    best = min(done, key=lambda r: r[OBJECTIVE])
    run_dir = Path(out) / best["run_dir"]
    loss = dataclasses.asdict(load_run_config(run_dir).loss)
    return {"sdl_weight": best["sdl_weight"], "alpha": best["alpha"], "beta": best["beta"],
            "joint_loss": best["joint_loss"], OBJECTIVE: best[OBJECTIVE], "trial_id": best["trial_id"], "run_dir": str(run_dir.resolve()),
            "loss": loss, "train_options": experiment_json(options.train), "trials_finished": len(rows),
            "trials_completed": len(done), "objective": f"{OBJECTIVE} (min)"}


def write_outputs(out: Path, oracle, options: TuneOptions) -> list[dict]:
    """Rewrite tuning.csv, best.json and tuning.png from the oracle's finished trials."""
    rows = trial_rows(out, oracle)
    atomic_write_text(Path(out) / CSV_FILE, rows_csv(rows))
    best = best_record(out, rows, options)
    if best is not None:
        write_json(Path(out) / BEST_FILE, best)
    write_tuning_plot(Path(out) / PLOT_FILE, rows, best, options.space)
    return rows


def plot_tuning(ax, rows: list[dict], best: dict | None = None, space: SearchSpace | None = None):
    """Validation error [mm] of each completed trial against alpha (x) and beta (y), log axes.

    Colour = error; marker area grows with log w and each point is labelled with its w; the best
    trial is ringed. Returns the scatter (for a colour bar), or None when nothing completed.
    """
    done = [r for r in rows if r["status"] == "COMPLETED" and math.isfinite(r[OBJECTIVE])]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("alpha (angle-term weight, log scale)")
    ax.set_ylabel("beta (bone-ratio-term weight, log scale)")
    ax.set_title(f"Loss-weight search, {len(done)} completed trials (size and label: w; "
                 "circle: squared, square: distance)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    if space is not None:  # the whole searched range, with a margin
        ax.set_xlim(space.ab_min / 1.3, space.ab_max * 1.3)
        ax.set_ylim(space.ab_min / 1.3, space.ab_max * 1.3)
    if not done:
        ax.text(0.5, 0.5, "no completed trial yet", transform=ax.transAxes, ha="center")
        return None
    a = [r["alpha"] for r in done]
    b = [r["beta"] for r in done]
    w = [r["sdl_weight"] for r in done]
    e = [r[OBJECTIVE] for r in done]
    sizes = [30 + 25 * (math.log(v) - math.log(1e-3)) for v in w]  # area grows with log w
    markers = {"squared": "o", "distance": "s"}
    lo, hi = min(e), max(e)
    sc = None
    for reading, marker in markers.items():
        idx = [i for i, r in enumerate(done) if r.get("joint_loss", "squared") == reading]
        if idx:
            sc = ax.scatter([a[i] for i in idx], [b[i] for i in idx], c=[e[i] for i in idx],
                            s=[sizes[i] for i in idx], marker=marker, cmap="viridis_r", vmin=lo, vmax=hi,
                            edgecolors="k", linewidths=0.5, label=f"joint loss: {reading}")
    for r in done:
        ax.annotate(f"w={r['sdl_weight']:.3g}", (r["alpha"], r["beta"]), textcoords="offset points",
                    xytext=(6, 6), fontsize=7)
    if best is not None:
        ax.scatter([best["alpha"]], [best["beta"]], s=400, facecolors="none", edgecolors="red",
                   linewidths=1.5, label=f"best: {best[OBJECTIVE]:.2f} mm (trial {best['trial_id']})")
        ax.legend(loc="best", fontsize="small")
    return sc


def write_tuning_plot(path: Path, rows: list[dict], best: dict | None, space: SearchSpace | None = None) -> Path:
    fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot()
    sc = plot_tuning(ax, rows, best, space)
    if sc is not None:
        bar = fig.colorbar(sc, ax=ax, label="validation mean error (mm)")
        bar.formatter.set_useOffset(False)
        bar.update_ticks()
    return save_figure(fig, path)


def _changed(saved: dict, want: dict) -> list[str]:
    """What differs between a saved search.json and the options of this command: top-level keys, with
    the experiment's dotted keys for ``train`` (``train.steps``, ``train.model.preset``)."""
    out = []
    for key in sorted(set(saved) | set(want)):
        if saved.get(key) == want.get(key):
            continue
        if key == "train":  # compared as experiments: keys a newer sdnet adds at their defaults are equal
            try:
                keys = [f"train.{k}" for k in differences(
                    experiment_from_dict(saved["train"], "search.json: train"), experiment_from_dict(want["train"]))]
            except (KeyError, TypeError, ValueError):
                keys = ["train"]  # an older search.json (flat training options): not comparable
            out += keys
        else:
            out.append(key)
    return out


def _saved_value(saved: dict, key: str):
    node = saved
    for name in key.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


def _check_search_dir(out: Path, options: TuneOptions, overwrite: bool) -> None:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SdnetError(f"{out}: exists and is not a directory")
    saved_path = out / SEARCH_FILE
    if overwrite and out.is_dir():
        if any(out.iterdir()) and not saved_path.is_file():
            raise SdnetError(f"{out}: not a tuning directory (no {SEARCH_FILE}); refusing to delete it")
        shutil.rmtree(out)
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text())
        want = json.loads(json.dumps(options.to_json()))
        diff = _changed(saved, want)
        if diff:
            was = ", ".join(f"{k}={json.dumps(_saved_value(saved, k))}" for k in diff[:6])
            raise SdnetError(f"{saved_path}: this search was started with other options ({was}"
                             f"{', ...' if len(diff) > 6 else ''}); use the same experiment and options to "
                             "continue it, or --overwrite to start a new search")
    elif out.is_dir() and any(out.iterdir()):
        raise SdnetError(f"{out}: not empty and not a tuning directory (no {SEARCH_FILE})")
    out.mkdir(parents=True, exist_ok=True)
    write_json(saved_path, options.to_json())


def tune(data_dir: Path, out: Path, trials: int, options: TuneOptions, overwrite: bool = False,
         log: Callable[[str], None] | None = None, quiet_training: bool = True) -> dict:
    """Run (or continue) the search until ``trials`` trials have finished; returns best.json's content.

    SdnetError for bad data or options (before any trial); KeyboardInterrupt when a trial was
    interrupted (its checkpoint is kept: the same command continues it).
    """
    log = log or (lambda msg: print(f"[tune] {msg}", file=sys.stderr, flush=True))
    if trials < 1:
        raise SdnetError(f"--trials must be >= 1, got {trials}")
    data = data_from_dir(Path(data_dir))
    # Validate the experiment and its data once, before the search starts.
    trial_config(options, {"sdl_weight": options.space.w_min, "alpha": options.space.ab_min,
                           "beta": options.space.ab_min, "joint_loss": options.space.joint_losses[0]}, data)
    if data.num_train < options.train.batch_size:
        raise SdnetError(f"{data_dir}: {data.num_train} training records, fewer than one batch")
    _check_search_dir(Path(out), options, overwrite)
    train_log = (lambda msg: None) if quiet_training else None
    try:
        tuner = LossWeightTuner(Path(out), data, options, trials, log, train_log)
    except (RuntimeError, KeyError, ValueError) as e:
        raise SdnetError(f"{Path(out) / TUNER_DIR}: cannot load the search state ({e})") from None
    finished = sum(1 for t in tuner.oracle.trials.values() if _ended(t))
    log(f"{finished} of {trials} trials finished; {max(0, trials - finished)} to run "
        f"(BayesianOptimization, seed {options.seed}, objective: validation mean error, mm)")
    try:
        tuner.search(verbose=0)
    except _Stop as e:
        write_outputs(Path(out), tuner.oracle, options)
        raise e.cause from None
    rows = write_outputs(Path(out), tuner.oracle, options)
    best = best_record(Path(out), rows, options)
    if best is None:
        raise SdnetError(f"{out}: no trial completed (see {Path(out) / CSV_FILE})")
    return best


# ---- sdnet train --from-tuning ------------------------------------------------------------------------

def read_best(path: Path) -> dict:
    """A best.json written by ``sdnet tune``; SdnetError when missing or malformed."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST_FILE
    if not path.is_file():
        raise SdnetError(f"{path}: no such file (expected the best.json of `sdnet tune`)")
    try:
        best = json.loads(path.read_text())
        loss = from_dict(LossConfig, dict(best["loss"]), where=f"{path}: loss")
        for k in TUNED_NUMBERS:
            if not math.isclose(float(best[k]), getattr(loss, k), rel_tol=1e-6):
                raise ValueError(f"{k} differs from loss.{k}")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise SdnetError(f"{path}: not a best.json of `sdnet tune` ({e})") from None
    return best


def tuned_sets(path: Path) -> dict:
    """The loss settings of a best.json as experiment overrides ({'loss.KEY': value})."""
    return {f"loss.{k}": v for k, v in read_best(path)["loss"].items() if k != "angle_thresholds_deg"}
