"""``sdnet eval``: predict the test split, refine, score, plot and report.

Everything is computed from the run dir (model, config, prior, refinement config) and the data dir;
the prior is fitted on 'train' and the refinement weights chosen on 'val' when the run has none yet.
Outputs (in REPORT, written to a temporary directory and renamed when complete):
  predictions_uvd.txt          the standard result format (refined when the refinement is on)
  predictions_uvd_cnn.txt      the CNN alone
  metrics.json                 per method: mean_error_mm, per_joint_mm, frames, success curves
  per_joint.png, success_{max_frame,mean_frame,joint}.png, examples.png
  learning_curve.png           the run's validation error against steps and minutes (from history.csv)
  report.md, report.html       tables and figures, the run's settings and per-stage runtimes
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from eval.metrics import fingertip_mean_error, frame_mean_errors, select_example_frames, success_at, summarize
from eval.plots import save_figure, write_metric_figures
from eval.report import pose_examples_figure, write_report
from eval.results_io import read_results, write_results
from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_output_dir, write_json

CNN = "SDNet CNN"
REFINED = "SDNet CNN + refinement"


def metric_rows(metrics: dict, tips: dict) -> list[dict]:
    """Table rows sorted by mean error: mean, fingertip, max-frame success at 20 and 40 mm."""
    rows = []
    for name, m in sorted(metrics.items(), key=lambda kv: kv[1]["mean_error_mm"]):
        rows.append({"method": name, "mean error (mm)": m["mean_error_mm"],
                     "fingertips (mm)": tips[name],
                     "max-frame <= 20 mm (%)": 100 * success_at(m, "max_frame", 20),
                     "max-frame <= 40 mm (%)": 100 * success_at(m, "max_frame", 40),
                     "frames": m["frames"]})
    return rows


def format_rows(rows: list[dict]) -> str:
    cols = list(rows[0])
    cells = [[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w)  # noqa: E731
                                  for i, (v, w) in enumerate(zip(vals, widths)))
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in cells])


def run_eval(run_dir: Path, data_dir: Path, out: Path, refine: bool = True,
             compare: list[tuple[str, Path]] = (), eval_intr: Intrinsics | None = None,
             overwrite: bool = False, batch_size: int = 64) -> dict:
    """Evaluate ``run_dir`` on the test split of ``data_dir`` into ``out``; returns metrics.json."""
    from pipeline.fsutil import check_output_dir
    from pipeline.inference import load_depth_frames, load_model, predict_split, read_run_config
    from pipeline.input import check_manifest, read_manifest

    check_output_dir(Path(out), overwrite)
    run_cfg = read_run_config(run_dir)
    manifest = read_manifest(data_dir)
    check_manifest(manifest, crop_size=_run_crop_size(run_cfg), where=str(data_dir))
    data_intr = Intrinsics.from_dict(manifest["intrinsics"])
    eval_intr = eval_intr or data_intr
    model = load_model(run_dir)
    others = [(name, read_results(path, expected_frames=manifest["counts"]["test"]))
              for name, path in compare]  # validate before the slow part

    preds = predict_split(model, data_dir, "test", data_intr, batch_size, keep_crops=True)
    variants = {CNN: preds.pred_uvd}
    runtime = {"cnn_ms_per_frame": preds.cnn_ms_per_frame}
    settings_refine = "off"
    if refine:
        from pipeline.refinement import ensure_prior, ensure_refine_config, refine_split

        t0 = time.perf_counter()
        prior = ensure_prior(run_dir, data_dir)
        cfg = ensure_refine_config(run_dir, data_dir, model, manifest, data_intr, prior)
        runtime["refine_setup_s"] = time.perf_counter() - t0
        depth = load_depth_frames(manifest, "test", preds.path, data_intr)
        variants[REFINED], runtime["refine_ms_per_frame"] = refine_split(preds, depth, data_intr, prior, cfg)
        settings_refine = json.loads((Path(run_dir) / "refine.json").read_text())
    for name, uvd in others:
        variants[name] = uvd

    gt_xyz = uvd_to_xyz(preds.gt_uvd, eval_intr)
    metrics = {n: summarize(uvd_to_xyz(u, eval_intr), gt_xyz) for n, u in variants.items()}
    tips = {n: fingertip_mean_error(uvd_to_xyz(u, eval_intr), gt_xyz) for n, u in variants.items()}
    rows = metric_rows(metrics, tips)
    best_name = REFINED if refine else CNN
    with atomic_output_dir(Path(out), overwrite) as tmp:
        write_results(tmp / "predictions_uvd.txt", variants[best_name])
        write_results(tmp / "predictions_uvd_cnn.txt", preds.pred_uvd)
        write_json(tmp / "metrics.json", metrics)
        figures = write_metric_figures(tmp, metrics)
        examples = _examples_figure(preds, variants[best_name], eval_intr, tmp / "examples.png")
        settings = {
            "run": str(Path(run_dir).resolve()), "data": str(Path(data_dir).resolve()),
            "source": manifest.get("source_root"), "test frames": len(preds),
            "preset": run_cfg.get("model", {}).get("preset", run_cfg.get("preset")),
            "loss": run_cfg.get("loss"), "steps": _run_steps(run_dir),
            "eval intrinsics": eval_intr.to_dict(), "refinement": settings_refine,
            "runtime (ms/frame, this machine)": runtime,
        }
        write_json(tmp / "settings.json", settings)
        captions = {"per_joint": "Mean error per joint (paper Fig. 4)",
                    "max_frame": "Frames with every joint within the threshold (paper Fig. 5)",
                    "mean_frame": "Frames whose mean joint error is within the threshold",
                    "joint": "Joints within the threshold"}
        fig_list = [(captions[k], p) for k, p in figures.items()]
        fig_list.append(("Best, median and worst test frames (paper Fig. 6)", examples))
        tables = [("Results on the test split", rows)]
        curve = _learning_curve(run_dir, tmp / "learning_curve.png")
        if curve is not None:
            fig_list.insert(0, ("Learning curve of the run (validation split)", curve[0]))
            tables.append(("Training time to reach a validation error", curve[1]))
            settings["time to accuracy (validation)"] = curve[2]
            write_json(tmp / "settings.json", settings)
        write_report(tmp, f"SDNet evaluation: {Path(run_dir).name} on {Path(data_dir).name}",
                     settings, tables, fig_list, notes=_notes(metrics, tips, refine))
    print(format_rows(rows))
    return metrics


def _learning_curve(run_dir: Path, path: Path):
    """(figure path, table rows, time-to-accuracy dict) from RUN/history.csv; None without one."""
    from eval.learning import learning_curve_figure, read_history, time_to_accuracy

    try:
        history = read_history(run_dir)
    except ValueError:
        return None
    tta = time_to_accuracy(history)
    rows = [{"validation error (mm)": f"<= {t:g}", "minutes": v["minutes"], "step": v["step"]}
            for t, v in tta.items()]
    return save_figure(learning_curve_figure({Path(run_dir).name: history}), path), rows, \
        {f"{t:g} mm": v["minutes"] for t, v in tta.items()}


def _examples_figure(preds, pred_uvd, intr: Intrinsics, path: Path) -> Path:
    errors = frame_mean_errors(uvd_to_xyz(pred_uvd, intr), uvd_to_xyz(preds.gt_uvd, intr))
    picks = select_example_frames(errors)
    idx = [picks[k] for k in ("best", "median", "worst")]
    titles = [f"{k}: {preds.sequence[i]} #{int(preds.frame[i])}, {errors[i]:.1f} mm"
              for k, i in zip(("best", "median", "worst"), idx)]
    gt_uv = preds.crop_uv(preds.gt_uvd[idx], idx)
    pred_uv = preds.crop_uv(pred_uvd[idx], idx)
    fig = pose_examples_figure([preds.crops[i].astype(np.float32) for i in idx], gt_uv, pred_uv,
                               titles, background_value=1.0)
    return save_figure(fig, path)


def _notes(metrics: dict, tips: dict, refine: bool) -> str:
    if not refine:
        return "Refinement off (--no-refine)."
    cnn, ref = metrics[CNN]["mean_error_mm"], metrics[REFINED]["mean_error_mm"]
    verdict = "lowers" if ref < cnn else "does not lower"
    return (f"The hierarchical refinement {verdict} the mean error on this test split: "
            f"{cnn:.3f} mm without, {ref:.3f} mm with (fingertips {tips[CNN]:.3f} -> "
            f"{tips[REFINED]:.3f} mm). Its weights were chosen on the validation split.")


def _run_crop_size(run_cfg: dict):
    return run_cfg.get("data", {}).get("crop_size")


def _run_steps(run_dir: Path):
    path = Path(run_dir) / "summary.json"
    if path.is_file():
        return json.loads(path.read_text()).get("steps")
    return None
