import json

import numpy as np
import pytest

from pipeline.camera import (ICVL_INTRINSICS, Intrinsics, load_intrinsics_json, uvd_to_xyz, with_overrides,
                             xyz_to_uvd)
from pipeline.errors import SdnetError


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
    intr = with_overrides(ICVL_INTRINSICS, fx=475.0, cy=None, width=640, height=480, cx=320.0)
    assert (intr.fx, intr.fy, intr.cx, intr.cy, intr.width) == (475.0, ICVL_INTRINSICS.fy, 320.0, 120.0, 640)
    with pytest.raises(SdnetError, match="fx must be a positive number"):
        with_overrides(ICVL_INTRINSICS, fx=-1.0)
    with pytest.raises(SdnetError, match="principal point"):
        with_overrides(ICVL_INTRINSICS, cx=400.0)


def test_intrinsics_json_gives_a_whole_camera_and_names_the_file_on_errors(tmp_path):
    good = tmp_path / "cam.json"
    good.write_text(json.dumps({"fx": 476, "fy": 477.5, "cx": 319.5, "cy": 239.5, "width": 640,
                                "height": 480, "depth_scale": 0.125}))
    intr = load_intrinsics_json(good)
    assert intr == Intrinsics(476.0, 477.5, 319.5, 239.5, 640, 480, 0.125)
    no_scale = tmp_path / "mm.json"
    no_scale.write_text(json.dumps({"fx": 476, "fy": 476, "cx": 320, "cy": 240, "width": 640, "height": 480}))
    assert load_intrinsics_json(no_scale).depth_scale == 1.0
    cases = {"missing": ({"fx": 476, "fy": 476, "cx": 320, "cy": 240}, "missing width, height"),
             "unknown": ({"fx": 1, "fy": 1, "cx": 0, "cy": 0, "width": 2, "height": 2, "k1": 0}, "unknown keys"),
             "scale": ({"fx": 1, "fy": 1, "cx": 0, "cy": 0, "width": 2, "height": 2, "depth_scale": 0},
                       "depth_scale must be a positive"),
             "centre": ({"fx": 1, "fy": 1, "cx": 900, "cy": 0, "width": 2, "height": 2}, "principal point"),
             "text": ({"fx": "476", "fy": 1, "cx": 0, "cy": 0, "width": 2, "height": 2}, "must be a number")}
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        with pytest.raises(SdnetError, match=message) as err:
            load_intrinsics_json(path)
        assert str(err.value).startswith(str(path))
    (tmp_path / "broken.json").write_text("{fx: 1")
    with pytest.raises(SdnetError, match="broken.json: not a JSON file"):
        load_intrinsics_json(tmp_path / "broken.json")
    with pytest.raises(SdnetError, match="intrinsics file not found"):
        load_intrinsics_json(tmp_path / "none.json")


def test_mirrored_camera_maps_a_point_to_its_mirror_image():
    intr = Intrinsics(fx=300.0, fy=300.0, cx=150.0, cy=120.0, width=320, height=240)
    xyz = np.array([40.0, -10.0, 500.0])
    u = xyz_to_uvd(xyz, intr)[0]
    mirrored = xyz_to_uvd(xyz * [-1, 1, 1], intr.mirrored())
    np.testing.assert_allclose(mirrored[0], intr.width - 1 - u)
