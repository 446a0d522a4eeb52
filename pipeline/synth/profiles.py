"""Named depth-sensor profiles for ``sdnet synth --sensor-profile``: the one place they are defined.

Each profile maps ``SensorModel`` field names (``pipeline.synth.sensor``) to values; fields a profile
leaves out keep the ``SensorModel`` defaults. Plain data, no imports, so the CLI can list the names
without loading numpy/PIL.

  * ``default``: the ordinary short-range sensor (the ``SensorModel`` defaults, no occluders); the
    same seed gives the same bytes as before profiles existed.
  * ``occluded``: heavy missing depth (15 % random dropouts, 60 % of silhouette pixels lost, more
    loss at grazing angles) plus occluders, Poisson with mean 2 per frame: discs of radius 10-25 mm
    (at the hand's depth), half of them holes (no depth) and half flat objects 10-40 mm in front of
    the hand. Made to test a method where the paper claims its gains are largest: under occlusion.
  * ``structured``: a structured-light / active-stereo camera (RealSense-class): more noise (std
    1.5 mm at 300 mm, growing with depth squared: 13.5 mm at 900 mm, at most 3x that on slopes), projector shadows (a 25 mm
    baseline: no depth on the left of every nearer object, f b (1/z_near - 1/z_far) px wide), holes
    on oblique surfaces (loss from a slope of 0.8, total at 2.5) and on dark patches (about 4 % of
    the image, blobs), mixed depths across depth steps (flying pixels between two surfaces) and
    ragged silhouettes.
  * ``kinect``: a Kinect v1-class structured-light camera at arm's length, NYU Hand's camera (the
    sensor of ``sdnet synth --dataset nyu``): little noise (std 0.14 mm at 300 mm growing with depth
    squared: 1.4 mm at 1 m, as measured for the Kinect v1, whose error reaches about 4 cm at 5 m),
    projector shadows of a 75 mm baseline (the hand's shadow on the body, f b (1/z_near - 1/z_far) px
    wide), holes on oblique surfaces, ragged silhouettes and mixed depths at depth steps.
"""
from __future__ import annotations

SENSOR_PROFILES: dict[str, dict] = {
    "default": {},
    "occluded": {
        "dropout": 0.15,  # random missing pixels on the hand (per pixel)
        "edge_dropout": 0.6,  # missing silhouette pixels (per pixel)
        "grazing_dropout": 0.8,  # extra loss on fully grazing surfaces (per pixel)
        "occluders": 2.0,  # expected occluders per frame (Poisson)
        "occluder_radius_mm": (10.0, 25.0),  # disc radius, uniform, mm at the hand's depth
        "occluder_gap_mm": (10.0, 40.0),  # in-front objects: mm in front of the hand, uniform
        "occluder_holes": 0.5,  # share of occluders that are holes rather than objects
    },
    "structured": {
        "noise_mm_at_300": 1.5,  # std (mm) facing the camera at 300 mm, grows with depth^2
        "slope_noise_gain": 0.5,
        "slope_noise_max": 2.0,  # steeper than that is a depth step: mixed depths (edge_mix), not noise
        "dropout": 0.01,
        "grazing_dropout": 0.9,  # holes on oblique surfaces ...
        "grazing_slope": (0.8, 2.5),  # ... from a slope (depth step per footprint) of 0.8, full at 2.5
        "edge_dropout": 0.5,
        "flying_pixels": 0.3,  # outside silhouettes, pushed back
        "edge_mix": 0.3,  # between two surfaces at a depth step, a depth in between
        "shadow_baseline_mm": 25.0,  # projector-camera baseline: shadow holes left of depth edges
        "dark_patches": 0.04,  # share of the image that returns nothing (dark material)
    },
    "kinect": {
        "noise_mm_at_300": 0.14,  # std (mm) facing the camera at 300 mm: 1.4 mm at 1 m
        "slope_noise_gain": 0.5,
        "slope_noise_max": 2.0,
        "dropout": 0.005,
        "grazing_dropout": 0.8,
        "grazing_slope": (1.0, 3.0),
        "edge_dropout": 0.4,
        "flying_pixels": 0.2,
        "edge_mix": 0.2,
        "shadow_baseline_mm": 75.0,  # the Kinect v1's projector-camera baseline
    },
}
