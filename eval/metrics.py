"""The standard hand-pose metrics, as pure numpy functions on joint arrays.

Inputs are predicted and ground-truth joints ``pred``, ``gt`` of shape (N, J, 3): N frames, J joints
(ICVL order, see ``pipeline.skeleton``), camera xyz in mm (convert image uvd first with
``pipeline.camera.uvd_to_xyz``). All errors are Euclidean distances in mm.

The standard evaluation (as in the community ICVL evaluation code):
  * per-joint mean error: the mean over frames of each joint's error, (J,);
  * mean error: the mean of the per-joint mean errors (equal to the mean over all frames and joints);
  * success curves over thresholds 0..80 mm, inclusive (an error equal to the threshold counts):
    ``max_frame`` (fraction of frames whose every joint is within the threshold; the paper's Fig. 5),
    ``mean_frame`` (fraction of frames whose mean joint error is within it) and ``joint`` (fraction
    of all frame-joint pairs within it).
"""
from __future__ import annotations

import numpy as np

from pipeline.errors import SdnetError
from pipeline.joint_error import joint_errors_mm, mean_joint_error_mm
from pipeline.skeleton import Skeleton

DEFAULT_THRESHOLDS_MM = np.arange(0, 81, dtype=np.float64)  # (81,) 0, 1, ..., 80 mm
CURVE_NAMES = ("max_frame", "mean_frame", "joint")
SUMMARY_KEYS = ("mean_error_mm", "per_joint_mm", "frames", "thresholds_mm") + CURVE_NAMES + (
    "bone_length_error_mm", "bone_length_sd_mm", "jitter_mm", "gt_bone_length_sd_mm", "gt_jitter_mm",
    "palm_side_agreement", "gt_palm_facing_share")


class MetricInputError(SdnetError, ValueError):
    """Joint arrays with the wrong shape or non-finite values (the message says which)."""


def _as_joints(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise MetricInputError(f"{name}: expected shape (N, J, 3), got {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise MetricInputError(f"{name}: needs at least one frame and one joint, got {a.shape}")
    if not np.all(np.isfinite(a)):
        frame = int(np.argwhere(~np.isfinite(a))[0, 0])
        raise MetricInputError(f"{name}: NaN or infinite value (first in frame {frame})")
    return a


def _check_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _as_joints(pred, "pred"), _as_joints(gt, "gt")
    if pred.shape != gt.shape:
        raise MetricInputError(f"pred has shape {pred.shape} but gt has shape {gt.shape}")
    return pred, gt


def joint_errors(pred, gt) -> np.ndarray:
    """Euclidean error of every joint of every frame: (N, J, 3), (N, J, 3) mm -> (N, J) mm."""
    return joint_errors_mm(*_check_pair(pred, gt))  # (N, J)


def per_joint_mean_error(pred, gt) -> np.ndarray:
    """Mean error of each joint over the frames: (N, J, 3) mm -> (J,) mm."""
    return joint_errors(pred, gt).mean(axis=0)  # (J,)


def mean_error(pred, gt) -> float:
    """The mean of the per-joint mean errors (= the mean over all frames and joints), in mm."""
    return mean_joint_error_mm(*_check_pair(pred, gt))


def frame_mean_errors(pred, gt) -> np.ndarray:
    """Mean joint error of each frame: (N, J, 3) mm -> (N,) mm."""
    return joint_errors(pred, gt).mean(axis=1)  # (N,)


def fingertip_mean_error(pred, gt, skeleton: Skeleton) -> float:
    """Mean error over the fingertip joints of ``skeleton`` (mean of their per-joint means), in mm."""
    pred, gt = _check_pair(pred, gt)
    if pred.shape[1] != skeleton.num_joints:
        raise MetricInputError(
            f"expected {skeleton.num_joints} joints for the skeleton, got {pred.shape[1]}")
    tips = list(skeleton.fingertips)
    return float(per_joint_mean_error(pred[:, tips], gt[:, tips]).mean())


def _check_thresholds(thresholds) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise MetricInputError(f"thresholds: expected a non-empty 1-D array, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise MetricInputError("thresholds: NaN or infinite value")
    return t


def success_fractions(errors, thresholds) -> np.ndarray:
    """Fraction of ``errors`` (any shape, mm) that are <= each threshold: (T,) in [0, 1]."""
    e = np.sort(np.asarray(errors, dtype=np.float64).reshape(-1))
    t = _check_thresholds(thresholds)
    # side="right" counts every error equal to the threshold: the inclusive `<=` of the benchmark.
    return np.searchsorted(e, t, side="right") / e.size  # (T,)


def success_curves(pred, gt, thresholds=DEFAULT_THRESHOLDS_MM) -> dict[str, np.ndarray]:
    """The three success curves of the standard evaluation, each (T,) fractions in [0, 1].

    ``max_frame``: frames whose largest joint error is <= the threshold; ``mean_frame``: frames whose
    mean joint error is <= it; ``joint``: frame-joint pairs whose error is <= it. Thresholds in mm.
    """
    err = joint_errors(pred, gt)  # (N, J)
    return {
        "max_frame": success_fractions(err.max(axis=1), thresholds),
        "mean_frame": success_fractions(err.mean(axis=1), thresholds),
        "joint": success_fractions(err, thresholds),
    }


def summarize(pred, gt, thresholds=DEFAULT_THRESHOLDS_MM, *, skeleton: Skeleton, sequences=None) -> dict:
    """One method's entry of ``metrics.json`` (plain JSON types).

    Keys: ``mean_error_mm`` (float), ``per_joint_mm`` (J floats, skeleton order), ``frames`` (N),
    ``thresholds_mm`` (T floats), the curves ``max_frame``, ``mean_frame``, ``joint`` (T fractions),
    and the pose plausibility (``plausibility``; with ``sequences`` (N,) the test sequence of every
    frame, else the sequence-based entries are null: frames of unknown order have no jitter).
    """
    pred, gt = _check_pair(pred, gt)
    if pred.shape[1] != skeleton.num_joints:
        raise MetricInputError(
            f"expected {skeleton.num_joints} joints for the skeleton, got {pred.shape[1]}")
    t = _check_thresholds(thresholds)
    per_joint = per_joint_mean_error(pred, gt)
    curves = success_curves(pred, gt, t)
    return {
        "mean_error_mm": float(per_joint.mean()),
        "per_joint_mm": [float(x) for x in per_joint],
        "frames": int(pred.shape[0]),
        "thresholds_mm": [float(x) for x in t],
        **{name: [float(x) for x in curves[name]] for name in CURVE_NAMES},
        **plausibility(pred, gt, sequences, skeleton=skeleton),
        "palm_side_agreement": palm_side_agreement(pred, gt, skeleton),
        "gt_palm_facing_share": float(palm_faces_camera(gt, skeleton).mean()),
    }


def success_at(summary: dict, curve: str, threshold_mm: float) -> float:
    """The value (fraction) of ``curve`` of a ``summarize`` result at an exact threshold in mm."""
    thresholds = summary["thresholds_mm"]
    if threshold_mm not in thresholds:
        raise MetricInputError(f"threshold {threshold_mm} mm is not among the summary's thresholds")
    return float(summary[curve][thresholds.index(threshold_mm)])


def select_example_frames(frame_errors) -> dict[str, int]:
    """Indices of the best, median and worst frames by ``frame_errors`` (N,) mm (e.g. for Fig. 6).

    The median frame is the lower median of the sorted errors; ties keep the earliest frame.
    """
    e = np.asarray(frame_errors, dtype=np.float64).reshape(-1)
    if e.size == 0 or not np.all(np.isfinite(e)):
        raise MetricInputError("frame errors: need at least one finite value")
    order = np.argsort(e, kind="stable")
    return {"best": int(np.argmin(e)), "median": int(order[(e.size - 1) // 2]),
            "worst": int(np.argmax(e))}


# ----------------------------------------------------------------------------- pose plausibility
# The paper's claim that the skeleton loss makes poses "natural and complete", measured: how far the
# predicted bones are from the true lengths, how much a bone's predicted length wavers within a
# sequence (a real hand's bones do not change), and how much the joints jitter from frame to frame.
# Camera xyz in mm; ``sequences`` (N,) labels the test sequence of every frame, frames of a sequence in
# temporal order (e.g. ICVL's test_seq_1 and test_seq_2, in the label file's order).



def bone_lengths(joints, skeleton: Skeleton) -> np.ndarray:
    """(N, B) bone lengths in mm of joints (N, J, 3), bones in ``skeleton.bones`` order."""
    a = _as_joints(joints, "joints")
    parent, child = np.array(skeleton.bones).T  # (B,), (B,)
    return np.linalg.norm(a[:, child] - a[:, parent], axis=-1)


def bone_length_error_mm(pred, gt, skeleton: Skeleton) -> float:
    """Mean over frames and bones of |L_pred - L_true| (mm)."""
    pred, gt = _check_pair(pred, gt)
    return float(np.abs(bone_lengths(pred, skeleton) - bone_lengths(gt, skeleton)).mean())


def _sequence_slices(sequences, n: int) -> list[np.ndarray]:
    """Frame indices of each sequence, in first-appearance order, each in frame order."""
    labels = np.asarray(sequences).reshape(-1)
    if labels.shape[0] != n:
        raise MetricInputError(f"sequences: expected {n} labels, one per frame, got {labels.shape[0]}")
    order = list(dict.fromkeys(labels.tolist()))
    return [np.flatnonzero(labels == s) for s in order]


def sequence_errors(pred, gt, sequences) -> dict[str, dict]:
    """The error within each test sequence (or subject): sequence name -> {"frames", "mean_error_mm",
    "per_joint_mm"} (mm, as ``summarize``'s), sequences in first-appearance order; ``sequences`` (N,)
    labels every frame."""
    err = joint_errors(pred, gt)  # (N, J)
    labels = np.asarray(sequences).reshape(-1)
    out = {}
    for idx in _sequence_slices(labels, err.shape[0]):
        per_joint = err[idx].mean(axis=0)  # (J,)
        out[str(labels[idx[0]])] = {"frames": int(idx.size), "mean_error_mm": float(per_joint.mean()),
                                    "per_joint_mm": [float(x) for x in per_joint]}
    return out


def bone_length_sd_mm(joints, sequences, skeleton: Skeleton) -> float:
    """Mean over (sequence, bone) pairs of the standard deviation (ddof 0) of the bone's length over
    that sequence's frames (mm): 0 for a hand whose bones keep their lengths."""
    lengths = bone_lengths(joints, skeleton)  # (N, B)
    sds = [lengths[idx].std(axis=0) for idx in _sequence_slices(sequences, lengths.shape[0])]
    return float(np.concatenate(sds).mean())


def jitter_mm(joints, sequences) -> float:
    """Mean over sequences, inner frames t and joints of |x[t+1] - 2 x[t] + x[t-1]| (mm), the pooled
    second difference (all terms weigh the same); 0 for a still or uniformly moving hand. Sequences of
    fewer than 3 frames have no inner frame; NaN when no sequence has one."""
    a = _as_joints(joints, "joints")
    terms = [np.linalg.norm(a[idx][2:] - 2 * a[idx][1:-1] + a[idx][:-2], axis=-1).reshape(-1)
             for idx in _sequence_slices(sequences, a.shape[0]) if len(idx) >= 3]
    return float(np.concatenate(terms).mean()) if terms else float("nan")


def plausibility(pred, gt, sequences=None, *, skeleton: Skeleton) -> dict:
    """The plausibility entries of a method in ``metrics.json``: ``bone_length_error_mm``,
    ``bone_length_sd_mm``, ``jitter_mm`` of ``pred``, and the ground truth's own ``gt_bone_length_sd_mm``
    and ``gt_jitter_mm`` (annotation noise and real motion: the floor to read the others against).
    Without ``sequences`` the last four are None; the jitters are None when no sequence has 3 frames."""
    pred, gt = _check_pair(pred, gt)
    if sequences is None:
        return {"bone_length_error_mm": bone_length_error_mm(pred, gt, skeleton), "bone_length_sd_mm": None,
                "jitter_mm": None, "gt_bone_length_sd_mm": None, "gt_jitter_mm": None}
    return {"bone_length_error_mm": bone_length_error_mm(pred, gt, skeleton),
            "bone_length_sd_mm": bone_length_sd_mm(pred, sequences, skeleton),
            "jitter_mm": _json_number(jitter_mm(pred, sequences)),
            "gt_bone_length_sd_mm": bone_length_sd_mm(gt, sequences, skeleton),
            "gt_jitter_mm": _json_number(jitter_mm(gt, sequences))}


def _json_number(value: float) -> float | None:
    """``value``, or None (JSON null) for NaN (e.g. the jitter of sequences without an inner frame)."""
    return None if np.isnan(value) else value


# ----------------------------------------------------------------------------- which side of the hand
# A network that has only seen the back of the hand mirrors a palm-facing one (thumb on the wrong side).
# The palm normal n = (index root - palm) x (pinky root - palm), camera axes (x right, y down, z away):
# for a right hand it points toward the camera (n_z < 0) when the palm faces it, away when the back does.


def palm_normals(joints, skeleton: Skeleton) -> np.ndarray:
    """(N, 3) palm normals (index root - palm) x (pinky root - palm), mm^2, camera axes; the "root" is
    the part's first joint after the palm (ICVL: the finger root; NYU: the finger's mid joint)."""
    a = _as_joints(joints, "joints")
    parts = dict(skeleton.parts)  # the index and pinky parts' first joints after the palm
    root, i_root, p_root = skeleton.root, parts["index"][1], parts["pinky"][1]
    return np.cross(a[:, i_root] - a[:, root], a[:, p_root] - a[:, root])


def palm_faces_camera(joints, skeleton: Skeleton) -> np.ndarray:
    """(N,) bool: the palm normal points toward the camera (n_z < 0)."""
    return palm_normals(joints, skeleton)[:, 2] < 0


def flex_side_share(joints, skeleton: Skeleton, min_mm: float = 10.0) -> float:
    """Share of the four fingers' tips, over the frames, on the +n side of the palm: dot(tip - palm, n)
    with n the unit palm normal (``palm_normals``), counting only tips at least ``min_mm`` off the
    palm plane (flexed fingers). Fingers flex toward the palm, so about 1 for a right hand's labels
    seen by a camera and about 0 for the mirror image (``Dataset.image_hand``)."""
    a = _as_joints(joints, "joints")
    n = palm_normals(a, skeleton)
    n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    parts = dict(skeleton.parts)
    tips = [parts[f][-1] for f in ("index", "middle", "ring", "pinky")]
    side = np.einsum("nfk,nk->nf", a[:, tips] - a[:, skeleton.root][:, None], n)  # (N, 4) mm
    off = np.abs(side) >= min_mm
    return float((side[off] > 0).mean()) if off.any() else 0.5


def image_hand(joints, skeleton: Skeleton) -> str:
    """'right' or 'left': the chirality of labelled hands (N, J, 3) camera mm as the images show them
    (``flex_side_share`` above or below one half)."""
    return "right" if flex_side_share(joints, skeleton) > 0.5 else "left"


def palm_side_agreement(pred, gt, skeleton: Skeleton) -> float:
    """Share of frames whose predicted palm normal points to the same side of the image plane as the
    labelled one (1: never mirrored)."""
    pred, gt = _check_pair(pred, gt)
    return float((palm_faces_camera(pred, skeleton) == palm_faces_camera(gt, skeleton)).mean())
