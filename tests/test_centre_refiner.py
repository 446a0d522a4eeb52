"""pipeline.centre_refiner: the gate on small moves, the palm target, the refiner's shape."""
import keras
import numpy as np
import pytest

from models.centre import build_centre_model
from pipeline.centre_refiner import MIN_MOVE_MM, CentreRefiner, palm_offset
from pipeline.datasets import ICVL, NYU


def _constant_refiner(move_mm, cube_mm=250.0, crop=32):
    """A refiner whose network always answers ``move_mm`` (3,) mm."""
    model = build_centre_model(crop)
    out = model.get_layer("centre_move")
    kernel, _ = out.get_weights()
    out.set_weights([np.zeros_like(kernel), np.asarray(move_mm, np.float32) / (cube_mm / 2)])
    return CentreRefiner(model, {"mu": [0.0, 0.0, 0.0], "cube_mm": cube_mm})


def test_moves_shorter_than_the_gate_are_not_applied():
    crops = np.ones((2, 32, 32), np.float32)
    small = _constant_refiner([MIN_MOVE_MM * 0.6, 0.0, MIN_MOVE_MM * 0.6])  # 0.85 x the gate
    np.testing.assert_array_equal(small.move(crops), 0.0)
    big = _constant_refiner([MIN_MOVE_MM, 0.0, 10.0])
    np.testing.assert_allclose(big.move(crops) * 125.0, [[MIN_MOVE_MM, 0.0, 10.0]] * 2, atol=1e-4)


@pytest.mark.parametrize("dataset", [ICVL, NYU], ids=lambda d: d.name)
def test_the_target_is_the_palm_joint_and_the_model_outputs_three_numbers(dataset):
    sk = dataset.skeleton  # ICVL's palm is joint 0, NYU's joint 13 (the kit's order)
    joints = np.arange(2 * 3 * sk.num_joints, dtype=np.float32).reshape(2, -1)
    root = sk.root
    np.testing.assert_array_equal(palm_offset(joints, root).numpy(), joints[:, 3 * root:3 * root + 3])
    keras.utils.set_random_seed(0)
    assert build_centre_model(128).output_shape == (None, 3)
