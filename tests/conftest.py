"""Shared fixtures: real DuckDB files in tmp_path, filled from small visit logs written in tests."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics import db  # noqa: E402

# Every page an AppTest opens starts the dashboard's worker in this process (ui/guard.py), which
# would make its daily backup of each test's database in the configured hour, damaged-on-purpose
# copies included. The backup tests turn it on themselves (tests/test_ops.py).
os.environ.setdefault("CLINIC_BACKUP_DIR", "off")
os.environ.setdefault("CLINIC_WARM_UP", "off")  # tests/test_cache_keys.py turns it on where it tests it


def visit(episode_id: str, visit_number: int, session_date: str, pain_pre: float, pain_post: float | None, **extra):
    """One visit-log row with the test defaults: client = episode id with 'C', therapist T1,
    acute plantar fasciitis. Any visit-log column can be overridden by keyword."""
    row = {
        "client_id": "C" + episode_id,
        "episode_id": episode_id,
        "condition": "plantar_fasciitis",
        "course_type": "acute",
        "visit_number": visit_number,
        "session_date": session_date,
        "therapist_id": "T1",
        "pain_pre": pain_pre,
        "pain_post": pain_post,
    }
    row.update(extra)
    return row


def store_visits(con, rows: list[dict]) -> None:
    """Write visit-log rows straight into the tables (trusted test data; the importer's own
    validation is tested in test_ingest.py)."""
    with db.write(con) as cur:
        for r in rows:
            clinic = r.get("clinic_id", "main")
            cur.execute("INSERT INTO clinics (clinic_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING", [clinic, clinic])
            cur.execute("INSERT INTO therapists (therapist_id, name, clinic_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [r["therapist_id"], r.get("therapist_name"), clinic])
            cur.execute("INSERT INTO clients (client_id, display_name, clinic_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [r["client_id"], r.get("client_name"), clinic])
            cur.execute(
                "INSERT INTO episodes (episode_id, client_id, therapist_id, condition, course_type, severity,"
                " prior_injuries, onset_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [r["episode_id"], r["client_id"], r["therapist_id"], r["condition"], r["course_type"],
                 r.get("severity"), r.get("prior_injuries"), r.get("onset_date")],
            )
            session_id = cur.execute(
                "INSERT INTO sessions (episode_id, visit_number, session_date, therapist_id, duration_min,"
                " sore_spot_min, stretching_adherence_pct, faam_adl_pct, lefs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING session_id",
                [r["episode_id"], r["visit_number"], r["session_date"], r["therapist_id"],
                 r.get("duration_min", 60), r.get("sore_spot_min"), r.get("stretching_adherence_pct"),
                 r.get("faam_adl_pct"), r.get("lefs")],
            ).fetchone()[0]
            for phase in ("pre", "post"):
                pain = r.get(f"pain_{phase}")
                if pain is not None:
                    cur.execute("INSERT INTO assessments (session_id, phase, pain, psfs, dorsiflexion_deg) VALUES (?, ?, ?, ?, ?)",
                                [session_id, phase, pain, r.get(f"psfs_{phase}"), r.get(f"dorsiflexion_{phase}_deg")])


CHECKIN_COLUMNS = ("pain", "first_steps_pain", "stretch_days", "pgic", "pain_returned")


def store_checkins_for_tests(con, rows: Sequence[dict]) -> None:
    """TEST HELPER, not the check-in importer: write check-in rows ({"episode_id", "answered_on",
    and any of CHECKIN_COLUMNS; pain_returned as True/False or "yes"/"no"/blank}) straight into
    the checkins table, trusted, with source 'import'. The real importer (its validation and
    audit) is task B's; the lead wires bootstrap to it."""
    def value(row: dict, column: str):
        cell = row.get(column)
        if cell is None or (isinstance(cell, float) and cell != cell) or cell == "":
            return None
        if column == "pain_returned" and isinstance(cell, str):
            return cell.strip().lower() == "yes"
        return cell

    import pandas as pd

    frame = pd.DataFrame({"episode_id": [str(row["episode_id"]) for row in rows],
                          "answered_on": [str(row["answered_on"]) for row in rows],
                          **{column: pd.Series([value(row, column) for row in rows], dtype=object)
                             for column in CHECKIN_COLUMNS}})
    with db.write(con, episodes=sorted(set(frame["episode_id"]))) as cur:
        cur.register("new_checkins", frame)
        cur.execute("INSERT INTO checkins (episode_id, answered_on, source, pain, first_steps_pain, stretch_days,"
                    " pgic, pain_returned) SELECT episode_id, CAST(answered_on AS DATE), 'import', CAST(pain AS DOUBLE),"
                    " CAST(first_steps_pain AS DOUBLE), CAST(stretch_days AS INTEGER), CAST(pgic AS INTEGER),"
                    " CAST(pain_returned AS BOOLEAN) FROM new_checkins")
        cur.unregister("new_checkins")


def load_sample_checkins_for_tests(con) -> int:
    """TEST HELPER: load sample_data/checkins.csv with store_checkins_for_tests (until the
    sample database is built through the check-in importer). Returns the rows loaded.
    A database the bootstrap already filled with them (through the importer) is left as it is."""
    import pandas as pd

    stored = con.execute("SELECT count(*) FROM checkins").fetchone()[0]
    if stored:
        return stored

    frame = pd.read_csv(ROOT / "sample_data" / "checkins.csv", dtype={"episode_id": str, "answered_on": str,
                                                                    "pain_returned": str})
    rows = frame.to_dict("records")
    store_checkins_for_tests(con, rows)
    return len(rows)


def with_sample_checkins(path) -> None:
    """TEST HELPER: add sample_data/checkins.csv to the database file at `path` (a copy of the
    sample clinic), with load_sample_checkins_for_tests."""
    con = db.connect(path)
    try:
        load_sample_checkins_for_tests(con)
    finally:
        con.close()


@pytest.fixture
def clinic_db(tmp_path):
    """A factory: clinic_db(rows) -> an open connection to a new database holding those rows."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def make(rows: Sequence[dict] = ()) -> duckdb.DuckDBPyConnection:
        con = db.connect(tmp_path / f"clinic{len(opened)}.duckdb")
        opened.append(con)
        if rows:
            store_visits(con, list(rows))
        return con

    yield make
    for con in opened:
        con.close()


@pytest.fixture(scope="session")
def sample_db_path(tmp_path_factory):
    """A database file holding the committed sample clinic, built once per test run. Tests that
    only read may share it; tests that write copy it first (see `writable_sample_db`)."""
    from analytics import bootstrap

    path = tmp_path_factory.mktemp("sample") / "clinic.duckdb"
    con = db.connect(path)
    bootstrap.load_committed_sample(con)
    con.close()
    return path


@pytest.fixture
def writable_sample_db(sample_db_path, tmp_path):
    """A private copy of the sample clinic database for a test that records or imports."""
    import shutil

    path = tmp_path / "clinic.duckdb"
    shutil.copy(sample_db_path, path)
    return path


@pytest.fixture
def app_db(sample_db_path, monkeypatch):
    """Point the Streamlit app (run in-process by AppTest) at the shared sample database."""
    monkeypatch.setenv("CLINIC_DB", str(sample_db_path))
    return sample_db_path



def signed_in(at, role: str = "manager", therapist_id: str | None = None, username: str | None = None):
    """Mark an AppTest session as signed in (as dashboard.py would after the sign-in form), so a
    page file can be run on its own."""
    from analytics import auth
    from ui import signin

    at.session_state[signin.USER_KEY] = auth.User(username or role, role, therapist_id)
    return at


@pytest.fixture(autouse=True)
def fresh_sign_in_throttle():
    """Every test starts with no failed sign-ins counted: the throttle lives in this process's
    memory, and every AppTest shares one session id ("test session id")."""
    from analytics import auth

    auth.THROTTLE.clear()
    yield
    auth.THROTTLE.clear()


def session_widget(at, episode: str, field: str):
    """The Record-a-session form's widget for `field` of `episode`'s next visit (its keys are
    session:<episode>:<visit>:<field>, so each visit's form is a new one)."""
    pattern = re.compile(rf"session:{re.escape(episode)}:\d+:{re.escape(field)}")
    widgets = at.date_input if field in ("session_date", "next_appointment") else at.number_input
    found = [widget for widget in widgets if widget.key and pattern.fullmatch(widget.key)]
    assert len(found) == 1, [widget.key for widget in widgets]
    return found[0]


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throw-away PostgreSQL server for this test run (tests/pg.py): skipped with a reason where
    PostgreSQL is not installed, a failure instead when REQUIRE_POSTGRES=1 (CI)."""
    import pg

    bin_dir = pg.binaries()
    if bin_dir is None:
        if pg.is_required():
            pytest.fail(pg.REASON_ABSENT)
        pytest.skip(pg.REASON_ABSENT)
    cluster = pg.Cluster(bin_dir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def chain_url(postgres_cluster, monkeypatch):
    """Chain mode on, for this test only, with an empty PostgreSQL database of its own."""
    from analytics import chain

    url = postgres_cluster.new_database()
    monkeypatch.setenv("CLINIC_DATABASE_URL", url)
    yield url
    chain.forget_all()
