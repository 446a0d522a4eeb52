"""The ICVL hand skeleton: the one source of truth for joints, bones, parts and layers.

Every stage (synthesis, data conversion, losses, refinement, evaluation) takes the skeleton from
here, and the dataset manifest records ``ICVL_SKELETON.to_dict()`` so that training can check that
its data was made with the same definition.

Joint order (ICVL): 0 palm; 1-3 thumb root/mid/tip; 4-6 index; 7-9 middle; 10-12 ring;
13-15 pinky. The palm is layer 0 and belongs to every part (paper Fig. 3b); layers 1-3 run from
finger root to fingertip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree of joints.

    Attributes:
      joint_names: one name per joint, in label order.
      parents: parent index per joint, -1 for the root.
      parts: name -> joint indices from the root (layer 0) to the tip; the root is in every part.
      bone_length_mm: (mean, std) per bone, in the order of ``bones``; prior knowledge used by the
        synthetic generator (from the ICVL test labels, see DESIGN.md; never fitted by this code).
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    parts: tuple[tuple[str, tuple[int, ...]], ...]
    bone_length_mm: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise ValueError("parents and joint_names differ in length")
        for j, p in enumerate(self.parents):
            if p >= j:
                raise ValueError(f"parent of joint {j} must come before it (got {p})")
        if len(self.bone_length_mm) != n - 1:
            raise ValueError("one (mean, std) bone length per bone is required")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) pairs, in child order; for ICVL this is DESIGN.md's bone list."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parts)

    @property
    def part_chains(self) -> tuple[tuple[int, ...], ...]:
        """Per part, the joint chain root -> tip, e.g. (0, 1, 2, 3) for the thumb."""
        return tuple(chain for _, chain in self.parts)

    @property
    def layers(self) -> tuple[int, ...]:
        """Layer of each joint: its number of bones from the root (palm 0, fingertips 3)."""
        out = []
        for p in self.parents:
            out.append(0 if p < 0 else out[p] + 1)
        return tuple(out)

    @property
    def fingertips(self) -> tuple[int, ...]:
        return tuple(chain[-1] for chain in self.part_chains)

    def joints_in_layer(self, layer: int) -> tuple[int, ...]:
        return tuple(j for j, l in enumerate(self.layers) if l == layer)

    def bone_index(self, child: int) -> int:
        """Index into ``bones`` of the bone that ends at ``child``."""
        return [c for _, c in self.bones].index(child)

    def bone_lengths(self, joints: np.ndarray) -> np.ndarray:
        """Bone lengths of joint positions ``joints`` (..., J, 3), same units; returns (..., J-1)."""
        joints = np.asarray(joints)
        parents = np.array([p for p, _ in self.bones])
        children = np.array([c for _, c in self.bones])
        return np.linalg.norm(joints[..., children, :] - joints[..., parents, :], axis=-1)

    def to_dict(self) -> dict:
        """JSON-friendly form, recorded in manifests and run configs."""
        return {
            "joint_names": list(self.joint_names),
            "parents": list(self.parents),
            "parts": {name: list(chain) for name, chain in self.parts},
        }

    def matches(self, d: dict) -> bool:
        """True when a recorded ``to_dict()`` describes this skeleton."""
        return d == self.to_dict()


FINGERS = ("thumb", "index", "middle", "ring", "pinky")
# One display colour per finger part (FINGERS order), readable on a grey depth image: every figure and
# overlay draws the fingers in these.
FINGER_COLORS = dict(zip(FINGERS, ("#e6194b", "#f58231", "#ffe119", "#3cb44b", "#4363d8")))

ICVL_SKELETON = Skeleton(
    joint_names=(
        "palm",
        "thumb_root", "thumb_mid", "thumb_tip",
        "index_root", "index_mid", "index_tip",
        "middle_root", "middle_mid", "middle_tip",
        "ring_root", "ring_mid", "ring_tip",
        "pinky_root", "pinky_mid", "pinky_tip",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14),
    parts=tuple((f, (0, 1 + 3 * i, 2 + 3 * i, 3 + 3 * i)) for i, f in enumerate(FINGERS)),
    # mm, (mean, std), measured on ICVL labels (DESIGN.md); bone order = ICVL_SKELETON.bones.
    bone_length_mm=(
        (29.5, 2.6), (30.6, 4.0), (25.4, 1.9),
        (56.2, 2.6), (28.1, 2.0), (18.1, 1.9),
        (52.4, 3.9), (32.2, 3.0), (20.4, 2.2),
        (44.2, 3.2), (28.6, 3.2), (19.6, 2.2),
        (41.9, 2.6), (22.2, 2.6), (18.1, 1.7),
    ),
)

NUM_JOINTS = ICVL_SKELETON.num_joints
