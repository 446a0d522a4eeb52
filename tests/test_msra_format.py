"""The MSRA Hand 2015 format: the cropped float32 depth .bin, joint.txt in its y-up, z-negative frame,
faulty frames, and a tree written and read back with its rejections. Every tree is written here, small."""
import struct

import numpy as np
import pytest

from pipeline import camera as pinhole
from pipeline import msra_format as msra
from pipeline.errors import DepthImageError, LabelError, SdnetError

W, H = msra.WIDTH, msra.HEIGHT


def hand_frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n frames: depth (n, H, W) float32 mm (a 30x40 px blob at 400-600 mm, the rest 0) and joints
    (n, 21, 3) camera xyz [mm, y down, z > 0] that project inside the image."""
    rng = np.random.default_rng(seed)
    depth = np.zeros((n, H, W), np.float32)
    uvd = np.zeros((n, msra.NUM_JOINTS, 3))
    for i in range(n):
        u0, v0 = rng.integers(20, 250), rng.integers(20, 180)
        depth[i, v0:v0 + 30, u0:u0 + 40] = rng.uniform(400, 600, (30, 40))
        uvd[i, :, 0] = u0 + rng.uniform(0, 39, msra.NUM_JOINTS)
        uvd[i, :, 1] = v0 + rng.uniform(0, 29, msra.NUM_JOINTS)
        uvd[i, :, 2] = rng.uniform(400, 600, msra.NUM_JOINTS)
    return depth, pinhole.uvd_to_xyz(uvd, msra.INTRINSICS)


def bin_bytes(width=W, height=H, box=(0, 0, 2, 1), values=(500.0, 510.0)) -> bytes:
    return struct.pack("<6i", width, height, *box) + np.asarray(values, "<f4").tobytes()


# ---- facts ---------------------------------------------------------------------------------------

def test_facts():
    assert len(msra.SUBJECTS) == 9 and len(msra.GESTURES) == 17 and msra.SUBJECTS[-1] == "P8"
    i = msra.INTRINSICS
    assert (i.fx, i.fy, i.cx, i.cy, i.width, i.height) == (241.42, 241.42, 160.0, 120.0, 320, 240)
    assert set(msra.SUBJECT_CUBE_MM) == set(msra.SUBJECTS)
    assert [msra.SUBJECT_CUBE_MM[s] for s in ("P0", "P2", "P3", "P5", "P6", "P7", "P8")] == [200, 200, 180, 180,
                                                                                           170, 160, 150]
    assert msra.FAULTY_FRAMES[("P2", "TIP")] == {172, 173, 174}
    assert msra.FAULTY_FRAMES[("P2", "MP")] == {173, 174, 175, *range(345, 355), 356, 359, 360}
    assert msra.FAULTY_FRAMES[("P3", "T")] == {120, 489} and msra.FAULTY_FRAMES[("P8", "4")] == {168}
    assert msra.depth_file_name(7) == "000007_depth.bin"


# ---- depth .bin ----------------------------------------------------------------------------------

def test_encode_writes_the_tight_box_and_decode_pastes_it_back():
    depth = np.zeros((H, W), np.float32)
    depth[10, 20] = 512.25
    depth[14, 30] = 600.5  # box: left 20, top 10, right 31, bottom 15
    data = msra.encode_bin(depth)
    assert struct.unpack_from("<6i", data) == (W, H, 20, 10, 31, 15)
    assert len(data) == 24 + 4 * 11 * 5
    back = msra.decode_bin(data, "x.bin")
    assert back.dtype == np.float32 and back.shape == (H, W)
    np.testing.assert_array_equal(back, depth)
    frames, _ = hand_frames(2)
    for f in frames:
        np.testing.assert_array_equal(msra.decode_bin(msra.encode_bin(f), "x.bin"), f)
    ints = (frames[0] > 0).astype(np.uint16) * 700  # whole mm are fine too
    np.testing.assert_array_equal(msra.decode_bin(msra.encode_bin(ints), "x.bin"), ints)


def test_an_image_without_depth_is_the_empty_box_and_no_payload():
    data = msra.encode_bin(np.zeros((H, W)))
    assert data == struct.pack("<6i", W, H, 0, 0, 0, 0)
    assert not msra.decode_bin(data, "x.bin").any()
    assert not msra.decode_bin(struct.pack("<6i", W, H, 5, 7, 5, 9), "x.bin").any()  # any zero-area box


@pytest.mark.parametrize("data, message", [
    (b"\x00" * 10, "truncated header: 10 bytes"),
    (bin_bytes()[:-2], "6 bytes of depth after the header, the header's 2x1 px box needs 8"),
    (bin_bytes() + b"\x00" * 4, "12 bytes of depth"),
    (bin_bytes(box=(319, 0, 321, 1)), "lies outside the 320x240 image"),
    (bin_bytes(box=(5, 0, 3, 1)), "lies outside"),
    (bin_bytes(box=(0, -1, 2, 0)), "lies outside"),
    (bin_bytes(values=(500.0, -3.0)), "negative depth"),
    (bin_bytes(values=(500.0, np.nan)), "NaN"),
    (bin_bytes(width=640, height=480), "header gives a 640x480 image, expected 320x240"),
])
def test_a_bad_bin_raises_naming_where(data, message):
    with pytest.raises(DepthImageError, match="^P0/1/000003_depth.bin: ") as e:
        msra.decode_bin(data, "P0/1/000003_depth.bin")
    assert message in str(e.value)


def test_a_truncated_bin_file_raises_naming_the_file(tmp_path):
    path = tmp_path / "000000_depth.bin"
    path.write_bytes(msra.encode_bin(hand_frames(1)[0][0])[:-100])
    with pytest.raises(DepthImageError, match=str(path)):
        msra.read_bin(path)
    with pytest.raises(DepthImageError, match="not found"):
        msra.read_bin(tmp_path / "000001_depth.bin")


@pytest.mark.parametrize("bad", [np.full((H, W), -1.0), np.full((H, W), np.nan), np.zeros(W), np.zeros((0, W))])
def test_encode_refuses_what_is_not_a_depth_map(bad):
    with pytest.raises(ValueError):
        msra.encode_bin(bad)


# ---- frames: file xyz (y up, z < 0) vs camera xyz (y down, z > 0) ----------------------------------

def test_file_frame_is_camera_frame_with_y_and_z_negated():
    cam = np.array([[10.0, -20.0, 500.0]])
    np.testing.assert_array_equal(msra.file_to_camera(cam), [[10.0, 20.0, -500.0]])
    np.testing.assert_array_equal(msra.camera_to_file(msra.file_to_camera(cam)), cam)
    _, xyz = hand_frames(3)
    np.testing.assert_allclose(msra.file_xyz_to_uvd(msra.camera_to_file(xyz)), msra.xyz_to_uvd(xyz))
    np.testing.assert_allclose(msra.uvd_to_xyz(msra.xyz_to_uvd(xyz)), xyz)


def test_z_plus_500_is_minus_500_in_joint_txt_and_projects_by_msras_formula(tmp_path):
    xyz = np.zeros((1, 21, 3))
    xyz[0, :, 2] = 450.0
    xyz[0, 0] = (50.0, -30.0, 500.0)  # wrist: right of and above the centre (y down)
    path = tmp_path / "joint.txt"
    msra.write_joint_file(path, xyz)
    lines = path.read_text().splitlines()
    assert lines[0] == "1" and len(lines) == 2
    x, y, z = (float(v) for v in lines[1].split()[:3])
    assert (x, y, z) == (50.0, 30.0, -500.0)  # y up, z negative in the file
    fx, fy, cx, cy = 241.42, 241.42, 160.0, 120.0  # MSRA's formula, with z' = -z > 0
    u, v = x * fx / -z + cx, cy - y * fy / -z
    back, _ = msra.read_joint_file(path)
    assert back[0, 0].tolist() == [50.0, -30.0, 500.0]
    np.testing.assert_allclose(msra.xyz_to_uvd(back[0, 0]), [u, v, 500.0])
    assert u > cx and v < cy  # right and above the principal point in the image


# ---- joint.txt -----------------------------------------------------------------------------------

def test_joint_file_round_trip_within_float32(tmp_path):
    _, xyz = hand_frames(4)
    path = tmp_path / "joint.txt"
    msra.write_joint_file(path, xyz)
    back, rejects = msra.read_joint_file(path)
    assert rejects == [] and back.shape == (4, 21, 3)
    np.testing.assert_allclose(back, xyz, rtol=1e-6)
    np.testing.assert_array_equal(back.astype(np.float32), xyz.astype(np.float32))  # the same float32
    assert [p.name for p in tmp_path.iterdir()] == ["joint.txt"]  # no temporary file left


def _joint_text(lines: list[str], count: int | None = None) -> str:
    return "\n".join([str(len(lines) if count is None else count), *lines]) + "\n"


GOOD = " ".join(["1.5", "-2", "-300"] * 21)


@pytest.mark.parametrize("lines, count, line, message", [
    ([GOOD, GOOD], 3, 1, "the count line says 3 frames, the file holds 2 joint lines"),
    ([GOOD, GOOD, GOOD], 2, 1, "the count line says 2 frames, the file holds 3"),
    ([GOOD, " ".join(["1"] * 62)], None, 3, "expected 63 numbers (21 joints x x y z mm), got 62"),
    ([GOOD, GOOD + " 7"], None, 3, "got 64"),
    (["", GOOD], None, 2, "got 0"),
    ([GOOD.replace("1.5", "abc", 1), GOOD], None, 2, "non-numeric value 'abc'"),
    ([GOOD, GOOD.replace("1.5", "nan", 1)], None, 3, "NaN or infinite"),
])
def test_bad_joint_lines_are_rejects_naming_file_and_line(tmp_path, lines, count, line, message):
    path = tmp_path / "joint.txt"
    path.write_text(_joint_text(lines, count))
    xyz, rejects = msra.read_joint_file(path)
    assert len(xyz) == len(lines)
    assert [r.line for r in rejects] == [line]
    assert rejects[0].reason.startswith(f"{path}:{line}: ") and message in rejects[0].reason
    assert rejects[0].label_file == str(path)
    good = [k for k in range(len(lines)) if k + 2 != line]
    assert np.isfinite(xyz[good]).all() and xyz[good, 0].tolist() == [[1.5, 2.0, 300.0]] * len(good)
    if line >= 2:
        assert np.isnan(xyz[line - 2]).all() and rejects[0].frame == line - 2


def test_trailing_blank_lines_are_not_frames(tmp_path):
    path = tmp_path / "joint.txt"
    path.write_text(_joint_text([GOOD]) + "\n  \n")
    xyz, rejects = msra.read_joint_file(path)
    assert len(xyz) == 1 and rejects == []


@pytest.mark.parametrize("text, message", [("", "empty file"), ("2.5\n" + GOOD, "'2.5'"),
                                           ("frames\n", "'frames'"), ("-1\n", "'-1'")])
def test_a_joint_file_without_a_count_raises(tmp_path, text, message):
    path = tmp_path / "joint.txt"
    path.write_text(text)
    with pytest.raises(LabelError, match=f"^{path}:1: expected the frame count") as e:
        msra.read_joint_file(path)
    assert message in str(e.value)
    with pytest.raises(LabelError, match="not found"):
        msra.read_joint_file(tmp_path / "none.txt")


# ---- a tree --------------------------------------------------------------------------------------

def test_a_written_tree_reads_back_the_same_joints_and_depth(tmp_path):
    depth_a, xyz_a = hand_frames(3, seed=1)
    depth_b, xyz_b = hand_frames(2, seed=2)
    folder = msra.write_msra_tree(tmp_path, "P3", "TIP", depth_a, xyz_a)
    msra.write_msra_tree(tmp_path, "P0", "1", depth_b, xyz_b)
    assert folder == tmp_path / "P3" / "TIP"
    assert sorted(p.name for p in folder.iterdir()) == ["000000_depth.bin", "000001_depth.bin",
                                                        "000002_depth.bin", "joint.txt"]
    listing = msra.list_tree(tmp_path)
    assert listing.folders == (("P0", "1"), ("P3", "TIP")) and listing.subjects == ("P0", "P3")
    assert listing.rejected == () and listing.label_frames == listing.depth_frames == 5
    assert [(r.subject, r.gesture, r.frame) for r in listing.records] == [
        ("P0", "1", 0), ("P0", "1", 1), ("P3", "TIP", 0), ("P3", "TIP", 1), ("P3", "TIP", 2)]
    rec = listing.records[3]
    assert rec.path == str(folder / "000001_depth.bin") and rec.label_file == str(folder / "joint.txt")
    assert rec.cube_mm == 180.0 and listing.records[0].cube_mm == 200.0 and rec.line == 3 and not rec.faulty
    np.testing.assert_allclose(rec.xyz, xyz_a[1], rtol=1e-6)
    np.testing.assert_allclose(rec.uvd, pinhole.xyz_to_uvd(xyz_a[1], msra.INTRINSICS), rtol=1e-6)
    np.testing.assert_array_equal(msra.read_frame(rec), depth_a[1])
    assert (rec.uvd[:, 2] > 0).all()


def test_tree_rejects_missing_bins_bad_lines_and_joints_behind_the_camera(tmp_path):
    depth, xyz = hand_frames(5)
    xyz[3, 7, 2] = -20.0  # one joint behind the camera
    folder = msra.write_msra_tree(tmp_path, "P1", "Y", depth, xyz)
    (folder / "000001_depth.bin").unlink()
    label = folder / "joint.txt"
    lines = label.read_text().splitlines()
    lines[5] = "1 2 3"  # frame 4
    label.write_text("\n".join(lines) + "\n")
    listing = msra.list_tree(tmp_path)
    assert [r.frame for r in listing.records] == [0, 2]
    by_frame = {r.frame: r for r in listing.rejected}
    assert sorted(by_frame) == [1, 3, 4]
    assert by_frame[1].reason == "depth file not found" and by_frame[1].path == str(folder / "000001_depth.bin")
    assert "1 joints behind the camera" in by_frame[3].reason and by_frame[3].line == 5
    assert by_frame[4].reason == f"{label}:6: expected 63 numbers (21 joints x x y z mm), got 3"
    assert by_frame[4].path == str(folder / "000004_depth.bin") and by_frame[4].label_file == str(label)
    assert by_frame[4].to_dict() == {"path": str(folder / "000004_depth.bin"), "label_file": str(label),
                                     "line": 6, "reason": by_frame[4].reason}
    assert listing.label_frames == 5 and listing.depth_frames == 4


def test_faulty_frames_are_skipped_and_reported_or_kept(tmp_path):
    depth = np.zeros((170, H, W), np.float32)
    depth[:, 100:110, 150:160] = 500.0
    xyz = np.tile(pinhole.uvd_to_xyz(np.array([155.0, 105.0, 500.0]), msra.INTRINSICS), (170, 21, 1))
    msra.write_msra_tree(tmp_path, "P8", "4", depth, xyz)
    listing = msra.list_tree(tmp_path)
    assert len(listing.records) == 169 and 168 not in [r.frame for r in listing.records]
    (reject,) = listing.rejected
    assert (reject.frame, reject.line, reject.reason) == (168, 170, "faulty label (FAULTY_FRAMES)")
    assert reject.path.endswith("P8/4/000168_depth.bin")
    kept = msra.list_tree(tmp_path, keep_faulty=True)
    assert len(kept.records) == 170 and kept.rejected == ()
    assert [r.frame for r in kept.records if r.faulty] == [168]
    custom = msra.list_tree(tmp_path, faulty={("P8", "4"): frozenset({0, 1})})
    assert [r.frame for r in custom.rejected] == [0, 1]


def test_folder_level_rejects_and_a_tree_of_nothing(tmp_path):
    depth, xyz = hand_frames(2)
    folder = msra.write_msra_tree(tmp_path, "P5", "IP", depth, xyz)
    (folder / "000007_depth.bin").write_bytes(msra.encode_bin(depth[0]))  # no joint line for it
    (tmp_path / "P5" / "RP").mkdir()  # a gesture folder without joint.txt
    (tmp_path / "P9" / "1").mkdir(parents=True)  # not an MSRA subject: ignored
    listing = msra.list_tree(tmp_path)
    assert listing.folders == (("P5", "IP"),) and len(listing.records) == 2
    reasons = {r.path: (r.line, r.reason) for r in listing.rejected}
    assert reasons[str(folder)] == (0, "1 depth files without a joint line (frames 7..7)")
    assert reasons[str(tmp_path / "P5" / "RP")][0] == 0 and "joint.txt: not found" in reasons[
        str(tmp_path / "P5" / "RP")][1]
    with pytest.raises(SdnetError, match="no MSRA gesture folders"):
        msra.list_tree(tmp_path / "P9")
    with pytest.raises(SdnetError, match="not a directory"):
        msra.list_tree(tmp_path / "nowhere")


def test_writing_refuses_a_full_folder_unless_overwrite_and_then_drops_stale_frames(tmp_path):
    depth, xyz = hand_frames(3)
    folder = msra.write_msra_tree(tmp_path, "P2", "T", depth, xyz)
    with pytest.raises(SdnetError, match="not empty"):
        msra.write_msra_tree(tmp_path, "P2", "T", depth[:1], xyz[:1])
    msra.write_msra_tree(tmp_path, "P2", "T", depth[:1], xyz[:1], overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["000000_depth.bin", "joint.txt"]
    assert msra.list_tree(tmp_path).label_frames == 1
    with pytest.raises(SdnetError, match="subject"):
        msra.write_msra_tree(tmp_path, "P9", "T", depth, xyz)
    with pytest.raises(SdnetError, match="gesture"):
        msra.write_msra_tree(tmp_path, "P0", "Z", depth, xyz)
    with pytest.raises(ValueError, match="depth map 2"):
        msra.write_msra_tree(tmp_path, "P0", "1", [*depth[:2], np.zeros((10, 10))], xyz)
    assert not (tmp_path / "P0").exists()  # checked before anything is written
    with pytest.raises(ValueError, match="2 depth maps for 3"):
        msra.write_msra_tree(tmp_path, "P0", "1", depth[:2], xyz)
