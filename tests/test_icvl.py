import numpy as np
import pytest
from PIL import Image

from pipeline.errors import DepthImageError, LabelError, SdnetError
from pipeline.datasets import ICVL
from pipeline.icvl import (depth_units_to_mm, find_label_files, format_label_line, frame_index_of,
                           parse_label_line, read_depth_png, read_label_file, sequence_of, write_depth_png)
from tests.helpers import SHARED

ICVL_J = ICVL.num_joints  # ICVL label files: 16 joints a line


def test_label_line_round_trip():
    uvd = np.arange(48, dtype=float).reshape(16, 3) + 0.125
    rec = parse_label_line(format_label_line("seq/image_0001.png", uvd), ICVL_J)
    assert rec.path == "seq/image_0001.png"
    np.testing.assert_allclose(rec.uvd, uvd, atol=5e-4)
    assert sequence_of(rec.path) == "seq" and frame_index_of(rec.path) == 1


@pytest.mark.parametrize("line,match", [
    ("a.png 1 2 3", "expected 49 fields"),
    ("a.png " + " ".join(["1"] * 47) + " x", "non-numeric value 'x'"),
    ("a.png " + " ".join(["1"] * 47) + " nan", "NaN"),
])
def test_bad_label_lines_name_file_and_line(line, match):
    with pytest.raises(LabelError, match=match) as e:
        parse_label_line(line, ICVL_J, "labels.txt", 7)
    assert str(e.value).startswith("labels.txt:7:")
    assert (e.value.source, e.value.line, e.value.image) == ("labels.txt", 7, "a.png")
    assert str(e.value) == f"labels.txt:7: {e.value.reason}"


def test_bad_label_line_without_a_path_names_no_image():
    with pytest.raises(LabelError, match="expected 49 fields") as e:
        parse_label_line(" ".join(["1.5"] * 48), ICVL_J, "labels.txt", 3)
    assert e.value.image == ""


def test_label_file_lenient_and_empty(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text(format_label_line("a/image_0000.png", np.ones((16, 3))) + "\nbroken line\n")
    records, errors = read_label_file(f, ICVL_J, strict=False)
    assert len(records) == 1 and len(errors) == 1 and ":2:" in str(errors[0])
    with pytest.raises(LabelError):
        read_label_file(f, ICVL_J)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(SdnetError, match="empty"):
        read_label_file(tmp_path / "empty.txt", ICVL_J)
    with pytest.raises(SdnetError, match="not found"):
        read_label_file(tmp_path / "missing.txt", ICVL_J)


def test_depth_png_round_trip_and_bad_files(tmp_path):
    depth = np.random.default_rng(0).integers(0, 3000, (240, 320)).astype(np.uint16)
    depth[::7] = 32001  # background rows
    write_depth_png(tmp_path / "d.png", depth)
    np.testing.assert_array_equal(read_depth_png(tmp_path / "d.png", (320, 240)), depth)
    with pytest.raises(DepthImageError, match="expected 100x240"):
        read_depth_png(tmp_path / "d.png", (100, 240))
    data = (tmp_path / "d.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DepthImageError, match="t.png: unreadable"):
        read_depth_png(tmp_path / "t.png")
    Image.fromarray((depth % 255).astype(np.uint8)).save(tmp_path / "8bit.png")
    with pytest.raises(DepthImageError, match="16-bit"):
        read_depth_png(tmp_path / "8bit.png")
    with pytest.raises(DepthImageError, match="not found"):
        read_depth_png(tmp_path / "none.png")


def test_shared_icvl_test_labels_parse():
    path = SHARED / "icvl" / "test_seq_1.txt"
    if not path.exists():
        pytest.skip("../shared/icvl is absent on this machine")
    records, _ = read_label_file(path, ICVL_J)
    assert len(records) == 702 and records[0].path == "test_seq_1/image_0000.png"


def test_find_label_files_orders_and_fails(tmp_path):
    with pytest.raises(SdnetError, match="no ICVL label files"):
        find_label_files(tmp_path)
    (tmp_path / "Testing").mkdir()
    for k in (10, 2):
        (tmp_path / "Testing" / f"test_seq_{k}.txt").write_text("")
    (tmp_path / "Training").mkdir()
    (tmp_path / "Training/labels.txt").write_text("")
    names = [f.path.name for f in find_label_files(tmp_path)]
    assert names == ["labels.txt", "test_seq_2.txt", "test_seq_10.txt"]


def test_depth_scale_converts_stored_units_to_mm_on_reading(tmp_path):
    units = np.zeros((240, 320), np.uint16)
    units[100:140, 100:160] = 4000  # a hand at 500 mm in 1/8-mm units
    units[0, 0] = 65535  # 8.2 m in those units: kept; beyond 32 m would be dropped
    write_depth_png(tmp_path / "rs.png", units)
    mm = read_depth_png(tmp_path / "rs.png", (320, 240), depth_scale=0.125)
    assert mm.dtype == np.uint16 and mm[120, 120] == 500 and mm[0, 0] == 8192 and mm[5, 5] == 0
    # 0 stays "no depth"; anything beyond 32000 mm (ICVL's background code and up) becomes 0.
    np.testing.assert_array_equal(depth_units_to_mm(np.array([[0, 3, 35000]], np.uint16), 1.0), [[0, 3, 0]])


def test_depth_that_makes_no_sense_for_the_scale_is_a_clear_error(tmp_path):
    units = np.zeros((240, 320), np.uint16)
    units[60:200, 60:260] = 16000  # a scene 2 m away in 1/8-mm units, read as mm: 16 m
    write_depth_png(tmp_path / "rs.png", units)
    with pytest.raises(DepthImageError, match=r"rs.png: median depth 16 m at 1 mm per depth unit.*--depth-scale"):
        read_depth_png(tmp_path / "rs.png")
    assert read_depth_png(tmp_path / "rs.png", depth_scale=0.125)[100, 100] == 2000
    units[60:200, 60:260] = 200  # 25 mm at 0.125 mm per unit: no depth camera sees that close
    write_depth_png(tmp_path / "near.png", units)
    with pytest.raises(DepthImageError, match="makes no sense"):
        read_depth_png(tmp_path / "near.png", depth_scale=0.125)
