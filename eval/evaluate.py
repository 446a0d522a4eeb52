"""``sdnet eval``: predict the test split, refine, score, plot and report.

Everything is computed from the run dir (model, config, and for the refinement prior.json and refine.json,
written by ``sdnet fit-refine``) and the data dir's test split; the run is only read, never written.
Outputs (in REPORT, written to a temporary directory and renamed when complete):
  predictions_uvd.txt          the standard result format (refined when the refinement is on)
  predictions_uvd_cnn.txt      the CNN alone
  metrics.json                 per method: mean_error_mm, per_joint_mm, frames, success curves, per_sequence
                               (per test sequence of the data's ``sequence`` field: ICVL's sequences,
                               NYU's subjects)
  settings.json                the run, loss, refinement and runtimes; the test set as values
                               (test_set_kind: eval.run_report.TestSetKind, which the report reads) and in words
  per_joint.png, success_{max_frame,mean_frame,joint}.png, examples.png
  per_frame_errors.csv         per test frame (sequence, frame index) and method: mean and fingertip error (mm)
  published.json               with --published: the published result files of the run's dataset (ICVL or
                               NYU) scored on the real labels as ``sdnet compare --dataset`` does
  learning_curve.png           the run's errors and loss terms against steps and minutes (from history.csv)
  per_sequence.png             the mean error of every test frame against its index, per sequence
  report.md, report.html       summary (ours beside the paper and the published methods), figures,
                               settings last (eval.run_report; every number read from these files)
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from eval.compare import find_published, ground_truth_names, score_published
from eval.learning import read_history, time_to_accuracy
from eval.metrics import (fingertip_mean_error, frame_mean_errors, joint_errors, select_example_frames,
                          sequence_errors, success_at, summarize)
from eval.plots import save_figure, write_metric_figures
from eval.report import pose_examples_figure
from eval.results_io import read_results, write_results
from eval.run_report import (CNN, PER_FRAME_FILE, PUBLISHED_FILE, REFINED, TestSet, per_frame_table, run_date,
                             write_run_report)
from eval.tables import text_table
from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.config import to_dict
from pipeline.datasets import DATASETS, Dataset
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_output_dir, atomic_write_text, check_output_dir, write_json
from pipeline.inference import load_depth_frames, predict_split, refine_split
from pipeline.input import check_manifest, read_manifest
from pipeline.rundir import (load_model, load_refinement, load_run_config, read_refine_record, read_summary,
                             run_dataset)


def metric_rows(metrics: dict, tips: dict) -> list[dict]:
    """Table rows sorted by mean error: mean, fingertip, max-frame success at 20 and 40 mm, and the pose
    plausibility (``eval.metrics.plausibility``)."""
    rows = []
    for name, m in sorted(metrics.items(), key=lambda kv: kv[1]["mean_error_mm"]):
        rows.append({"method": name, "mean error (mm)": m["mean_error_mm"],
                     "fingertips (mm)": tips[name],
                     "max-frame <= 20 mm (%)": 100 * success_at(m, "max_frame", 20),
                     "max-frame <= 40 mm (%)": 100 * success_at(m, "max_frame", 40),
                     "bone length error (mm)": m["bone_length_error_mm"],
                     "bone length sd (mm)": m["bone_length_sd_mm"], "jitter (mm)": m["jitter_mm"],
                     "frames": m["frames"]})
    return rows


def run_eval(run_dir: Path, data_dir: Path, out: Path, refine: bool = True,
             compare: list[tuple[str, Path]] = (), eval_intr: Intrinsics | None = None,
             overwrite: bool = False, batch_size: int = 64, published_dir: Path | None = None,
             dataset: str | None = None) -> dict:
    """Evaluate ``run_dir`` on the test split of ``data_dir`` into ``out``; returns metrics.json.

    The skeleton and the dataset are the run's (``rundir.run_dataset``); ``dataset`` (a registry name,
    ``sdnet eval --dataset``), when given, must be it, and so must the data's. Per-sequence errors group
    the test records by their ``sequence`` field (ICVL: the test sequences; NYU: the subjects).
    ``published_dir``: a folder with the real test labels and published result files of the run's
    dataset (e.g. the shared ICVL or NYU folder); they are scored as ``sdnet compare --dataset`` does
    and shown beside the run (and, for ICVL, the paper's numbers).
    """
    check_output_dir(Path(out), overwrite)
    run_cfg = load_run_config(run_dir)
    ds = run_dataset(run_cfg)
    if dataset is not None and dataset != ds.name:
        raise SdnetError(f"--dataset {dataset}: the run {run_dir} was trained on {ds.name}")
    manifest = read_manifest(data_dir)
    data_ds = check_manifest(manifest, crop_size=run_cfg.data.crop_size, where=str(data_dir))
    if data_ds.name != ds.name:
        raise SdnetError(f"{data_dir}: data of the dataset {data_ds.name}, but the run was trained on {ds.name}")
    sk = ds.skeleton
    data_intr = Intrinsics.from_dict(manifest["intrinsics"])
    eval_intr = eval_intr or data_intr
    prior, cfg = load_refinement(run_dir) if refine else (None, None)
    model = load_model(run_dir)
    others = [(name, read_results(path, expected_frames=manifest["counts"]["test"], num_joints=sk.num_joints))
              for name, path in compare]  # validate before the slow part
    published = load_published(published_dir, ds) if published_dir is not None else None

    preds = predict_split(model, data_dir, "test", data_intr, sk, batch_size, keep_crops=True)
    variants = {CNN: preds.pred_uvd}
    runtime = {"cnn_ms_per_frame": preds.cnn_ms_per_frame}
    settings_refine = "off"
    if refine:
        depth = load_depth_frames(manifest, "test", preds.path, data_intr, ds)
        variants[REFINED], runtime["refine_ms_per_frame"] = refine_split(preds, depth, data_intr, prior, cfg, sk)
        settings_refine = read_refine_record(run_dir)
    for name, uvd in others:
        variants[name] = uvd

    gt_xyz = uvd_to_xyz(preds.gt_uvd, eval_intr)
    pred_xyz = {n: uvd_to_xyz(u, eval_intr) for n, u in variants.items()}
    metrics = {n: {**summarize(x, gt_xyz, skeleton=sk, sequences=preds.sequence),
                   "per_sequence": sequence_errors(x, gt_xyz, preds.sequence)} for n, x in pred_xyz.items()}
    tips = {n: fingertip_mean_error(x, gt_xyz, sk) for n, x in pred_xyz.items()}
    per_frame = per_frame_table(preds.sequence, preds.frame, {n: joint_errors(x, gt_xyz) for n, x in pred_xyz.items()},
                                sk)
    rows = metric_rows(metrics, tips)
    best_name = REFINED if refine else CNN
    with atomic_output_dir(Path(out), overwrite) as tmp:
        write_results(tmp / "predictions_uvd.txt", variants[best_name], sk.num_joints)
        write_results(tmp / "predictions_uvd_cnn.txt", preds.pred_uvd, sk.num_joints)
        write_json(tmp / "metrics.json", metrics)
        atomic_write_text(tmp / PER_FRAME_FILE, per_frame.to_csv(index=False, float_format="%.4f"))
        if published is not None:
            write_json(tmp / PUBLISHED_FILE, published)
        write_metric_figures(tmp, metrics, sk)
        _examples_figure(preds, variants[best_name], eval_intr, tmp / "examples.png", sk)
        source = manifest.get("source_root")
        settings = {
            "run": str(Path(run_dir).resolve()), "data": str(Path(data_dir).resolve()), "dataset": ds.name,
            "source": source, **TestSet.from_source(source, ds.name).settings_fields(), "test frames": len(preds),
            "preset": run_cfg.model.preset,
            "loss": to_dict(run_cfg.loss), "steps": (read_summary(run_dir) or {}).get("steps"),
            "trained": run_date(run_dir), "evaluated": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "eval intrinsics": eval_intr.to_dict(), "refinement": settings_refine,
            "runtime (ms/frame, this machine)": runtime,
        }
        tta = _time_to_accuracy(run_dir)
        if tta is not None:
            settings["time to accuracy (validation)"] = tta
        write_json(tmp / "settings.json", settings)
        write_run_report(tmp, run_dir)
    print(text_table(rows, {c: c for c in rows[0]}))
    return metrics


def _time_to_accuracy(run_dir: Path) -> dict | None:
    """{'15 mm': minutes or None, ...} from RUN/history.csv; None without a history."""
    try:
        history = read_history(run_dir)
    except ValueError:
        return None
    return {f"{t:g} mm": v["minutes"] for t, v in time_to_accuracy(history).items()}


def rebuild_report(out: Path, run_dir: Path | None = None) -> Path:
    """Rewrite REPORT/report.md and report.html from REPORT's files (no prediction); returns the HTML."""
    return write_run_report(Path(out), run_dir)["html"]


def load_published(bench_dir: Path, dataset: Dataset | None = None) -> dict:
    """The published result files of the benchmark folder ``bench_dir`` (``eval.compare.find_published``:
    ICVL's or NYU's layout) scored on its real test labels with its dataset's scoring intrinsics
    (``eval.compare.score_published``, as ``sdnet compare --dataset`` scores them); SdnetError when the
    files are missing, or when ``dataset`` (the run's) is given and the folder is another dataset's."""
    found = find_published(bench_dir)
    if found is None:
        expected = "; or ".join(
            " or ".join(" and ".join(names) for names in ground_truth_names(d)) + f" ({d.name})"
            for d in DATASETS.values() if ground_truth_names(d))
        raise SdnetError(f"{bench_dir}: expected a benchmark's test labels ({expected}) and result files "
                         "in published/")
    if dataset is not None and found.dataset.name != dataset.name:
        raise SdnetError(f"{bench_dir}: the published results of {found.dataset.name}, but the run is of {dataset.name}")
    return score_published(list(found.ground_truth), found.folder, found.dataset.scoring_camera,
                           found.image_list, found.dataset)


def _examples_figure(preds, pred_uvd, intr: Intrinsics, path: Path, skeleton) -> Path:
    errors = frame_mean_errors(uvd_to_xyz(pred_uvd, intr), uvd_to_xyz(preds.gt_uvd, intr))
    picks = select_example_frames(errors)
    idx = [picks[k] for k in ("best", "median", "worst")]
    titles = [f"{k}: {preds.sequence[i]} #{int(preds.frame[i])}, {errors[i]:.1f} mm"
              for k, i in zip(("best", "median", "worst"), idx)]
    gt_uv = preds.crop_uv(preds.gt_uvd[idx], idx)
    pred_uv = preds.crop_uv(pred_uvd[idx], idx)
    fig = pose_examples_figure([preds.crops[i].astype(np.float32) for i in idx], gt_uv, pred_uv,
                               titles, skeleton, background_value=1.0)
    return save_figure(fig, path)
