"""Opening the clinic database: the one place that creates connections, applies the schema,
migrates older files and wraps writes in all-or-nothing transactions."""
from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from analytics import config

SCHEMA_VERSION = 7
SCHEMA_SQL = (Path(__file__).with_name("schema.sql")).read_text(encoding="utf-8")
# The meta row holding this database's random secret for the anonymised therapist letters.
LETTER_KEY = "letter_key"

# Migrations from version N to N+1, in order. Each runs in one transaction, followed by
# schema.sql itself (every statement there is CREATE ... IF NOT EXISTS or a view), so a step that
# only adds tables needs nothing of its own.
def _drop_fact_views(con: duckdb.DuckDBPyConnection) -> None:
    """v3 stores session_facts and episode_facts as tables; up to v2 they were views."""
    for name in ("episode_facts", "session_facts"):
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
        if kind and kind[0] == "VIEW":
            con.execute(f"DROP VIEW {name}")  # a fixed name from the line above, not input


def _drop_fact_tables(con: duckdb.DuckDBPyConnection) -> None:
    """v4 adds columns to session_facts (what the data-quality checks compare a visit with):
    both fact tables are made again from schema.sql and filled by refresh_facts()."""
    con.execute("DROP TABLE IF EXISTS episode_facts")
    con.execute("DROP TABLE IF EXISTS session_facts")


def _rebuild_with_v5_columns(con: duckdb.DuckDBPyConnection) -> None:
    """v5 adds the course's discharge reason, foot side and stretching plan, and the session's
    FAAM ADL, LEFS and note, each with its CHECK. DuckDB cannot add a column with a CHECK, so the
    three clinical tables are copied aside, made again from schema.sql and filled back by column
    name (older rows get NULL in the new columns; session ids keep their values and the sequence
    goes on from where it was). The fact tables are made again too and filled by refresh_facts()."""
    _drop_fact_tables(con)
    # Parents first; dropped children first. A file migrated from before v5 in one go already has
    # v6's tables that refer to episodes (schema.sql made them, empty, after an earlier step).
    later = [name for name in ("checkin_links", "checkins", "reminders_sent")
             if one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
                    [name])[0]]
    tables = ("episodes", "sessions", "assessments", *later)
    for table in tables:
        con.execute(f"CREATE TEMPORARY TABLE v4_{table} AS SELECT * FROM {table}")  # fixed names, not input
    for table in reversed(tables):
        con.execute(f"DROP TABLE {table}")
    con.execute(SCHEMA_SQL)
    for table in tables:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM v4_{table}")
        con.execute(f"DROP TABLE v4_{table}")


def _add_next_appointment(con: duckdb.DuckDBPyConnection) -> None:
    """v7 adds the session's next appointment, a date with no CHECK: one ALTER TABLE (older
    sessions get NULL, that is no appointment recorded), and session_facts made again with it. A
    file migrated from before v5 in one go already has it (v5's step made sessions again from
    schema.sql); v6's step adds it first, since schema.sql's views read it."""
    _drop_fact_tables(con)
    columns = {name for (name,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions' AND table_schema = 'main'").fetchall()}
    if "next_appointment" not in columns:
        con.execute("ALTER TABLE sessions ADD COLUMN next_appointment DATE")


def _rebuild_audit_log_for_v6(con: duckdb.DuckDBPyConnection) -> None:
    """v6 adds the client's check-ins, their links, contacts and reminders (new tables, made by
    schema.sql) and four audit actions. DuckDB cannot change a CHECK, so audit_log is copied
    aside, made again from schema.sql and filled back (ids and times kept; the sequence goes on)."""
    _add_next_appointment(con)  # schema.sql's session_facts_live reads v7's column
    con.execute("CREATE TEMPORARY TABLE v5_audit_log AS SELECT * FROM audit_log")
    con.execute("DROP TABLE audit_log")
    con.execute(SCHEMA_SQL)
    con.execute("INSERT INTO audit_log BY NAME SELECT * FROM v5_audit_log")
    con.execute("DROP TABLE v5_audit_log")


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: lambda con: None,  # v2 added corrections, users and audit_log; schema.sql creates them.
    2: _drop_fact_views,  # v3 materialises the fact views; refresh_facts() fills them.
    3: _drop_fact_tables,  # v4 keeps the previous visit's pain and date in session_facts.
    4: _rebuild_with_v5_columns,  # v5: discharge reason, foot side, stretching plan, FAAM ADL, LEFS, note.
    5: _rebuild_audit_log_for_v6,  # v6: check-ins, their links, contacts, reminders; four audit actions.
    6: _add_next_appointment,  # v7: the session's next appointment.
}

# DuckDB lets one writer at a time change a row; every clinical write bumps the same data_version
# row, so writers in this process queue here instead of failing with a transaction conflict.
_WRITE_LOCK = threading.RLock()


class DatabaseError(Exception):
    """A database problem explained for a person: what is wrong with which file and what to do."""


class DatabaseLocked(DatabaseError):
    """Another process (a running dashboard) holds the file's lock: the command line then asks
    that process through its socket (analytics/ops.py)."""


class DamagedDatabase(DatabaseError):
    """The file is damaged (see DAMAGED): the message names the file and DuckDB's detail, for the
    command line; pages show DAMAGED alone."""


# What a person is told when DuckDB cannot read part of the file (a failed block checksum, a
# truncated copy, a disk error): one message on every page and command, never a traceback.
DAMAGED = ("The clinic database file is damaged: part of it cannot be read, so no figure from it can be "
           "trusted and nothing more should be saved to it. Restore the latest backup: stop the dashboard, "
           "run `python -m analytics restore BACKUP --db FILE --force` (it checks the backup and removes the "
           "damaged file's .wal), then start the dashboard again.")


def is_damage(exc: BaseException) -> bool:
    """True for a DuckDB error that means the file itself is damaged or unreadable (not a
    refused value or a file held by another program)."""
    if not isinstance(exc, duckdb.Error):
        return False
    text = str(exc)
    if isinstance(exc, duckdb.IOException):
        return "lock" not in text.lower()
    return (isinstance(exc, (duckdb.FatalException, duckdb.InternalException, duckdb.SerializationException))
            or "Corrupt database file" in text or "checksum" in text.lower())


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
            raise DatabaseLocked(
                f"{path}: the database is in use by another program (probably a running dashboard). "
                "Stop it, or point this command at a copy with --db."
            ) from None
        if is_damage(exc) and path.exists() and path.stat().st_size:
            raise DamagedDatabase(f"{path}: {DAMAGED} ({_first_line(text)})") from None
        raise DatabaseError(f"{path}: cannot open the database: {_first_line(text)}") from None
    except duckdb.Error as exc:
        raise DatabaseError(f"{path}: not a readable DuckDB database ({_first_line(str(exc))}).") from None
    try:
        _check_not_truncated(con, path)
        ensure_schema(con, path, read_only=read_only)
        if config.database_url() and not read_only:  # the clinic chain: see _chain_turn
            from analytics import chain

            chain.attach(con)
    except duckdb.Error as exc:
        con.close()
        if is_damage(exc):
            raise DamagedDatabase(f"{path}: {DAMAGED} ({_first_line(str(exc))})") from None
        raise
    except Exception:
        con.close()
        raise
    return con


_HEADER_BYTES = 3 * 4096  # a DuckDB file's header pages; its blocks follow


def _check_not_truncated(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A file shorter than the last block its tables are stored in is a cut-off copy: DuckDB
    opens it and fails only when a query reaches a missing block, so say so at once. (Skipped
    while a write-ahead log is waiting to be applied, which may account for newer blocks.)"""
    if Path(f"{path}.wal").exists():
        return
    tables = [row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
    ).fetchall()]
    last_block = -1
    for table in tables:  # names from the catalogue; pragma_storage_info reads metadata only
        last_block = max(last_block, one(con, "SELECT coalesce(max(greatest(block_id, coalesce(list_max(additional_block_ids), -1))), -1) "
                                              "FROM pragma_storage_info(?) WHERE persistent", [table])[0])
    block_size = one(con, "SELECT block_size FROM pragma_database_size()")[0]
    needed = _HEADER_BYTES + (int(last_block) + 1) * int(block_size)
    if last_block >= 0 and path.stat().st_size < needed:
        raise DamagedDatabase(f"{path}: {DAMAGED} (the file is {path.stat().st_size:,} bytes but its tables reach "
                            f"byte {needed:,}: it was cut off)")


def check(con: duckdb.DuckDBPyConnection, indexes: bool = True) -> list[str]:
    """What is wrong with an open clinic database, [] when nothing is.

    Reads every row of every table (so DuckDB verifies the checksum of every block of table data),
    with `indexes` reads the key indexes too (check_indexes: a table scan never reads them), and
    compares the fact tables with the base tables they are built from, both ways."""
    problems = []
    tables = [row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
        " ORDER BY 1").fetchall()]
    for table in tables:
        try:  # table names come from the catalogue, not from input
            one(con, f'SELECT count(*), sum(hash(t)) FROM "{table}" t')
        except duckdb.Error as exc:
            problems.append(f"table {table} cannot be read completely ({_first_line(str(exc))})")
    for table in ("session_facts", "episode_facts"):
        if table not in tables:
            continue
        try:
            stale = one(con, f"SELECT (SELECT count(*) FROM (SELECT * FROM {table} EXCEPT ALL SELECT * FROM {table}_live))"
                             f" + (SELECT count(*) FROM (SELECT * FROM {table}_live EXCEPT ALL SELECT * FROM {table}))")[0]
        except duckdb.Error as exc:
            problems.append(f"{table} cannot be compared with the base tables ({_first_line(str(exc))})")
            continue
        if stale:
            problems.append(f"{table} disagrees with the base tables in {stale} row(s): the figures built on it are "
                            "wrong; restore the latest backup")
    if indexes:
        problems += check_indexes(con)
    return problems


def check_indexes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The key indexes (every PRIMARY KEY and UNIQUE) that cannot be read from the file, [] when
    all can. Reading an index verifies its blocks' checksums; a table scan never reads them, yet
    every import and recorded session does (to check its keys).

    A one-column key is read by looking up its smallest and largest value, which DuckDB answers
    from the index (mostly: a table of a row or two may be answered from its statistics). DuckDB
    never reads a key of several columns for a query, only to check a new row, so on a connection
    that may write, the first row of each table with a key is inserted again in a transaction that
    is always rolled back: its indexes are read and refuse the copy, and nothing is written. On a
    read-only connection only the lookups are made (see __main__.cmd_check)."""
    problems = []
    keys = con.execute(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE schema_name = 'main'"
        " AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') ORDER BY table_name, constraint_index").fetchall()
    writable = not one(con, "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()")[0]
    probed: set[str] = set()
    for table, columns in keys:  # names come from the catalogue, not from input
        try:
            if len(columns) == 1:
                low, high = one(con, f'SELECT min("{columns[0]}"), max("{columns[0]}") FROM "{table}"')
                for key in dict.fromkeys(value for value in (low, high) if value is not None):
                    con.execute(f'SELECT count(*) FROM "{table}" WHERE "{columns[0]}" = ?', [key]).fetchall()
                con.execute(f'SELECT count(*) FROM "{table}" WHERE "{columns[0]}" = (SELECT min("{columns[0]}") FROM "{table}")'
                            ).fetchall()
            if writable and table not in probed:
                probed.add(table)
                _insert_a_copy_and_roll_back(con, table)
        except duckdb.Error as exc:
            problems.append(f"the index of table {table} ({', '.join(columns)}) cannot be read ({_first_line(str(exc))})")
    return problems


def _insert_a_copy_and_roll_back(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Insert a copy of the table's first row, so DuckDB reads the table's key indexes to refuse
    it; always rolled back. Raises only an error that means the file is damaged."""
    # On a cursor of its own, so that a dashboard's readers sharing `con` stay outside it; its
    # writers wait for the lock. This transaction never commits.
    with _WRITE_LOCK, contextlib.closing(con.cursor()) as cursor:
        cursor.execute("BEGIN TRANSACTION")
        try:
            cursor.execute(f'INSERT INTO "{table}" SELECT * FROM "{table}" LIMIT 1')
        except duckdb.Error as exc:
            if is_damage(exc):
                raise
            # A ConstraintException: the index was read and holds the key, as it should.
        finally:
            try:
                cursor.execute("ROLLBACK")
            except duckdb.Error:
                pass  # an aborted transaction; the error above says why


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Iterable[Any] | None = None) -> tuple[Any, ...]:
    """The one row of a query that always returns one (an aggregate, a value ensure_schema wrote).
    A missing row means a damaged file, so it is raised as a DatabaseError rather than met later
    as "'NoneType' object is not subscriptable"."""
    row = con.execute(sql, None if params is None else list(params)).fetchone()
    if row is None:
        raise DatabaseError(f"the database is missing a row it should have ({_first_line(sql)}).")
    return row


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def stored_schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema version written in the file, or None for a file with no clinic tables."""
    has_meta = one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = 'main'")[0]
    if not has_meta:
        return None
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def ensure_schema(con: duckdb.DuckDBPyConnection, path: Path | str = "database", read_only: bool = False) -> None:
    """Create the tables in an empty file, migrate an older clinic file, refuse anything else."""
    version = stored_schema_version(con)
    if version is None:
        other_tables = one(con, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'")[0]
        if other_tables:
            raise DatabaseError(f"{path}: this DuckDB file is not a clinic database (it has other tables and no schema version).")
        if read_only:
            raise DatabaseError(f"{path}: the database is empty; open it writable once to create the tables.")
        with transaction(con):
            con.execute(SCHEMA_SQL)
            con.execute("INSERT INTO meta VALUES ('schema_version', ?), ('data_version', '0')", [str(SCHEMA_VERSION)])
            _add_letter_key(con)
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
                MIGRATIONS[step](con)
                con.execute(SCHEMA_SQL)  # views are re-created against the migrated tables
                refresh_facts(con)
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(step + 1)])
    if not read_only and con.execute("SELECT 1 FROM meta WHERE key = ?", [LETTER_KEY]).fetchone() is None:
        with transaction(con):  # a file made before the letters had a key of their own
            _add_letter_key(con)


def _add_letter_key(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING", [LETTER_KEY, secrets.token_hex(32)])


_PROCESS_LETTER_KEY = secrets.token_hex(32)


def letter_key(con: duckdb.DuckDBPyConnection) -> bytes:
    """This database's secret for ordering the anonymised "Therapist A, B, ..." letters: random,
    made once when the file is created (or first opened writable), so the letters stay the same
    on every visit but cannot be worked out from the therapist ids. A file opened read-only that
    never got one uses a random key of this process instead (letters then change on restart)."""
    cursor = con.cursor()  # callers share the app's one connection across threads
    try:
        row = cursor.execute("SELECT value FROM meta WHERE key = ?", [LETTER_KEY]).fetchone()
    finally:
        cursor.close()
    return (row[0] if row else _PROCESS_LETTER_KEY).encode()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends normally, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        # A damaged block can make ROLLBACK fail too ("Current transaction is aborted"); the
        # error worth reading is the original one, so a failed rollback never replaces it.
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise
    con.execute("COMMIT")


@contextlib.contextmanager
def registered(cursor: duckdb.DuckDBPyConnection, name: str, data: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """`data` (an Arrow table or a DataFrame) registered as the view `name` for the block.

    When the block fails, the view's removal may fail too (a damaged block aborts the whole
    transaction: "Current transaction is aborted"); that second error is dropped so the first one,
    which says what is wrong, is the one raised. After a block that went well, a failed removal is
    raised as it is."""
    cursor.register(name, data)
    try:
        yield cursor
    except BaseException:
        try:
            cursor.unregister(name)
        except duckdb.Error:
            pass
        raise
    cursor.unregister(name)


@contextlib.contextmanager
def write(con: duckdb.DuckDBPyConnection, episodes: Iterable[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write of clinical data, as a transaction on its own cursor. Before it commits, the fact
    tables are refreshed and the data version is bumped, so every cache keyed on data_version()
    sees the change. `episodes` names the episodes the write touches: None (not known) refreshes
    every fact row, a list refreshes only theirs, an empty one none. Writers in one process take
    turns; readers are never blocked. Accounts are written with account_write() instead."""
    with _WRITE_LOCK, _chain_turn(con) as chain_turn:
        cursor = con.cursor()
        try:
            with transaction(cursor):
                yield cursor
                refresh_facts(cursor, None if episodes is None else list(episodes))
                cursor.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'data_version'")
                if chain_turn is not None:
                    chain_turn.push(cursor, None if episodes is None else list(episodes))
        finally:
            cursor.close()


@contextlib.contextmanager
def account_write(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write of accounts only (sign-in counters, locks, passwords, users added or disabled), as
    a transaction on its own cursor. No figure depends on accounts, so the fact tables and the
    data version are left alone: a sign-in does not make every cached page cold. Writers in one
    process still take turns with clinical writes."""
    with _WRITE_LOCK, _chain_turn(con) as chain_turn:
        cursor = con.cursor()
        try:
            with transaction(cursor):
                yield cursor
                if chain_turn is not None:
                    chain_turn.push(cursor, [], accounts_only=True)
        finally:
            cursor.close()


# The clinic chain (analytics/chain.py): with CLINIC_DATABASE_URL set, connect() makes the file a
# replica of PostgreSQL, and each write above takes the chain's turn: the chain-wide lock, the
# other processes' changes pulled, the rows pushed and PostgreSQL committed just before DuckDB
# (a failure there rolls both back). Unset, these hooks do nothing.
def writers_turn() -> Any:
    """The lock this process's writers take turns on (the chain's follower pulls under it too)."""
    return _WRITE_LOCK


@contextlib.contextmanager
def _chain_turn(con: duckdb.DuckDBPyConnection) -> Iterator[Any]:
    if not config.database_url():
        yield None
        return
    from analytics import chain

    with chain.turn(con) as chain_turn:
        yield chain_turn


FULL_REFRESH_FROM = 1000  # episodes; see refresh_facts


def refresh_facts(con: duckdb.DuckDBPyConnection, episodes: list[str] | None = None) -> None:
    """Bring session_facts and episode_facts up to date with the base tables: all of them, or
    only the rows of the listed episodes. Call inside the write's transaction.

    The episode filter is `list_contains` on the list of ids: DuckDB pushes that down through
    the live views' joins to the scan of sessions (EXPLAIN shows it as a filter on the scan),
    so refreshing a few episodes reads only their rows. (`episode_id IN (SELECT unnest(?))` is
    planned as a join after the view's joins and read every session: 734 ms at 1 M sessions
    against 4 ms.) A list of over FULL_REFRESH_FROM episodes naming more than a quarter of the
    stored ones rebuilds both tables instead, which is cheaper for a first import."""
    if episodes is not None and not episodes:
        return
    if (episodes is not None and len(episodes) > FULL_REFRESH_FROM
            and len(episodes) * 4 > one(con, "SELECT count(*) FROM episode_facts")[0]):
        episodes = None
    if episodes is None:
        con.execute("CREATE OR REPLACE TABLE session_facts AS SELECT * FROM session_facts_live ORDER BY episode_id, visit_number")
        con.execute("CREATE OR REPLACE TABLE episode_facts AS SELECT * FROM episode_facts_live ORDER BY episode_id")
        return
    for table in ("session_facts", "episode_facts"):
        # Table names are the two fixed ones above; the episode ids travel as a parameter.
        con.execute(f"DELETE FROM {table} WHERE list_contains(?, episode_id)", [episodes])
        con.execute(f"INSERT INTO {table} SELECT * FROM {table}_live WHERE list_contains(?, episode_id)", [episodes])


def data_version(con: duckdb.DuckDBPyConnection) -> int:
    """A number that changes on every write of clinical data (not on account writes); cache keys
    include it so no figure goes stale."""
    cursor = con.cursor()  # callers share the app's one connection across threads
    try:
        return int(one(cursor, "SELECT value FROM meta WHERE key = 'data_version'")[0])
    finally:
        cursor.close()


def is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    """True when no session has been stored yet."""
    return one(con, "SELECT count(*) FROM sessions")[0] == 0


def table_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent hash of every base table but the audit trail: proves a
    rejected import or entry changed nothing. audit_log is left out because a refusal is itself
    audited (who, which file, how many problems), which is a record of the attempt, not a change."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
        " AND table_name <> 'audit_log' ORDER BY 1"
    ).fetchall()]
    result = {}
    for table in tables:
        # Table names come from the catalogue, not from input; identifiers cannot be parameters.
        count, digest = one(con, f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM "{table}" t')
        result[table] = (count, int(digest))
    return result
