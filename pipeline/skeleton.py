"""Hand skeletons: the one source of truth for joints, bones, parts and layers.

Every stage (synthesis, data conversion, losses, refinement, evaluation) takes the skeleton from
here (through the dataset registry, ``pipeline.datasets``), and the dataset manifest records
``Skeleton.to_dict()`` so that training can check that its data was made with the same definition.

A skeleton is a tree with one root; joints may come in any order (ICVL lists the root first, NYU's
evaluation kit last): ``layers`` and ``bones`` follow the parent links, not the index order.

ICVL (``ICVL_SKELETON``): 0 palm; 1-3 thumb root/mid/tip; 4-6 index; 7-9 middle; 10-12 ring;
13-15 pinky. The palm is layer 0 and belongs to every part (paper Fig. 3b); layers 1-3 run from
finger root to fingertip.

NYU (``NYU_SKELETON``): the evaluation kit's 14 joints, in its order
(``NYU_EVAL_JOINT_NAMES``, also ``pipeline.nyu_format.EVAL_JOINT_NAMES``), the palm (13) the root.

MSRA Hand 2015 (``MSRA_SKELETON``) and HANDS 2017 / BigHand2.2M (``HANDS2017_SKELETON``): the same
21-joint hand (wrist, then per finger MCP, PIP, DIP, tip; the thumb's four joints carry the same
names, as both datasets label them) in each dataset's own label order:
  * MSRA (``MSRA_JOINT_NAMES``): 0 wrist; 1-4 index MCP-PIP-DIP-TIP; 5-8 middle; 9-12 ring;
    13-16 pinky (MSRA's "little"); 17-20 thumb.
  * HANDS 2017 (``HANDS2017_JOINT_NAMES``): 0 wrist; 1-5 the MCPs of thumb, index, middle, ring,
    pinky; 6-8 thumb PIP-DIP-TIP; 9-11 index; 12-14 middle; 15-17 ring; 18-20 pinky.
The wrist is the root (layer 0), the MCPs its children (layer 1), the tips layer 4; parts run wrist
-> tip in ``FINGERS`` order; no bone length is known (None). ``reorder`` moves per-joint values from
one skeleton's order to another's by joint name (e.g. MSRA labels into HANDS 2017 order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np



@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree of joints: one root, every other joint one parent, no cycles, in any index
    order (a parent may come after its child).

    Attributes:
      joint_names: one name per joint, in label order.
      parents: parent index per joint, -1 for the root.
      parts: name -> joint indices from the root (layer 0) to the tip, each the parent of the next; the
        root is in every part. Joints may belong to no part (NYU's wrist points).
      bone_length_mm: per bone, in the order of ``bones``: (mean, std) in mm, or None where the length
        is not known; prior knowledge used by the synthetic generator (measured on the test labels, see
        DESIGN.md; never fitted by this code).
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    parts: tuple[tuple[str, tuple[int, ...]], ...]
    bone_length_mm: tuple[tuple[float, float] | None, ...]

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise ValueError("parents and joint_names differ in length")
        tree_depths(self.parents)  # one root, parents in range, no cycle
        if len(self.bone_length_mm) != n - 1:
            raise ValueError("one bone length entry ((mean, std) or None) per bone is required")
        for name, chain in self.parts:
            if not chain or chain[0] != self.root:
                raise ValueError(f"part {name!r} must start at the root (joint {self.root})")
            for parent, child in zip(chain[:-1], chain[1:]):
                if self.parents[child] != parent:
                    raise ValueError(f"part {name!r}: joint {parent} is not the parent of joint {child}")

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
        """Layer of each joint: its number of bones from the root (ICVL: palm 0, fingertips 3), in
        joint order."""
        return tree_depths(self.parents)

    @property
    def fingertips(self) -> tuple[int, ...]:
        return tuple(chain[-1] for chain in self.part_chains)

    def joints_in_layer(self, layer: int) -> tuple[int, ...]:
        return tuple(j for j, l in enumerate(self.layers) if l == layer)

    def bone_index(self, child: int) -> int:
        """Index into ``bones`` of the bone that ends at ``child``."""
        return [c for _, c in self.bones].index(child)

    def bone_lengths(self, joints: np.ndarray) -> np.ndarray:
        """Bone lengths of joint positions ``joints`` (..., J, 3), same units; returns (..., J-1) in
        ``bones`` order."""
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

    @classmethod
    def from_dict(cls, d: dict) -> "Skeleton":
        """The skeleton a ``to_dict()`` records (saved loss configs, manifests); the bone lengths, which
        ``to_dict`` does not record, are unknown (None). ValueError when ``d`` is not a valid tree."""
        try:
            names, parents, parts = d["joint_names"], d["parents"], d["parts"]
            return cls(joint_names=tuple(str(n) for n in names), parents=tuple(int(p) for p in parents),
                       parts=tuple((str(k), tuple(int(j) for j in v)) for k, v in parts.items()),
                       bone_length_mm=(None,) * (len(names) - 1))
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a skeleton record ({type(e).__name__}: {e})") from None

    def matches(self, d: dict) -> bool:
        """True when a recorded ``to_dict()`` describes this skeleton."""
        return d == self.to_dict()


def joint_colours(skeleton: Skeleton, other: str = "#9e9e9e") -> list[str]:
    """A display colour per joint (hex strings): the ``FINGER_COLORS`` colour of the part it belongs to;
    ``other`` (grey) for the root (in every part), for joints in no part (NYU's wrist points) and for
    parts not named after a finger. Figures draw the bone that ends at a joint in that joint's colour."""
    colours = [other] * skeleton.num_joints
    for name, chain in skeleton.parts:
        for j in chain[1:]:
            colours[j] = FINGER_COLORS.get(name, other)
    return colours


def tree_depths(parents: tuple[int, ...]) -> tuple[int, ...]:
    """Depth of every joint of a tree given by ``parents`` (parent index per joint, -1 for the root):
    its number of bones from the root, in joint order. ValueError unless it is a tree with exactly one
    root (parents in range, no cycle); the joints may come in any order."""
    n = len(parents)
    roots = [j for j, p in enumerate(parents) if p == -1]
    if len(roots) != 1:
        raise ValueError(f"a skeleton needs exactly one root (parent -1), got {len(roots)}")
    for j, p in enumerate(parents):
        if p != -1 and not 0 <= p < n:
            raise ValueError(f"parent of joint {j} is {p}, not a joint index (0..{n - 1}) or -1")
    depth: list[int | None] = [None] * n
    for j in range(n):
        path, k = [], j
        while depth[k] is None and parents[k] != -1:
            if k in path:
                raise ValueError(f"the parents form a cycle through joint {k}")
            path.append(k)
            k = parents[k]
        base = 0 if depth[k] is None else depth[k]
        depth[k] = base
        for i, joint in enumerate(reversed(path), start=1):
            depth[joint] = base + i
    return tuple(depth)


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


# NYU's 14 evaluated joints in the evaluation kit's order (pipeline.nyu_format takes them from here).
NYU_EVAL_JOINT_NAMES = ("pinky_tip", "pinky_mid", "ring_tip", "ring_mid", "middle_tip", "middle_mid",
                        "index_tip", "index_mid", "thumb_tip", "thumb_mid", "thumb_root",
                        "wrist_a", "wrist_b", "palm")


def _nyu_joint(name: str) -> int:
    return NYU_EVAL_JOINT_NAMES.index(name)


_NYU_PALM = _nyu_joint("palm")
_NYU_PARENT_NAME = {  # joint -> parent, by name (the kit's joints; the palm is the root)
    "wrist_a": "palm", "wrist_b": "palm",
    "thumb_root": "palm", "thumb_mid": "thumb_root", "thumb_tip": "thumb_mid",
    **{f"{f}_mid": "palm" for f in FINGERS[1:]}, **{f"{f}_tip": f"{f}_mid" for f in FINGERS[1:]},
}
# mm, (mean, sd) on the NYU test labels (DESIGN.md, "Facts about NYU": one palm-wrist value for both
# wrist points); the palm -> finger mid bones are not given there: None.
_NYU_BONE_MM = {
    ("pinky_mid", "pinky_tip"): (36.6, 4.5), ("ring_mid", "ring_tip"): (44.7, 3.7),
    ("middle_mid", "middle_tip"): (49.7, 4.7), ("index_mid", "index_tip"): (45.5, 3.8),
    ("thumb_mid", "thumb_tip"): (21.0, 2.3), ("thumb_root", "thumb_mid"): (40.7, 5.6),
    ("palm", "wrist_a"): (71.7, 6.3), ("palm", "wrist_b"): (71.7, 6.3), ("palm", "thumb_root"): (62.7, 7.5),
}
_NYU_PARENTS = tuple(-1 if n == "palm" else _nyu_joint(_NYU_PARENT_NAME[n]) for n in NYU_EVAL_JOINT_NAMES)

# The 14 joints of NYU's evaluation kit, in its order: pinky tip, pinky mid, ring tip, ring mid, middle
# tip, middle mid, index tip, index mid, thumb tip, thumb mid, thumb root, wrist a, wrist b, palm (root,
# index 13). Parts run palm -> tip in FINGERS order: the thumb has 4 joints (palm, root, mid, tip), the
# other fingers 3 (palm, mid, tip); the wrist points are children of the palm and in no part.
NYU_SKELETON = Skeleton(
    joint_names=NYU_EVAL_JOINT_NAMES,
    parents=_NYU_PARENTS,
    parts=(("thumb", (_NYU_PALM, _nyu_joint("thumb_root"), _nyu_joint("thumb_mid"), _nyu_joint("thumb_tip"))),
           *((f, (_NYU_PALM, _nyu_joint(f"{f}_mid"), _nyu_joint(f"{f}_tip"))) for f in FINGERS[1:])),
    bone_length_mm=tuple(_NYU_BONE_MM.get((NYU_EVAL_JOINT_NAMES[p], NYU_EVAL_JOINT_NAMES[c]))
                         for c, p in enumerate(_NYU_PARENTS) if p >= 0),
)


# ----------------------------------------------------------------------------- 21-joint hands

def _hand21_skeleton(joint_names: tuple[str, ...]) -> Skeleton:
    """The 21-joint hand (wrist root; per finger ``<f>_mcp`` child of the wrist, then ``_pip``,
    ``_dip``, ``_tip``) in the order ``joint_names``; parts in ``FINGERS`` order, bone lengths
    unknown (None)."""
    index = {name: j for j, name in enumerate(joint_names)}
    chains = {f: tuple(f"{f}_{k}" for k in _HAND21_KINDS) for f in FINGERS}
    parent_name = {chain[0]: "wrist" for chain in chains.values()}
    parent_name.update({child: parent for chain in chains.values() for parent, child in zip(chain, chain[1:])})
    parents = tuple(-1 if name == "wrist" else index[parent_name[name]] for name in joint_names)
    parts = tuple((f, (index["wrist"],) + tuple(index[n] for n in chains[f])) for f in FINGERS)
    return Skeleton(joint_names=joint_names, parents=parents, parts=parts,
                    bone_length_mm=(None,) * (len(joint_names) - 1))


_HAND21_KINDS = ("mcp", "pip", "dip", "tip")  # per finger, root to tip

# MSRA Hand 2015's joint.txt order: wrist; index, middle, ring, little (pinky), each MCP-PIP-DIP-TIP;
# then the thumb MCP-PIP-DIP-TIP.
MSRA_JOINT_NAMES = ("wrist",) + tuple(f"{f}_{k}" for f in ("index", "middle", "ring", "pinky", "thumb")
                                      for k in _HAND21_KINDS)
# HANDS 2017's Training_Annotation.txt order: wrist; the five MCPs (thumb, index, middle, ring, pinky);
# then per finger in the same order PIP-DIP-TIP.
HANDS2017_JOINT_NAMES = (("wrist",) + tuple(f"{f}_mcp" for f in FINGERS)
                         + tuple(f"{f}_{k}" for f in FINGERS for k in _HAND21_KINDS[1:]))

MSRA_SKELETON = _hand21_skeleton(MSRA_JOINT_NAMES)
HANDS2017_SKELETON = _hand21_skeleton(HANDS2017_JOINT_NAMES)


def reorder(joints: np.ndarray, source: Skeleton, target: Skeleton) -> np.ndarray:
    """Per-joint values ``joints`` (..., J, C) in ``source``'s joint order (J = source.num_joints)
    -> (..., J', C) in ``target``'s order (J' = target.num_joints), matched by joint name; any frame
    and unit (xyz mm stays xyz mm, uvd stays uvd). A new array. ValueError when ``joints`` does not
    have ``source``'s joints, or naming the joints of ``target`` that ``source`` lacks."""
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != source.num_joints:
        raise ValueError(f"expected (..., {source.num_joints}, C) joints of the source skeleton, got shape "
                         f"{joints.shape}")
    where = {name: j for j, name in enumerate(source.joint_names)}
    missing = [name for name in target.joint_names if name not in where]
    if missing:
        raise ValueError(f"cannot reorder: the source skeleton has no joint named {', '.join(missing)}")
    return joints[..., [where[name] for name in target.joint_names], :]
