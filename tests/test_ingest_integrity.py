"""Wrong inputs that used to import silently (issue #11): invisible characters in ids and names,
dates after today or before 1990, and text that differs only in its Unicode form. Each refusal
names file, row and column and leaves every table exactly as it was."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analytics import config, db, visit_log
from conftest import store_visits, visit
from test_security_input import write_csv

STORED = [visit("S1", 1, "2025-01-06", 6, 4, client_name="José Núñez")]


@pytest.fixture
def con(clinic_db, monkeypatch):
    monkeypatch.setattr(config, "today", lambda: dt.date(2026, 6, 30))
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


def test_a_next_appointment_before_its_session_is_refused_and_one_after_today_is_kept(con, tmp_path):
    path = write_csv(tmp_path / "visits.csv", [visit("N1", 1, "2025-02-03", 5, 4, next_appointment="2025-02-02")])
    assert refused(con, path) == [f"{path}:2:next_appointment: 2025-02-02 is before the session's date 2025-02-03; "
                                  "the next appointment is on or after it"]
    # Booked ahead: the one date that may lie after today (2026-06-30 here). The same day is allowed too.
    path = write_csv(tmp_path / "ahead.csv", [visit("N1", 1, "2025-02-03", 5, 4, next_appointment="2025-02-03"),
                                              visit("N1", 2, "2026-06-30", 4, 3, next_appointment="2026-07-07")])
    assert visit_log.import_files(con, [path]).inserted == 2
    assert con.execute("SELECT visit_number, next_appointment FROM sessions WHERE episode_id = 'N1' "
                       "ORDER BY 1").fetchall() == [
        (1, dt.date(2025, 2, 3)), (2, dt.date(2026, 7, 7))]


def test_a_name_in_another_unicode_form_is_the_same_name(con, tmp_path):
    # "José Núñez" typed with combining accents (NFD) is the stored, composed (NFC) name: the row
    # is already stored unchanged, not "differs from the stored name".
    decomposed = "Jose\u0301 Nu\u0301n\u0303ez"
    assert decomposed != "José Núñez"
    path = write_csv(tmp_path / "visits.csv", [visit("S1", 1, "2025-01-06", 6, 4, client_name=decomposed)])
    result = visit_log.import_files(con, [path])
    assert (result.inserted, result.skipped) == (0, 1)


# ---------------------------------------------------------------------------------------------
# Rows that do not fit the header, files that hold no visits, onsets after the first visit

HEADER = "client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post\n"
ROWS = [f"CN1,N1,plantar_fasciitis,acute,{number},2025-02-0{number},T92,8,{post}"
        for number, post in ((1, 6), (2, 5), (3, 10))]


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def test_a_file_cut_inside_its_last_row_is_refused_naming_the_missing_column(con, tmp_path):
    # "...,T92,8,10" cut to "...,T92,8": one value fewer than the header.
    path = write_text(tmp_path / "cut.csv", HEADER + "\n".join(ROWS)[:-3])
    assert refused(con, path) == [
        f"{path}:4:pain_post: the row has 8 values but the header has 9 columns (pain_post missing); check that "
        "the file is complete (an export cut off while it was written?)"]


def test_a_short_row_in_the_middle_is_refused_even_when_the_missing_cells_are_optional(con, tmp_path):
    header = HEADER.strip() + ",stretching_adherence_pct,client_name\n"
    rows = [row + ",80,Ada Dale" for row in ROWS]
    rows[1] = rows[1].rsplit(",", 2)[0]  # the optional cells lost: blanks would be stored
    path = write_text(tmp_path / "short.csv", header + "\n".join(rows) + "\n")
    errors = refused(con, path)
    assert errors == [f"{path}:3:stretching_adherence_pct: the row has 9 values but the header has 11 columns "
                      "(stretching_adherence_pct, client_name missing); check that the file is complete "
                      "(an export cut off while it was written?)"]


def test_short_and_long_rows_are_all_named_in_one_refusal_with_quoted_commas_respected(con, tmp_path):
    header = HEADER.strip() + ",client_name\n"
    rows = [ROWS[0] + ',"Brook, Ada"', ROWS[1] + ",Brook, Ada", ROWS[2]]
    path = write_text(tmp_path / "mixed.csv", header + "\n".join(rows) + "\n")
    assert refused(con, path) == [
        f"{path}:3:(column 11): the row has 11 values but the header has 10 columns; put quotes around values "
        "that contain a comma, or remove the extra values",
        f"{path}:4:client_name: the row has 9 values but the header has 10 columns (client_name missing); check "
        "that the file is complete (an export cut off while it was written?)"]


def test_a_last_line_with_every_value_but_no_line_ending_is_stored_with_a_notice(con, tmp_path):
    # Cut at a value's edge ("10" to "1") the row still fills every column: it is read, and the
    # person is told to check the file.
    path = write_text(tmp_path / "cut.csv", HEADER + "\n".join(ROWS)[:-1])
    result = visit_log.import_files(con, [path])
    assert result.inserted == 3
    assert [str(notice) for notice in result.notices] == [
        f"{path}: line 4 has no line ending: check that the file is complete"]
    complete = write_text(tmp_path / "complete.csv", HEADER + "\n".join(ROWS).replace("N1", "N2") + "\n")
    assert visit_log.import_files(con, [complete]).notices == []


def test_lines_of_bare_commas_are_blank_rows_not_short_rows(con, tmp_path):
    path = write_text(tmp_path / "commas.csv", HEADER + ROWS[0] + "\n,,,\n" + ROWS[1] + "\n")
    assert visit_log.import_files(con, [path]).inserted == 2


@pytest.mark.parametrize("body", ["\n", "\n\n\n", "\r\n\r\n", ",,,,,,,,\n\n"])
def test_a_header_followed_only_by_blank_lines_is_refused(con, tmp_path, body):
    path = write_text(tmp_path / "blank.csv", HEADER + body)
    assert refused(con, path) == [f"{path}: no visits in the file: the header is followed only by blank lines; "
                                  "expected one row per session"]


def test_an_onset_after_the_first_visit_is_refused_on_every_row_that_gives_it(con, tmp_path):
    rows = [visit("N1", number, date, 6, 4, onset_date=onset) for number, date, onset in
            ((1, "2025-02-03", "2025-02-10"), (2, "2025-02-10", "2025-02-10"), (3, "2025-02-17", ""))]
    path = write_csv(tmp_path / "onset.csv", rows)
    message = ("2025-02-10 is after the course's first visit on 2025-02-03; the onset is when the pain began, on or "
               "before the first visit")
    assert refused(con, path) == [f"{path}:2:onset_date: {message}", f"{path}:3:onset_date: {message}"]
    same_day = write_csv(tmp_path / "same.csv", [visit("N1", 1, "2025-02-03", 6, 4, onset_date="2025-02-03")])
    assert visit_log.import_files(con, [same_day]).inserted == 1


def test_a_repeated_column_is_named_in_parquet_in_a_workbook_and_in_csv(con, tmp_path):
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(visit("N1", 1, "2025-02-03", 6, 4))
    values = [str(value) for value in visit("N1", 1, "2025-02-03", 6, 4).values()]
    table = pa.Table.from_arrays([pa.array([value]) for value in values + ["7"]], names=columns + ["pain_pre"])
    parquet = tmp_path / "twice.parquet"
    pq.write_table(table, parquet)
    assert refused(con, parquet) == [f"{parquet}:1:pain_pre: the column appears more than once; keep one"]
    workbook = openpyxl.Workbook()
    workbook.active.append(columns + ["pain_pre"])
    workbook.active.append(values + ["7"])
    xlsx = tmp_path / "twice.xlsx"
    workbook.save(xlsx)
    assert refused(con, xlsx) == [f"{xlsx}:1:pain_pre: the column appears more than once; keep one"]
    text = tmp_path / "twice.csv"
    text.write_text(",".join(columns + ["pain_pre"]) + "\n" + ",".join(values + ["7"]) + "\n", encoding="utf-8")
    assert refused(con, text) == [f"{text}:1:pain_pre: the column appears more than once; keep one"]


# ---------------------------------------------------------------------------------------------
# Workbooks read as the person sees them

def workbook(path: Path, sheets: dict[str, list[dict]], hidden: tuple[str, ...] = (),
             percent: tuple[str, ...] = ()) -> Path:
    """A workbook with one sheet per entry (header and rows); `percent` columns formatted 0%."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        columns = list(dict.fromkeys(key for row in rows for key in row)) or ["client_id"]
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column) for column in columns])
            for index, column in enumerate(columns, start=1):
                if column in percent:
                    sheet.cell(sheet.max_row, index).number_format = "0%"
        if title in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def stored_episodes(con) -> list[str]:
    return [row[0] for row in con.execute("SELECT DISTINCT episode_id FROM sessions ORDER BY 1").fetchall()]


def test_a_sheet_named_visits_is_read_whatever_sheet_comes_first(con, tmp_path):
    path = workbook(tmp_path / "book.xlsx", {"Stale": [visit("OLD", 1, "2025-01-06", 5, 4)],
                                             "VISITS": [visit("N1", 1, "2025-02-03", 6, 4)]})
    assert visit_log.import_files(con, [path]).inserted == 1
    assert stored_episodes(con) == ["N1", "S1"]


def test_the_only_sheet_with_rows_is_read_and_hidden_sheets_are_ignored(con, tmp_path):
    path = workbook(tmp_path / "book.xlsx", {"Notes": [], "Hidden": [visit("H1", 1, "2025-01-06", 5, 4)],
                                             "Feb": [visit("N1", 1, "2025-02-03", 6, 4)]}, hidden=("Hidden",))
    assert visit_log.workbook_sheets(path) == ["Feb"]
    assert visit_log.import_files(con, [path]).inserted == 1
    assert stored_episodes(con) == ["N1", "S1"]


def test_several_sheets_with_rows_are_refused_naming_them_until_one_is_chosen(con, tmp_path):
    path = workbook(tmp_path / "book.xlsx", {"Jan": [visit("N1", 1, "2025-01-06", 6, 4)],
                                             "Feb": [visit("N1", 2, "2025-02-03", 5, 3)]})
    assert refused(con, path) == [
        f"{path}: the workbook has several sheets with rows ('Jan', 'Feb'); choose one (import --sheet NAME, or the "
        "sheet choice on the Import page), or put the visits on one sheet named 'visits'"]
    assert visit_log.import_files(con, [path], sheet="jan").inserted == 1  # any case
    before = db.table_checksums(con)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, [path], sheet="March")
    assert failure.value.errors == [f"{path}: the workbook has no sheet named 'March'; its sheets are 'Jan', 'Feb'"]
    assert db.table_checksums(con) == before


def test_a_hidden_sheet_is_not_read_even_when_chosen(con, tmp_path):
    path = workbook(tmp_path / "book.xlsx", {"Feb": [visit("N1", 1, "2025-02-03", 6, 4)],
                                             "Old": [visit("H1", 1, "2025-01-06", 5, 4)]}, hidden=("Old",))
    assert refused_with(con, path, sheet="Old") == [
        f"{path}: the sheet 'Old' is hidden; show it in Excel first if it holds the visits"]


def refused_with(con, path: Path, **options) -> list[str]:
    before = db.table_checksums(con)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, [path], **options)
    assert db.table_checksums(con) == before
    return failure.value.errors


def test_a_cell_formatted_as_a_percentage_is_read_as_shown(con, tmp_path):
    # Excel stores 60% as 0.6 and shows "60%": the adherence is 60, not 0.6 (or a refused 0.6).
    rows = [visit("N1", 1, "2025-02-03", 6, 4, stretching_adherence_pct=0.6),
            visit("N1", 2, "2025-02-10", 5, 3, stretching_adherence_pct=0.07)]
    path = workbook(tmp_path / "book.xlsx", {"visits": rows}, percent=("stretching_adherence_pct",))
    visit_log.import_files(con, [path])
    assert con.execute("SELECT stretching_adherence_pct FROM sessions WHERE episode_id = 'N1' ORDER BY visit_number"
                       ).fetchall() == [(60,), (7,)]


# ---------------------------------------------------------------------------------------------
# Course status never counts from a date after today

def test_status_counts_back_from_today_when_a_stored_session_is_dated_later(clinic_db, monkeypatch):
    from analytics import metrics

    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 3, 31))
    # One unfinished course seen on 2025-03-24 (7 days before "today"), one seen on 2025-02-01.
    rows = [visit("A", 1, "2025-03-24", 6, 4), visit("D", 1, "2025-02-01", 6, 4)]
    con = clinic_db(rows)
    status = lambda: dict(metrics.client_episodes(con)[["episode_id", "status"]].itertuples(index=False))  # noqa: E731
    assert status() == {"A": "active", "D": "lost_to_follow_up"}
    # A session typed as 2205 (stored before the importer refused such dates) would make the
    # latest session 2205 and every unfinished course "lost_to_follow_up"; counting from today keeps A active.
    store_visits(con, [visit("F", 1, "2205-01-06", 6, 4)])
    assert status()["A"] == "active" and status()["D"] == "lost_to_follow_up"


def test_an_onset_after_a_stored_courses_first_visit_is_refused(con, tmp_path):
    # S1's first visit, stored, is 2025-01-06: a later visit that brings an onset of 2025-01-10
    # would date the pain after the treatment began.
    path = write_csv(tmp_path / "later.csv", [visit("S1", 2, "2025-01-13", 5, 3, onset_date="2025-01-10")])
    before = db.table_checksums(con)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, [path], replace=True)  # even when overwriting the stored (blank) onset
    assert failure.value.errors == [
        f"{path}:2:onset_date: 2025-01-10 is after the course's first visit on 2025-01-06 (stored); the onset is "
        "when the pain began, on or before the first visit"]
    assert db.table_checksums(con) == before
    path = write_csv(tmp_path / "fine.csv", [visit("S1", 2, "2025-01-13", 5, 3, onset_date="2025-01-06")])
    assert visit_log.import_files(con, [path], replace=True).inserted == 1


ONSET_STORED = [visit("O1", 1, "2025-01-06", 6, 4, onset_date="2025-01-01"), visit("O1", 2, "2025-01-13", 5, 3)]
ONSET_RULE = "the onset is when the pain began, on or before the first visit: correct the onset first if it is wrong"


def test_redating_visit_1_before_a_stored_onset_by_an_import_is_refused(clinic_db, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "today", lambda: dt.date(2026, 6, 30))
    con = clinic_db(ONSET_STORED)
    path = write_csv(tmp_path / "redated.csv", [visit("O1", 1, "2024-12-01", 6, 4)])
    before = db.table_checksums(con)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, [path], replace=True)
    assert failure.value.errors == [
        f"{path}:2:session_date: 2024-12-01 is before the course's onset on 2025-01-01 (stored); {ONSET_RULE}"]
    assert db.table_checksums(con) == before
    # Giving the earlier onset too is a consistent correction of both.
    path = write_csv(tmp_path / "both.csv", [visit("O1", 1, "2024-12-01", 6, 4, onset_date="2024-11-20")])
    assert visit_log.import_files(con, [path], replace=True).replaced == 1


def test_correcting_visit_1_to_a_date_before_the_stored_onset_is_refused(clinic_db, monkeypatch):
    from analytics import records

    monkeypatch.setattr(config, "today", lambda: dt.date(2026, 6, 30))
    con = clinic_db(ONSET_STORED)
    session_id = con.execute("SELECT session_id FROM sessions WHERE episode_id = 'O1' AND visit_number = 1").fetchone()[0]
    before = db.table_checksums(con)
    with pytest.raises(records.RecordRefused) as refused_form:
        records.correct_value(con, session_id, "session_date", "2024-12-01", "typing error", "manager")
    assert refused_form.value.problems == {
        "session_date": [f"2024-12-01 is before the course's onset on 2025-01-01 (stored); {ONSET_RULE}"]}
    assert db.table_checksums(con) == before
    records.correct_value(con, session_id, "session_date", "2025-01-01", "typing error", "manager")  # the onset day itself


def import_audit(con) -> list[tuple]:
    return con.execute("SELECT action, target_type, target_id FROM audit_log WHERE action = 'import' "
                       "ORDER BY logged_at").fetchall()


@pytest.mark.parametrize("body", [
    b"client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post\n"
    b"CN1,N1,heel_spur,acute,1,2025-02-03,T1,7\n",                        # a short row
    b"",                                                                   # an empty file
    b"\x00\x01\x02PK\x03\x04 binary \xff\xfe",                             # not text
], ids=["short row", "empty", "binary"])
def test_a_file_refused_while_being_read_is_audited_with_its_name_and_no_value(con, tmp_path, body):
    good = write_csv(tmp_path / "good.csv", [visit("N2", 1, "2025-02-03", 5, 4, client_name="Ada Brook")])
    bad = tmp_path / "bad.csv"
    bad.write_bytes(body)
    errors = refused(con, bad)
    assert import_audit(con) == [("import", "refused", f"{len(errors)} problem(s) in {bad}")]
    # With a readable file beside it: both named, once each, and nothing from either file.
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, [good, bad])
    assert import_audit(con)[-1] == ("import", "refused", f"{len(failure.value.errors)} problem(s) in {good}, {bad}")
    assert "Ada" not in str(import_audit(con)) and "N2" not in str(import_audit(con))


def test_the_command_line_audits_a_refused_file_by_its_name(clinic_db, tmp_path):
    from test_cli import run_cli

    clinic_db(STORED).close()
    path = tmp_path / "clinic0.duckdb"  # the factory's first database
    cut = tmp_path / "cut.csv"
    cut.write_text("client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post\r\n"
                   "CN1,N1,heel_spur,acute,1,2025-02-03,T1,7,5\r\nCN1,N1,heel_spur,acute,2,2025-02-10,T1,6")
    result = run_cli("import", cut, "--db", path)
    assert result.returncode == 1, result.stderr
    con = db.connect(path, read_only=True)
    try:
        assert import_audit(con) == [("import", "refused", f"1 problem(s) in {cut}")]
    finally:
        con.close()
