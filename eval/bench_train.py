"""``sdnet bench --only train``: training images/s and GFLOP/s of each model preset on random tensors."""
from __future__ import annotations

import keras
import tensorflow as tf

from eval.bench import median_rate
from models.losses import SDNetLoss
from models.sdnet import PRESETS, build_model, count_flops
from pipeline.datasets import ICVL
from pipeline.precision import cpu_has_native_bf16, keras_policy


def _training_rate(cfg, batch: int, steps: int, repeats: int, precision: str = "float32") -> tuple[float, int]:
    """(images/s, forward FLOPs per image) of training ``cfg`` on random tensors in ``precision``
    (median over ``repeats`` of ``steps`` steps, after a warm-up); the global policy is restored."""
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(keras_policy(precision))
    try:
        keras.utils.set_random_seed(0)
        model = build_model(cfg, ICVL.skeleton.num_joints)  # timed on ICVL's joints
        model.compile(keras.optimizers.Adam(1e-4), SDNetLoss(ICVL.skeleton, 0.5, penalty="hinge"), jit_compile=False)
        s = cfg.input_size
        ds = tf.data.Dataset.from_tensors((tf.random.uniform((batch, s, s, 1), -1, 1),
                                           tf.random.uniform((batch, 3 * ICVL.num_joints), -0.5, 0.5))).repeat()
        model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up

        def run() -> int:
            model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
            return steps * batch

        return median_rate(run, repeats), count_flops(model)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _matmul_gflops(n: int, dtype, repeats: int) -> float:
    """GFLOP/s of an n x n by n x n matmul in ``dtype`` (median over ``repeats``): the machine's rate."""
    a = tf.cast(tf.random.normal((n, n)), dtype)
    tf.linalg.matmul(a, a).numpy()

    def matmul() -> int:
        tf.linalg.matmul(a, a).numpy()
        return 1

    return median_rate(matmul, repeats) * 2 * n ** 3 / 1e9


# The presets also timed in bfloat16 on CPUs with native bfloat16 (make all's precision there).
BF16_PRESETS = ("cpu", "dense")


def bench_train(quick: bool = False) -> dict:
    """Training images/s and GFLOP/s per preset on random tensors, and a large matmul rate, all in one
    run (medians over repeats); ``train_flop_fraction_*`` = training GFLOP/s over the matmul rate in
    the same precision (how much of the machine a design uses). On CPUs with native bfloat16,
    ``BF16_PRESETS`` in bfloat16 too, against the bfloat16 matmul rate. Training FLOPs = 3 x forward
    FLOPs per image."""
    repeats = 2 if quick else 3
    n = 2048
    matmul32 = _matmul_gflops(n, tf.float32, 5)
    figures = {"matmul_gflops_per_s": round(matmul32, 2)}
    bf16 = cpu_has_native_bf16()
    matmul16 = _matmul_gflops(n, tf.bfloat16, 5) if bf16 else None
    if bf16:
        figures["matmul_gflops_per_s_bf16"] = round(matmul16, 2)
    for name, cfg in PRESETS.items():
        batch = 8 if name == "paper" else 32
        steps = 2 if (quick or name == "paper") else 8
        rate, flops = _training_rate(cfg, batch, steps, repeats)
        gflops = rate * 3 * flops / 1e9
        figures[f"train_images_per_s_{name}"] = round(rate, 2)
        figures[f"train_gflops_per_s_{name}"] = round(gflops, 2)
        figures[f"train_flop_fraction_{name}"] = round(gflops / matmul32, 3)
        figures[f"forward_gflops_per_image_{name}"] = round(flops / 1e9, 4)
        if name in BF16_PRESETS and bf16:
            rate16, _ = _training_rate(cfg, batch, steps, repeats, "bfloat16")
            figures[f"train_images_per_s_{name}_bf16"] = round(rate16, 2)
            figures[f"train_gflops_per_s_{name}_bf16"] = round(rate16 * 3 * flops / 1e9, 2)
            figures[f"train_flop_fraction_{name}_bf16"] = round(rate16 * 3 * flops / 1e9 / matmul16, 3)
            figures[f"train_bf16_speedup_{name}"] = round(rate16 / rate, 2)
    return figures
