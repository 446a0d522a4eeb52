"""The HANDS 2017 (BigHand2.2M) format: the annotation file in camera xyz (y down), 16-bit depth PNGs,
and a tree written and read back with its rejections. Every tree is written here, small."""
import io

import numpy as np
import pytest
from PIL import Image

from pipeline import camera as pinhole
from pipeline import hands2017_format as h17
from pipeline.errors import DepthImageError, LabelError, SdnetError

W, H = h17.WIDTH, h17.HEIGHT


def hand_frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n frames: depth (n, H, W) uint16 mm (a 60x80 px box at 500-700 mm, the rest 0) and joints
    (n, 21, 3) camera xyz [mm, y down, z > 0] that project inside the box."""
    rng = np.random.default_rng(seed)
    depth = np.zeros((n, H, W), np.uint16)
    uvd = np.zeros((n, h17.NUM_JOINTS, 3))
    for i in range(n):
        u0, v0 = rng.integers(50, 500), rng.integers(50, 380)
        depth[i, v0:v0 + 60, u0:u0 + 80] = rng.integers(500, 700, (60, 80))
        uvd[i, :, 0] = u0 + rng.uniform(0, 79, h17.NUM_JOINTS)
        uvd[i, :, 1] = v0 + rng.uniform(0, 59, h17.NUM_JOINTS)
        uvd[i, :, 2] = rng.uniform(500, 700, h17.NUM_JOINTS)
    return depth, pinhole.uvd_to_xyz(uvd, h17.INTRINSICS)


def test_facts_and_names():
    i = h17.INTRINSICS
    assert (i.fx, i.fy, i.cx, i.cy, i.width, i.height) == (475.065948, 475.065857, 315.944855, 245.287079, 640, 480)
    assert h17.image_name(1) == "image_D00000001.png" and h17.frame_index_of("image_D00000042.png") == 42
    assert h17.frame_index_of("image_D42.png") is None and h17.frame_index_of("depth_1_0000001.png") is None
    assert h17.FIELDS_PER_LINE == 64


def test_y_is_not_flipped():
    xyz = np.array([40.0, 30.0, 600.0])  # right of and below the optical axis
    u, v, d = h17.xyz_to_uvd(xyz)
    assert u == pytest.approx(40 * 475.065948 / 600 + 315.944855)
    assert v == pytest.approx(30 * 475.065857 / 600 + 245.287079) and v > h17.INTRINSICS.cy and d == 600
    np.testing.assert_allclose(h17.uvd_to_xyz([u, v, d]), xyz)


# ---- the annotation file -------------------------------------------------------------------------

def test_annotation_round_trip_within_float32(tmp_path):
    _, xyz = hand_frames(3)
    path = tmp_path / "Training_Annotation.txt"
    names = [h17.image_name(i) for i in (1, 2, 5)]
    h17.write_annotation_file(path, names, xyz)
    text = path.read_text().splitlines()
    assert len(text) == 3 and text[0].split()[0] == "image_D00000001.png" and len(text[0].split()) == 64
    lines, rejects = h17.read_annotation_file(path)
    assert rejects == []
    assert [(a.name, a.index, a.line) for a in lines] == [(names[0], 1, 1), (names[1], 2, 2), (names[2], 5, 3)]
    back = np.stack([a.xyz for a in lines])
    np.testing.assert_allclose(back, xyz, rtol=1e-6)
    np.testing.assert_array_equal(back.astype(np.float32), xyz.astype(np.float32))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


GOOD_VALUES = " ".join(["10", "-5", "600"] * 21)


@pytest.mark.parametrize("bad_line, message, names_image", [
    ("image_D00000002.png " + " ".join(["1"] * 62), "expected 64 fields (file name + 21 joints x x y z mm), got 63",
     True),
    ("image_D00000002.png " + GOOD_VALUES + " 1", "got 65", True),
    ("image_D2.png " + GOOD_VALUES, "is not image_DNNNNNNNN.png", False),
    ("image_D00000002.png " + GOOD_VALUES.replace("-5", "x", 1), "non-numeric value 'x'", True),
    ("image_D00000002.png " + GOOD_VALUES.replace("-5", "inf", 1), "NaN or infinite", True),
    ("image_D00000002.png " + GOOD_VALUES.replace("600", "-600", 2), "2 joints behind the camera (z <= 0 mm)", True),
    ("image_D00000002.png " + GOOD_VALUES.replace("600", "0", 1), "1 joints behind the camera", True),
    ("image_D00000001.png " + GOOD_VALUES, "a second line for image_D00000001.png (first: line 1)", False),
])
def test_bad_annotation_lines_are_rejects_naming_file_and_line(tmp_path, bad_line, message, names_image):
    path = tmp_path / "Training_Annotation.txt"
    path.write_text(f"image_D00000001.png {GOOD_VALUES}\n\n{bad_line}\nimage_D00000003.png {GOOD_VALUES}\n")
    lines, rejects = h17.read_annotation_file(path)
    assert [a.line for a in lines] == [1, 4] and lines[0].xyz[0].tolist() == [10.0, -5.0, 600.0]
    (reject,) = rejects
    assert reject.line == 3 and reject.label_file == str(path)
    assert reject.reason.startswith(f"{path}:3: ") and message in reject.reason
    if names_image:
        assert reject.path == str(tmp_path / "images" / "image_D00000002.png")
    elif "second line" in message:
        assert reject.path == str(tmp_path / "images" / "image_D00000001.png")
    else:
        assert reject.path == str(path)


def test_a_missing_or_empty_annotation_file_raises(tmp_path):
    with pytest.raises(LabelError, match="annotation file not found"):
        h17.read_annotation_file(tmp_path / "Training_Annotation.txt")
    (tmp_path / "Training_Annotation.txt").write_text("\n\n")
    with pytest.raises(LabelError, match="empty"):
        h17.read_annotation_file(tmp_path / "Training_Annotation.txt")


def test_write_annotation_refuses_bad_input(tmp_path):
    _, xyz = hand_frames(1)
    with pytest.raises(ValueError, match="image_DNNNNNNNN.png"):
        h17.write_annotation_file(tmp_path / "a.txt", ["frame1.png"], xyz)
    with pytest.raises(ValueError, match=r"\(N, 21, 3\)"):
        h17.write_annotation_file(tmp_path / "a.txt", ["image_D00000001.png"], xyz[:, :16])
    with pytest.raises(ValueError, match="2 file names for 1"):
        h17.write_annotation_file(tmp_path / "a.txt", [h17.image_name(1), h17.image_name(2)], xyz)


# ---- a tree --------------------------------------------------------------------------------------

def test_a_written_tree_reads_back_the_same_joints_and_depth(tmp_path):
    depth, xyz = hand_frames(3)
    folder = h17.write_hands2017_tree(tmp_path, depth, xyz)
    assert folder == tmp_path / "training"
    assert sorted(p.name for p in (folder / "images").iterdir()) == [
        "image_D00000001.png", "image_D00000002.png", "image_D00000003.png"]
    with Image.open(folder / "images" / "image_D00000002.png") as img:
        assert img.mode.startswith("I;16") and img.size == (W, H)
    listing = h17.list_tree(tmp_path)
    assert listing.rejected == () and listing.label_frames == listing.image_frames == 3
    assert [(r.name, r.index, r.line) for r in listing.records] == [
        ("image_D00000001.png", 1, 1), ("image_D00000002.png", 2, 2), ("image_D00000003.png", 3, 3)]
    rec = listing.records[1]
    assert rec.image == str(folder / "images" / "image_D00000002.png")
    assert rec.label_file == str(folder / "Training_Annotation.txt")
    np.testing.assert_allclose(rec.xyz, xyz[1], rtol=1e-6)
    np.testing.assert_allclose(rec.uvd, pinhole.xyz_to_uvd(xyz[1], h17.INTRINSICS), rtol=1e-6)
    frame = h17.read_frame(rec)
    assert frame.dtype == np.uint16
    np.testing.assert_array_equal(frame, depth[1])
    np.testing.assert_array_equal(h17.decode_depth((folder / "images" / rec.name).read_bytes(), "x.png"), depth[1])


def test_start_index_names_the_frames(tmp_path):
    depth, xyz = hand_frames(2)
    h17.write_hands2017_tree(tmp_path, depth, xyz, start_index=1000)
    assert [r.index for r in h17.list_tree(tmp_path).records] == [1000, 1001]


def test_tree_rejects_missing_images_and_reports_unlabelled_ones(tmp_path):
    depth, xyz = hand_frames(4)
    folder = h17.write_hands2017_tree(tmp_path, depth, xyz)
    (folder / "images" / "image_D00000002.png").unlink()
    (folder / "images" / "image_D00000009.png").write_bytes(h17.depth_png_bytes(depth[0]))
    label = folder / "Training_Annotation.txt"
    lines = label.read_text().splitlines()
    lines[3] = "image_D00000004.png 1 2 3"
    label.write_text("\n".join(lines) + "\n")
    listing = h17.list_tree(tmp_path)
    assert [r.index for r in listing.records] == [1, 3]
    assert [(r.line, r.path.rsplit("/", 1)[-1]) for r in listing.rejected] == [
        (0, "images"), (2, "image_D00000002.png"), (4, "image_D00000004.png")]
    assert listing.rejected[0].reason == "1 image_D*.png files named by no annotation line"
    assert listing.rejected[1].reason == "depth image not found"
    assert listing.rejected[2].reason.startswith(f"{label}:4: expected 64 fields")
    assert listing.label_frames == 4 and listing.image_frames == 4


def test_a_bad_png_raises_naming_it(tmp_path):
    depth, xyz = hand_frames(1)
    h17.write_hands2017_tree(tmp_path, depth, xyz)
    rec = h17.list_tree(tmp_path).records[0]
    data = open(rec.image, "rb").read()
    with open(rec.image, "wb") as f:
        f.write(data[:200])
    with pytest.raises(DepthImageError, match=rec.image):
        h17.read_frame(rec)
    buf = io.BytesIO()
    Image.fromarray(np.zeros((240, 320), np.uint16)).save(buf, format="PNG")
    with pytest.raises(DepthImageError, match="image is 320x240, expected 640x480"):
        h17.decode_depth(buf.getvalue(), "small.png")


def test_writing_refuses_a_full_tree_unless_overwrite_and_bad_depth(tmp_path):
    depth, xyz = hand_frames(3)
    folder = h17.write_hands2017_tree(tmp_path, depth, xyz)
    with pytest.raises(SdnetError, match="not empty"):
        h17.write_hands2017_tree(tmp_path, depth[:1], xyz[:1])
    h17.write_hands2017_tree(tmp_path, depth[:1], xyz[:1], overwrite=True)
    assert [p.name for p in (folder / "images").iterdir()] == ["image_D00000001.png"]
    assert h17.list_tree(tmp_path).label_frames == 1
    with pytest.raises(ValueError, match="whole mm"):
        h17.write_hands2017_tree(tmp_path / "b", depth.astype(np.float32), xyz)
    with pytest.raises(ValueError, match="expected \\(480, 640\\)"):
        h17.write_hands2017_tree(tmp_path / "c", [*depth[:2], depth[2, :240, :320]], xyz)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()  # checked before writing
    with pytest.raises(ValueError, match="0..65535"):
        h17.write_hands2017_tree(tmp_path / "d", depth.astype(np.int32) - 1, xyz)
    with pytest.raises(SdnetError, match="not a directory"):
        h17.list_tree(tmp_path / "nowhere")
