"""Wrong inputs that used to import silently (issue #11): invisible characters in ids and names,
dates after today or before 1990, and text that differs only in its Unicode form. Each refusal
names file, row and column and leaves every table exactly as it was."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analytics import db, visit_log
from analytics.visit_log import checks
from conftest import visit
from test_security_input import write_csv

STORED = [visit("S1", 1, "2025-01-06", 6, 4, client_name="José Núñez")]


@pytest.fixture
def con(clinic_db, monkeypatch):
    monkeypatch.setattr(checks, "today", lambda: dt.date(2026, 6, 30))
    return clinic_db(STORED)


def refused(con, path: Path) -> list[str]:
    before = db.table_checksums(con)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, [path])
    assert db.table_checksums(con) == before
    return failure.value.errors


@pytest.mark.parametrize("column, value, character", [
    ("client_id", "BC0\u200b1001", "U+200B"),        # zero-width space: a look-alike second client
    ("episode_id", "E\u20601", "U+2060"),            # word joiner
    ("therapist_id", "T\u202e10", "U+202E"),         # right-to-left override
    ("client_name", "Ada\nBrook", "U+000A"),         # a newline inside a quoted cell
    ("therapist_name", "Rosa\tLind", "U+0009"),      # a tab
    ("client_name", "\ufeffAda", "U+FEFF"),          # a byte-order mark pasted into a name
])
def test_an_invisible_or_control_character_is_refused_naming_it(con, tmp_path, column, value, character):
    path = write_csv(tmp_path / "visits.csv", [{**visit("N1", 1, "2025-02-03", 5, 4), column: value}])
    errors = refused(con, path)
    assert len(errors) == 1 and errors[0].startswith(f"{path}:2:{column}: ")
    assert f"contains an invisible or control character {character}" in errors[0]


@pytest.mark.parametrize("date, message", [
    ("2026-07-01", "2026-07-01 is after today (2026-06-30); check the year"),
    ("2205-01-06", "2205-01-06 is after today (2026-06-30); check the year"),
    ("1989-12-31", "1989-12-31 is before 1990-01-01; check the year"),
])
def test_a_session_date_after_today_or_before_1990_is_refused(con, tmp_path, date, message):
    path = write_csv(tmp_path / "visits.csv", [visit("N1", 1, date, 5, 4)])
    assert refused(con, path) == [f"{path}:2:session_date: {message}"]


def test_an_onset_after_today_is_refused_and_one_in_the_1980s_is_kept(con, tmp_path):
    path = write_csv(tmp_path / "visits.csv", [visit("N1", 1, "2025-02-03", 5, 4, onset_date="2027-01-01")])
    assert refused(con, path) == [f"{path}:2:onset_date: 2027-01-01 is after today (2026-06-30); check the year"]
    # A chronic complaint may have begun long before the clinic kept records.
    path = write_csv(tmp_path / "old.csv", [visit("N1", 1, "2025-02-03", 5, 4, onset_date="1985-05-01")])
    assert visit_log.import_files(con, [path]).inserted == 1


def test_a_name_in_another_unicode_form_is_the_same_name(con, tmp_path):
    # "José Núñez" typed with combining accents (NFD) is the stored, composed (NFC) name: the row
    # is already stored unchanged, not "differs from the stored name".
    decomposed = "Jose\u0301 Nu\u0301n\u0303ez"
    assert decomposed != "José Núñez"
    path = write_csv(tmp_path / "visits.csv", [visit("S1", 1, "2025-01-06", 6, 4, client_name=decomposed)])
    result = visit_log.import_files(con, [path])
    assert (result.inserted, result.skipped) == (0, 1)
