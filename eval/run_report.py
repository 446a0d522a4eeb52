"""The report of ``sdnet eval``, assembled from the files of a report directory and its run.

Every number on the page is read from a file: ``REPORT/metrics.json`` (per method: mean and per-joint
errors in mm, success curves), ``REPORT/settings.json`` (the run, the loss, the refinement and its
search table, runtimes, the test set as values: ``TestSet``, whose kind decides what the summary
says and whose sentence is made from those values, never read back), ``REPORT/per_frame_errors.csv``
(per test frame and method: mean and fingertip error in mm), ``REPORT/published.json`` (published
ICVL result files scored by ``eval.compare``, when given) and ``RUN/history.csv`` (learning curves).
The paper's numbers come from ``eval.compare`` (``PAPER_TABLE1_MM``, ``PAPER_RUNTIME_MS``).

Order, for a reader: the title names the run; the summary (our numbers, then the paper's Table 1
and the published methods on real ICVL, marked as such) comes first; then the figures, the
per-sequence view, the training curves; the settings last, as tables.
"""
from __future__ import annotations

import dataclasses
import enum
import itertools
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eval.compare import PAPER_REFINEMENT_GAIN_MM, PAPER_RUNTIME_MS, PAPER_TABLE1_MM, SOURCE_RECOMPUTED
from eval.learning import read_history, run_curves_figure, time_to_accuracy
from eval.metrics import success_at
from eval.plots import figure_name, plot_success_curve, save_figure, sequence_errors_figure
from eval.report import Section, Strong, Table, write_report
from pipeline.datasets import DEFAULT_DATASET, ICVL, Dataset, get_dataset
from pipeline.errors import SdnetError
from pipeline.runfiles import RunDir
from pipeline.skeleton import Skeleton
from pipeline.synth import MANIFEST as SYNTH_MANIFEST
from pipeline.synth import POSES_GENERATOR

PAPER_DATASET = ICVL.name  # the dataset of the paper's Table 1 (its numbers are shown beside runs on it only)
CNN = "SDNet CNN"
REFINED = "SDNet CNN + refinement"
PER_FRAME_FILE = "per_frame_errors.csv"
PUBLISHED_FILE = "published.json"
SEQUENCE_FIGURE = "per_sequence.png"
CURVES_FIGURE = "learning_curve.png"

# Column names of the summary tables (the test reads them back), and their number formats.
MEAN, TIPS, MAX20, MAX40, FRAMES, SOURCE = ("mean error (mm)", "fingertips (mm)", "max-frame <= 20 mm (%)",
                                            "max-frame <= 40 mm (%)", "frames", "source")
# Pose plausibility (eval.metrics.plausibility): |L_pred - L_true| of the bones, the sd of each bone's
# length within a test sequence, the second difference of the joints over frames.
BONE_ERR, BONE_SD, JITTER = "bone length error (mm)", "bone length sd (mm)", "jitter (mm)"
PLAUSIBILITY_COLUMNS = {BONE_ERR: "bone_length_error_mm", BONE_SD: "bone_length_sd_mm", JITTER: "jitter_mm"}
# Share of frames whose predicted palm faces the camera's side as labelled (a mirrored hand does not).
PALM_SIDE = "palm side as labelled (%)"
PAPER_SOURCE = "paper, Table 1"
RECOMPUTED_SOURCE = "result file, recomputed"
COMPARISON_FIGURE = "success_max_frame_published.png"
SUMMARY_FORMATS = {MEAN: ".2f", TIPS: ".2f", MAX20: ".1f", MAX40: ".1f", BONE_ERR: ".2f", BONE_SD: ".2f",
                   JITTER: ".2f", PALM_SIDE: ".1f"}
FIGURE_CAPTIONS = {
    "per_joint": "Mean error per joint (paper Fig. 4)",
    "max_frame": "Frames with every joint within the threshold (paper Fig. 5)",
    "examples": "Best, median and worst test frames (paper Fig. 6): ground truth thick, prediction dashed",
    "mean_frame": "Frames whose mean joint error is within the threshold",
    "joint": "Joints within the threshold",
}


# ----------------------------------------------------------------------------- pure pieces

def fingertip_error(summary: Mapping, skeleton: Skeleton) -> float:
    """Mean error over the fingertips (mm) from a ``summarize`` result's per-joint means."""
    per_joint = np.asarray(summary["per_joint_mm"], dtype=np.float64)  # (J,)
    return float(per_joint[list(skeleton.fingertips)].mean())


def summary_rows(metrics: Mapping[str, Mapping], skeleton: Skeleton) -> list[dict]:
    """One row per method, in ``metrics`` order: mean and fingertip error (mm), max-frame success
    at 20 and 40 mm (%), the pose plausibility (mm), the palm side as labelled (%), frames."""
    return [{"method": name, MEAN: m["mean_error_mm"], TIPS: fingertip_error(m, skeleton),
             MAX20: 100.0 * success_at(m, "max_frame", 20.0), MAX40: 100.0 * success_at(m, "max_frame", 40.0),
             **{col: m.get(key) for col, key in PLAUSIBILITY_COLUMNS.items()},
             PALM_SIDE: 100.0 * m["palm_side_agreement"], FRAMES: m["frames"], SOURCE: "this run"}
            for name, m in metrics.items()]


def ground_truth_plausibility(metrics: Mapping[str, Mapping]) -> str | None:
    """The sentence giving the ground truth's own bone-length sd and jitter (annotation noise and real
    motion, the floor to read the plausibility columns against), or None when unknown."""
    m = next(iter(metrics.values()), {})
    if m.get("gt_bone_length_sd_mm") is None:
        return None
    jitter = "-" if m.get("gt_jitter_mm") is None else f"{m['gt_jitter_mm']:.2f}"
    return (f"The ground truth's own bone length sd is {m['gt_bone_length_sd_mm']:.2f} mm and its jitter "
            f"{jitter} mm (annotation noise and real motion): read the plausibility columns against these.")


def report_dataset(settings: Mapping) -> Dataset:
    """The registered dataset of an evaluation (settings.json's ``dataset``; reports written before sdnet
    recorded it were all of the registry's default dataset)."""
    return get_dataset(settings.get("dataset", DEFAULT_DATASET))


def paper_rows(published: Mapping | None, run_w: float | None = None, paper: bool = True) -> list[dict]:
    """The paper's Table 1 (reported; with ``paper``) and, when given, the published result files
    recomputed on the real test labels (``eval.compare.score_published``), sorted by mean error (mm).
    The paper's row with this run's skeleton-difference weight ``run_w`` says so."""
    rows = []
    for w, mm in (PAPER_TABLE1_MM.items() if paper else ()):
        name = f"SDNet (paper), w = {w:g}" + (", baseline" if w == 0 else "")
        rows.append({"method": name + (" [this run's w]" if run_w is not None and w == run_w else ""),
                     MEAN: mm, TIPS: None, MAX20: None, MAX40: None, **dict.fromkeys(PLAUSIBILITY_COLUMNS),
                     FRAMES: None, SOURCE: PAPER_SOURCE})
    if published:
        for r in published["rows"]:
            if r["source"] != SOURCE_RECOMPUTED:
                continue
            rows.append({"method": r["method"], MEAN: r["mean_error_mm"], TIPS: r["fingertip_mm"],
                         MAX20: r["max_frame_le_20mm_pct"], MAX40: r["max_frame_le_40mm_pct"],
                         **{col: r.get(key) for col, key in PLAUSIBILITY_COLUMNS.items()},
                         FRAMES: r["frames"], SOURCE: RECOMPUTED_SOURCE})
    return sorted(rows, key=lambda r: r[MEAN])


def sequence_rows(per_frame: pd.DataFrame, methods: Sequence[str]) -> list[dict]:
    """Per test sequence: frames, and each method's mean and fingertip error over its frames (mm)."""
    rows = []
    for seq, df in per_frame.groupby("sequence", sort=True):
        row = {"sequence": str(seq), FRAMES: len(df)}
        for m in methods:
            row[f"{m}: mean (mm)"] = float(df[mean_column(m)].mean())
        for m in methods:
            row[f"{m}: fingertips (mm)"] = float(df[tips_column(m)].mean())
        rows.append(row)
    return rows


def mean_column(method: str) -> str:
    """Column of ``per_frame_errors.csv`` holding a method's per-frame mean joint error (mm)."""
    return f"mean_mm[{method}]"


def tips_column(method: str) -> str:
    """Column of ``per_frame_errors.csv`` holding a method's per-frame fingertip error (mm)."""
    return f"tips_mm[{method}]"


def per_frame_table(sequence, frame, errors: Mapping[str, np.ndarray],
                    skeleton: Skeleton) -> pd.DataFrame:
    """``per_frame_errors.csv`` as a DataFrame: sequence, frame index, and per method its mean and
    fingertip error of each frame, from joint errors {method: (N, J) mm}."""
    tips = list(skeleton.fingertips)
    df = pd.DataFrame({"sequence": np.asarray(sequence).astype(str), "frame": np.asarray(frame).astype(int)})
    for name, e in errors.items():
        e = np.asarray(e, dtype=np.float64)  # (N, J) mm
        df[mean_column(name)] = e.mean(axis=1)
        df[tips_column(name)] = e[:, tips].mean(axis=1)
    return df


def grid_table(search: Sequence[Mapping], grid: Mapping[str, Sequence], chosen: Mapping) -> list[dict]:
    """The refinement search as a table: one row per value pair of the first two grid keys, one
    column per combination of the others; cells are the validation mean error (mm), the chosen
    setting in bold (``eval.report.Strong``)."""
    keys = list(grid)
    row_keys, col_keys = keys[:2], keys[2:]
    lookup = {tuple(float(r[k]) for k in keys): r["mean_error_mm"] for r in search}
    chosen_key = tuple(float(chosen[k]) for k in keys) if all(k in chosen for k in keys) else None
    rows = []
    for row_vals in itertools.product(*(grid[k] for k in row_keys)):
        row = {k: v for k, v in zip(row_keys, row_vals)}
        for col_vals in itertools.product(*(grid[k] for k in col_keys)):
            label = ", ".join(f"{k} {v:g}" for k, v in zip(col_keys, col_vals)) or "mean error (mm)"
            key = tuple(float(v) for v in (*row_vals, *col_vals))
            value = lookup.get(key)
            row[label] = Strong(value) if key == chosen_key and value is not None else value
        rows.append(row)
    return rows


def grid_formats(grid: Mapping[str, Sequence]) -> dict[str, str]:
    """Number formats of ``grid_table``: grid values as written (``g``), errors with 3 decimals."""
    return {k: "g" for k in list(grid)[:2]}


class TestSetKind(str, enum.Enum):
    """What a data dir's test split is, from the facts of its source tree (the manifest's
    ``source_root`` and that tree's ``synth.json``); settings.json records it as ``test_set_kind``."""

    __test__ = False  # not a pytest test class

    SPLIT = "split"  # no source tree recorded: the data dir's test split, of unknown origin
    SYNTHETIC = "synthetic"  # the test sequences of an ``sdnet synth`` tree
    RENDERED_POSES = "rendered_icvl_poses"  # ICVL's test poses rendered by ``sdnet synth --poses``
    REAL_ICVL = "real_icvl"  # a tree without synth.json: ICVL's own depth images


@dataclasses.dataclass(frozen=True)
class TestSet:
    """The test set of an evaluation as values; its sentence (``describe``) is made from them and
    never read back. ``source``: the source tree; ``sensor_profile``: the synthetic frames' sensor."""

    __test__ = False  # not a pytest test class

    kind: TestSetKind
    source: str | None = None
    sensor_profile: str = "default"
    dataset: str = DEFAULT_DATASET  # the registry name of the data's dataset (older reports: the default's)

    @classmethod
    def from_source(cls, source_root: str | None, dataset: str = DEFAULT_DATASET) -> "TestSet":
        """From the data's source tree: its synth.json (``sdnet synth``) or, without one, a real tree of
        ``dataset`` (the kind ``REAL_ICVL``: the dataset's own depth images)."""
        if not source_root:
            return cls(TestSetKind.SPLIT, dataset=dataset)
        path = Path(source_root) / SYNTH_MANIFEST
        if not path.is_file():
            return cls(TestSetKind.REAL_ICVL, str(source_root), dataset=dataset)
        meta = json.loads(path.read_text())
        profile = meta.get("sensor_profile") or meta.get("config", {}).get("sensor_profile") or "default"
        kind = TestSetKind.RENDERED_POSES if meta.get("generator") == POSES_GENERATOR else TestSetKind.SYNTHETIC
        return cls(kind, str(source_root), profile, dataset)

    @classmethod
    def from_settings(cls, settings: Mapping) -> "TestSet":
        """From settings.json's values (``settings_fields``), never from the sentence; SdnetError when
        they are missing (a report of another sdnet: evaluate again)."""
        if settings.get("test_set_kind") not in {k.value for k in TestSetKind}:
            raise SdnetError(f"settings.json: no valid test_set_kind ({settings.get('test_set_kind')!r}); "
                             "run sdnet eval again")
        return cls(TestSetKind(settings["test_set_kind"]), settings.get("source"),
                   settings.get("test_set_sensor_profile") or "default", report_dataset(settings).name)

    def describe(self) -> str:
        """The test set in words, e.g. 'the synthetic test sequences (sdnet synth)'."""
        sensor = "" if self.sensor_profile == "default" else f", sensor profile '{self.sensor_profile}'"
        if self.kind is TestSetKind.SPLIT:
            return "the test split"
        if self.kind is TestSetKind.REAL_ICVL:
            return f"the test sequences of the {self.dataset.upper()} tree {self.source}"
        if self.kind is TestSetKind.RENDERED_POSES:
            return f"the real ICVL test poses rendered by sdnet synth --poses (synthetic depth images{sensor})"
        return f"the synthetic test sequences (sdnet synth{sensor})"

    def settings_fields(self) -> dict:
        """settings.json's entries: the sentence for a reader, and the values the report reads."""
        return {"test set": self.describe(), "test_set_kind": self.kind.value,
                "test_set_sensor_profile": self.sensor_profile}


# What the summary says of setting our numbers beside the real ICVL ones, per kind of test set (none
# on real ICVL: the tables are on the same images).
_OTHER_IMAGES_NOTE = ("The second table is on {name}'s real depth images, ours on other images: set the numbers "
                      "side by side for their order of magnitude, not as a ranking.")  # {name}: the dataset
COMPARISON_NOTES = {
    TestSetKind.RENDERED_POSES: "Both tables score ICVL's test poses, ours on synthetic renderings of them (hand "
                                "shapes centred on bone lengths measured on these test labels), the second on "
                                "ICVL's real depth images: set the numbers side by side for their order of "
                                "magnitude, not as a ranking.",
    TestSetKind.SYNTHETIC: _OTHER_IMAGES_NOTE,
    TestSetKind.SPLIT: _OTHER_IMAGES_NOTE,
}


def run_title(settings: Mapping) -> str:
    """'SDNet <run>: <preset> preset, w = ..., N steps, trained <date>' from settings.json."""
    loss = settings.get("loss") or {}
    w = loss.get("sdl_weight")
    if w is None:
        weights = "loss weights unknown"
    elif w == 0:
        weights = "w = 0 (joint loss only)"
    else:
        weights = f"w = {w:g}, alpha = {loss.get('alpha', 1.0):g}, beta = {loss.get('beta', 1.0):g}"
    if loss.get("joint_loss"):
        weights += f", {loss['joint_loss']} joint loss"
    steps = settings.get("steps")
    parts = [f"{settings.get('preset') or '?'} preset", weights,
             f"{steps:,} steps" if isinstance(steps, int) else "steps unknown"]
    if settings.get("trained"):
        parts.append(f"trained {settings['trained']}")
    return f"SDNet {Path(settings.get('run', 'run')).name}: " + ", ".join(parts)


def lead_paragraphs(metrics: Mapping, settings: Mapping, published: Mapping | None) -> list[str]:
    """The summary's sentences, generated from the numbers."""
    tested = TestSet.from_settings(settings)
    test_set = tested.describe()
    frames = next(iter(metrics.values()))["frames"]
    ds = report_dataset(settings)
    sk = ds.skeleton
    out = []
    if CNN in metrics and REFINED in metrics:
        cnn, ref = metrics[CNN]["mean_error_mm"], metrics[REFINED]["mean_error_mm"]
        lo, hi = PAPER_REFINEMENT_GAIN_MM
        paper_gain = f"; the paper reports a gain of {lo:g} to {hi:g} mm" if ds.name == PAPER_DATASET else ""
        out.append(f"On {frames} frames of {test_set}: {cnn:.2f} mm from the CNN, {ref:.2f} mm after the "
                   f"refinement ({ref - cnn:+.2f} mm{paper_gain}); "
                   f"fingertips {fingertip_error(metrics[CNN], sk):.2f} -> {fingertip_error(metrics[REFINED], sk):.2f} mm. "
                   "The refinement weights were chosen on the validation split.")
    elif CNN in metrics:
        out.append(f"On {frames} frames of {test_set}: {metrics[CNN]['mean_error_mm']:.2f} mm from the CNN "
                   "(refinement off).")
    w = (settings.get("loss") or {}).get("sdl_weight")
    paper = (f"The paper reports {PAPER_TABLE1_MM[0.5]:.2f} mm for SDNet (w = 0.5) and "
             f"{PAPER_TABLE1_MM[0.0]:.2f} mm for its baseline CNN on real ICVL")
    if w in PAPER_TABLE1_MM:
        paper += f"; its row with this run's w = {w:g}: {PAPER_TABLE1_MM[w]:.2f} mm"
    if ds.name == PAPER_DATASET:
        out.append(paper + ".")
    note = COMPARISON_NOTES.get(tested.kind)
    if note and (ds.name == PAPER_DATASET or published):  # a second table to set ours beside
        out.append(note.format(name=ds.name.upper()))
    if published is None:
        out.append(f"Published methods: give sdnet eval --published DIR (the real {ds.name.upper()} test labels and "
                   "published result files in DIR/published/) to score them on this page.")
    return out


def _date(path: Path) -> str | None:
    return (datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d")
            if path.is_file() else None)


def run_date(run_dir: Path) -> str | None:
    """The day (UTC) training finished: the time of RUN/summary.json, else of RUN/model.keras."""
    for path in (RunDir(run_dir).summary, RunDir(run_dir).model):
        d = _date(path)
        if d:
            return d
    return None


def _published_where(published: Mapping | None) -> str:
    """'real ICVL' / 'real NYU': where published.json's files were scored (its ``dataset``; older files:
    the registry's default dataset's)."""
    return f"real {str((published or {}).get('dataset', DEFAULT_DATASET)).upper()}"


def _comparison_caption(test_set: str, published: Mapping | None = None) -> str:
    return (f"Frames with every joint within the threshold (paper Fig. 5): this run on {test_set} (solid) "
            f"and the published methods on {_published_where(published)} (dashed)")


def comparison_figure(metrics: Mapping[str, Mapping], published: Mapping, curve: str = "max_frame"):
    """A success-curve figure of this run's methods (solid) and the published methods recomputed on
    their real test set (dashed, named '... (real ICVL)' or '... (real NYU)')."""
    both = dict(metrics)
    styles = {}
    where = _published_where(published)
    for name, m in published["metrics"].items():
        both[f"{name} ({where})"] = m
        styles[f"{name} ({where})"] = "--"
    fig = Figure(figsize=(8.5, 5.2))
    plot_success_curve(fig.add_subplot(), both, curve, linestyles=styles)
    return fig


# ----------------------------------------------------------------------------- sections

def _figure_path(report_dir: Path, name: str) -> Path | None:
    file = "examples.png" if name == "examples" else figure_name(name)
    path = report_dir / file
    return path if path.is_file() else None


def _refinement_tables(refinement) -> list:
    if not isinstance(refinement, Mapping):
        return [Table("Refinement", [{"setting": "refinement", "value": str(refinement)}], compact=True)]
    config = dict(refinement.get("config", {}))
    rows = [{"setting": k, "value": v} for k, v in config.items()]
    rows += [{"setting": "validation error without / with (mm)",
              "value": f"{refinement.get('val_unrefined_mm', float('nan')):.3f} / "
                       f"{refinement.get('val_refined_mm', float('nan')):.3f}"},
             {"setting": "note", "value": refinement.get("note", "")}]
    tables = [Table("Refinement (weights chosen on the validation split)", rows, compact=True)]
    if refinement.get("table") and refinement.get("grid"):
        tables.append(Table("Refinement search: validation mean error (mm) over the grid",
                            grid_table(refinement["table"], refinement["grid"], config),
                            grid_formats(refinement["grid"]), id="refine-grid",
                            note="Bold: the setting chosen (lowest validation error). Rows: the first two grid "
                                 "keys; columns: the combinations of the others."))
    return tables


def _runtime_rows(runtime: Mapping) -> list[dict]:
    rows = [{"stage": "CNN (ms/frame)", "this machine": runtime.get("cnn_ms_per_frame"),
             "paper, GTX 980": PAPER_RUNTIME_MS["cnn"]}]
    if "refine_ms_per_frame" in runtime:
        rows.append({"stage": "refinement (ms/frame)", "this machine": runtime["refine_ms_per_frame"],
                     "paper, GTX 980": PAPER_RUNTIME_MS["refinement"]})
    if "refine_setup_s" in runtime:
        rows.append({"stage": "refinement set-up: prior, weights (s)", "this machine": runtime["refine_setup_s"],
                     "paper, GTX 980": None})
    return rows


def settings_section(settings: Mapping):
    """The last section: the run, the loss, the camera, the runtimes and the refinement, as tables."""
    run_keys = ("run", "data", "source", "test set", "test_set_kind", "test frames", "preset", "steps", "trained",
                "evaluated")
    run_rows = [{"setting": k, "value": settings[k]} for k in run_keys if k in settings]
    loss = [{"setting": k, "value": v} for k, v in (settings.get("loss") or {}).items()]
    intr = [{"setting": k, "value": v} for k, v in (settings.get("eval intrinsics") or {}).items()]
    tables = [Table("Run", run_rows, compact=True), Table("Loss", loss, compact=True),
              Table("Camera for uvd -> xyz", intr, compact=True)]
    runtime = settings.get("runtime (ms/frame, this machine)") or {}
    if runtime:
        tables.append(Table("Runtime", _runtime_rows(runtime), compact=True))
    tables += _refinement_tables(settings.get("refinement", "off"))
    return Section("Settings", tables=tables, id="settings")


def build_sections(report_dir: Path, metrics: Mapping, settings: Mapping, published: Mapping | None,
                   per_frame: pd.DataFrame | None, history: pd.DataFrame | None,
                   figures: Mapping[str, Path]) -> list:
    """The report's sections in reading order (see the module docstring)."""
    tested = TestSet.from_settings(settings)
    test_set = tested.describe()
    where = f"real {tested.dataset.upper()}" if tested.kind is TestSetKind.REAL_ICVL else "our test set"
    ds = report_dataset(settings)
    ours = Table(f"This run, {where}: {test_set}", summary_rows(metrics, ds.skeleton), SUMMARY_FORMATS, id="summary",
                 css_class="summary", note=ground_truth_plausibility(metrics) or "")
    gt_note = ""
    if published:
        labels = ", ".join(Path(p).name for p in published["ground_truth"])
        intr = published["intrinsics"]
        gt_note = (f"Recomputed rows: the published result files scored against {labels} "
                   f"({published['frames']} frames) with the {ds.scoring_camera_name} intrinsics "
                   f"(fx {intr['fx']:g}, fy {intr['fy']:g}), as sdnet compare does.")
    run_w = (settings.get("loss") or {}).get("sdl_weight")
    if ds.name == PAPER_DATASET:
        paper = Table(f"Real {ds.name.upper()} test set ({ds.name.upper()}'s depth images): the paper's Table 1 and published methods",
                      paper_rows(published, run_w), SUMMARY_FORMATS, id="paper", note=gt_note, css_class="summary")
    else:
        paper = Table(f"Real {ds.name.upper()} test set: published methods", paper_rows(published, paper=False),
                      SUMMARY_FORMATS, id="paper", note=gt_note, css_class="summary")
    tables = [ours, paper] if (ds.name == PAPER_DATASET or published) else [ours]
    sections = [Section("Summary", lead_paragraphs(metrics, settings, published), tables, id="summary-section")]

    keys = ("per_joint", "comparison" if "comparison" in figures else "max_frame", "examples")
    result_figs = [(FIGURE_CAPTIONS.get(k) or _comparison_caption(test_set, published), figures[k]) for k in keys if k in figures]
    sections.append(Section("Results", figures=result_figs, id="results"))

    if per_frame is not None and "sequence" in figures:
        methods = [m for m in metrics if mean_column(m) in per_frame]
        sections.append(Section(
            "Per sequence, over time",
            ["The temporal fingertip term of the refinement acts along each sequence: the mean joint error "
             "of every frame against its index, and each sequence's means."],
            [Table("Mean error per test sequence (mm)", sequence_rows(per_frame, methods),
                   {c: ".2f" for m in methods for c in (f"{m}: mean (mm)", f"{m}: fingertips (mm)")},
                   id="sequences")],
            [("Mean joint error of each frame against its index, per test sequence", figures["sequence"])],
            id="sequences-section"))

    if history is not None and "curves" in figures:
        tta = [{"validation error (mm)": f"<= {t:g}", "minutes": v["minutes"], "step": v["step"]}
               for t, v in time_to_accuracy(history).items()]
        last = history.iloc[-1]
        sections.append(Section(
            "Training",
            [f"{int(last['step']):,} steps in {float(last['minutes']):.1f} minutes; last validation error "
             f"{float(last['val_mean_error_mm']):.2f} mm, best {float(history['val_mean_error_mm'].min()):.2f} mm "
             "(validation split, CNN alone)."],
            [Table("Training time to reach a validation error", tta, {"minutes": ".1f"}, id="time-to-accuracy")],
            [("Learning curves of the run: error (mm) and loss terms against steps and minutes", figures["curves"])],
            id="training"))

    more = [(FIGURE_CAPTIONS[k], figures[k]) for k in ("mean_frame", "joint") if k in figures]
    if more:
        sections.append(Section("More success curves", figures=more, id="more", figure_columns=2))
    sections.append(settings_section(settings))
    return sections


# ----------------------------------------------------------------------------- files

def read_json(path: Path):
    path = Path(path)
    if not path.is_file():
        raise SdnetError(f"{path}: not found (run sdnet eval first)")
    return json.loads(path.read_text())


def read_per_frame(report_dir: Path) -> pd.DataFrame | None:
    path = Path(report_dir) / PER_FRAME_FILE
    return pd.read_csv(path, dtype={"sequence": str}) if path.is_file() else None


def write_run_report(report_dir: Path, run_dir: Path | None = None) -> dict[str, Path]:
    """Draw the figures that come from the files (per sequence, learning curves) and write
    ``report.md`` and ``report.html`` into ``report_dir``. ``run_dir`` defaults to settings' run."""
    report_dir = Path(report_dir)
    metrics = read_json(report_dir / "metrics.json")
    settings = read_json(report_dir / "settings.json")
    published_path = report_dir / PUBLISHED_FILE
    published = read_json(published_path) if published_path.is_file() else None
    run_dir = Path(run_dir or settings.get("run", ""))

    figures = {k: p for k in FIGURE_CAPTIONS if (p := _figure_path(report_dir, k)) is not None}
    per_frame = read_per_frame(report_dir)
    if per_frame is not None:
        methods = [m for m in metrics if mean_column(m) in per_frame]
        seqs = {str(s): (df["frame"].to_numpy(), {m: df[mean_column(m)].to_numpy() for m in methods})
                for s, df in per_frame.groupby("sequence", sort=True)}
        figures["sequence"] = save_figure(sequence_errors_figure(seqs), report_dir / SEQUENCE_FIGURE)
    if published is not None and "max_frame" in figures:
        figures["comparison"] = save_figure(comparison_figure(metrics, published), report_dir / COMPARISON_FIGURE)
    try:
        history = read_history(run_dir)
    except ValueError:
        history = None
    if history is not None:
        figures["curves"] = save_figure(run_curves_figure(run_dir.name, history), report_dir / CURVES_FIGURE)

    sections = build_sections(report_dir, metrics, settings, published, per_frame, history, figures)
    subtitle = (f"Evaluated {settings.get('evaluated', '?')} on {TestSet.from_settings(settings).describe()}: "
                f"{settings.get('test frames', '?')} frames, data {settings.get('data', '?')}.")
    return write_report(report_dir, run_title(settings), sections, subtitle)
