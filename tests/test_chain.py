"""The clinic chain against a real PostgreSQL (tests/pg.py starts one for the run): the same
figures as DuckDB alone, a write on one replica seen on another, writers in separate processes
and the command line losing or doubling nothing, and a refused write leaving both sides as they
were. Skipped where PostgreSQL is not installed, failed instead under REQUIRE_POSTGRES=1."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest

from analytics import bootstrap, chain, db, metrics, records
from analytics.filters import Filter
from conftest import ROOT, store_visits, visit


def pg_rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query on the chain's PostgreSQL (the system of record, read directly)."""
    import adbc_driver_postgresql.dbapi as pgdb

    with pgdb.connect(url) as con, con.cursor() as cursor:
        cursor.execute(sql, parameters=params or None)
        return cursor.fetchall()


def until(condition, seconds: float = 20.0) -> bool:
    """Wait for another replica's follower (it polls every CLINIC_CHAIN_POLL_SECONDS)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


SAME_FIGURES = {
    "headline": lambda con: metrics.headline(con, Filter()),
    "therapist_summary": lambda con: metrics.therapist_summary(con, Filter()),
    "therapist_outcome": lambda con: metrics.therapist_outcome(con, Filter()).therapists,
    "data_quality": lambda con: metrics.data_quality(con, Filter()),
    "kpis": lambda con: metrics.kpis(con, Filter()),
    "course_outcomes": lambda con: metrics.course_outcomes(con, Filter()),
    "pain_trajectory": lambda con: metrics.pain_trajectory(con, Filter()),
    "condition_comparison": lambda con: metrics.condition_comparison(con, Filter()),
    "home_program_effect": lambda con: metrics.home_program_effect(con, Filter()),
    "monthly_trend": lambda con: metrics.monthly_trend(con, Filter()),
    "time_to_improvement": lambda con: metrics.time_to_improvement(con, Filter()),
}


@pytest.fixture(scope="module")
def sample_on_both(postgres_cluster, sample_db_path, tmp_path_factory):
    """The committed sample clinic twice: imported into a DuckDB file alone, and imported through
    one chain replica into PostgreSQL then copied from there into a second, fresh replica. The
    DuckDB file gets the chain's letter key, so the anonymised therapist letters match too."""
    folder = tmp_path_factory.mktemp("both")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLINIC_DATABASE_URL", postgres_cluster.new_database())
        writer = db.connect(folder / "writer.duckdb")
        bootstrap.load_committed_sample(writer)
        replica = db.connect(folder / "replica.duckdb")
    alone_path = folder / "alone.duckdb"
    shutil.copy(sample_db_path, alone_path)
    alone = db.connect(alone_path)
    alone.execute("UPDATE meta SET value = ? WHERE key = ?", [db.letter_key(replica).decode(), db.LETTER_KEY])
    yield alone, replica
    chain.forget_all()
    for con in (writer, replica, alone):
        con.close()


@pytest.mark.parametrize("figure", SAME_FIGURES)
def test_the_sample_clinic_gives_the_same_figures_on_both_engines(sample_on_both, figure):
    alone, replica = sample_on_both
    expected, got = SAME_FIGURES[figure](alone), SAME_FIGURES[figure](replica)
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=0)
    else:
        assert same(got, expected)


def same(got, expected) -> bool:
    """Equal, floats to 12 significant digits: a float sum or mean (and the therapist model fitted
    on them) differs in its last one or two bits when the rows are stored in another order, as
    between any two DuckDB files filled in another order; counts, ids and words exactly."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in expected)
    if isinstance(expected, float) and isinstance(got, float):
        return got == pytest.approx(expected, rel=1e-12, nan_ok=True)
    return got == expected


def test_the_replica_copy_is_sound_and_complete(sample_on_both):
    alone, replica = sample_on_both
    assert db.check(replica) == []
    # Every clinical table and both fact tables the same, row for row (not the accounts, whose
    # password hashes are salted, nor meta, which holds each file's own data and chain versions).
    # Check-ins carry the time each file imported them (submitted_at), so they are compared without it.
    checksums = {table: value for table, value in db.table_checksums(alone).items()
                 if table not in ("users", "meta", "checkins")}
    assert {table: db.table_checksums(replica)[table] for table in checksums} == checksums
    answers = "SELECT * EXCLUDE (submitted_at) FROM checkins ORDER BY checkin_id"
    assert replica.execute(answers).fetchall() == alone.execute(answers).fetchall() != []
    assert bootstrap.holds_sample_data(replica)


CLINIC = [visit("E00001", 1, "2026-10-01", 7, 5), visit("E00001", 2, "2026-10-08", 5, 3),
          visit("E00002", 1, "2026-10-02", 6, 6)]


@pytest.fixture
def two_replicas(chain_url, tmp_path, monkeypatch):
    """Two replicas of one new chain in this process, each following the other's writes."""
    monkeypatch.setenv("CLINIC_CHAIN_POLL_SECONDS", "0.2")
    monkeypatch.setattr("analytics.config.CHAIN_POLL_SECONDS", 0.2)
    first = db.connect(tmp_path / "first.duckdb")
    store_visits(first, CLINIC)
    second = db.connect(tmp_path / "second.duckdb")
    yield first, second
    chain.forget_all()
    first.close()
    second.close()


def test_a_session_recorded_on_one_replica_appears_on_the_other(two_replicas):
    first, second = two_replicas
    before = db.data_version(second)
    session_id = records.record_session(first, "E00002", records.SessionEntry("2026-10-09", 5, 4), by="manager")
    assert until(lambda: db.data_version(second) > before)
    stored = second.execute("SELECT session_id, visit_number FROM sessions WHERE episode_id = 'E00002' ORDER BY 1").fetchall()
    assert stored[-1] == (session_id, 2)
    assert metrics.headline(second, Filter()) == metrics.headline(first, Filter())
    assert db.check(second) == []  # its facts were refreshed with the rows


def test_ids_made_on_two_replicas_never_collide(two_replicas):
    first, second = two_replicas
    entry = records.EpisodeEntry("", "plantar_fasciitis", "acute", "T1")
    visit_one = records.SessionEntry("2026-10-10", 6, 5)
    made = [records.open_episode(first, entry, visit_one, by="a", viewer="T1"),
            records.open_episode(second, entry, visit_one, by="b", viewer="T1"),
            records.open_episode(first, entry, visit_one, by="a", viewer="T1")]
    assert made == ["E00003", "E00004", "E00005"]  # each write pulls first, under the chain's lock
    assert until(lambda: second.execute("SELECT count(*) FROM episodes").fetchall()[0][0] == 5)
    sessions = pg_rows(os.environ["CLINIC_DATABASE_URL"], "SELECT session_id FROM sessions ORDER BY 1")
    assert len(sessions) == len(set(sessions)) == 6


def test_a_write_postgresql_refuses_leaves_both_sides_as_they_were(two_replicas):
    first, _ = two_replicas
    url = os.environ["CLINIC_DATABASE_URL"]
    # PostgreSQL refuses every new session row (as a full disk or a lost connection would).
    for sql in ("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
                "CREATE TRIGGER refuse BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION refuse()"):
        pg_rows_commit(url, sql)
    local_before = db.table_checksums(first)
    chain_before = pg_rows(url, "SELECT count(*), max(version) FROM chain_changes")
    with pytest.raises(records.RecordRefused):
        records.record_session(first, "E00002", records.SessionEntry("2026-10-09", 5, 4), by="manager")
    assert db.table_checksums(first) == local_before
    assert pg_rows(url, "SELECT count(*), max(version) FROM chain_changes") == chain_before
    pg_rows_commit(url, "DROP TRIGGER refuse ON sessions")
    records.record_session(first, "E00002", records.SessionEntry("2026-10-09", 5, 4), by="manager")  # works again
    assert pg_rows(url, "SELECT count(*) FROM sessions")[0][0] == 4


def pg_rows_commit(url: str, sql: str) -> None:
    import adbc_driver_postgresql.dbapi as pgdb

    with pgdb.connect(url, autocommit=True) as con, con.cursor() as cursor:
        cursor.execute(sql)


WORKER = """
import json, sys
from analytics import db, records
con = db.connect(sys.argv[1])
entry = records.EpisodeEntry("", "plantar_fasciitis", "acute", "T1")
made = [records.open_episode(con, entry, records.SessionEntry("2026-10-10", 6, 5), by=sys.argv[2], viewer="T1")
        for _ in range(int(sys.argv[3]))]
con.close()
print(json.dumps(made))
"""
WRITES_EACH = 12


def test_two_processes_and_the_command_line_write_concurrently_losing_nothing(chain_url, tmp_path):
    seed = db.connect(tmp_path / "seed.duckdb")
    store_visits(seed, CLINIC)
    seed.close()
    chain.forget_all()
    log = tmp_path / "visits.csv"
    pd.DataFrame([visit(f"X{n:03d}", 1, "2026-10-05", 5, 3) for n in range(20)]).to_csv(log, index=False)
    environment = {**os.environ, "CLINIC_DATABASE_URL": chain_url, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / f"replica{n}.duckdb"), f"worker{n}",
                                 str(WRITES_EACH)], env=environment, cwd=ROOT, stdout=subprocess.PIPE, text=True)
               for n in (1, 2)]
    cli = subprocess.run([sys.executable, "-m", "analytics", "import", str(log)], env=environment, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    made = []
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0
        made.extend(json.loads(out))
    assert cli.returncode == 0, cli.stderr
    assert "inserted 20" in cli.stdout
    assert len(made) == len(set(made)) == 2 * WRITES_EACH  # no episode id given twice
    sessions = pg_rows(chain_url, "SELECT episode_id, session_id FROM sessions")
    assert len(sessions) == len(CLINIC) + 2 * WRITES_EACH + 20  # none lost
    assert len({session_id for _, session_id in sessions}) == len(sessions)  # none doubled
    assert {episode for episode, _ in sessions} >= set(made)
    recorded = pg_rows(chain_url, "SELECT username, target_id FROM audit_log WHERE action = 'record'")
    assert sorted(target for _, target in recorded) == sorted(made)  # one audit row per write, none lost
    assert pg_rows(chain_url, "SELECT count(*) FROM audit_log WHERE action = 'import' AND target_id = '20'")[0][0] == 1
    audit_ids = pg_rows(chain_url, "SELECT audit_id FROM audit_log")
    assert len(audit_ids) == len(set(audit_ids))
    # A fresh replica copies exactly what PostgreSQL holds, its facts agreeing with its tables.
    fresh = db.connect(tmp_path / "fresh.duckdb")
    assert fresh.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == len(sessions)
    assert db.check(fresh) == []
    fresh.close()
