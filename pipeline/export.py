"""``sdnet export``: a run's CNN as a TensorFlow SavedModel or a TFLite flatbuffer, with its contract.

Layouts (``OUT`` is always a directory, written to a temporary name and renamed when complete):
  savedmodel:  OUT/ is the SavedModel (Keras 3 ``model.export``; signature 'serving_default', also
               callable as ``loaded.serve(x)``), plus OUT/sdnet_export.json
  tflite:      OUT/model.tflite (``tf.lite.TFLiteConverter`` from that SavedModel, float32, no
               quantization) and OUT/sdnet_export.json

The exported graph is the CNN only: in, a batch of normalized depth crops (B, S, S, 1) float32;
out, (B, 3J) float32 normalized crop-frame joints. ``sdnet_export.json`` says how to make the crop
and how to map the output back to the camera (``export_contract``), so a consumer needs nothing else.
After writing, the export is loaded back and compared with the Keras model on random crops; the
largest absolute difference is recorded in the JSON (``parity_max_abs_diff``).
"""
from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipeline.config import to_dict
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_output_dir, atomic_write_bytes, check_output_dir, write_json
from pipeline.rundir import load_model, load_run_config, run_intrinsics, run_skeleton
from pipeline.skeleton import Skeleton

FORMATS = ("savedmodel", "tflite")
META_FILE = "sdnet_export.json"
TFLITE_FILE = "model.tflite"
SIGNATURE = "serving_default"
PARITY_BATCH = 4
PARITY_TOLERANCE = 1e-3  # normalized units (1e-3 x cube/2 = 0.125 mm at a 250 mm cube)


def export_contract(crop_size: int, cube_mm: float, intrinsics: dict, centre: dict, fmt: str,
                    input_name: str, output_name: str, preset: str | None, skeleton: Skeleton) -> dict:
    """The JSON contract of an exported model (crop px, cube mm, camera px, the run's ``skeleton``:
    joint names, parents, bones, parts; tensor layout)."""
    s, j = int(crop_size), skeleton.num_joints
    return {
        "format": fmt,
        "file": TFLITE_FILE if fmt == "tflite" else ".",
        "signature": SIGNATURE,
        "preset": preset,
        "crop_size": s,
        "cube_mm": float(cube_mm),
        "intrinsics": dict(intrinsics),
        "centre": dict(centre),
        "joint_names": list(skeleton.joint_names),
        "parents": list(skeleton.parents),
        "bones": [list(b) for b in skeleton.bones],
        "parts": {name: list(chain) for name, chain in skeleton.parts},
        "input": {
            "name": input_name, "shape": [None, s, s, 1], "dtype": "float32",
            "layout": "batch, row (v), column (u), channel",
            "meaning": (
                "normalized depth crop. Hand centre c = camera xyz (mm) of the centre of mass of the "
                "nearest pixels (rule in 'centre'); the crop covers cube_mm at depth c_z: image pixel "
                "(u, v) -> crop ((u - c_u) * s * c_z / (fx * cube_mm) + (s - 1) / 2, same for v with "
                "fy), nearest-neighbour resampling; value = (d - c_z) / (cube_mm / 2) clipped to "
                "[-1, 1]; background (depth 0 or 32001) and pixels outside the image = +1"),
        },
        "output": {
            "name": output_name, "shape": [None, 3 * j], "dtype": "float32",
            "layout": "joint-major: x0, y0, z0, x1, ..., in joint_names order",
            "meaning": ("normalized crop-frame joints n = (xyz - c) / (cube_mm / 2), camera axes "
                        "(x right, y down, z forward); joints xyz = n * cube_mm / 2 + c in camera mm, "
                        "then u = x fx / z + cx, v = y fy / z + cy (px), d = z (mm)"),
        },
    }


def _run_parts(run_dir: Path):
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SdnetError(f"{run_dir}: run directory not found")
    cfg = load_run_config(run_dir)
    info = cfg.data
    intr = run_intrinsics(cfg)
    centre = info.centre
    model = load_model(run_dir)
    if tuple(model.input_shape[1:]) != (info.crop_size, info.crop_size, 1):
        raise SdnetError(f"{run_dir}: model input {tuple(model.input_shape[1:])} does not match the "
                         f"run's crop size {info.crop_size} px")
    return model, info, intr, to_dict(centre), cfg.model.preset, run_skeleton(cfg)


def random_crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, size, size, 1) float32 crops in [-1, 1]: a near blob on a +1 background, plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, size, size, 1)).astype(np.float32)
    x[:, : size // 4] = 1.0  # some background rows, like real crops
    return x


def saved_model_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """Outputs (B, 3J) of a SavedModel directory's serving signature on crops ``x`` (B, S, S, 1)."""
    fn = tf.saved_model.load(str(path)).signatures[SIGNATURE]
    (name, spec), = fn.structured_input_signature[1].items()
    out = fn(**{name: tf.constant(x, spec.dtype)})
    return next(iter(out.values())).numpy()


def tflite_outputs(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs (B, 3J) of a TFLite model on crops ``x`` (B, S, S, 1), via ``tf.lite.Interpreter``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the interpreter's LiteRT deprecation notice
        interp = tf.lite.Interpreter(model_content=model_bytes)
    inp = interp.get_input_details()[0]
    interp.resize_tensor_input(inp["index"], list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x.astype(np.float32))
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def _tensor_names(fn) -> tuple[str, str]:
    (in_name, _), = fn.structured_input_signature[1].items()
    out_name = next(iter(fn.structured_outputs))
    return in_name, out_name


def export_run(run_dir: Path, fmt: str, out: Path, overwrite: bool = False) -> dict:
    """Export ``run_dir``'s model to ``out`` in ``fmt`` ('savedmodel' or 'tflite'); returns the
    contract written to ``out/sdnet_export.json``. SdnetError on bad input or a failed parity check."""
    if fmt not in FORMATS:
        raise SdnetError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    check_output_dir(Path(out), overwrite)
    model, info, intr, centre, preset, skeleton = _run_parts(run_dir)
    x = random_crops(PARITY_BATCH, info.crop_size)
    expected = np.asarray(model(x, training=False))  # (B, 3J)
    scratch = Path(tempfile.mkdtemp(prefix="sdnet-export-"))
    try:
        with atomic_output_dir(Path(out), overwrite) as tmp:
            saved = tmp if fmt == "savedmodel" else scratch / "savedmodel"
            model.export(str(saved), format="tf_saved_model", verbose=False)
            in_name, out_name = _tensor_names(tf.saved_model.load(str(saved)).signatures[SIGNATURE])
            if fmt == "savedmodel":
                got = saved_model_outputs(saved, x)
            else:
                data = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
                atomic_write_bytes(tmp / TFLITE_FILE, data)
                got = tflite_outputs(data, x)
            diff = float(np.max(np.abs(got - expected)))
            if not diff <= PARITY_TOLERANCE:
                raise SdnetError(f"exported model differs from the Keras model by {diff:.3g} "
                                 f"(tolerance {PARITY_TOLERANCE:g}); nothing written")
            contract = export_contract(info.crop_size, info.cube_mm, intr.to_dict(), centre, fmt,
                                       in_name, out_name, preset, skeleton)
            contract["run"] = str(Path(run_dir).resolve())
            contract["parity_max_abs_diff"] = diff
            write_json(tmp / META_FILE, contract)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return contract
