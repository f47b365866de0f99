"""Operations while the dashboard runs (analytics/ops.py): the inbox, backups, restore and the
command socket, in this process (test_ops_server.py drives the real dashboard)."""
import os
import shutil
import stat
import subprocess
import sys

import duckdb
import pytest

from analytics import audit, config, db, ops
from conftest import ROOT

LOG = """client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post
C1,E1,plantar_fasciitis,acute,1,2025-03-03,T1,8,6
C1,E1,plantar_fasciitis,acute,2,2025-03-10,T1,7,5
C2,E2,heel_spur,acute,1,2025-03-04,T1,6,5
"""
# A bad row (pain 11) after two good ones: all or nothing refuses the whole file.
BAD_LOG = LOG + "C3,E3,bunion,acute,1,2025-03-05,T1,11,5\n"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def con(tmp_path):
    connection = db.connect(tmp_path / "clinic.duckdb")
    yield connection
    connection.close()


def sessions(con):
    return db.one(con, "SELECT count(*) FROM sessions")[0]


def test_a_file_is_imported_only_once_it_has_stopped_changing(con, tmp_path):
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    clock = Clock()
    inbox = ops.Inbox(con, inbox_dir, settle=2, clock=clock)
    (inbox_dir / "visits.csv").write_text(LOG[:80])  # a copy still being written
    assert inbox.scan() == []
    clock.now += 3
    with open(inbox_dir / "visits.csv", "w") as file:  # it grew: the wait starts again
        file.write(LOG)
    os.utime(inbox_dir / "visits.csv", ns=(1, 2))
    assert inbox.scan() == []
    clock.now += 1
    assert inbox.scan() == [] and sessions(con) == 0  # unchanged for 1 s only
    clock.now += 1.5
    (result,) = inbox.scan()
    assert result.imported and (result.inserted, result.episodes) == (3, 2)
    assert sessions(con) == 3
    assert not (inbox_dir / "visits.csv").exists()
    assert (inbox_dir / "done" / "visits.csv").read_text() == LOG
    written = ops.InboxResult.from_text((inbox_dir / "done" / "visits.csv.result.txt").read_text())
    assert written.imported and written.inserted == 3 and written.name == "visits.csv"
    events = audit.entries(con, actions=("import",))
    assert list(events.username) == ["inbox"] and list(events.target_id) == ["3"]


def test_partial_and_hidden_files_are_left_alone(con, tmp_path):
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    (inbox_dir / ".visits.csv.abc.partial").write_text(LOG)
    (inbox_dir / "notes.txt").write_text("not a visit log")
    inbox = ops.Inbox(con, inbox_dir, settle=0)
    assert inbox.scan() == [] and inbox.scan() == []
    assert sessions(con) == 0


def test_a_refused_file_changes_nothing_and_lists_its_problems(con, tmp_path):
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    (inbox_dir / "bad.csv").write_text(BAD_LOG)
    inbox = ops.Inbox(con, inbox_dir, settle=0)
    before = db.table_checksums(con)
    version = db.data_version(con)
    assert inbox.scan() == []
    (result,) = inbox.scan()
    assert not result.imported and result.problems == 1
    assert db.table_checksums(con) == before and db.data_version(con) == version  # nothing written
    text = (inbox_dir / "refused" / "bad.csv.result.txt").read_text()
    assert "result: refused" in text and "bad.csv:5:pain_pre" in text
    assert (inbox_dir / "refused" / "bad.csv").exists()
    events = audit.entries(con, actions=("import",))
    assert list(events.target_type) == ["refused"] and "bad.csv" in events.target_id[0]
    # An unreadable file is refused (and audited) too.
    (inbox_dir / "empty.csv").write_bytes(b"\xff\xfe\x00")
    inbox.scan()
    (again,) = inbox.scan()
    assert not again.imported and len(audit.entries(con, actions=("import",))) == 2


def test_the_same_name_twice_keeps_both_results(con, tmp_path):
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    inbox = ops.Inbox(con, inbox_dir, settle=0)
    for _ in range(2):
        (inbox_dir / "visits.csv").write_text(LOG)
        inbox.scan()
        inbox.scan()
    results = ops.inbox_results(inbox_dir)
    assert len(results) == 2 and sorted(r.inserted for r in results) == [0, 3]
    assert len(list((inbox_dir / "done").glob("*.result.txt"))) == 2


def test_hand_to_inbox_renames_a_complete_copy(tmp_path):
    source = tmp_path / "visits.csv"
    source.write_text(LOG)
    inbox_dir = tmp_path / "inbox"
    assert ops.hand_to_inbox(source, inbox_dir) == "visits.csv"
    second = ops.hand_to_inbox(source, inbox_dir)
    assert second != "visits.csv" and second.endswith("visits.csv")
    assert sorted(p.read_text() for p in inbox_dir.iterdir()) == [LOG, LOG]


def test_backup_holds_what_is_only_in_the_write_ahead_log(con, tmp_path):
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    (inbox_dir / "visits.csv").write_text(LOG)
    inbox = ops.Inbox(con, inbox_dir, settle=0)
    inbox.scan()
    inbox.scan()
    assert (tmp_path / "clinic.duckdb.wal").exists()  # the import sits in the WAL, not the file
    made = ops.make_backup(con, tmp_path / "backups")
    assert made.name.startswith("clinic-") and made.suffix == ".duckdb"
    assert not made.with_name(made.name + ".wal").exists()
    copy = duckdb.connect(str(made), read_only=True)
    try:
        assert db.one(copy, "SELECT count(*) FROM sessions")[0] == 3
        assert db.check(copy) == []
        assert db.table_checksums(copy) == db.table_checksums(con)
    finally:
        copy.close()
    # A file copied by hand without its WAL lacks the import (here even the tables).
    shutil.copyfile(tmp_path / "clinic.duckdb", tmp_path / "by-hand.duckdb")
    by_hand = duckdb.connect(str(tmp_path / "by-hand.duckdb"), read_only=True)
    try:
        assert db.one(by_hand, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sessions'")[0] == 0
    finally:
        by_hand.close()


def test_keep_n_prunes_to_the_newest(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    for day in range(1, 6):
        (folder / f"clinic-2026010{day}-020000.duckdb").write_bytes(b"x")
    (folder / "other.duckdb").write_bytes(b"x")
    gone = ops.prune(folder, 2)
    assert sorted(p.name for p in gone) == [f"clinic-2026010{day}-020000.duckdb" for day in (1, 2, 3)]
    assert sorted(p.name for p in folder.iterdir()) == ["clinic-20260104-020000.duckdb",
                                                        "clinic-20260105-020000.duckdb", "other.duckdb"]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_backup_and_restore_from_the_command_line(tmp_path):
    database = tmp_path / "clinic.duckdb"
    log = tmp_path / "visits.csv"
    log.write_text(LOG)
    assert run_cli("import", log, "--db", database).returncode == 0
    made = run_cli("backup", "--to", tmp_path / "backups", "--keep", 3, "--db", database)
    assert made.returncode == 0, made.stderr
    assert "checked, sound" in made.stdout
    (backup,) = ops.backups(tmp_path / "backups")
    # The database moves on: a restore of the older backup is refused without --force.
    more = tmp_path / "more.csv"
    more.write_text(LOG.splitlines()[0] + "\nC9,E9,bunion,acute,1,2025-03-06,T1,5,4\n")
    assert run_cli("import", more, "--db", database).returncode == 0
    refused = run_cli("restore", backup, "--db", database)
    assert refused.returncode == 2 and "newer data" in refused.stderr and "--force" in refused.stderr
    check = db.connect(database, read_only=True)
    assert db.one(check, "SELECT count(*) FROM sessions")[0] == 4
    check.close()
    forced = run_cli("restore", backup, "--db", database, "--force")
    assert forced.returncode == 0, forced.stderr
    check = db.connect(database, read_only=True)
    assert db.one(check, "SELECT count(*) FROM sessions")[0] == 3 and db.check(check) == []
    check.close()
    # Restoring the same backup again: the database is not newer, so no --force is needed.
    assert run_cli("restore", backup, "--db", tmp_path / "fresh.duckdb").returncode == 0


def test_restore_refuses_a_damaged_backup_and_a_held_database(tmp_path, con):
    bad = tmp_path / "clinic-20260101-000000.duckdb"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ops.RestoreRefused, match="failed its check"):
        ops.restore(bad, tmp_path / "target.duckdb")
    good = ops.make_backup(con, tmp_path / "backups")
    held = tmp_path / "held.duckdb"
    db.connect(held).close()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, duckdb; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); sys.stdin.read()", str(held)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"  # another process holds the lock
        result = run_cli("restore", good, "--db", held, "--force")
        assert result.returncode == 2 and "running dashboard" in result.stderr
        # A holder that is not a dashboard: no socket answers, and the command says so.
        summary = run_cli("summary", "--db", held)
        assert summary.returncode == 2 and "in use by another program" in summary.stderr
        assert "No dashboard answers" in summary.stderr and "Traceback" not in summary.stderr
    finally:
        holder.communicate("")


def test_the_socket_answers_read_commands_and_is_private(tmp_path, con):
    database = tmp_path / "clinic.duckdb"
    with ops.served(con, database) as worker:
        assert stat.S_IMODE(os.stat(worker.socket).st_mode) == 0o600
        answer = ops.ask({"command": "run", "argv": ["check"]}, worker.socket)
        assert answer["exit"] == 0 and "sound" in answer["stdout"]
        refused = ops.ask({"command": "run", "argv": ["users", "add", "x"]}, worker.socket)
        assert refused["exit"] == 2
        assert ops.ask({"command": "run", "argv": ["sample"]}, worker.socket)["exit"] == 2
    assert not worker.socket.exists()
    assert ops.ask({"command": "ping"}, worker.socket) is None


def test_config_places_beside_the_database(tmp_path, monkeypatch):
    database = tmp_path / "clinic.duckdb"
    monkeypatch.delenv("CLINIC_INBOX", raising=False)
    monkeypatch.delenv("CLINIC_BACKUP_DIR", raising=False)
    assert config.inbox_path(database) == tmp_path / "inbox"
    assert config.socket_path(database) == tmp_path / "clinic.duckdb.sock"
    assert config.backup_folder(database) == tmp_path / "backups"
    monkeypatch.setenv("CLINIC_BACKUP_DIR", "off")
    assert config.backup_folder(database) is None


def test_the_daily_backup_runs_once_in_its_hour_and_keeps_n(tmp_path, con, monkeypatch):
    import datetime as dt

    folder = tmp_path / "daily"
    folder.mkdir()
    for old in range(1, 4):
        (folder / f"clinic-2020010{old}-020000.duckdb").write_bytes(b"old")
    monkeypatch.setenv("CLINIC_BACKUP_DIR", str(folder))
    monkeypatch.setattr(config, "BACKUP_KEEP", 2)
    worker = ops.Worker(con, tmp_path / "clinic.duckdb")
    monkeypatch.setattr(config, "BACKUP_HOUR", (dt.datetime.now().hour + 1) % 24)
    assert worker._scheduled_backup(None) is None  # not its hour: nothing made
    assert len(ops.backups(folder)) == 3
    monkeypatch.setattr(config, "BACKUP_HOUR", dt.datetime.now().hour)
    day = worker._scheduled_backup(None)
    kept = ops.backups(folder)
    assert day == dt.date.today() and len(kept) == 2
    assert kept[0].name.startswith(f"clinic-{dt.date.today():%Y%m%d}") and ops.verify_backup(kept[0]) == []
    assert kept[1].name == "clinic-20200103-020000.duckdb"
    assert worker._scheduled_backup(day) == day and ops.backups(folder) == kept  # once a day
    monkeypatch.setenv("CLINIC_BACKUP_DIR", "off")
    assert worker._scheduled_backup(None) is None
