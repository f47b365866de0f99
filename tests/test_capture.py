"""The visit log's capture columns of issue 16: why a course ended, which foot, foot function
(FAAM ADL, LEFS) and the therapist's private session note; imported, refused with file, row and
column named, and nothing written on refusal."""
from __future__ import annotations

import pytest

from analytics import visit_log
from conftest import visit
from test_ingest import BYSTANDER, rejected, three_visits, write_csv


def refused(con, tmp_path, name: str, rows: list[dict], replace: bool = False) -> list[str]:
    """The import's messages (nothing written: `rejected` checks), with the file named as given."""
    errors = rejected(con, [write_csv(tmp_path / name, rows)], replace=replace)
    return [error.replace(f"{tmp_path}/", "") for error in errors]


NOTE_WITH_LINES = "Left heel sore on first steps.\nCalf tight; showed the wall stretch."


def test_the_new_columns_are_stored(clinic_db, tmp_path):
    con = clinic_db(BYSTANDER)
    rows = three_visits(foot_side="Left", discharge_reason="Goals met", faam_adl_pct=62.5, lefs=41,
                        note=NOTE_WITH_LINES)
    rows[2].update(foot_side="left", discharge_reason="goals_met", faam_adl_pct=88, lefs=70)
    visit_log.import_files(con, [write_csv(tmp_path / "visits.csv", rows)])
    assert con.execute("SELECT foot_side, discharge_reason FROM episodes WHERE episode_id = 'E1'").fetchall() == [
        ("left", "goals_met")]
    assert con.execute("SELECT visit_number, faam_adl_pct, lefs, note FROM session_facts WHERE episode_id = 'E1' "
                       "ORDER BY visit_number").fetchall() == [
        (1, 62.5, 41, NOTE_WITH_LINES), (2, None, None, None), (3, 88.0, 70, None)]


def test_a_note_written_by_a_spreadsheet_keeps_its_line_breaks(clinic_db, tmp_path):
    con = clinic_db()
    rows = three_visits(note="first line\r\nsecond line\r\n")
    visit_log.import_files(con, [write_csv(tmp_path / "visits.csv", rows)])
    assert con.execute("SELECT note FROM sessions WHERE visit_number = 1").fetchone() == ("first line\nsecond line",)


@pytest.mark.parametrize("column, value, expected", [
    ("foot_side", "middle", "visits.csv:2:foot_side: 'middle' is not a known foot side; allowed: left, right, both"),
    ("discharge_reason", "bored", "visits.csv:2:discharge_reason: 'bored' is not a known discharge reason; allowed: "
                                  "goals_met, improved_enough, no_change, cost_or_time, moved, referred_elsewhere, other"),
    ("faam_adl_pct", 101, "visits.csv:2:faam_adl_pct: 101 is outside 0-100"),
    ("faam_adl_pct", -1, "visits.csv:2:faam_adl_pct: -1 is outside 0-100"),
    ("lefs", 81, "visits.csv:2:lefs: 81 is outside 0-80"),
    ("lefs", 40.5, "visits.csv:2:lefs: 40.5 is not a whole number; expected a whole number 0-80"),
    ("note", "x" * 2001, "visits.csv:2:note: the note is longer than 2000 characters"),
    ("note", "call\u200bback", "visits.csv:2:note: the note contains an invisible or control character U+200B "
                                "(line breaks are allowed); retype it"),
    ("note", "tab\there", "visits.csv:2:note: the note contains an invisible or control character U+0009 "
                          "(line breaks are allowed); retype it"),
])
def test_a_bad_value_is_refused_naming_file_row_and_column(clinic_db, tmp_path, column, value, expected):
    con = clinic_db(BYSTANDER)
    errors = refused(con, tmp_path, "visits.csv", three_visits(**{column: value}))
    assert errors == [expected]


def test_a_note_of_exactly_2000_characters_is_stored(clinic_db, tmp_path):
    con = clinic_db()
    visit_log.import_files(con, [write_csv(tmp_path / "visits.csv", three_visits(note="y" * 2000))])
    assert con.execute("SELECT length(note) FROM sessions WHERE visit_number = 1").fetchone() == (2000,)


def test_one_foot_side_and_one_discharge_reason_per_course(clinic_db, tmp_path):
    con = clinic_db(BYSTANDER)
    rows = three_visits(foot_side="left", discharge_reason="moved")
    rows[1].update(foot_side="right", discharge_reason="other")
    errors = refused(con, tmp_path, "visits.csv", rows)
    assert errors == [
        "visits.csv:3:discharge_reason: episode E1 is given discharge reason other here but moved at visits.csv:2; "
        "an episode has one discharge reason",
        "visits.csv:3:foot_side: episode E1 is given foot side right here but left at visits.csv:2; "
        "an episode has one foot side",
    ]


def test_a_changed_note_is_reported_without_its_text(clinic_db, tmp_path):
    con = clinic_db()
    visit_log.import_files(con, [write_csv(tmp_path / "first.csv", three_visits(note="private words"))])
    errors = refused(con, tmp_path, "again.csv", three_visits(note="other private words"))
    assert errors == ["again.csv:2:note: stored value a note (not shown) differs from a note (not shown); "
                      "use --replace to overwrite"]
    visit_log.import_files(con, [write_csv(tmp_path / "again.csv", three_visits(note="other private words"))],
                           replace=True)
    assert con.execute("SELECT note FROM sessions WHERE visit_number = 1").fetchone() == ("other private words",)
    assert all("private" not in str(row) for row in con.execute("SELECT * FROM audit_log").fetchall())


def test_a_visit_log_without_the_new_columns_still_imports(clinic_db, tmp_path):
    con = clinic_db()
    visit_log.import_files(con, [write_csv(tmp_path / "visits.csv", [visit("E9", 1, "2025-02-03", 5, 3)])])
    assert con.execute("SELECT foot_side, discharge_reason, stretching_plan FROM episodes").fetchall() == [
        (None, None, None)]
