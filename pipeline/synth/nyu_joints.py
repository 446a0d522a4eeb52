"""NYU's 36 label joints placed on the generator's hand model.

Frame and units: camera xyz in mm (x right, y DOWN, z forward, ``pipeline/camera.py``), as the
model's 16 ICVL joints; ``pipeline.nyu_format.flip_y`` turns the result into NYU's ``joint_xyz``
(y up) and ``pipeline.camera.xyz_to_uvd`` into its ``joint_uvd``.

NYU's label order (``nyu_format.LABEL_JOINT_NAMES``): six points per finger for pinky (ids 0-5),
ring (6-11), middle (12-17), index (18-23) and thumb (24-29), from the tip toward the palm, two per
phalanx (A its distal end, B its proximal end; knuckle 3 the distal phalanx, 1 the proximal one);
then six palm points (30-35). The 14 evaluated joints (``nyu_format.EVAL_JOINT_IDS``) sit exactly
on the model's own joints, so a rendered finger bends where its NYU label says:

  * finger tip (0, 6, 12, 18) = the model's fingertip joint; finger mid (3, 9, 15, 21: KNU2_B,
    the PIP) = the model's mid joint; the thumb's tip (24), mid (25: KNU3_B, the IP joint) and root
    (27: KNU2_B, the MCP) = the model's thumb tip, mid and root;
  * wrist (30, 31): the model's wrist centre moved ``WRIST_SPREAD`` wrist radii to the ulnar
    (pinky) side for 30 and to the radial (thumb) side for 31 (which of NYU's two wrist points is
    which is our choice; the kit scores both);
  * palm (32) = the model's palm joint (the centre of the palm slab).

The 22 points NYU labels but does not evaluate are interpolated, plausibly but not from NYU data:

  * a finger's DIP (KNU3_B) lies ``DIP_FRACTION`` of the way from its tip to its mid joint (the
    model's distal bone is straight: it has no DIP of its own); each A point lies ``PAIR_GAP`` of
    its bone beyond the B point of the next phalanx (KNU2_A just proximal of the DIP, KNU1_A just
    proximal of the PIP); KNU1_B (the MCP) = the model's finger root;
  * the thumb's KNU2_A lies ``PAIR_GAP`` of the way from its IP to its MCP; its CMC (KNU1_B) lies
    ``THUMB_CMC_FRACTION`` of the way from the thumb root to the radial end of the palm heel (along
    the axis of the model's thenar eminence), and KNU1_A ``PAIR_GAP`` of the way from root to CMC;
  * palm points 33 and 34 are the ulnar and radial ends of the model's palm heel line, 35 the centre
    of the knuckle line (midway between the middle and ring roots).

Every point lies inside one of the model's solids (on a capsule axis, or within the palm slab).
"""
from __future__ import annotations

import numpy as np

from pipeline.skeleton import FINGERS, ICVL_SKELETON
from pipeline.synth.handmodel import HandShape, palm_points

DIP_FRACTION = 0.45  # tip -> DIP over tip -> PIP (a distal phalanx of about 45% of the two)
PAIR_GAP = 0.1  # an A point's offset from the joint it follows, as a share of its bone
THUMB_CMC_FRACTION = 0.6  # thumb root -> CMC over thumb root -> radial palm heel
WRIST_SPREAD = 0.6  # wrist points' offset from the wrist centre, in wrist radii

# NYU's finger order (pinky, ring, middle, index, thumb) as chains (palm, root, mid, tip) of the model.
NYU_FINGER_ORDER = ("pinky", "ring", "middle", "index", "thumb")
_CHAINS = {f: ICVL_SKELETON.part_chains[FINGERS.index(f)] for f in FINGERS}
_PALM = ICVL_SKELETON.root
_WRIST_ULNAR, _WRIST_RADIAL, _PALM_CENTRE, _HEEL_ULNAR, _HEEL_RADIAL, _KNUCKLES = range(30, 36)


def _towards(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The point a fraction ``t`` of the way from a to b."""
    return a + t * (b - a)


def _finger_points(root: np.ndarray, mid: np.ndarray, tip: np.ndarray) -> list[np.ndarray]:
    """KNU3_A .. KNU1_B of a finger from its model joints (MCP root, PIP mid, tip), tip first."""
    dip = _towards(tip, mid, DIP_FRACTION)
    return [tip, dip, _towards(tip, mid, DIP_FRACTION + PAIR_GAP), mid, _towards(mid, root, PAIR_GAP), root]


def _thumb_points(root: np.ndarray, mid: np.ndarray, tip: np.ndarray, cmc: np.ndarray) -> list[np.ndarray]:
    """TH_KNU3_A .. TH_KNU1_B from the model's thumb joints (MCP root, IP mid, tip) and its CMC."""
    return [tip, mid, _towards(mid, root, PAIR_GAP), root, _towards(root, cmc, PAIR_GAP), cmc]


def nyu_label_joints(joints: np.ndarray, shape: HandShape) -> np.ndarray:
    """NYU's 36 label joints (36, 3), camera xyz mm (y down), of the modelled hand whose ICVL
    joints are ``joints`` (16, 3) camera xyz mm and whose shape is ``shape`` (the module's
    docstring says where each point goes and which are interpolated)."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape != (ICVL_SKELETON.num_joints, 3):
        raise ValueError(f"expected the model's {ICVL_SKELETON.num_joints} joints (16, 3), got {joints.shape}")
    heel = palm_points(joints, shape)
    points = []
    for finger in NYU_FINGER_ORDER:
        _, root, mid, tip = (joints[j] for j in _CHAINS[finger])
        if finger == "thumb":
            points += _thumb_points(root, mid, tip, _towards(root, heel.heel_radial, THUMB_CMC_FRACTION))
        else:
            points += _finger_points(root, mid, tip)
    # The radial direction at the wrist: from the ulnar to the radial end of the heel line.
    radial = heel.heel_radial - heel.heel_ulnar
    radial = radial / max(float(np.linalg.norm(radial)), 1e-9)
    offset = WRIST_SPREAD * shape.wrist_radius_mm * radial
    knuckles = 0.5 * (joints[_CHAINS["middle"][1]] + joints[_CHAINS["ring"][1]])
    palm = {_WRIST_ULNAR: heel.wrist - offset, _WRIST_RADIAL: heel.wrist + offset,
            _PALM_CENTRE: joints[_PALM], _HEEL_ULNAR: heel.heel_ulnar, _HEEL_RADIAL: heel.heel_radial,
            _KNUCKLES: knuckles}
    points += [palm[k] for k in sorted(palm)]
    return np.stack(points)  # (36, 3)
