"""The Import page as a manager uses it: a workbook with several visit sheets asks which one, a
refused file changes nothing, and a notice (a last line with no line ending) is shown."""
from __future__ import annotations

import io

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from analytics import db
from conftest import ROOT, signed_in, store_visits, visit

PAGE = str(ROOT / "app_pages" / "import_data.py")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def empty_db(tmp_path, monkeypatch):
    path = tmp_path / "clinic.duckdb"
    con = db.connect(path)
    store_visits(con, [visit("S1", 1, "2025-01-06", 6, 4)])  # not empty: the app would load the sample
    con.close()
    monkeypatch.setenv("CLINIC_DB", str(path))
    return path


def two_sheet_workbook() -> bytes:
    book = openpyxl.Workbook()
    for title, episode in (("Jan", "J1"), ("Feb", "J2")):
        sheet = book.active if title == "Jan" else book.create_sheet(title)
        sheet.title = title
        rows = [visit(episode, 1, "2025-02-03", 6, 4)]
        sheet.append(list(rows[0]))
        sheet.append(list(rows[0].values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def stored_episodes(path) -> list[str]:
    con = db.connect(path)
    try:
        return [row[0] for row in con.execute("SELECT episode_id FROM episodes ORDER BY 1").fetchall()]
    finally:
        con.close()


def page() -> AppTest:
    return signed_in(AppTest.from_file(PAGE, default_timeout=60))


def test_a_workbook_with_two_visit_sheets_asks_which_and_imports_only_that_one(empty_db):
    at = page().run()
    at.file_uploader(key="import_files").upload("visits.xlsx", two_sheet_workbook(), XLSX).run()
    choice = at.selectbox[0]
    assert choice.label == "Sheet to import from visits\\.xlsx" and choice.options == ["Jan", "Feb"]
    at.button(key="import_go").click().run()  # no sheet chosen yet: refused, naming both
    assert "Nothing was imported" in at.error[0].value
    assert "several sheets with rows ('Jan', 'Feb')" in at.code[0].value
    assert stored_episodes(empty_db) == ["S1"]
    at.selectbox[0].select("Feb").run()
    at.button(key="import_go").click().run()
    assert not at.exception and "Imported 1 new sessions" in at.success[0].value
    assert stored_episodes(empty_db) == ["J2", "S1"]


def test_a_last_line_without_a_line_ending_is_imported_with_a_notice(empty_db):
    header = "client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post\n"
    content = (header + "CN1,N1,heel_spur,acute,1,2025-02-03,T1,7,5").encode()
    at = page().run()
    at.file_uploader(key="import_files").upload("cut.csv", content, "text/csv").run()
    at.button(key="import_go").click().run()
    assert "Imported 1 new sessions" in at.success[0].value
    assert at.warning[0].value == "Imported, but check the file:"
    assert at.code[0].value == "cut.csv: line 2 has no line ending: check that the file is complete"


def test_checkins_are_a_choice_on_the_import_page(empty_db, monkeypatch):
    import datetime as dt

    from analytics import config

    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 6, 1))
    header = "episode_id,answered_on,pain,pgic\n"
    at = page().run()
    at.radio(key="import_kind").set_value("Client check-ins").run()
    assert not at.checkbox  # an import of check-ins replaces nothing
    at.file_uploader(key="import_files").upload("survey.csv", (header + "S1,2025-03-03,9,8\n").encode(), "text/csv").run()
    at.button(key="import_go").click().run()
    assert "Nothing was imported" in at.error[0].value
    assert at.code[0].value == "survey.csv:2:pgic: '8' is not a whole number from 1 to 7"
    at.file_uploader(key="import_files").upload("survey.csv", (header + "S1,2025-03-03,2,1\n").encode(), "text/csv").run()
    at.button(key="import_go").click().run()
    assert not at.exception and "Imported 1 new check-ins" in at.success[0].value
    con = db.connect(empty_db)
    try:
        assert con.execute("SELECT episode_id, source, pain, pgic FROM checkins").fetchall() == [("S1", "import", 2.0, 1)]
    finally:
        con.close()


def import_audit(path) -> list[tuple]:
    con = db.connect(path)  # as the page opens it (one DuckDB instance per configuration)
    try:
        return con.execute("SELECT username, action, target_type, target_id FROM audit_log WHERE action = 'import' "
                           "ORDER BY logged_at").fetchall()
    finally:
        con.close()


HEADER = b"client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post\n"


@pytest.mark.parametrize("name, content, kind, shown", [
    ("short.csv", HEADER + b"CN1,N1,heel_spur,acute,1,2025-02-03,T1,7\n", "text/csv", "short.csv:2:pain_post"),
    ("empty.csv", b"", "text/csv", "empty.csv"),
    ("binary.csv", b"\x00\x01\x02\xff\xfe binary", "text/csv", "binary.csv"),
    ("visits.xlsx", None, XLSX, "several sheets with rows ('Jan', 'Feb')"),
    ("big.csv", HEADER + b"CN1,N1,heel_spur,acute,1,2025-02-03,T1,7,5\n" * 30_000, "text/csv", "big.csv"),
], ids=["short row", "empty", "binary", "several sheets", "too big"])
def test_a_file_refused_while_being_read_is_audited_with_its_name(empty_db, monkeypatch, name, content, kind, shown):
    from analytics import config

    monkeypatch.setattr(config, "MAX_IMPORT_BYTES", 1024 * 1024)  # the 1.3 MB file is over it
    at = page().run()
    at.file_uploader(key="import_files").upload(name, two_sheet_workbook() if content is None else content, kind).run()
    at.button(key="import_go").click().run()
    assert not at.exception and "Nothing was imported" in at.error[0].value
    assert shown in at.code[0].value
    assert stored_episodes(empty_db) == ["S1"]
    [(username, action, target_type, target)] = import_audit(empty_db)
    assert (username, action, target_type) == ("manager", "import", "refused")
    assert target.endswith(f"problem(s) in {name}")  # the name and a count: no value from the file
