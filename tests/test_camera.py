import numpy as np
import pytest

from pipeline.camera import ICVL_INTRINSICS, Intrinsics, uvd_to_xyz, xyz_to_uvd


def test_uvd_xyz_round_trip():
    rng = np.random.default_rng(0)
    uvd = np.stack([rng.uniform(0, 320, 50), rng.uniform(0, 240, 50), rng.uniform(150, 600, 50)], -1)
    back = xyz_to_uvd(uvd_to_xyz(uvd, ICVL_INTRINSICS), ICVL_INTRINSICS)
    np.testing.assert_allclose(back, uvd, atol=1e-9)


def test_principal_point_is_on_the_axis_and_formula():
    intr = Intrinsics(fx=200.0, fy=100.0, cx=10.0, cy=20.0)
    np.testing.assert_allclose(uvd_to_xyz([10.0, 20.0, 300.0], intr), [0, 0, 300])
    np.testing.assert_allclose(uvd_to_xyz([210.0, 120.0, 300.0], intr), [300, 300, 300])


def test_bad_intrinsics_are_refused():
    with pytest.raises(ValueError, match="fx"):
        Intrinsics(fx=0.0, fy=1.0, cx=0.0, cy=0.0)
    with pytest.raises(ValueError, match="unknown"):
        Intrinsics.from_dict({"fx": 1, "fy": 1, "cx": 0, "cy": 0, "k1": 0.1})


def test_with_overrides_replaces_given_fields_and_refuses_bad_values():
    from pipeline.camera import with_overrides
    from pipeline.errors import SdnetError

    intr = with_overrides(ICVL_INTRINSICS, fx=475.0, cy=None, width=640, height=480, cx=320.0)
    assert (intr.fx, intr.fy, intr.cx, intr.cy, intr.width) == (475.0, ICVL_INTRINSICS.fy, 320.0, 120.0, 640)
    with pytest.raises(SdnetError, match="fx must be a positive number"):
        with_overrides(ICVL_INTRINSICS, fx=-1.0)
    with pytest.raises(SdnetError, match="principal point"):
        with_overrides(ICVL_INTRINSICS, cx=400.0)
