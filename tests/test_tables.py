"""eval.tables.text_table and the tables printed with it."""
from eval.compare import format_table
from eval.tables import text_table

COLUMNS = {"rank": "#", "method": "method", "mm": "mean (mm)", "pct": "ok (%)"}


def test_numbers_right_text_left_none_as_dash_and_decimals():
    rows = [{"rank": 1, "method": "V2V-PoseNet", "mm": 6.28449, "pct": 84.61},
            {"rank": 12, "method": "LRF", "mm": None, "pct": 7.0}]
    out = text_table(rows, {"rank": "#", "method": "method", "mm": "mean", "pct": "ok"}, {"pct": 1})
    header, first, second = out.splitlines()
    assert header.split() == ["#", "method", "mean", "ok"]
    assert first.split() == ["1", "V2V-PoseNet", "6.284", "84.6"]
    assert second.split() == ["12", "LRF", "-", "7.0"]
    # numbers (and their headers) end in the same column; text starts in the same column
    for name, cells in (("mean", ("6.284", "-")), ("ok", ("84.6", "7.0")), ("#", ("1", "12"))):
        end = header.index(name) + len(name)
        assert first[:end].endswith(cells[0]) and second[:end].endswith(cells[1]), (name, out)
    assert first.index("V2V-PoseNet") == second.index("LRF") == header.index("method")
    assert all(l == l.rstrip() for l in out.splitlines())


def test_no_rows_is_the_header():
    assert text_table([], COLUMNS) == "#  method  mean (mm)  ok (%)"


def test_compare_table_rows_in_order_with_published_note():
    rows = [{"rank": 1, "method": "mine", "mean_error_mm": 7.25, "reported_mm": None, "fingertip_mm": 9.5,
             "max_frame_le_20mm_pct": 80.0, "max_frame_le_40mm_pct": 99.25, "bone_length_error_mm": 2.5,
             "bone_length_sd_mm": 1.125, "jitter_mm": None, "frames": 10, "source": "recomputed"},
            {"rank": 2, "method": "SDNet (paper)", "mean_error_mm": None, "reported_mm": 8.4, "fingertip_mm": None,
             "max_frame_le_20mm_pct": None, "max_frame_le_40mm_pct": None, "bone_length_error_mm": None,
             "bone_length_sd_mm": None, "jitter_mm": None, "frames": None, "source": "reported, not recomputed"}]
    lines = format_table(rows).splitlines()
    assert lines[1].split() == ["1", "mine", "7.250", "-", "9.500", "80.0", "99.2", "2.500", "1.125", "-", "10",
                                "recomputed"]
    assert lines[2].split()[:4] == ["2", "SDNet", "(paper)", "-"] and "8.400" in lines[2]
    assert lines[3].startswith("rows with source 'reported, not recomputed' quote the papers")
    assert "quote the papers" not in format_table(rows[:1])
