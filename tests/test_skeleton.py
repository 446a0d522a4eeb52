import numpy as np
import pytest

from pipeline import nyu_format
from pipeline.skeleton import FINGER_COLORS, FINGERS, ICVL_SKELETON, NYU_SKELETON, Skeleton, joint_colours, tree_depths
from pipeline.skeleton import (HANDS2017_JOINT_NAMES, HANDS2017_SKELETON, MSRA_JOINT_NAMES, MSRA_SKELETON,
                               reorder)
from pipeline.skeleton import ICVL_SKELETON as SK


def test_bones_match_icvl_definition():
    assert SK.bones == ((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9),
                        (0, 10), (10, 11), (11, 12), (0, 13), (13, 14), (14, 15))
    assert SK.num_joints == 16 and len(SK.bone_length_mm) == len(SK.bones)


def test_parts_and_layers_follow_fig3b():
    assert SK.part_names == FINGERS
    for chain in SK.part_chains:
        assert chain[0] == SK.root  # the palm belongs to every part
        assert [SK.layers[j] for j in chain] == [0, 1, 2, 3]
        for parent, child in zip(chain[:-1], chain[1:]):
            assert SK.parents[child] == parent
    assert SK.fingertips == (3, 6, 9, 12, 15)
    assert SK.joints_in_layer(0) == (0,)
    every_joint = sorted({j for chain in SK.part_chains for j in chain})
    assert every_joint == list(range(SK.num_joints))


def test_bone_lengths_and_roundtrip_dict():
    joints = np.zeros((2, 16, 3))
    joints[:, 1] = [3.0, 4.0, 0.0]
    lengths = SK.bone_lengths(joints)
    assert lengths.shape == (2, 15)
    assert lengths[0, SK.bone_index(1)] == 5.0
    d = SK.to_dict()
    assert SK.matches(d)
    d["parents"] = d["parents"][::-1]
    assert not SK.matches(d)


# ---- any joint order: the tree, not the index order, defines layers and bones ------------------------

def test_icvl_layers_and_bone_order_are_unchanged():
    assert SK.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
    assert SK.layers == (0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3)
    assert [SK.bone_index(c) for c in range(1, 16)] == list(range(15))
    assert all(entry is not None for entry in SK.bone_length_mm)


def test_a_tree_whose_root_comes_last_is_accepted():
    sk = Skeleton(joint_names=("tip", "mid", "root"), parents=(1, 2, -1), parts=(("finger", (2, 1, 0)),),
                  bone_length_mm=(None, (3.0, 0.5)))
    assert sk.root == 2 and sk.layers == (2, 1, 0)
    assert sk.bones == ((1, 0), (2, 1))  # in child order
    assert sk.joints_in_layer(0) == (2,) and sk.fingertips == (0,)
    assert sk.bone_lengths(np.array([[0.0, 0, 0], [0, 3, 4], [0, 3, 14]])).tolist() == [5.0, 10.0]


@pytest.mark.parametrize("parents, parts, message", [
    ((-1, -1, 0), (), "exactly one root"),
    ((1, 2, 1), (), "exactly one root"),
    ((-1, 2, 1), (), "cycle"),
    ((-1, 0, 5), (), "not a joint index"),
    ((-1, 0, 1), (("f", (1, 2)),), "must start at the root"),
    ((-1, 0, 0), (("f", (0, 1, 2)),), "joint 1 is not the parent of joint 2"),
])
def test_a_skeleton_that_is_not_a_tree_is_refused(parents, parts, message):
    with pytest.raises(ValueError, match=message):
        Skeleton(joint_names=("a", "b", "c"), parents=parents, parts=parts, bone_length_mm=(None, None))


def test_tree_depths_in_any_order():
    assert tree_depths((-1,)) == (0,)
    assert tree_depths((3, 0, 1, -1, 3)) == (1, 2, 3, 0, 1)


# ---- NYU: the evaluation kit's 14 joints, palm (13) the root -------------------------------------------

def _nyu(name: str) -> int:
    return NYU_SKELETON.joint_names.index(name)


def test_nyu_skeleton_joints_parents_and_layers():
    sk = NYU_SKELETON
    assert sk.joint_names == nyu_format.EVAL_JOINT_NAMES and sk.num_joints == 14
    assert sk.root == 13 and sk.joint_names[13] == "palm"
    assert sk.parents == (1, 13, 3, 13, 5, 13, 7, 13, 9, 10, 13, 13, 13, -1)
    # palm 0; mids, thumb root and the wrists 1; tips and thumb mid 2; thumb tip 3
    assert sk.layers == (2, 1, 2, 1, 2, 1, 2, 1, 3, 2, 1, 1, 1, 0)
    assert sk.joints_in_layer(0) == (13,)
    assert sk.joints_in_layer(1) == (1, 3, 5, 7, 10, 11, 12)
    assert sk.joints_in_layer(3) == (8,)


def test_nyu_bones_and_parts():
    sk = NYU_SKELETON
    assert sk.bones == ((1, 0), (13, 1), (3, 2), (13, 3), (5, 4), (13, 5), (7, 6), (13, 7), (9, 8), (10, 9),
                        (13, 10), (13, 11), (13, 12))
    assert sk.part_names == FINGERS
    assert sk.part_chains == ((13, 10, 9, 8), (13, 7, 6), (13, 5, 4), (13, 3, 2), (13, 1, 0))
    assert sk.fingertips == (_nyu("thumb_tip"), _nyu("index_tip"), _nyu("middle_tip"), _nyu("ring_tip"),
                             _nyu("pinky_tip"))
    in_parts = {j for chain in sk.part_chains for j in chain}
    assert set(range(14)) - in_parts == {_nyu("wrist_a"), _nyu("wrist_b")}
    assert sk.matches(sk.to_dict()) and not ICVL_SKELETON.matches(sk.to_dict())


def test_nyu_bone_length_prior_holds_only_design_md_values():
    sk = NYU_SKELETON
    prior = {(sk.joint_names[p], sk.joint_names[c]): sk.bone_length_mm[b] for b, (p, c) in enumerate(sk.bones)}
    assert prior[("pinky_mid", "pinky_tip")] == (36.6, 4.5) and prior[("index_mid", "index_tip")] == (45.5, 3.8)
    assert prior[("thumb_root", "thumb_mid")] == (40.7, 5.6) and prior[("palm", "thumb_root")] == (62.7, 7.5)
    assert prior[("palm", "wrist_a")] == prior[("palm", "wrist_b")] == (71.7, 6.3)
    unknown = {bone for bone, v in prior.items() if v is None}  # not in DESIGN.md: not invented
    assert unknown == {("palm", f"{f}_mid") for f in ("index", "middle", "ring", "pinky")}


def test_nyu_bone_lengths_of_a_known_pose():
    """Palm at the origin; every joint placed so that its bone is a 3-4-5 (or 5-12-13) triangle."""
    sk = NYU_SKELETON
    pose = np.zeros((14, 3))
    place = {"wrist_a": ("palm", (3, 4, 0)), "wrist_b": ("palm", (-3, 4, 0)), "thumb_root": ("palm", (0, 5, 12)),
             "thumb_mid": ("thumb_root", (6, 8, 0)), "thumb_tip": ("thumb_mid", (0, 0, 2)),
             **{f"{f}_mid": ("palm", (10 * k, -30, 40)) for k, f in enumerate(FINGERS[1:])},
             **{f"{f}_tip": (f"{f}_mid", (0, -9, 12)) for f in FINGERS[1:]}}
    for name in ("wrist_a", "wrist_b", "thumb_root", "thumb_mid", "thumb_tip", *(f"{f}_mid" for f in FINGERS[1:]),
                 *(f"{f}_tip" for f in FINGERS[1:])):
        parent, offset = place[name]
        pose[_nyu(name)] = pose[_nyu(parent)] + offset
    lengths = dict(zip(sk.bones, sk.bone_lengths(pose[None])[0]))
    expected = {("wrist_a", 5), ("wrist_b", 5), ("thumb_root", 13), ("thumb_mid", 10), ("thumb_tip", 2),
                ("index_mid", 50), ("middle_mid", np.hypot(50, 10)), ("ring_mid", np.hypot(50, 20)),
                ("pinky_mid", np.hypot(50, 30)), *((f"{f}_tip", 15) for f in FINGERS[1:])}
    for child, mm in expected:
        c = _nyu(child)
        assert lengths[(sk.parents[c], c)] == pytest.approx(mm), child
    assert len(lengths) == 13


@pytest.mark.parametrize("sk", [ICVL_SKELETON, NYU_SKELETON], ids=["icvl", "nyu"])
def test_a_recorded_skeleton_rebuilds_the_same_tree(sk):
    again = Skeleton.from_dict(sk.to_dict())  # as a saved loss config or a manifest holds it
    assert sk.matches(again.to_dict()) and again.layers == sk.layers and again.bones == sk.bones
    assert again.bone_length_mm == (None,) * (sk.num_joints - 1)  # not recorded: unknown
    with pytest.raises(ValueError):
        Skeleton.from_dict({"joint_names": ["a", "b"], "parents": [-1, 5], "parts": {}})
    with pytest.raises(ValueError, match="not a skeleton record"):
        Skeleton.from_dict({"joint_names": ["a"]})


def test_joint_colours_follow_the_parts_and_grey_the_rest():
    colours = joint_colours(NYU_SKELETON)
    name = NYU_SKELETON.joint_names.index
    assert colours[name("index_tip")] == colours[name("index_mid")] == FINGER_COLORS["index"]
    assert colours[name("wrist_a")] == colours[name("wrist_b")] == colours[name("palm")] == "#9e9e9e"
    assert joint_colours(ICVL_SKELETON)[ICVL_SKELETON.joint_names.index("thumb_root")] == FINGER_COLORS["thumb"]


# ---- MSRA Hand 2015 and HANDS 2017: one 21-joint hand in two label orders ------------------------------

HAND21 = [MSRA_SKELETON, HANDS2017_SKELETON]


@pytest.mark.parametrize("sk", HAND21, ids=["msra", "hands2017"])
def test_hand21_skeletons_have_a_wrist_root_and_five_four_joint_fingers(sk):
    assert sk.num_joints == 21 and len(set(sk.joint_names)) == 21
    assert sk.root == 0 and sk.joint_names[0] == "wrist"
    assert sk.part_names == FINGERS
    for finger, chain in sk.parts:
        assert len(chain) == 5 and chain[0] == sk.root
        assert [sk.joint_names[j] for j in chain[1:]] == [f"{finger}_{k}" for k in ("mcp", "pip", "dip", "tip")]
        assert [sk.layers[j] for j in chain] == [0, 1, 2, 3, 4]
    assert sorted(set(sk.layers)) == [0, 1, 2, 3, 4]  # 4 layers below the root
    assert [len(sk.joints_in_layer(layer)) for layer in range(5)] == [1, 5, 5, 5, 5]
    assert sk.bone_length_mm == (None,) * 20
    assert Skeleton.from_dict(sk.to_dict()).matches(sk.to_dict())


def test_hand21_label_orders_are_the_datasets():
    assert MSRA_SKELETON.joint_names[1:5] == ("index_mcp", "index_pip", "index_dip", "index_tip")
    assert MSRA_SKELETON.joint_names[13] == "pinky_mcp" and MSRA_SKELETON.joint_names[17:] == (
        "thumb_mcp", "thumb_pip", "thumb_dip", "thumb_tip")
    assert HANDS2017_SKELETON.joint_names[1:6] == tuple(f"{f}_mcp" for f in FINGERS)
    assert HANDS2017_SKELETON.joint_names[6:9] == ("thumb_pip", "thumb_dip", "thumb_tip")
    assert HANDS2017_SKELETON.joint_names[18:] == ("pinky_pip", "pinky_dip", "pinky_tip")
    assert HANDS2017_SKELETON.fingertips == (8, 11, 14, 17, 20)
    assert MSRA_SKELETON.fingertips == (20, 4, 8, 12, 16)
    assert set(MSRA_JOINT_NAMES) == set(HANDS2017_JOINT_NAMES)
    assert not MSRA_SKELETON.matches(HANDS2017_SKELETON.to_dict())


def test_reorder_msra_to_hands2017_and_back_is_the_identity():
    joints = np.random.default_rng(0).normal(size=(2, 3, 21, 3))  # (..., J, C)
    there = reorder(joints, MSRA_SKELETON, HANDS2017_SKELETON)
    assert there.shape == joints.shape
    for name in ("wrist", "thumb_tip", "pinky_mcp", "index_dip"):
        np.testing.assert_array_equal(there[..., HANDS2017_JOINT_NAMES.index(name), :],
                                      joints[..., MSRA_JOINT_NAMES.index(name), :])
    np.testing.assert_array_equal(reorder(there, HANDS2017_SKELETON, MSRA_SKELETON), joints)
    np.testing.assert_array_equal(reorder(joints, MSRA_SKELETON, MSRA_SKELETON), joints)


def test_reorder_names_the_joints_the_source_lacks():
    other = Skeleton(joint_names=("wrist", "sixth_finger_tip"), parents=(-1, 0), parts=(),
                     bone_length_mm=(None,))
    with pytest.raises(ValueError, match="sixth_finger_tip"):
        reorder(np.zeros((21, 3)), MSRA_SKELETON, other)
    with pytest.raises(ValueError, match="palm"):
        reorder(np.zeros((21, 3)), HANDS2017_SKELETON, ICVL_SKELETON)
    with pytest.raises(ValueError, match=r"\(\.\.\., 21, C\)"):
        reorder(np.zeros((16, 3)), MSRA_SKELETON, HANDS2017_SKELETON)
