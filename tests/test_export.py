"""CSV downloads: formula triggers in text are escaped, numbers (negative ones too) stay numbers."""
import csv
import io

import pandas as pd
import pytest

from analytics import export


def read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("text, written", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    (" =1+1", "' =1+1"),                  # after spaces, a line break or a no-break space
    ("\n=1+1", "'\n=1+1"),
    ("\u00a0\u3000@SUM(A1)", "'\u00a0\u3000@SUM(A1)"),
    ("=cmd|' /C calc'!A1", "'=cmd|' /C calc'!A1"),
    ("\uff1dcmd|' /C calc'!A1", "'\uff1dcmd|' /C calc'!A1"),  # full-width = + - @
    ("\uff0b1", "'\uff0b1"),
    (" \uff0d1", "' \uff0d1"),
    ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
    ("plantar_fasciitis", "plantar_fasciitis"),
    ("Thea Grove", "Thea Grove"),
    ("a=b", "a=b"),          # a trigger inside the text is harmless
    ("two\nlines", "two\nlines"),  # quoted, stays one cell
    ("", ""),
])
def test_text_cells_starting_with_a_formula_trigger_are_escaped(text, written):
    assert export.escape_cell(text) == written
    rows = read_back(export.csv_bytes(pd.DataFrame({"note": [text]})))
    assert rows == [["note"], [written]]


@pytest.mark.parametrize("number", [-2.5, -3, 0, 7, -0.001])
def test_numbers_including_negative_ones_stay_numbers(number):
    assert export.escape_cell(number) == number
    rows = read_back(export.csv_bytes(pd.DataFrame({"change": [number], "label": ["-x"]})))
    # -2.5 is written as -2.5 (a number a spreadsheet can sum), the text "-x" as '-x
    assert rows[1] == [str(number), "'-x"]


def test_mixed_frame_keeps_numeric_columns_missing_values_and_named_index():
    frame = pd.DataFrame(
        {"condition": ["=cmd|' /C calc'!A0", "bunion"], "mean_change": [-1.25, 2.0], "n": [12, None]},
        index=pd.Index(["E1", "E2"], name="episode_id"),
    )
    frame["course_type"] = pd.Categorical(["acute", "@chronic"])
    rows = read_back(export.csv_bytes(frame))
    assert rows[0] == ["episode_id", "condition", "mean_change", "n", "course_type"]
    assert rows[1] == ["E1", "'=cmd|' /C calc'!A0", "-1.25", "12.0", "acute"]
    assert rows[2] == ["E2", "bunion", "2.0", "", "'@chronic"]
    assert frame.loc["E1", "condition"].startswith("=")  # the caller's frame is untouched


def test_column_names_are_escaped_and_file_has_a_byte_order_mark():
    data = export.csv_bytes(pd.DataFrame({"=1+1": [1], "-change": [-1]}))
    assert data.startswith(b"\xef\xbb\xbf")
    assert read_back(data) == [["'=1+1", "'-change"], ["1", "-1"]]
