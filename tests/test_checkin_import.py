"""Importing check-ins from another survey tool's file: all or nothing, problems naming file,
row and column, hostile inputs refused, and the same file twice a no-op."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analytics import __main__ as cli
from analytics import audit, checkin_import, config, db
from analytics.visit_log import ImportFailed
from conftest import visit

TODAY = dt.date(2026, 6, 1)
HEADER = "episode_id,answered_on,pain,first_steps_pain,stretch_days,pgic,pain_returned\n"


@pytest.fixture
def clinic(clinic_db, monkeypatch):
    monkeypatch.setattr(config, "today", lambda: TODAY)
    return clinic_db([visit("E1", 1, "2026-01-05", 7, 5), visit("E1", 2, "2026-01-12", 5, 4),
                      visit("E2", 1, "2026-02-02", 6, 5, condition="bunion")])


def write(tmp_path, text: str, name: str = "checkins.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored(con):
    return con.execute("SELECT episode_id, answered_on, source, pain, first_steps_pain, stretch_days, pgic, pain_returned"
                       " FROM checkins ORDER BY episode_id, answered_on").fetchall()


def refused(con, path) -> list[str]:
    before = db.table_checksums(con)
    with pytest.raises(ImportFailed) as failure:
        checkin_import.import_files(con, path, by="boss")
    assert db.table_checksums(con) == before  # all or nothing
    return [error.replace(f"{path.parent}/", "") for error in failure.value.errors]  # messages name the file as given


def test_a_good_file_is_stored_and_the_same_file_twice_changes_nothing(clinic, tmp_path):
    path = write(tmp_path, HEADER + "E1,2026-02-09,3,4,5,2,no\nE1,2026-04-13,2,,7,1,\nE2,2026-03-02,,,0,,yes\n")
    result = checkin_import.import_files(clinic, path, by="boss")
    assert (result.inserted, result.skipped, result.episodes) == (3, 0, 2)
    assert stored(clinic) == [
        ("E1", dt.date(2026, 2, 9), "import", 3.0, 4.0, 5, 2, False),
        ("E1", dt.date(2026, 4, 13), "import", 2.0, None, 7, 1, None),
        ("E2", dt.date(2026, 3, 2), "import", None, None, 0, None, True),
    ]
    version = db.data_version(clinic)
    again = checkin_import.import_files(clinic, path, by="boss")
    assert (again.inserted, again.skipped) == (0, 3) and db.data_version(clinic) == version
    events = audit.entries(clinic, actions=("import",))
    assert events["target_type"].tolist() == ["checkins"] and events["target_id"].tolist() == ["3"]
    assert audit.describe("import", "checkins", "3") == "Imported 3 new check-ins"


def test_an_excel_file_is_read_like_the_visit_log(clinic, tmp_path):
    path = tmp_path / "survey.xlsx"
    pd.DataFrame({"episode_id": ["E1"], "answered_on": [dt.date(2026, 2, 9)], "pain": [3],
                  "pgic": [2]}).to_excel(path, index=False)
    assert checkin_import.import_files(clinic, path).inserted == 1
    assert stored(clinic) == [("E1", dt.date(2026, 2, 9), "import", 3.0, None, None, 2, None)]


@pytest.mark.parametrize("row, expected", [
    ("E9,2026-02-09,3,,,,", "checkins.csv:2:episode_id: no course of care E9 is stored"),
    ("E1,2026-06-02,3,,,,", "checkins.csv:2:answered_on: 2026-06-02 is after today (2026-06-01)"),
    ("E1,2025-12-31,3,,,,", "checkins.csv:2:answered_on: 2025-12-31 is before the course's first visit (2026-01-05)"),
    ("E1,2026-02-30,3,,,,", "checkins.csv:2:answered_on: 2026-02-30 is not a real date"),
    ("E1,09/02/2026,3,,,,", "checkins.csv:2:answered_on: '09/02/2026' is not a date as YYYY-MM-DD"),
    ("E1,2026-02-09,,,,8,", "checkins.csv:2:pgic: '8' is not a whole number from 1 to 7"),
    ("E1,2026-02-09,,,,0,", "checkins.csv:2:pgic: '0' is not a whole number from 1 to 7"),
    ("E1,2026-02-09,11,,,,", "checkins.csv:2:pain: '11' is not a number from 0 to 10"),
    ("E1,2026-02-09,nan,,,,", "checkins.csv:2:pain: 'nan' is not a number from 0 to 10"),
    ("E1,2026-02-09,,,2.5,,", "checkins.csv:2:stretch_days: '2.5' is not a whole number from 0 to 7"),
    ("E1,2026-02-09,,,,,maybe", "checkins.csv:2:pain_returned: 'maybe' is not yes or no (blank = not asked)"),
    ("E1,2026-02-09,,,,,", "checkins.csv:2: the row has no answer"),
    (",2026-02-09,3,,,,", "checkins.csv:2:episode_id: episode_id is blank"),
    ("E1,2026-02-09,=cmd|' /C calc'!A0,,,,", "checkins.csv:2:pain: \"=cmd|' /C calc'!A0\" is not a number"),
])
def test_hostile_and_mistaken_rows_are_refused_with_file_row_and_column(clinic, tmp_path, row, expected):
    errors = refused(clinic, write(tmp_path, HEADER + "E1,2026-02-10,1,,,,\n" + row + "\n"))
    assert any(error.startswith(expected.replace(":2:", ":3:").replace(":2 ", ":3 ")) for error in errors), errors
    assert stored(clinic) == []  # the good first row is not stored either


def test_duplicates_within_the_file_and_a_different_stored_answer_are_refused(clinic, tmp_path):
    errors = refused(clinic, write(tmp_path, HEADER + "E1,2026-02-09,3,,,,\nE1,2026-02-09,3,,,,\n"))
    assert errors == ["checkins.csv:3:answered_on: course E1 already has a row for 2026-02-09 (checkins.csv line 2); "
                      "one answer per course and day"]
    checkin_import.import_files(clinic, write(tmp_path, HEADER + "E1,2026-02-09,3,,,,\n"))
    errors = refused(clinic, write(tmp_path, HEADER + "E1,2026-02-09,4,,,,\n", "other.csv"))
    assert errors == ["other.csv:2: course E1 already has a check-in on 2026-02-09 with other answers; "
                      "an import replaces nothing"]
    assert audit.entries(clinic, actions=("import",))["target_type"].tolist() == ["refused", "checkins", "refused"]


def test_missing_and_unknown_columns(clinic, tmp_path):
    errors = refused(clinic, write(tmp_path, "episode_id,pain,client_name\nE1,3,Ann\n"))
    assert "checkins.csv:1:answered_on: the required column answered_on is missing" in errors[0]
    assert errors[1].startswith("checkins.csv:1:client_name: 'client_name' is not a check-in column")


def test_unreadable_files_are_refused(clinic, tmp_path):
    assert refused(clinic, write(tmp_path, "", "empty.csv"))[0].startswith("empty.csv: the file is empty")
    assert refused(clinic, tmp_path / "missing.csv") == ["missing.csv: no such file"]


def test_the_command_line(clinic, tmp_path, capsys):
    database = clinic.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    clinic.close()
    good = write(tmp_path, HEADER + "E1,2026-02-09,3,,,,\n")
    assert cli.main(["import-checkins", str(good), "--db", database]) == 0
    assert "inserted 1 check-ins, skipped 0 already stored (1 courses)" in capsys.readouterr().out
    assert cli.main(["import-checkins", str(good), "--db", database]) == 0
    assert "inserted 0 check-ins, skipped 1" in capsys.readouterr().out
    bad = write(tmp_path, HEADER + "E1,2026-02-10,,,,8,\n", "bad.csv")
    assert cli.main(["import-checkins", str(bad), "--db", database]) == 1
    err = capsys.readouterr().err
    assert "bad.csv:2:pgic: '8' is not a whole number from 1 to 7" in err and "Nothing was imported" in err
