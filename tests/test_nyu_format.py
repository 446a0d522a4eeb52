"""The NYU Hand format: RGB-encoded depth PNGs, joint_data.mat, the y-up joint frame, the 14
evaluated joints, and a split read back with its rejections. Every tree is written here, small."""
import io

import numpy as np
import pytest
import scipy.io
from PIL import Image

from pipeline import camera as pinhole
from pipeline import nyu_format as nyu
from pipeline.errors import DepthImageError, LabelError, SdnetError

W, H = nyu.WIDTH, nyu.HEIGHT


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def hand_frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n frames: depth (n, H, W) uint16 mm (a box at 850-950 mm, the rest 0) and 36 label joints
    uvd (n, 36, 3) inside the box."""
    rng = np.random.default_rng(seed)
    depth = np.zeros((n, H, W), np.uint16)
    uvd = np.zeros((n, nyu.NUM_LABEL_JOINTS, 3))
    for i in range(n):
        u0, v0 = rng.integers(200, 400), rng.integers(150, 300)
        depth[i, v0:v0 + 100, u0:u0 + 100] = rng.integers(850, 950, (100, 100))
        uvd[i, :, 0] = u0 + rng.uniform(0, 99, nyu.NUM_LABEL_JOINTS)
        uvd[i, :, 1] = v0 + rng.uniform(0, 99, nyu.NUM_LABEL_JOINTS)
        uvd[i, :, 2] = rng.uniform(850, 950, nyu.NUM_LABEL_JOINTS)
    return depth, uvd


# ---- depth PNGs -------------------------------------------------------------------------------

def test_depth_is_green_high_byte_and_blue_low_byte_red_unused():
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[10, 20] = (77, 3, 200)  # R is ignored: 3 * 256 + 200 = 968 mm
    rgb[11, 20] = (0, 255, 255)  # the largest depth
    rgb[12, 20] = (255, 0, 0)  # R alone: no depth
    depth = nyu.decode_depth_png(png_bytes(rgb), "x.png")
    assert depth.dtype == np.uint16 and depth.shape == (H, W)
    assert (depth[10, 20], depth[11, 20], depth[12, 20], depth[0, 0]) == (968, 65535, 0, 0)


def test_encode_is_the_lossless_inverse_with_red_zero():
    depth = np.random.default_rng(1).integers(0, 65536, (H, W)).astype(np.uint16)
    depth[0, :3] = (0, 968, 65535)
    data = nyu.encode_depth_png(depth)
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "RGB" and img.size == (W, H)
        rgb = np.asarray(img)
    assert tuple(rgb[0, 1]) == (0, 3, 200) and not rgb[..., 0].any()
    np.testing.assert_array_equal(nyu.decode_depth_png(data, "x.png"), depth)
    assert nyu.encode_depth_png(depth) == data  # deterministic bytes


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.full((4, 4), -1), np.full((4, 4), 65536), np.zeros(4, int)])
def test_encode_refuses_what_it_cannot_store_exactly(bad):
    with pytest.raises(ValueError):
        nyu.encode_depth_png(bad)


def test_bad_pngs_are_one_line_errors_naming_the_file(tmp_path):
    good = nyu.encode_depth_png(np.full((H, W), 900, np.uint16))
    cases = {
        "truncated": (good[: len(good) // 2], "unreadable PNG"),
        "gray16": (png_bytes(np.full((H, W), 900, np.uint16)), "expected an 8-bit RGB depth PNG.*16-bit grayscale"),
        "rgba": (png_bytes(np.zeros((H, W, 4), np.uint8)), "8-bit RGBA"),
        "small": (nyu.encode_depth_png(np.zeros((240, 320), np.uint16)), "image is 320x240, expected 640x480"),
        "text": (b"not an image", "not a PNG"),
    }
    for name, (data, match) in cases.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        with pytest.raises(DepthImageError, match=match) as e:
            nyu.read_depth_png(path)
        assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)
        depth, reason = nyu.frame_depth(data)
        assert depth is None and reason and str(e.value) == f"{path}: {reason}"
    with pytest.raises(DepthImageError, match="not found"):
        nyu.read_depth_png(tmp_path / "none.png")
    assert nyu.frame_depth(None) == (None, "depth image not found")
    assert nyu.decode_depth_png(cases["small"][0], "s.png", size=None).shape == (240, 320)


# ---- frames and joints ------------------------------------------------------------------------

def test_nyu_xyz_has_y_up_a_point_above_the_axis_has_v_below_cy():
    intr = nyu.INTRINSICS
    above = np.array([0.0, 100.0, 1000.0])  # NYU xyz: 100 mm above the optical axis, 1 m away
    u, v, d = nyu.xyz_to_uvd(above, intr)
    assert (u, d) == (intr.cx, 1000.0)
    assert v < intr.cy and v == pytest.approx(intr.cy - intr.fy * 100.0 / 1000.0)
    # In sdnet's camera frame (y down) the same point has y < 0 and projects to the same pixel.
    down = nyu.flip_y(above)
    assert down[1] == -100.0
    np.testing.assert_allclose(pinhole.xyz_to_uvd(down, intr), [u, v, d])


def test_xyz_uvd_round_trip():
    rng = np.random.default_rng(2)
    xyz = np.stack([rng.uniform(-300, 300, (5, 36)), rng.uniform(-300, 300, (5, 36)),
                    rng.uniform(650, 1100, (5, 36))], axis=-1)  # (5, 36, 3)
    uvd = nyu.xyz_to_uvd(xyz, nyu.INTRINSICS)
    np.testing.assert_allclose(nyu.uvd_to_xyz(uvd, nyu.INTRINSICS), xyz, rtol=0, atol=1e-9)
    np.testing.assert_allclose(nyu.xyz_to_uvd(nyu.uvd_to_xyz(uvd, nyu.INTRINSICS), nyu.INTRINSICS), uvd,
                               rtol=0, atol=1e-9)


def test_the_14_evaluated_joints_in_the_kits_order():
    ids = np.arange(36.0)[:, None] * np.ones((1, 3))  # joint k holds k
    sub = nyu.eval_joints(ids)
    assert sub.shape == (14, 3) and sub[:, 0].tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32]
    assert len(nyu.EVAL_JOINT_NAMES) == 14 and nyu.EVAL_JOINT_NAMES[0] == "pinky_tip"
    assert nyu.EVAL_JOINT_NAMES[13] == "palm" and nyu.EVAL_JOINT_NAMES[8:11] == ("thumb_tip", "thumb_mid", "thumb_root")
    names = [nyu.LABEL_JOINT_NAMES[i] for i in nyu.EVAL_JOINT_IDS]
    tips = ["F1_KNU3_A", "F2_KNU3_A", "F3_KNU3_A", "F4_KNU3_A", "TH_KNU3_A"]
    assert [n for n in names if n.endswith("KNU3_A")] == tips
    assert names[-3:] == ["PALM_1", "PALM_2", "PALM_3"]
    # Batched, and in sdnet's y-down camera frame.
    xyz = np.random.default_rng(3).normal(size=(2, 4, 36, 3))
    cam = nyu.eval_joints_camera_xyz(xyz)
    assert cam.shape == (2, 4, 14, 3)
    np.testing.assert_array_equal(cam[..., 1], -xyz[..., nyu.EVAL_JOINT_IDS, 1])
    np.testing.assert_array_equal(cam[..., [0, 2]], xyz[..., nyu.EVAL_JOINT_IDS, :][..., [0, 2]])
    with pytest.raises(ValueError):
        nyu.eval_joints(np.zeros((14, 3)))


def test_check_joints_reasons():
    uvd = np.array([[10.0, 10.0, 900.0], [639.0, 479.0, 900.0]])
    assert nyu.check_joints(uvd, W, H) is None
    assert nyu.check_joints(uvd + [1, 0, 0], W, H) == "1 joints outside the 640x480 image"
    assert nyu.check_joints(uvd * [1, 1, 0], W, H) == "joint depth <= 0 mm"
    assert nyu.check_joints(uvd * [np.nan, 1, 1], W, H) == "NaN or infinite joint value"


# ---- joint_data.mat ---------------------------------------------------------------------------

def test_joint_data_round_trip_per_camera(tmp_path):
    rng = np.random.default_rng(4)
    uvd, xyz = rng.normal(size=(3, 5, 36, 3)), rng.normal(size=(3, 5, 36, 3))
    path = tmp_path / "joint_data.mat"
    nyu.write_joint_data(path, uvd, xyz)
    mat = scipy.io.loadmat(path)
    assert mat["joint_uvd"].shape == (3, 5, 36, 3) and mat["joint_names"].shape == (1, 36)
    for cam in (1, 2, 3):
        got_uvd, got_xyz = nyu.read_joint_data(path, camera=cam)
        assert got_uvd.dtype == np.float64 and got_uvd.shape == (5, 36, 3)
        np.testing.assert_array_equal(got_uvd, uvd[cam - 1])
        np.testing.assert_array_equal(got_xyz, xyz[cam - 1])
    # (N, 36, 3) is written for all three cameras: copies.
    nyu.write_joint_data(path, uvd[0], xyz[0])
    np.testing.assert_array_equal(nyu.read_joint_data(path, camera=3)[0], uvd[0])
    with pytest.raises(SdnetError, match="camera must be one of 1, 2, 3"):
        nyu.read_joint_data(path, camera=0)
    with pytest.raises(ValueError):
        nyu.write_joint_data(path, uvd[0, :, :14], xyz[0, :, :14])


def test_bad_joint_data_is_a_one_line_label_error_naming_the_file(tmp_path):
    good = np.zeros((3, 2, 36, 3))
    cases = {
        "missing_key": ({"joint_uvd": good}, "no 'joint_xyz'"),
        "shape": ({"joint_uvd": good[:, :, :14], "joint_xyz": good},
                  r"'joint_uvd' is float64 of shape \(3, 2, 14, 3\)"),
        "one_camera": ({"joint_uvd": good[:1], "joint_xyz": good[:1]}, r"expected numbers of shape \(3, N, 36, 3\)"),
        "counts": ({"joint_uvd": good, "joint_xyz": good[:, :1]}, "'joint_uvd' holds 2 frames, 'joint_xyz' 1"),
    }
    for name, (mdict, match) in cases.items():
        path = tmp_path / f"{name}.mat"
        scipy.io.savemat(path, mdict)
        with pytest.raises(LabelError, match=match) as e:
            nyu.read_joint_data(path)
        assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)
    (tmp_path / "text.mat").write_text("hello")
    with pytest.raises(LabelError, match="text.mat: not a readable MAT file"):
        nyu.read_joint_data(tmp_path / "text.mat")
    with pytest.raises(LabelError, match="none.mat: label file not found"):
        nyu.read_joint_data(tmp_path / "none.mat")


# ---- a whole tree -----------------------------------------------------------------------------

def test_a_written_tree_reads_back_to_the_same_joints_and_depth(tmp_path):
    depth, uvd = hand_frames(3)
    folder = nyu.write_nyu_tree(tmp_path / "nyu", "test", depth, uvd)
    assert folder == tmp_path / "nyu" / "test"
    assert sorted(p.name for p in folder.iterdir()) == [
        "depth_1_0000001.png", "depth_1_0000002.png", "depth_1_0000003.png", "joint_data.mat"]
    listing = nyu.read_split(tmp_path / "nyu", "test")
    assert (listing.label_frames, listing.image_frames, listing.rejected) == (3, 3, ())
    assert [r.index for r in listing.records] == [1, 2, 3] and listing.records[0].path == "depth_1_0000001.png"
    for i, rec in enumerate(listing.records):
        assert rec.row == i and rec.split == "test" and rec.subject == "subject_1"
        np.testing.assert_array_equal(rec.uvd, uvd[i, list(nyu.EVAL_JOINT_IDS)])  # exact
        np.testing.assert_array_equal(nyu.read_frame(rec), depth[i])  # exact
    got_uvd, got_xyz = nyu.read_joint_data(folder / "joint_data.mat")
    np.testing.assert_array_equal(got_uvd, uvd)
    np.testing.assert_allclose(nyu.xyz_to_uvd(got_xyz, nyu.INTRINSICS), uvd, rtol=0, atol=1e-9)
    assert np.all((got_xyz[..., 1] > 0) == (uvd[..., 1] < nyu.INTRINSICS.cy))  # y up
    with pytest.raises(SdnetError, match="not empty"):
        nyu.write_nyu_tree(tmp_path / "nyu", "test", depth, uvd)


def test_all_cameras_writes_byte_copies_of_camera_1(tmp_path):
    depth, uvd = hand_frames(2)
    folder = nyu.write_nyu_tree(tmp_path, "train", depth, uvd, all_cameras=True)
    assert len(list(folder.glob("depth_*_*.png"))) == 6
    assert (folder / "depth_3_0000002.png").read_bytes() == (folder / "depth_1_0000002.png").read_bytes()
    listing = nyu.read_split(tmp_path, "train", camera=2)
    assert len(listing.records) == 2 and listing.records[0].path == "depth_2_0000001.png"
    assert listing.records[0].subject == nyu.TRAIN_SUBJECT


def test_writer_refuses_wrong_arrays(tmp_path):
    depth, uvd = hand_frames(2)
    with pytest.raises(ValueError, match="2 depth maps for 1 label rows"):
        nyu.write_nyu_tree(tmp_path, "test", depth, uvd[:1])
    with pytest.raises(ValueError, match=r"expected \(480, 640\)"):
        nyu.write_nyu_tree(tmp_path, "test", depth[:, :240], uvd)
    with pytest.raises(SdnetError, match="split must be one of train, test"):
        nyu.write_nyu_tree(tmp_path, "val", depth, uvd)
    assert not (tmp_path / "test").exists()  # nothing half-written


def test_every_reject_reason_with_the_split_still_read(tmp_path):
    depth, uvd = hand_frames(6)
    uvd[4, 30, 0] = 700.0  # frame 5: a wrist point beyond the right edge (evaluated joint 30)
    uvd[5, 1, 0] = 700.0  # frame 6: a non-evaluated joint outside: not a reason
    folder = nyu.write_nyu_tree(tmp_path, "test", depth, uvd)
    (folder / "depth_1_0000001.png").unlink()  # missing
    data = (folder / "depth_1_0000002.png").read_bytes()
    (folder / "depth_1_0000002.png").write_bytes(data[: len(data) // 3])  # truncated
    (folder / "depth_1_0000003.png").write_bytes(nyu.encode_depth_png(np.zeros((240, 320), np.uint16)))
    (folder / "depth_1_0000007.png").write_bytes(data)  # a PNG without a label
    (folder / "depth_2_0000001.png").write_bytes(data)  # another camera: not counted

    listed = nyu.list_split(tmp_path, "test")  # no image opened: truncation and size not yet seen
    assert [r.index for r in listed.records] == [2, 3, 4, 6]
    read = nyu.read_split(tmp_path, "test")
    assert (read.label_frames, read.image_frames) == (6, 6)
    assert [r.index for r in read.records] == [4, 6]
    reasons = {r.line: r.reason for r in read.rejected}
    assert sorted(reasons) == [0, 1, 2, 3, 5]
    assert reasons[0] == ("label count mismatch: joint_data.mat holds 6 frames of camera 1, the folder 6 "
                          "depth_1_*.png files (1 labels without a PNG, 1 PNGs without a label)")
    assert reasons[1] == "depth image not found"
    assert reasons[2].startswith("unreadable PNG")
    assert reasons[3] == "image is 320x240, expected 640x480"
    assert reasons[5] == "1 joints outside the 640x480 image"
    by_line = {r.line: r.to_dict() for r in read.rejected}
    assert by_line[1] == {"path": str(folder / "depth_1_0000001.png"), "split": "test",
                          "label_file": str(folder / "joint_data.mat"), "line": 1, "reason": "depth image not found"}
    assert by_line[0]["path"] == str(folder / "joint_data.mat")


def test_a_split_without_labels_or_folder_is_an_error(tmp_path):
    with pytest.raises(SdnetError, match="NYU split folder not found"):
        nyu.list_split(tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(LabelError, match="joint_data.mat: label file not found"):
        nyu.list_split(tmp_path, "train")
    with pytest.raises(SdnetError, match="split must be one of"):
        nyu.list_split(tmp_path, "Training")


def test_test_subjects_by_label_row():
    assert [nyu.subject_of("test", r) for r in (0, 2439, 2440, 8251, 8252)] == [
        "subject_1", "subject_1", "subject_2", "subject_2", ""]
    assert nyu.subject_of("train", 50000) == "subject_1"
    small = (("subject_1", 0, 2, 300.0), ("subject_2", 2, 4, 250.0))  # a small written tree's own split
    assert [nyu.subject_of("test", r, small) for r in range(4)] == ["subject_1"] * 2 + ["subject_2"] * 2
