"""Opening the clinic database: the one place that creates connections, applies the schema,
migrates older files and wraps writes in all-or-nothing transactions."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import duckdb

SCHEMA_VERSION = 2
SCHEMA_SQL = (Path(__file__).with_name("schema.sql")).read_text(encoding="utf-8")

# Migrations from version N to N+1, in order. Each entry is SQL run in one transaction, followed
# by schema.sql itself (every statement there is CREATE ... IF NOT EXISTS or a view), so a step
# that only adds tables needs no SQL of its own.
MIGRATIONS: dict[int, str] = {
    1: "SELECT 1",  # v2 added corrections, users and audit_log; schema.sql creates them.
}


class DatabaseError(Exception):
    """A database problem explained for a person: what is wrong with which file and what to do."""


def connect(path: str | Path, read_only: bool = False, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open (and if needed create and migrate) the clinic database at `path`.

    Raises DatabaseError with a readable message when the file is locked by another process,
    unreadable, not a DuckDB file, not a clinic database, or newer than this program."""
    path = Path(path)
    if not path.exists():
        if read_only or not create:
            raise DatabaseError(f"{path}: no such database. Create it with `python -m analytics sample --db {path}` or import a visit log.")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise DatabaseError(
                f"{path}: the database is in use by another program (probably a running dashboard). "
                "Stop it, or point this command at a copy with --db."
            ) from None
        raise DatabaseError(f"{path}: cannot open the database: {_first_line(text)}") from None
    except duckdb.Error as exc:
        raise DatabaseError(f"{path}: not a readable DuckDB database ({_first_line(str(exc))}).") from None
    try:
        ensure_schema(con, path, read_only=read_only)
    except Exception:
        con.close()
        raise
    return con


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def stored_schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema version written in the file, or None for a file with no clinic tables."""
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = 'main'"
    ).fetchone()[0]
    if not has_meta:
        return None
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def ensure_schema(con: duckdb.DuckDBPyConnection, path: Path | str = "database", read_only: bool = False) -> None:
    """Create the tables in an empty file, migrate an older clinic file, refuse anything else."""
    version = stored_schema_version(con)
    if version is None:
        other_tables = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchone()[0]
        if other_tables:
            raise DatabaseError(f"{path}: this DuckDB file is not a clinic database (it has other tables and no schema version).")
        if read_only:
            raise DatabaseError(f"{path}: the database is empty; open it writable once to create the tables.")
        with transaction(con):
            con.execute(SCHEMA_SQL)
            con.execute("INSERT INTO meta VALUES ('schema_version', ?), ('data_version', '0')", [str(SCHEMA_VERSION)])
        return
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{path}: the database has schema version {version}, newer than this program understands "
            f"({SCHEMA_VERSION}). Update the dashboard."
        )
    if version < SCHEMA_VERSION:
        if read_only:
            raise DatabaseError(f"{path}: schema version {version} needs migrating to {SCHEMA_VERSION}; open it writable once.")
        for step in range(version, SCHEMA_VERSION):
            with transaction(con):
                con.execute(MIGRATIONS[step])
                con.execute(SCHEMA_SQL)  # views are re-created against the migrated tables
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(step + 1)])


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends normally, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextlib.contextmanager
def write(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write transaction on its own cursor that also bumps the data version, so every cache
    keyed on data_version() sees the change. Safe to call from several threads."""
    cursor = con.cursor()
    try:
        with transaction(cursor):
            yield cursor
            cursor.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'data_version'")
    finally:
        cursor.close()


def data_version(con: duckdb.DuckDBPyConnection) -> int:
    """A number that changes on every write; cache keys include it so no figure goes stale."""
    return int(con.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0])


def is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    """True when no session has been stored yet."""
    return con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


def table_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent hash of every base table: proves a rejected import
    changed nothing."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()]
    result = {}
    for table in tables:
        # Table names come from the catalogue, not from input; identifiers cannot be parameters.
        count, digest = con.execute(f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM "{table}" t').fetchone()
        result[table] = (count, int(digest))
    return result
