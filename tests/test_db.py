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
            cur.execute("INSERT INTO clinics VALUES ('x', 'X')")
            raise RuntimeError("boom")
    assert db.data_version(con) == before
    assert con.execute("SELECT count(*) FROM clinics").fetchone()[0] == 0
    with db.write(con) as cur:
        cur.execute("INSERT INTO clinics VALUES ('x', 'X')")
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
    assert db.stored_schema_version(con) == 2
    assert con.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
