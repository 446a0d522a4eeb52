import numpy as np

from pipeline.skeleton import FINGERS, ICVL_SKELETON as SK


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
