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
}
