"""The database file: schema creation, versioning and readable errors."""
import duckdb
import pytest

from analytics import db
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
    con.execute("ALTER TABLE episodes ADD COLUMN foot_side VARCHAR")
    con.execute("ALTER TABLE assessments ADD COLUMN note VARCHAR")
    from conftest import store_visits
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5, severity="mild"), visit("E1", 2, "2025-01-13", 5, 4)])
    assert con.execute("SELECT severity, foot_side FROM episodes").fetchall() == [("mild", None)]
    assert con.execute("SELECT visits, last_pain_pre FROM episode_facts").fetchone() == (2, 5)
