"""The clinic chain: PostgreSQL as the system of record behind many dashboard processes, each
keeping its DuckDB file as a local copy (a replica) that the analytics read unchanged.

On only when config.database_url() is set. db.py calls this module at three points: connect()
attaches a replica (a first copy, then a follower thread that pulls what other processes wrote),
and write() / account_write() take the chain's turn (`Turn`): a PostgreSQL transaction holding a
chain-wide advisory lock, the changes pulled first, the local write, then its rows pushed with a
new chain version and a change-log row, PostgreSQL committed just before DuckDB. What is pushed
and pulled is chosen per table (TABLE_SCOPES): the rows of the episodes a write names, the new
rows of the append-only tables, and the small tables whole. docs/architecture.md gives the
reasons and the measurements."""
from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analytics import config, db

log = logging.getLogger(__name__)

# The chain-wide writers' lock (pg_advisory_xact_lock): one writer at a time in the whole chain
# keeps ids and the change log in one order. The number is arbitrary and fixed.
LOCK_KEY = 17_0017
CHANGES = "chain_changes"  # version, the episodes a write named (NULL: everything), when, who
# Meta rows that belong to one replica and never travel: its own data version and chain version.
LOCAL_META = ("data_version", "chain_version")

# The shared tables, parents first, and how a write's rows are found in each:
#   episode   the rows of the episodes the write names (episode_id)
#   session   assessments, through their session's episode
#   client    the clients (and their contacts) of those episodes
#   append    append-only tables: the rows with an id above the one before the write
#   whole     small tables, sent whole every time
TABLE_SCOPES: dict[str, str] = {
    "meta": "whole", "clinics": "whole", "therapists": "whole", "users": "whole",
    "clients": "client", "client_contacts": "client",
    "episodes": "episode", "sessions": "episode", "assessments": "session",
    "checkin_links": "episode", "checkins": "episode", "reminders_sent": "episode",
    "corrections": "append", "audit_log": "append",
}
APPEND_IDS = {"corrections": "correction_id", "audit_log": "audit_id"}
# Rows that a write may remove (the others are only ever inserted or updated, so a replica
# upserts them: DuckDB cannot delete a row another table still refers to in the same transaction).
MAY_LOSE_ROWS = ("users", "client_contacts", "assessments", "checkin_links", "checkins", "reminders_sent")
# Each id sequence and the column it fills: after a pull a replica's sequence is moved past the
# largest id in the chain, so ids made by two replicas never collide.
SEQUENCES = {"session_id_seq": ("sessions", "session_id"), "correction_id_seq": ("corrections", "correction_id"),
             "audit_id_seq": ("audit_log", "audit_id"), "checkin_id_seq": ("checkins", "checkin_id")}
PG_TYPES = {"VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision",
            "DATE": "date", "TIMESTAMP": "timestamp", "BOOLEAN": "boolean"}


class ChainError(db.DatabaseError):
    """PostgreSQL could not be reached or refused the write: nothing was written anywhere."""


def is_on() -> bool:
    """True when CLINIC_DATABASE_URL makes PostgreSQL the system of record."""
    return config.database_url() is not None


# ---------------------------------------------------------------------------------------------
# The shape of the tables, read from the local DuckDB file (schema.sql stays the one definition)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    key: tuple[str, ...]
    indexed: frozenset[str]  # in a key, a UNIQUE or a foreign key: a replica never updates these

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


_shapes: dict[str, list[Table]] = {}


def tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
    """The shared tables of this DuckDB file, parents first (read once per file and process)."""
    path = _file_of(con)
    if path not in _shapes:
        _shapes[path] = _read_tables(con)
    return _shapes[path]


def _read_tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, name, kind in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'main'"
            " ORDER BY table_name, ordinal_position").fetchall():
        columns.setdefault(table, []).append((name, kind))
    keys: dict[str, tuple[str, ...]] = {}
    indexed: dict[str, set[str]] = {}
    for table, kind, names in con.execute(
            "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() WHERE schema_name = 'main'"
            " AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')").fetchall():
        indexed.setdefault(table, set()).update(names)
        if kind == "PRIMARY KEY":
            keys[table] = tuple(names)
    # A table this file does not have yet is not shared.
    return [Table(name, tuple(columns[name]), keys[name], frozenset(indexed[name])) for name in TABLE_SCOPES if name in columns]


def _pg_create(table: Table) -> str:
    columns = ", ".join(f"{name} {PG_TYPES[kind]}" for name, kind in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, PRIMARY KEY ({', '.join(table.key)}))"


# ---------------------------------------------------------------------------------------------
# Which rows: the same selection on both engines


def _where(table: Table, scope: list[str] | None, engine: str, mark: int | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause choosing a write's rows of `table` (scope: the episodes it names, None for
    everything) in PostgreSQL ("pg") or DuckDB ("duck"), with its one parameter ($1) if any."""
    kind = TABLE_SCOPES[table.name]
    if table.name == "meta":
        return "key NOT IN ('data_version', 'chain_version')", []
    if kind == "append" and mark is not None:
        return f"{APPEND_IDS[table.name]} > $1", [mark]
    if scope is None or kind in ("whole", "append"):
        return "TRUE", []
    episodes = "episode_id = ANY($1)" if engine == "pg" else "list_contains($1, episode_id)"
    if kind == "episode":
        return episodes, [scope]
    if kind == "session":
        return f"session_id IN (SELECT session_id FROM sessions WHERE {episodes})", [scope]
    return f"client_id IN (SELECT client_id FROM episodes WHERE {episodes})", [scope]


# ---------------------------------------------------------------------------------------------
# A replica: its PostgreSQL connection, its follower thread, its scratch folder


@dataclass
class Replica:
    url: str
    path: str
    pg: Any = None  # an ADBC PostgreSQL connection for pulls and writes; used under db's write lock only
    version: int = -1  # the chain version this replica holds (also in its meta row)
    follower: threading.Thread | None = None
    # The small tables' digests as this replica last sent them (a pull forgets them): a write sends
    # one only when it changed.
    whole_digests: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def connection(self) -> Any:
        if self.pg is None:
            self.pg = connect_pg(self.url)
        return self.pg

    def reset(self) -> None:
        """Roll back and drop the PostgreSQL connection (after a failure it may be unusable)."""
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.rollback()
            with contextlib.suppress(Exception):
                self.pg.close()
            self.pg = None


def connect_pg(url: str) -> Any:
    """A connection to the chain's PostgreSQL (ADBC, transactions on), or ChainError."""
    import adbc_driver_postgresql.dbapi as pgdb

    try:
        return pgdb.connect(url)
    except Exception as exc:
        raise ChainError(f"PostgreSQL at CLINIC_DATABASE_URL cannot be reached ({_first_line(exc)})") from None


# Whether replicas opened in this process follow the chain (a dashboard); a command-line run
# reads the copy it made and needs no thread.
following = threading.Event()
following.set()
_replicas: dict[str, Replica] = {}
_replicas_lock = threading.Lock()


def forget_all() -> None:
    """Stop every follower and close every PostgreSQL connection of this process (a test's end)."""
    with _replicas_lock:
        states = list(_replicas.values())
        _replicas.clear()
    for state in states:
        state.stop.set()
    for state in states:
        if state.follower is not None:
            state.follower.join(timeout=5)
        state.reset()


@contextlib.contextmanager
def command_line_replica() -> Iterator[Path]:
    """A replica of its own for one command-line run (import, users, summary, check): a new file in
    a temporary folder, copied from PostgreSQL, removed afterwards. The command's writes go to
    PostgreSQL through it like a dashboard's."""
    folder = Path(tempfile.mkdtemp(prefix="clinic-cli-replica-"))
    path = folder / "replica.duckdb"
    following.clear()  # the command reads the copy made now
    try:
        db.connect(path).close()
        yield path
    finally:
        forget_all()
        following.set()
        shutil.rmtree(folder, ignore_errors=True)


@atexit.register
def _stop_following() -> None:
    """At exit, the follower threads stop before the DuckDB files close under them."""
    with _replicas_lock:
        states = list(_replicas.values())
    for state in states:
        state.stop.set()
    for state in states:
        if state.follower is not None:
            state.follower.join(timeout=5)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _file_of(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return str(rows[0][0]) if rows and rows[0][0] else ":memory:"


def replica(con: duckdb.DuckDBPyConnection) -> Replica:
    """This process's replica state for the DuckDB file `con` is on (made on first use)."""
    url = config.database_url()
    assert url is not None, "chain mode is off"
    path = _file_of(con)
    with _replicas_lock:
        known = _replicas.get(path)
        if known is None or known.url != url:
            known = _replicas[path] = Replica(url, path)
        return known


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Stop following PostgreSQL for this file and close its connection (before the file closes)."""
    with _replicas_lock:
        known = _replicas.pop(_file_of(con), None)
    if known is not None:
        known.stop.set()
        known.reset()


# ---------------------------------------------------------------------------------------------
# Moving rows: Arrow both ways (ADBC's COPY into and out of PostgreSQL, DuckDB's own Arrow)


def _pg(pg: Any, sql: str, params: list[Any] | None = None) -> Any:
    """Run one statement on PostgreSQL (ADBC's cursor), its cursor returned for fetching."""
    cursor = pg.cursor()
    cursor.execute(sql, parameters=tuple(params) if params else None)
    return cursor


def _push_rows(cursor: duckdb.DuckDBPyConnection, pg: Any, table: Table, scope: list[str] | None,
               mark: int | None = None) -> None:
    """Replace the write's rows of `table` in PostgreSQL with the local ones. Assessments and
    clients are found through the local episodes (PostgreSQL's may not hold a new one yet)."""
    kind = TABLE_SCOPES[table.name]
    if kind in ("session", "client") and scope is not None:
        column = "session_id" if kind == "session" else "client_id"
        parent = "sessions" if kind == "session" else "episodes"
        ids = [row[0] for row in cursor.execute(
            f"SELECT DISTINCT {column} FROM {parent} WHERE list_contains($1, episode_id)", [scope]).fetchall()]
        _pg(pg, f"DELETE FROM {table.name} WHERE {column} = ANY($1)", [ids]).close()
        where, params = f"list_contains($1, {column})", [ids]
    else:
        where, params = _where(table, scope, "pg", mark)
        if kind != "append" or mark is None:
            _pg(pg, f"DELETE FROM {table.name} WHERE {where}", params).close()  # fixed names; values as parameters
        where, params = _where(table, scope, "duck", mark)
    # The write's own cursor is the only one that sees its uncommitted rows. Streamed as a record
    # batch reader: collecting a parallel result whole inside a transaction that changed a 1 M-row
    # table failed in DuckDB 2.0 ("BatchedDataCollection::Merge error"); the stream does not merge.
    with warnings.catch_warnings():  # DuckDB warns of the copy it makes for a DB-API result
        warnings.simplefilter("ignore")
        reader = cursor.execute(f"SELECT {', '.join(table.names)} FROM {table.name} WHERE {where} "
                                f"ORDER BY {', '.join(table.key)}", params).to_arrow_reader()
    rows = reader.read_all() if reader is not None else None
    if rows is not None and rows.num_rows:
        ingest = pg.cursor()
        ingest.adbc_ingest(table.name, rows, mode="append")
        ingest.close()


def _pull_rows(cursor: duckdb.DuckDBPyConnection, pg: Any, table: Table, scope: list[str] | None,
               mark: int | None = None) -> None:
    """Bring the local rows of `table` in the scope to what PostgreSQL holds: upsert every row
    there; delete the local ones missing there where rows may go (MAY_LOSE_ROWS)."""
    where, params = _where(table, scope, "pg", mark)
    fetch = _pg(pg, f"SELECT {', '.join(table.names)} FROM {table.name} WHERE {where}", params)
    incoming = fetch.fetch_arrow_table()
    fetch.close()
    with db.registered(cursor, "incoming", incoming):  # a damaged block's error is the one raised
        if incoming.num_rows:
            updates = [name for name in table.names if name not in table.indexed]
            action = ("DO UPDATE SET " + ", ".join(f"{name} = excluded.{name}" for name in updates)) if updates else "DO NOTHING"
            cursor.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM incoming ON CONFLICT ({', '.join(table.key)}) {action}").fetchall()
        if table.name in MAY_LOSE_ROWS:
            where, params = _where(table, scope, "duck", mark)
            key = ", ".join(table.key)
            cursor.execute(f"DELETE FROM {table.name} WHERE ({where}) AND ({key}) NOT IN (SELECT ({key}) FROM incoming)", params).fetchall()


def _digest(cursor: duckdb.DuckDBPyConnection, table: Table) -> int:
    """An order-independent hash of a small table's shared rows (to skip sending it unchanged)."""
    where, _ = _where(table, None, "duck")
    return int(cursor.execute(f"SELECT coalesce(sum(hash(t)), 0) FROM (SELECT * FROM {table.name} WHERE {where}) t").fetchall()[0][0])


def _append_marks(cursor: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {name: int(cursor.execute(f"SELECT coalesce(max({column}), 0) FROM {name}").fetchall()[0][0])
            for name, column in APPEND_IDS.items()}


def _advance_sequences(cursor: duckdb.DuckDBPyConnection) -> None:
    """Move each id sequence past the largest id stored (DuckDB has no ALTER SEQUENCE RESTART;
    drawing the missing numbers at once takes milliseconds even for a million)."""
    for sequence, (name, column) in SEQUENCES.items():
        if not cursor.execute("SELECT count(*) FROM duckdb_sequences() WHERE sequence_name = ?", [sequence]).fetchall()[0][0]:
            continue
        last = cursor.execute("SELECT coalesce(last_value, start_value - 1) FROM duckdb_sequences() WHERE sequence_name = ?",
                              [sequence]).fetchall()[0][0]
        largest = cursor.execute(f"SELECT coalesce(max({column}), 0) FROM {name}").fetchall()[0][0]
        if largest > last:
            cursor.execute(f"SELECT max(nextval('{sequence}')) FROM range(?)", [int(largest - last)]).fetchall()


def _local_version(cursor: duckdb.DuckDBPyConnection) -> int:
    rows = cursor.execute("SELECT value FROM meta WHERE key = 'chain_version'").fetchall()
    return int(rows[0][0]) if rows else -1


def _set_local_version(cursor: duckdb.DuckDBPyConnection, version: int) -> None:
    cursor.execute("INSERT INTO meta VALUES ('chain_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   [str(version)]).fetchall()


def _bump_data_version(cursor: duckdb.DuckDBPyConnection) -> None:
    cursor.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'data_version'").fetchall()


# ---------------------------------------------------------------------------------------------
# Attaching, pulling, following


def _one(pg: Any, sql: str, params: list[Any] | None = None) -> Any:
    """The one value of a PostgreSQL query that always returns one row."""
    cursor = _pg(pg, sql, params)
    try:
        return cursor.fetchone()[0]
    finally:
        cursor.close()


def prepare(con: duckdb.DuckDBPyConnection, pg: Any) -> None:
    """Create the shared tables and the change log in PostgreSQL when missing, and refuse a
    chain whose tables differ from this program's (another schema version)."""
    for table in tables(con):
        _pg(pg, _pg_create(table)).close()
        listing = _pg(pg, "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                          " AND table_name = $1 ORDER BY ordinal_position", [table.name])
        stored = [row[0] for row in listing.fetchall()]
        listing.close()
        if stored != table.names:
            raise ChainError(f"the chain's table {table.name} in PostgreSQL has other columns than this program's "
                             "(another schema version): update every dashboard of the chain together")
        if TABLE_SCOPES[table.name] == "episode" and table.key[:1] != ("episode_id",):
            # A write's rows are found by their episode: without this index every write and every
            # pull would scan a million sessions in PostgreSQL.
            _pg(pg, f"CREATE INDEX IF NOT EXISTS {table.name}_by_episode ON {table.name} (episode_id)").close()
    _pg(pg, f"CREATE TABLE IF NOT EXISTS {CHANGES} (version bigint PRIMARY KEY, episodes text[], "
            "changed_at timestamptz NOT NULL DEFAULT now(), origin text)").close()


def _lock(pg: Any) -> None:
    """Take the chain's writers' lock until this PostgreSQL transaction ends."""
    _pg(pg, "SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]).close()


def attach(con: duckdb.DuckDBPyConnection, follow: bool | None = None) -> None:
    """Make the DuckDB file `con` a replica of the chain (called by db.connect in chain mode): an
    empty chain is seeded from this file when it holds data; otherwise the file is brought up to
    the chain's version (a first copy, then only changed episodes). With `follow` (default: this
    process's `following`), a thread pulls what other processes write, every
    config.CHAIN_POLL_SECONDS."""
    state = replica(con)
    with db.writers_turn():
        pg = state.connection()
        try:
            _lock(pg)
            prepare(con, pg)
            if not _one(pg, f"SELECT count(*) FROM {CHANGES}") and not db.is_empty(con):
                _seed(con, pg, state)
            else:
                pull(con, state)
            pg.commit()
        except (ChainError, duckdb.Error):
            state.reset()
            raise
        except Exception as exc:
            state.reset()
            raise ChainError(f"PostgreSQL refused the chain's tables ({_first_line(exc)})") from None
    if (following.is_set() if follow is None else follow) and (state.follower is None or not state.follower.is_alive()):
        state.follower = threading.Thread(target=_follow, args=(con, state), name="clinic-chain-follower", daemon=True)
        state.follower.start()


def _seed(con: duckdb.DuckDBPyConnection, pg: Any, state: Replica) -> None:
    """The chain's first version: every row of this file (a clinic joining with its history)."""
    cursor = con.cursor()
    try:
        with _local_transaction(cursor):
            for table in tables(cursor):
                _push_rows(cursor, pg, table, None)
            version = _record_change(pg, None, state)
            _set_local_version(cursor, version)
        state.version = version
    finally:
        cursor.close()


def _record_change(pg: Any, episodes: list[str] | None, state: Replica) -> int:
    version = int(_one(pg, f"SELECT coalesce(max(version), 0) + 1 FROM {CHANGES}"))
    _pg(pg, f"INSERT INTO {CHANGES} (version, episodes, origin) VALUES ($1, $2, $3)",
        [version, episodes, state.path]).close()
    return version


@contextlib.contextmanager
def _local_transaction(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    cursor.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cursor.execute("ROLLBACK")
        raise
    cursor.execute("COMMIT")


def pull(con: duckdb.DuckDBPyConnection, state: Replica | None = None) -> bool:
    """Apply what the chain holds beyond this replica's version, in one local transaction: the
    rows of the changed episodes (every row when this replica has none yet or a change named no
    episodes), the small tables whole, the new audit and correction rows. Facts are refreshed
    for those episodes and the data version bumped (when clinical data came), so every cache
    turns over. True when something came. Call with db.writers_turn() held, inside a
    PostgreSQL transaction the caller ends."""
    state = state or replica(con)
    pg = state.connection()
    cursor = con.cursor()
    try:
        local = _local_version(cursor)
        listing = _pg(pg, f"SELECT version, episodes FROM {CHANGES} WHERE version > $1 ORDER BY version", [local])
        changes = listing.fetchall()
        listing.close()
        if not changes:
            state.version = local
            return False
        scope: list[str] | None
        if local < 0 or any(episodes is None for _, episodes in changes):
            scope = None
        else:
            scope = sorted({episode for _, episodes in changes for episode in episodes})
        with _local_transaction(cursor):
            marks = _append_marks(cursor)
            for table in tables(cursor):
                _pull_rows(cursor, pg, table, scope, marks.get(table.name))
            _advance_sequences(cursor)
            _set_local_version(cursor, changes[-1][0])
            if scope is None or scope:
                db.refresh_facts(cursor, scope)
                _bump_data_version(cursor)
        state.version = changes[-1][0]
        state.whole_digests.clear()  # this file's small tables may now hold rows PostgreSQL lacks
        return True
    finally:
        cursor.close()


def _follow(con: duckdb.DuckDBPyConnection, state: Replica) -> None:
    """The follower thread: ask PostgreSQL for its latest version (one cheap query on a
    connection of its own), pull when it moved. Ends when the file is closed or forgotten."""
    watcher = None
    while not state.stop.wait(config.CHAIN_POLL_SECONDS):
        try:
            if watcher is None:
                watcher = connect_pg(state.url)
            latest = _one(watcher, f"SELECT coalesce(max(version), 0) FROM {CHANGES}")
            watcher.rollback()  # a fresh snapshot next time
            if latest > state.version:
                with db.writers_turn():
                    if state.stop.is_set():
                        break
                    try:
                        pull(con, state)
                    finally:
                        state.connection().rollback()  # read only: end the snapshot
        except duckdb.ConnectionException:
            break  # the file was closed
        except Exception as exc:  # PostgreSQL away for a moment: try again on the next tick
            log.warning("clinic chain: pulling from PostgreSQL failed (%s); trying again", type(exc).__name__)
            state.reset()
            if watcher is not None:
                with contextlib.suppress(Exception):
                    watcher.close()
            watcher = None
    if watcher is not None:
        with contextlib.suppress(Exception):
            watcher.close()


# ---------------------------------------------------------------------------------------------
# A write's turn


class Turn:
    """One write in the chain: opened before the local transaction (the chain's lock taken and its
    changes pulled), `push` as the local transaction's last step (the rows sent, a new version,
    PostgreSQL committed), rolled back with the local write on any error."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.state = replica(con)
        self.con = con
        self.marks: dict[str, int] = {}

    def begin(self) -> None:
        pg = self.state.connection()
        _lock(pg)
        pull(self.con, self.state)
        cursor = self.con.cursor()
        try:
            self.marks = _append_marks(cursor)
        finally:
            cursor.close()

    def push(self, cursor: duckdb.DuckDBPyConnection, episodes: list[str] | None, accounts_only: bool = False) -> None:
        """Send the write's rows (inside its local transaction, on its cursor) and commit
        PostgreSQL. `episodes` as db.write takes them; accounts_only sends the small tables and
        the new audit rows only."""
        pg = self.state.connection()
        scope: list[str] | None = [] if accounts_only else episodes
        try:
            sent: dict[str, int] = {}
            for table in tables(cursor):
                kind = TABLE_SCOPES[table.name]
                if kind in ("episode", "session", "client") and scope is not None and not scope:
                    continue
                if kind == "whole":
                    sent[table.name] = _digest(cursor, table)
                    if sent[table.name] == self.state.whole_digests.get(table.name):
                        continue  # as PostgreSQL has it
                _push_rows(cursor, pg, table, scope, self.marks.get(table.name))
            version = _record_change(pg, scope, self.state)
            _set_local_version(cursor, version)
            pg.commit()
            self.state.whole_digests.update(sent)
        except duckdb.Error:
            raise
        except Exception as exc:
            raise ChainError(f"PostgreSQL refused the write ({_first_line(exc)}); nothing was written") from None
        self.state.version = version


@contextlib.contextmanager
def turn(con: duckdb.DuckDBPyConnection) -> Iterator[Turn]:
    """The chain's part of one db.write / db.account_write (db.py holds its writers' lock)."""
    chain_turn = Turn(con)
    try:
        chain_turn.begin()
    except (ChainError, duckdb.Error):
        chain_turn.state.reset()
        raise
    except Exception as exc:
        chain_turn.state.reset()
        raise ChainError(f"PostgreSQL refused the write ({_first_line(exc)}); nothing was written") from None
    try:
        yield chain_turn
    except BaseException:
        chain_turn.state.reset()
        raise
