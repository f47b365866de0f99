"""The database file: schema creation, versioning and readable errors."""
import datetime as dt
import json

import duckdb
import pandas as pd
import pytest

from analytics import audit, db, records, visit_log
from conftest import visit


def test_new_file_gets_schema_and_version(tmp_path):
    con = db.connect(tmp_path / "new.duckdb")
    assert db.stored_schema_version(con) == db.SCHEMA_VERSION
    assert db.is_empty(con)


def test_write_bumps_data_version_and_rolls_back_on_error(clinic_db):
    con = clinic_db()
    before = db.data_version(con)
    with pytest.raises(RuntimeError):
        with db.write(con) as cur:
            cur.execute("INSERT INTO clinics (clinic_id, name) VALUES ('x', 'X')")
            raise RuntimeError("boom")
    assert db.data_version(con) == before
    assert con.execute("SELECT count(*) FROM clinics").fetchone()[0] == 0
    with db.write(con) as cur:
        cur.execute("INSERT INTO clinics (clinic_id, name) VALUES ('x', 'X')")
    assert db.data_version(con) == before + 1


def test_check_constraints_refuse_out_of_range_pain(clinic_db):
    con = clinic_db([visit("E1", 1, "2025-01-06", 7, 5)])
    with pytest.raises(duckdb.ConstraintException):
        con.execute("UPDATE assessments SET pain = 11")


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    other = duckdb.connect(str(path))
    other.execute("CREATE TABLE invoices (id INT)")
    other.close()
    with pytest.raises(db.DatabaseError, match="not a clinic database"):
        db.connect(path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.duckdb"
    db.connect(path).execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'").close()
    with pytest.raises(db.DatabaseError, match="newer than this program"):
        db.connect(path)


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "garbage.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(db.DatabaseError):
        db.connect(path)


def test_missing_file_read_only_is_explained(tmp_path):
    with pytest.raises(db.DatabaseError, match="no such database"):
        db.connect(tmp_path / "missing.duckdb", read_only=True)


def test_version_1_file_is_migrated_keeping_its_data(tmp_path):
    path = tmp_path / "v1.duckdb"
    con = db.connect(path)
    from conftest import store_visits
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5)])
    # Make it look like a file written by schema version 1: no v2 tables, version 1.
    for table in ("corrections", "users", "audit_log"):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    con = db.connect(path)
    assert db.stored_schema_version(con) == db.SCHEMA_VERSION
    assert con.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


def test_version_2_file_with_fact_views_is_migrated_to_fact_tables(tmp_path):
    path = tmp_path / "v2.duckdb"
    con = db.connect(path)
    from conftest import store_visits
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5), visit("E1", 2, "2025-01-13", 6, 4)])
    # Up to v2 the facts were views over the base tables.
    con.execute("DROP TABLE episode_facts")
    con.execute("DROP TABLE session_facts")
    con.execute("CREATE VIEW session_facts AS SELECT * FROM session_facts_live")
    con.execute("CREATE VIEW episode_facts AS SELECT * FROM episode_facts_live")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    con = db.connect(path)
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_name IN ('session_facts', 'episode_facts')").fetchall())
    assert kinds == {"session_facts": "BASE TABLE", "episode_facts": "BASE TABLE"}
    assert con.execute("SELECT visits, baseline_pain FROM episode_facts").fetchone() == (2, 7)


def test_version_3_file_gets_the_data_quality_columns_in_its_facts(tmp_path):
    path = tmp_path / "v3.duckdb"
    con = db.connect(path)
    from conftest import store_visits
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5), visit("E1", 2, "2025-01-06", 1, 4)])
    # v3's fact tables had no previous-visit columns and no per-episode check counts.
    con.execute("CREATE OR REPLACE TABLE session_facts AS SELECT * EXCLUDE (previous_pain, previous_pain_visit, "
                "previous_visit, previous_date, first_visit_that_day) FROM session_facts")
    con.execute("CREATE OR REPLACE TABLE episode_facts AS SELECT * EXCLUDE (sessions_missing_pre, sessions_missing_post, "
                "sessions_relief_negative, sessions_same_date, sessions_dates_out_of_order) FROM episode_facts")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()
    con = db.connect(path)
    assert db.stored_schema_version(con) == db.SCHEMA_VERSION == 7
    assert con.execute("SELECT previous_pain, previous_date, first_visit_that_day FROM session_facts "
                       "WHERE visit_number = 2").fetchone() == (7, dt.date(2025, 1, 6), 1)
    assert con.execute("SELECT sessions_same_date, sessions_relief_negative FROM episode_facts").fetchone() == (1, 1)
    assert db.check(con) == []


# Version 4's clinical tables, as schema.sql made them before the v5 columns.
V4_TABLES = """
CREATE TABLE episodes (
    episode_id     VARCHAR PRIMARY KEY CHECK (length(episode_id) BETWEEN 1 AND 64),
    client_id      VARCHAR NOT NULL REFERENCES clients (client_id),
    therapist_id   VARCHAR NOT NULL REFERENCES therapists (therapist_id),
    condition      VARCHAR NOT NULL,
    course_type    VARCHAR NOT NULL CHECK (course_type IN ('acute', 'chronic')),
    severity       VARCHAR CHECK (severity IN ('mild', 'moderate', 'severe')),
    prior_injuries INTEGER CHECK (prior_injuries BETWEEN 0 AND 100),
    onset_date     DATE
);
CREATE TABLE sessions (
    session_id               BIGINT PRIMARY KEY DEFAULT nextval('session_id_seq'),
    episode_id               VARCHAR NOT NULL REFERENCES episodes (episode_id),
    visit_number             INTEGER NOT NULL CHECK (visit_number >= 1),
    session_date             DATE NOT NULL,
    therapist_id             VARCHAR NOT NULL REFERENCES therapists (therapist_id),
    duration_min             INTEGER NOT NULL DEFAULT 60 CHECK (duration_min BETWEEN 1 AND 480),
    sore_spot_min            INTEGER CHECK (sore_spot_min BETWEEN 0 AND 480),
    stretching_adherence_pct DOUBLE CHECK (stretching_adherence_pct BETWEEN 0 AND 100),
    UNIQUE (episode_id, visit_number)
);
CREATE TABLE assessments (
    session_id       BIGINT NOT NULL REFERENCES sessions (session_id),
    phase            VARCHAR NOT NULL CHECK (phase IN ('pre', 'post')),
    pain             DOUBLE NOT NULL CHECK (pain BETWEEN 0 AND 10),
    psfs             DOUBLE CHECK (psfs BETWEEN 0 AND 10),
    dorsiflexion_deg DOUBLE CHECK (dorsiflexion_deg BETWEEN -30 AND 80),
    PRIMARY KEY (session_id, phase)
);
"""


def make_version_4(path) -> None:
    """A clinic file as version 4 left it: two visits, the v4 tables, no v5 columns."""
    con = db.connect(path)
    from conftest import store_visits
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5, severity="mild"), visit("E1", 2, "2025-01-13", 5, 4)])
    for table in ("episodes", "sessions", "assessments"):
        con.execute(f"CREATE TABLE keep_{table} AS SELECT * FROM {table}")
    for name in ("episode_facts_live", "session_facts_live"):
        con.execute(f"DROP VIEW {name}")
    for table in ("episode_facts", "session_facts", "reminders_sent", "checkins", "checkin_links",
                  "client_contacts", "assessments", "sessions", "episodes"):
        con.execute(f"DROP TABLE {table}")  # v6's tables refer to episodes and clients: they go first
    con.execute(V4_TABLES)
    con.execute("INSERT INTO episodes BY NAME SELECT * EXCLUDE (discharge_reason, foot_side, stretching_plan) "
                "FROM keep_episodes")
    con.execute("INSERT INTO sessions BY NAME SELECT * EXCLUDE (faam_adl_pct, lefs, note, next_appointment) FROM keep_sessions")
    con.execute("INSERT INTO assessments SELECT * FROM keep_assessments")
    for table in ("episodes", "sessions", "assessments"):
        con.execute(f"DROP TABLE keep_{table}")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    con.close()


def test_version_4_file_gets_the_v5_columns_keeping_its_data(tmp_path):
    path = tmp_path / "v4.duckdb"
    make_version_4(path)
    con = db.connect(path)
    assert db.stored_schema_version(con) == db.SCHEMA_VERSION == 7
    assert con.execute("SELECT severity, discharge_reason, foot_side, stretching_plan FROM episodes").fetchall() == [
        ("mild", None, None, None)]
    assert con.execute("SELECT visit_number, faam_adl_pct, lefs, note FROM session_facts ORDER BY 1").fetchall() == [
        (1, None, None, None), (2, None, None, None)]
    assert con.execute("SELECT visits, last_pain_pre FROM episode_facts").fetchone() == (2, 5)
    assert db.check(con) == []
    # The new columns have their CHECKs, and new sessions continue the old ids.
    with pytest.raises(duckdb.ConstraintException):
        con.execute("UPDATE episodes SET foot_side = 'middle'")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("UPDATE sessions SET lefs = 81")
    visit_log.import_frames(con, [("more.csv", pd.DataFrame([visit("E1", 3, "2025-01-20", 3, 2, foot_side="left",
                                                                    lefs=50, note="line one\nline two")]))],
                            replace=True)  # a stored course gains its foot side
    assert con.execute("SELECT session_id, lefs, note FROM sessions WHERE visit_number = 3").fetchone() == (
        3, 50, "line one\nline two")
    assert con.execute("SELECT foot_side FROM episodes").fetchone() == ("left",)
    con.close()


def test_fact_tables_follow_every_write(clinic_db):
    con = clinic_db([visit("E1", 1, "2025-01-06", 7, 5)])
    assert con.execute("SELECT visits FROM episode_facts").fetchall() == [(1,)]
    from conftest import store_visits
    store_visits(con, [visit("E1", 2, "2025-01-13", 5, 4)])
    assert con.execute("SELECT visits, last_pain_pre FROM episode_facts").fetchall() == [(2, 5)]
    # A write that names its episode refreshes just that episode's rows.
    with db.write(con, episodes=["E1"]) as cur:
        cur.execute("UPDATE assessments SET pain = 3 WHERE phase = 'pre' AND session_id = "
                    "(SELECT session_id FROM sessions WHERE visit_number = 2)")
    assert con.execute("SELECT last_pain_pre FROM episode_facts").fetchone() == (3,)
    assert con.execute("SELECT pain_pre FROM session_facts WHERE visit_number = 2").fetchone() == (3,)


def test_test_rows_are_inserted_by_column_name(clinic_db):
    """A new nullable column (as a later issue adds) does not break the tests' own row writer."""
    con = clinic_db()
    con.execute("ALTER TABLE episodes ADD COLUMN insole VARCHAR")  # foot_side and note are real columns now
    con.execute("ALTER TABLE assessments ADD COLUMN remark VARCHAR")
    from conftest import store_visits
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5, severity="mild"), visit("E1", 2, "2025-01-13", 5, 4)])
    assert con.execute("SELECT severity, insole FROM episodes").fetchall() == [("mild", None)]
    assert con.execute("SELECT visits, last_pain_pre FROM episode_facts").fetchone() == (2, 5)


def facts_agree_with_live_views(con) -> bool:
    """Both fact tables hold exactly the rows their live views compute, both ways."""
    return all(
        con.execute(f"SELECT count(*) FROM (SELECT * FROM {first} EXCEPT ALL SELECT * FROM {second})").fetchone()[0] == 0
        for table in ("session_facts", "episode_facts")
        for first, second in ((table, f"{table}_live"), (f"{table}_live", table)))


def mark_stale(con, episode_id: str) -> None:
    """Change one episode's fact rows behind the views' back: a refresh of that episode puts
    them right, a refresh of other episodes leaves them as they are."""
    con.execute("UPDATE session_facts SET pain_pre = 0 WHERE episode_id = ?", [episode_id])
    con.execute("UPDATE episode_facts SET baseline_pain = 0 WHERE episode_id = ?", [episode_id])


def stale_pain(con, episode_id: str) -> tuple:
    return con.execute("SELECT min(s.pain_pre), any_value(e.baseline_pain) FROM session_facts s "
                       "JOIN episode_facts e USING (episode_id) WHERE episode_id = ?", [episode_id]).fetchone()


def test_an_import_refreshes_only_the_episodes_it_touches(clinic_db):
    con = clinic_db([visit("E1", 1, "2025-01-06", 7, 5), visit("E2", 1, "2025-01-06", 8, 6),
                     visit("E3", 1, "2025-01-06", 6, 5), visit("E3", 2, "2025-01-13", 5, 4)])
    mark_stale(con, "E3")
    rows = [visit("E1", 1, "2025-01-06", 7, 5),                        # unchanged: skipped
            visit("E1", 2, "2025-01-13", 5, 3),                        # a new visit of E1
            visit("E2", 1, "2025-01-06", 8, 6, severity="severe"),    # E2's attributes change
            visit("E4", 1, "2025-02-03", 9, 7)]                        # a new episode
    result = visit_log.import_frames(con, [("five.csv", pd.DataFrame(rows))], replace=True)
    assert (result.inserted, result.skipped, result.episodes) == (2, 2, 3)  # E2 visit 1 itself is unchanged
    assert stale_pain(con, "E3") == (0, 0)  # untouched, so not refreshed
    assert con.execute("SELECT episode_id, visits, baseline_pain, last_pain_pre, severity FROM episode_facts "
                       "WHERE episode_id <> 'E3' ORDER BY 1").fetchall() == [
        ("E1", 2, 7, 5, None), ("E2", 1, 8, 8, "severe"), ("E4", 1, 9, 9, None)]
    db.refresh_facts(con)  # put E3 right: everything else already agreed
    assert facts_agree_with_live_views(con)


def test_records_and_corrections_keep_the_facts_equal_to_the_live_views(clinic_db):
    con = clinic_db([visit("E1", 1, "2025-01-06", 7, 5), visit("E2", 1, "2025-01-06", 8, 6)])
    records.record_session(con, "E1", records.SessionEntry(session_date=dt.date(2025, 1, 13), pain_pre=5, pain_post=4))
    assert facts_agree_with_live_views(con)
    session = con.execute("SELECT session_id FROM sessions WHERE episode_id = 'E2'").fetchone()[0]
    records.correct_value(con, session, "pain_pre", "6", "typed 8 for 6", by="maria")
    assert facts_agree_with_live_views(con)
    assert con.execute("SELECT baseline_pain FROM episode_facts WHERE episode_id = 'E2'").fetchone() == (6,)
    episode = records.open_episode(con, records.EpisodeEntry(client_id="CE1", condition="bunion", course_type="chronic",
                                                             therapist_id="T1", is_new_client=False),
                                   records.SessionEntry(session_date=dt.date(2025, 2, 3), pain_pre=9, pain_post=8))
    assert facts_agree_with_live_views(con)
    assert con.execute("SELECT condition, baseline_pain FROM episode_facts WHERE episode_id = ?", [episode]).fetchone() == ("bunion", 9)


def test_the_episode_filter_reaches_the_sessions_scan(clinic_db):
    """DuckDB filters the sessions before the live view's joins: in the plan of the refresh's
    query the episode ids are a filter of the scan of sessions."""
    con = clinic_db([visit("E1", 1, "2025-01-06", 7, 5), visit("E2", 1, "2025-01-06", 8, 6)])
    plan = json.loads(con.execute("EXPLAIN (FORMAT json) SELECT * FROM session_facts_live "
                                  "WHERE list_contains(?, episode_id)", [["E1", "E2"]]).fetchone()[1])
    scans, nodes = {}, list(plan)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("children", []))
        info = node.get("extra_info", {})
        if node.get("name") == "SEQ_SCAN":
            scans[info["Table"].rsplit(".", 1)[-1]] = info.get("Filters", "")
    assert "episode_id" in scans["sessions"] and "'E1'" in scans["sessions"], scans


def test_version_5_file_gets_the_checkin_tables_and_audit_actions_keeping_its_audit_trail(tmp_path):
    path = tmp_path / "v5.duckdb"
    con = db.connect(path)
    from conftest import store_visits
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5)])
    audit.record(con, "manager", "import", "file", "visits.csv")
    # Version 5 had neither the check-in tables nor the four new audit actions.
    for table in ("reminders_sent", "client_contacts", "checkins", "checkin_links"):
        con.execute(f"DROP TABLE {table}")
    con.execute("CREATE TEMPORARY TABLE kept AS SELECT * FROM audit_log")
    con.execute("DROP TABLE audit_log")
    con.execute("""CREATE TABLE audit_log (
        audit_id BIGINT PRIMARY KEY DEFAULT nextval('audit_id_seq'),
        logged_at TIMESTAMP NOT NULL DEFAULT current_timestamp, username VARCHAR,
        action VARCHAR NOT NULL CHECK (action IN ('sign_in', 'failed_sign_in', 'sign_out', 'view_client',
            'record', 'correct', 'import', 'export', 'report_download', 'user_change')),
        target_type VARCHAR, target_id VARCHAR)""")
    con.execute("INSERT INTO audit_log SELECT * FROM kept")
    con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    con.close()
    con = db.connect(path)
    assert db.stored_schema_version(con) == db.SCHEMA_VERSION == 7
    assert con.execute("SELECT audit_id, username, action, target_id FROM audit_log").fetchall() == [
        (1, "manager", "import", "visits.csv")]
    audit.record(con, None, "checkin", "episode", "E1")
    assert con.execute("SELECT max(audit_id), count(*) FROM audit_log").fetchone() == (2, 2)
    assert con.execute("SELECT count(*) FROM checkins").fetchone()[0] == 0
    assert db.check(con) == []


def test_version_6_file_gets_the_next_appointment_keeping_its_sessions(tmp_path):
    import duckdb
    path = tmp_path / "v6.duckdb"
    # Version 6's schema: today's without the next appointment (the column and the view's reading of it).
    v6 = db.SCHEMA_SQL.replace("    next_appointment         DATE,\n", "").replace("        s.next_appointment,\n", "")
    assert "next_appointment" not in v6
    con = duckdb.connect(str(path))
    con.execute(v6)
    con.execute("INSERT INTO meta VALUES ('schema_version', '6'), ('data_version', '0')")
    con.execute("INSERT INTO clinics (clinic_id) VALUES ('main')")
    con.execute("INSERT INTO therapists (therapist_id, clinic_id) VALUES ('T1', 'main')")
    con.execute("INSERT INTO clients (client_id, clinic_id) VALUES ('C1', 'main')")
    con.execute("INSERT INTO episodes (episode_id, client_id, therapist_id, condition, course_type) "
                "VALUES ('E1', 'C1', 'T1', 'bunion', 'acute')")
    con.execute("INSERT INTO sessions (episode_id, visit_number, session_date, therapist_id) "
                "VALUES ('E1', 1, DATE '2025-01-06', 'T1'), ('E1', 2, DATE '2025-01-13', 'T1')")
    con.close()
    con = db.connect(path)
    assert db.stored_schema_version(con) == db.SCHEMA_VERSION == 7
    assert con.execute("SELECT visit_number, next_appointment FROM session_facts ORDER BY 1").fetchall() == [
        (1, None), (2, None)]
    assert db.check(con) == []
