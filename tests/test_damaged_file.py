"""A damaged database file says so, in one message, on every command (and, in
test_pages_damaged below, on every page): the file is damaged, restore the latest backup, how.
`python -m analytics check` reads the whole file and compares the fact tables with the base
tables, and exits non-zero with what is wrong."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analytics import db
from test_cli import run_cli

BLOCK = 256 * 1024  # DuckDB's block size; blocks follow the file's three 4 KB header pages
FIRST_BLOCK = 3 * 4096


@pytest.fixture(scope="module")
def damaged(sample_db_path, tmp_path_factory) -> Path:
    return damaged_in(sample_db_path, tmp_path_factory.mktemp("damaged"))


@pytest.fixture
def truncated(sample_db_path, tmp_path) -> Path:
    copy = tmp_path / "half.duckdb"
    shutil.copy(sample_db_path, copy)
    os.truncate(copy, copy.stat().st_size // 2)
    return copy


def test_check_passes_a_sound_database(writable_sample_db):
    # A copy: the in-process pages of other tests may hold the shared sample open.
    result = run_cli("check", "--db", writable_sample_db)
    assert result.returncode == 0, result.stderr
    con = db.connect(writable_sample_db, read_only=True)
    try:
        sessions = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        con.close()
    assert result.stdout == (f"{writable_sample_db}: sound: every table read completely ({sessions} sessions); "
                             "the fact tables agree with the base tables.\n")


def test_check_reads_every_block_and_fails_on_a_damaged_one(damaged):
    result = run_cli("check", "--db", damaged)
    assert result.returncode == 1
    assert "cannot be read completely (Corrupt database file" in result.stderr
    assert result.stderr.strip().endswith(f"{damaged}: {db.DAMAGED}")
    assert "Traceback" not in result.stderr


def damaged_index_in(source: Path, folder: Path, table: str) -> Path:
    """A copy of `source` with one block of `table`'s key index overwritten: every table still
    reads completely (a scan never reads an index), but an import checking that table's keys
    would fail on the block's checksum."""
    import duckdb

    def index_alone(copy: Path, con) -> bool:
        if db.check(con, indexes=False) != []:
            return False
        con.close()  # the writable check below needs the file to itself
        writable = duckdb.connect(str(copy))
        try:
            return any(problem.startswith(f"the index of table {table} ") for problem in db.check_indexes(writable))
        finally:
            writable.close()

    return one_block_overwritten(source, folder, f"index-{table}", index_alone,
                                 f"no block of the sample database holds an index of {table} alone")


@pytest.mark.parametrize("table, key", [("sessions", "session_id"), ("assessments", "session_id, phase")],
                         ids=["one-column key", "key of two columns"])
def test_check_reads_every_key_index_and_fails_on_a_damaged_one(sample_db_path, tmp_path, table, key):
    damaged_file = damaged_index_in(sample_db_path, tmp_path, table)
    result = run_cli("check", "--db", damaged_file)
    assert result.returncode == 1, result.stdout
    assert f"{damaged_file}: the index of table {table} ({key}) cannot be read (Corrupt database file" in result.stderr
    assert result.stderr.strip().endswith(f"{damaged_file}: {db.DAMAGED}")


def test_check_changes_nothing_in_the_file(writable_sample_db):
    import hashlib

    before = hashlib.sha256(writable_sample_db.read_bytes()).hexdigest()
    assert run_cli("check", "--db", writable_sample_db).returncode == 0
    assert hashlib.sha256(writable_sample_db.read_bytes()).hexdigest() == before
    assert not Path(f"{writable_sample_db}.wal").exists()


def test_check_finds_fact_tables_that_disagree_with_the_base_tables(writable_sample_db):
    con = db.connect(writable_sample_db)
    con.execute("UPDATE session_facts SET pain_pre = 10 - pain_pre WHERE visit_number = 2 AND episode_id IN "
                "(SELECT episode_id FROM episodes ORDER BY episode_id LIMIT 3)")
    con.close()
    result = run_cli("check", "--db", writable_sample_db)
    assert result.returncode == 1
    assert "session_facts disagrees with the base tables in 6 row(s)" in result.stderr


@pytest.mark.parametrize("command", [["summary"], ["summary", "--json"], ["check"], ["users", "list"]])
def test_every_command_on_a_truncated_file_gives_the_one_message(truncated, command):
    result = run_cli(*command, "--db", truncated)
    assert result.returncode == 2
    assert f"{truncated}: {db.DAMAGED}" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_summary_on_a_file_with_a_damaged_table_exits_non_zero_with_the_message(damaged):
    result = run_cli("summary", "--db", damaged)
    if result.returncode == 0:  # the damaged block is in a table the summary does not read
        pytest.skip("the damaged block is not read by the summary")
    assert result.returncode == 2 and result.stderr.strip() == f"{damaged}: {db.DAMAGED}"


# ---------------------------------------------------------------------------------------------
# Pages: the one message, never a traceback or a path

PAGES = ["overview", "trend", "courses", "conditions", "therapists", "home_program", "lasting", "followups_due",
         "data_quality", "client_progress", "record_session", "import_data", "audit_log"]


def damaged_in(source: Path, folder: Path, table: str | None = None) -> Path:
    """A copy of `source` with one block overwritten, found so that the file still opens but a
    table (`table`, or any) can no longer be read completely: what a bad disk sector or a broken
    copy leaves."""
    return one_block_overwritten(
        source, folder, f"damaged-{table}",
        lambda copy, con: any(problem.startswith(f"table {table or ''}") for problem in db.check(con)),
        f"no block of the sample database holds {table or 'table data'} alone")


def one_block_overwritten(source: Path, folder: Path, prefix: str, wanted, none_found: str) -> Path:
    """The first copy of `source`, block after block, with that block overwritten, that still
    opens read-only and for which `wanted(copy, connection)` is true; AssertionError(none_found)
    when no block gives one. Copies not wanted are removed."""
    size = source.stat().st_size
    for start in range(FIRST_BLOCK, size - BLOCK, BLOCK):
        copy = folder / f"{prefix}-{start}.duckdb"
        shutil.copy(source, copy)
        with open(copy, "r+b") as handle:
            handle.seek(start + 512)
            handle.write(bytes(range(256)) * 8)
        try:
            con = db.connect(copy, read_only=True)
        except db.DatabaseError:
            copy.unlink()
            continue
        try:
            found = wanted(copy, con)
        finally:
            con.close()
        if found:
            return copy
        copy.unlink()
    raise AssertionError(none_found)


def page_texts(at) -> str:
    """Everything a page shows as text, to search for a path or a traceback."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "subheader", "code", "text"):
        parts.extend(str(element.value) for element in getattr(at, kind))
    parts.extend(str(element.value) for element in at.exception)
    return "\n".join(parts)


@pytest.fixture(scope="module")
def damaged_facts(sample_db_path, tmp_path_factory) -> Path:
    return damaged_in(sample_db_path, tmp_path_factory.mktemp("facts"), "episode_facts")


def test_every_page_on_a_damaged_file_says_so_in_one_message(damaged_facts, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT, signed_in

    monkeypatch.setenv("CLINIC_DB", str(damaged_facts))
    told = 0
    for page in PAGES:
        at = signed_in(AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60))
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, page
        shown = page_texts(at)
        assert str(damaged_facts) not in shown and "Traceback" not in shown and "IOException" not in shown, page
        if any(element.value == db.DAMAGED for element in at.error):
            told += 1
    # episode_facts feeds every clinic page and the client pages' pickers; the manager pages
    # (import, audit log) need not touch it.
    assert told >= 7


def test_a_cut_off_file_shows_the_message_before_sign_in(truncated, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    monkeypatch.setenv("CLINIC_DB", str(truncated))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert [element.value for element in at.error] == [db.DAMAGED]
    assert not at.exception and str(truncated) not in page_texts(at)


# ---------------------------------------------------------------------------------------------
# Writes on a damaged file: the checksum error is the one told, not "Current transaction is
# aborted" (a view removed in a `finally` on the aborted transaction used to replace it)

@pytest.fixture(scope="module", params=["sessions", "assessments"])
def damaged_table(request, sample_db_path, tmp_path_factory) -> Path:
    return damaged_in(sample_db_path, tmp_path_factory.mktemp(f"write-{request.param}"), request.param)


@pytest.fixture
def damaged_copy(damaged_table, tmp_path) -> Path:
    copy = tmp_path / "damaged.duckdb"
    shutil.copy(damaged_table, copy)
    return copy


def test_an_import_on_a_damaged_file_gives_the_one_message(damaged_copy):
    from analytics import visit_log

    visits = Path(__file__).resolve().parent.parent / "sample_data" / "example_visit_log.csv"
    con = db.connect(damaged_copy)
    try:
        with pytest.raises(visit_log.ImportFailed) as refused:
            visit_log.import_files(con, [visits], replace=True)
    finally:
        con.close()
    assert [(problem.code, problem.message) for problem in refused.value.problems] == [
        ("damaged", f"{db.DAMAGED} Nothing was written.")]
    result = run_cli("import", visits, "--replace", "--db", damaged_copy)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{damaged_copy}: {db.DAMAGED}"
    assert "aborted" not in result.stderr and "Traceback" not in result.stderr


def test_recording_a_session_on_a_damaged_file_raises_the_damage_not_try_again(damaged_copy):
    import datetime as dt

    import duckdb

    from analytics import records

    con = db.connect(damaged_copy)
    try:
        episode = con.execute("SELECT episode_id FROM episodes ORDER BY episode_id LIMIT 1").fetchone()[0]
        entry = records.SessionEntry(session_date=dt.date(2025, 6, 2), pain_pre=5, pain_post=4, visit_number=90)
        # Not RecordRefused ("please try again"): the page's guard turns this into db.DAMAGED.
        with pytest.raises(duckdb.Error) as failed:
            records.record_session(con, episode, entry)
    finally:
        con.close()
    assert db.is_damage(failed.value), str(failed.value)


def test_the_checkin_page_on_a_damaged_file_says_so_in_one_message(sample_db_path, tmp_path, monkeypatch):
    """A client's live link on a file whose course facts are damaged: the one message, with no
    path and no traceback, before and without any sign-in."""
    import datetime as dt

    from streamlit.testing.v1 import AppTest

    from analytics import checkins, config
    from conftest import ROOT

    sound = tmp_path / "sound.duckdb"
    shutil.copy(sample_db_path, sound)
    con = db.connect(sound)
    try:
        episode_id, last_visit = db.one(con, "SELECT episode_id, max(session_date) FROM sessions GROUP BY 1 "
                                             "ORDER BY 1 LIMIT 1")
        token = checkins.make_link(con, episode_id, by="boss")
    finally:
        con.close()
    damaged_file = damaged_in(sound, tmp_path, "episode_facts")
    monkeypatch.setattr(config, "today", lambda: last_visit + dt.timedelta(days=7))  # the link is live
    monkeypatch.setenv("CLINIC_DB", str(damaged_file))
    checkins.INVALID_TOKEN_THROTTLE.clear()
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params["checkin"] = token
    at.run()
    assert not at.exception
    assert [element.value for element in at.error] == [db.DAMAGED]
    shown = page_texts(at)
    assert str(damaged_file) not in shown and "Traceback" not in shown and "IOException" not in shown
    checkins.INVALID_TOKEN_THROTTLE.clear()
