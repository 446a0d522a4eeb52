"""The NYU Hand on-disk format: facts only (layout, camera, label file, evaluation joints).

Layout::

    ROOT/train/depth_<cam>_<%07d>.png   cameras 1-3, index from 1; 640x480, 8-bit RGB:
                                        depth mm = (G << 8) | B, R unused, 0 = no depth
    ROOT/train/joint_data.mat           'joint_uvd', 'joint_xyz': (3 cameras, N, 36, 3)
    ROOT/test/...                       the same

``joint_uvd``: u, v pixels, d mm. ``joint_xyz``: mm with y pointing up, so v = cy - fy * y / z
(``pipeline.camera`` uses y down: flip y when converting). Everyone uses camera 1 (index 0) and
evaluates (and trains on) the 14 joints ``EVAL_JOINT_IDS`` of the 36, in that order.
"""
from __future__ import annotations

from pipeline.camera import Intrinsics

SPLITS = ("train", "test")
CAMERAS = (1, 2, 3)
DEPTH_PATTERN = "depth_{cam}_{index:07d}.png"  # index from 1
LABEL_FILE = "joint_data.mat"
LABEL_KEYS = ("joint_uvd", "joint_xyz")
NUM_LABEL_JOINTS = 36
WIDTH, HEIGHT = 640, 480
FRAMES = {"train": 72757, "test": 8252}

# The public loaders' camera (y down, as pipeline.camera): mm per unit 1.
INTRINSICS = Intrinsics(fx=588.036865, fy=587.075073, cx=320.0, cy=240.0, width=WIDTH, height=HEIGHT,
                        depth_scale=1.0)
# The evaluation kit converts its uvd label and result files to xyz with these (fy < 0 only flips y).
KIT_INTRINSICS = (588.03, -587.07, 320.0, 240.0)  # fx, fy, cx, cy

# The 14 evaluated joints: indices into the 36, in the kit's order (also the kit label file's order).
EVAL_JOINT_IDS = (0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32)
EVAL_JOINT_NAMES = ("pinky_tip", "pinky_mid", "ring_tip", "ring_mid", "middle_tip", "middle_mid",
                    "index_tip", "index_mid", "thumb_tip", "thumb_mid", "thumb_root",
                    "wrist_a", "wrist_b", "palm")

# Test subjects: test frames [start, stop) (0-based, label order) and the public loaders' cube (mm).
TEST_SUBJECTS = (("subject_1", 0, 2440, 300.0), ("subject_2", 2440, 8252, 250.0))
