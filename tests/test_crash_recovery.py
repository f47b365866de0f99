"""A process killed in the middle of a big import leaves the database exactly as it was: it opens
cleanly, holds none of the import's rows, and takes the next import normally. A process killed
just before or just after a recorded session commits keeps both the visit and its audit row, or
neither."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from analytics import db, visit_log
from conftest import ROOT, visit

BIG_IMPORT_SESSIONS = 300_000

# The child opens the database, wraps one step of the import so that it prints a marker and then
# waits on stdin (which the parent never answers), and starts the big import. The parent kills it
# with SIGKILL on reading the marker, so the kill always lands at the same point of the open
# transaction: no sleeps, no timing.
# What both children start with: the database and stage from the command line, and pause(),
# which prints the marker and waits for the kill.
PRELUDE = textwrap.dedent("""
    import contextlib
    import sys

    sys.path.insert(0, {root!r})
    from analytics import db, records, sample, visit_log

    database, stage = sys.argv[1], sys.argv[2]


    def pause(marker):
        print(marker, flush=True)
        sys.stdin.readline()  # the parent kills this process here
        raise SystemExit("not killed at " + marker)

""")
CHILD = PRELUDE + textwrap.dedent("""

    if stage == "rows written":
        # Every session and assessment inserted, not yet committed; the fact tables not refreshed.
        # visit_log.store is the documented seam: import_frames calls it through the package.
        real_store = visit_log.store

        def store(cursor, log, plan):
            real_store(cursor, log, plan)
            pause(stage)

        visit_log.store = store
    elif stage == "before commit":
        # Rows inserted, fact tables refreshed, data version bumped: only COMMIT is left.
        @contextlib.contextmanager
        def transaction(con):
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            pause(stage)
            con.execute("COMMIT")

        db.transaction = transaction

    con = db.connect(database)
    rows = sample.generate_visit_log(sessions={sessions}, seed=1)
    # Ids of their own, so the rows are new sessions rather than clashes with the stored sample.
    for column in ("client_id", "episode_id", "therapist_id", "clinic_id"):
        rows[column] = "X" + rows[column].astype(str)
    print("importing", flush=True)
    visit_log.import_frames(con, [("big", rows)])
    print("committed", flush=True)
""")


def kill_at(script_text: str, database, stage: str, tmp_path, started: str) -> None:
    """Run a child script on `database` and SIGKILL it the moment it prints `stage` (after it
    printed `started`); fail if it stops any other way."""
    script = tmp_path / "child.py"
    script.write_text(script_text)
    errors = tmp_path / "child-stderr.txt"
    with open(errors, "w") as stderr:  # a file, so a chatty child can never fill a pipe and stall
        child = subprocess.Popen([sys.executable, str(script), str(database), stage],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        lines = []
        for line in child.stdout:  # ends at EOF if the child stops on its own
            lines.append(line.strip())
            if line.strip() == stage:
                child.send_signal(signal.SIGKILL)
                break
        assert lines == [started, stage], errors.read_text()
        assert child.wait() == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()


def facts_agree_with_live_views(con) -> bool:
    return all(
        con.execute(f"SELECT count(*) FROM (SELECT * FROM {first} EXCEPT SELECT * FROM {second})").fetchone()[0] == 0
        for table in ("session_facts", "episode_facts")
        for first, second in ((table, f"{table}_live"), (f"{table}_live", table)))


def import_audit_rows(con) -> list[tuple]:
    return con.execute("SELECT action, target_type, target_id FROM audit_log WHERE action = 'import' "
                       "ORDER BY logged_at, target_id").fetchall()


@pytest.mark.parametrize("stage", ["rows written", "before commit"])
def test_import_killed_mid_transaction_leaves_nothing_behind(writable_sample_db, tmp_path, stage):
    con = db.connect(writable_sample_db)
    before = db.table_checksums(con)  # audit_log is left out of these: it is counted below
    version = db.data_version(con)
    audited = import_audit_rows(con)
    con.close()  # one process at a time holds a DuckDB file open for writing

    kill_at(CHILD.format(root=str(ROOT), sessions=BIG_IMPORT_SESSIONS), writable_sample_db, stage, tmp_path,
            started="importing")

    con = db.connect(writable_sample_db)  # opens cleanly: no exception, schema intact
    try:
        assert db.table_checksums(con) == before  # no partial import, not even the data version
        assert db.data_version(con) == version
        assert con.execute("SELECT count(*) FROM sessions WHERE episode_id LIKE 'X%'").fetchone()[0] == 0
        # Before the commit the import's audit row was written too, in the same transaction: it
        # went with the rows, so no audit row tells of an import that is not there.
        assert import_audit_rows(con) == audited
        assert facts_agree_with_live_views(con)

        # The next import is an ordinary one.
        rows = [visit("AFTER1", 1, "2025-03-03", 8, 6), visit("AFTER1", 2, "2025-03-10", 6, 4),
                visit("AFTER1", 3, "2025-03-17", 4, 3)]
        result = visit_log.import_frames(con, [("after-crash.csv", pd.DataFrame(rows))])
        assert result == visit_log.ImportResult(inserted=3, skipped=0, replaced=0, episodes=1)
        assert db.data_version(con) == version + 1
        assert import_audit_rows(con) == audited + [("import", "sessions", "3")]
        assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == before["sessions"][0] + 3
        assert facts_agree_with_live_views(con)
    finally:
        con.close()
    # And what was committed is still there after closing and opening once more.
    con = db.connect(writable_sample_db)
    try:
        assert con.execute("SELECT count(*) FROM sessions WHERE episode_id = 'AFTER1'").fetchone()[0] == 3
    finally:
        con.close()


# A session recorded on the form: the child pauses just before COMMIT (the visit and its audit row
# both written in the open transaction) or just after it, and is killed there.
RECORD_CHILD = PRELUDE + textwrap.dedent("""

    @contextlib.contextmanager
    def transaction(con):
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if stage == "before commit":
            pause(stage)
        con.execute("COMMIT")
        if stage == "after commit":
            pause(stage)

    db.transaction = transaction
    con = db.connect(database)
    episode = con.execute("SELECT episode_id FROM episode_facts ORDER BY episode_id LIMIT 1").fetchone()[0]
    print("recording", flush=True)
    records.record_session(con, episode, records.SessionEntry(session_date="2025-06-30", pain_pre=5, pain_post=3,
                                                              visit_number=99), by="therapist1")
""")


@pytest.mark.parametrize("stage, stored", [("before commit", 0), ("after commit", 1)])
def test_a_session_killed_around_its_commit_keeps_its_audit_row_exactly_when_it_keeps_the_visit(
        writable_sample_db, tmp_path, stage, stored):
    kill_at(RECORD_CHILD.format(root=str(ROOT)), writable_sample_db, stage, tmp_path, started="recording")

    con = db.connect(writable_sample_db)
    try:
        visits = con.execute("SELECT count(*) FROM sessions WHERE visit_number = 99").fetchone()[0]
        audited = con.execute("SELECT count(*) FROM audit_log WHERE action = 'record' AND username = 'therapist1'"
                              ).fetchone()[0]
        assert (visits, audited) == (stored, stored)
    finally:
        con.close()
