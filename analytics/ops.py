"""Operations on one machine while the dashboard runs: the inbox it imports from, consistent
backups (made by it or by the command line), restore, and the Unix-domain socket through which
the command line asks the dashboard process, which holds DuckDB's exclusive file lock, to answer
`summary`, `check`, `users list`, `backup` and to wait for an inbox import.

The socket protocol is one JSON line each way. Request: {"command": "run", "argv": [...]} (a
command line of `python -m analytics`, limited to SERVED_COMMANDS) or {"command": "inbox-wait",
"name": NAME, "since": UNIX_TIME, "timeout": SECONDS} or {"command": "ping"} (answered with the
inbox folder as "inbox"). Answer: {"exit": N, "stdout": TEXT,
"stderr": TEXT}. The socket file is made with mode 0600: only the account running the dashboard
(and root) may talk to it."""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime as dt
import io
import json
import logging
import os
import shutil
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from analytics import audit, config, db, visit_log

log = logging.getLogger(__name__)

INBOX_USER = "inbox"  # the audit trail's user for inbox imports
RESULT_SUFFIX = ".result.txt"
PARTIAL_SUFFIX = ".partial"  # a file being copied into the inbox; the worker leaves it alone
VISIT_LOG_SUFFIXES = (".csv", ".xlsx", ".parquet")
SERVED_COMMANDS = ("summary", "check", "users", "backup")  # users: only `users list`
BACKUP_PREFIX = "clinic-"
BACKUP_SUFFIX = ".duckdb"
_STAMP = "%Y%m%d-%H%M%S"


# ----------------------------------------------------------------------------- inbox


@dataclasses.dataclass
class InboxResult:
    """What became of one file dropped in the inbox: written beside it as NAME.result.txt."""

    name: str
    time: dt.datetime  # UTC, when it was imported or refused
    imported: bool
    inserted: int = 0
    skipped: int = 0
    replaced: int = 0
    episodes: int = 0
    problems: int = 0
    messages: str = ""  # every problem of a refused file, one a line; notices of an imported one

    def to_text(self) -> str:
        head = [f"file: {self.name}", f"time: {self.time.strftime('%Y-%m-%dT%H:%M:%SZ')}",
                f"result: {'imported' if self.imported else 'refused'}", f"inserted: {self.inserted}",
                f"skipped: {self.skipped}", f"replaced: {self.replaced}", f"episodes: {self.episodes}",
                f"problems: {self.problems}"]
        return "\n".join(head) + "\n\n" + self.messages + ("\n" if self.messages and not self.messages.endswith("\n") else "")

    @classmethod
    def from_text(cls, text: str) -> InboxResult:
        head, _, messages = text.partition("\n\n")
        fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        return cls(name=fields.get("file", ""),
                   time=dt.datetime.strptime(fields["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC),
                   imported=fields.get("result") == "imported",
                   **{key: int(fields.get(key, 0)) for key in ("inserted", "skipped", "replaced", "episodes", "problems")},
                   messages=messages.rstrip("\n"))

    def summary_line(self) -> str:
        """The one line the command line prints, as a direct import would."""
        if self.imported:
            return (f"inserted {self.inserted}, skipped {self.skipped} unchanged, replaced {self.replaced} "
                    f"({self.episodes} episodes)")
        return f"Nothing was imported: {self.problems} problem(s) found. Fix them and import again."


def import_inbox_file(con: duckdb.DuckDBPyConnection, path: Path, inbox: Path) -> InboxResult:
    """Import one inbox file all or nothing (db.write, audited 'import' as user 'inbox'), then
    move it to inbox/done/ or inbox/refused/ with NAME.result.txt beside it. A name already
    there gets a time stamp in front, so nothing earlier is overwritten."""
    name = path.name
    now = dt.datetime.now(dt.UTC)
    try:
        try:
            frame = visit_log.read(path, name=name)
        except visit_log.ImportFailed as unreadable:  # import_frames audits its own refusals; read does not
            _audit_refusal(con, name, len(unreadable.errors))
            raise
        stored = visit_log.import_frames(con, [(name, frame)], by=INBOX_USER)
        result = InboxResult(name, now, True, stored.inserted, stored.skipped, stored.replaced, stored.episodes,
                             messages="\n".join(str(notice) for notice in stored.notices))
    except visit_log.ImportFailed as failure:
        result = InboxResult(name, now, False, problems=len(failure.errors),
                             messages=visit_log.format_problems(failure.problems))
    target = inbox / ("done" if result.imported else "refused")
    target.mkdir(parents=True, exist_ok=True)
    moved = target / name
    if moved.exists() or (target / (name + RESULT_SUFFIX)).exists():
        moved = target / f"{now.strftime(_STAMP)}-{uuid.uuid4().hex[:6]}-{name}"
    path.replace(moved)
    (moved.parent / (moved.name + RESULT_SUFFIX)).write_text(result.to_text(), encoding="utf-8")
    log.info("inbox: a file was %s", "imported" if result.imported else "refused")  # no name: it may name someone
    return result


def _audit_refusal(con: duckdb.DuckDBPyConnection, name: str, problems: int) -> None:
    with contextlib.suppress(duckdb.Error), db.account_write(con) as cursor:
        audit.record_on(cursor, INBOX_USER, "import", "refused", f"{problems} problem(s) in {name}")


class Inbox:
    """The inbox folder of one database: files waiting, when each last changed, and the results
    of the files imported by this process (for `inbox-wait`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, folder: Path, settle: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.con = con
        self.folder = Path(folder)
        self.settle = config.INBOX_SETTLE_SECONDS if settle is None else settle
        self.clock = clock
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> (size, mtime_ns, unchanged since)
        self.results: list[tuple[float, InboxResult]] = []  # (unix time done, result), newest last
        self.changed = threading.Condition()

    def waiting(self) -> list[Path]:
        """Visit-log files in the inbox (not folders, hidden files or copies still being made)."""
        if not self.folder.is_dir():
            return []
        return sorted(path for path in self.folder.iterdir()
                      if path.is_file() and not path.name.startswith(".") and not path.name.endswith(PARTIAL_SUFFIX)
                      and path.suffix.lower() in VISIT_LOG_SUFFIXES)

    def scan(self) -> list[InboxResult]:
        """Import every file whose size and modification time have not changed for `settle`
        seconds; remember when the others last changed."""
        done = []
        now = self.clock()
        present = set()
        for path in self.waiting():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            present.add(path.name)
            state = (stat.st_size, stat.st_mtime_ns)
            seen = self._seen.get(path.name)
            if seen is None or seen[:2] != state:
                self._seen[path.name] = (*state, now)
                continue
            if now - seen[2] < self.settle:
                continue
            result = import_inbox_file(self.con, path, self.folder)
            self._seen.pop(path.name, None)
            with self.changed:
                self.results.append((time.time(), result))
                del self.results[:-200]
                self.changed.notify_all()
            done.append(result)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return done

    def wait_for(self, name: str, since: float, timeout: float) -> InboxResult | None:
        """The result of the file `name` imported or refused at or after `since` (unix time),
        waiting up to `timeout` seconds; None if it did not come."""
        deadline = time.time() + timeout
        with self.changed:
            while True:
                for finished, result in reversed(self.results):
                    if result.name == name and finished >= since:
                        return result
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.changed.wait(min(left, 1.0))


def inbox_results(folder: Path, limit: int = 20) -> list[InboxResult]:
    """The newest `limit` inbox results found in done/ and refused/, newest first (only the
    newest result files are read, however many years of them there are)."""
    paths = []
    for sub in ("done", "refused"):
        if (Path(folder) / sub).is_dir():
            for path in (Path(folder) / sub).glob("*" + RESULT_SUFFIX):
                with contextlib.suppress(OSError):
                    paths.append((path.stat().st_mtime, path))
    found = []
    for _, path in sorted(paths, reverse=True)[:limit]:
        with contextlib.suppress(OSError, ValueError, KeyError):
            found.append(InboxResult.from_text(path.read_text(encoding="utf-8")))
    return sorted(found, key=lambda result: result.time, reverse=True)


# ----------------------------------------------------------------------------- backups


def backup_name(when: dt.datetime | None = None) -> str:
    """clinic-YYYYMMDD-HHMMSS.duckdb, in local time (sorts by age)."""
    return f"{BACKUP_PREFIX}{(when or dt.datetime.now()).strftime(_STAMP)}{BACKUP_SUFFIX}"


def backups(folder: Path) -> list[Path]:
    """The backups in `folder`, newest first."""
    if not Path(folder).is_dir():
        return []
    return sorted((path for path in Path(folder).glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}") if path.is_file()),
                  key=lambda path: path.name, reverse=True)


def verify_backup(path: Path) -> list[str]:
    """The `check` command's problems with a backup file opened read-only ([] when sound)."""
    try:
        con = db.connect(path, read_only=True)
    except db.DatabaseError as problem:
        return [str(problem)]
    try:
        return db.check(con)
    except duckdb.Error as exc:
        return [f"cannot be read completely ({str(exc).strip().splitlines()[0]})"]
    finally:
        con.close()


def make_backup(con: duckdb.DuckDBPyConnection, folder: Path, keep: int | None = None, by: str = "backup") -> Path:
    """A consistent copy of the open database in `folder`, named with the time, verified by
    opening it read-only and running the checks of `check`; then, with `keep`, only the newest
    `keep` backups are left. The copy is made by DuckDB itself (ATTACH a new file, COPY FROM
    DATABASE, DETACH) in one transaction, so it holds what the write-ahead log holds too, and
    writes of this process wait for it (db.account_write takes the write lock).
    The audit log names the backup made (action 'backup', by `by`) once it has passed its check.
    Raises DatabaseError if the copy fails its check (the bad copy is removed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / backup_name()
    while final.exists():
        time.sleep(1)
        final = folder / backup_name()
    partial = folder / f".{final.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
    alias = f"backup_{uuid.uuid4().hex[:12]}"  # made here, not input
    cursor = con.cursor()  # the dashboard's connection is shared across threads: a cursor of its own
    source = db.one(cursor, "SELECT current_database()")[0]
    try:
        with db.account_write(con) as writing:  # one transaction; this process's writes wait for it
            writing.execute(f"ATTACH ? AS {alias}", [str(partial)])
            writing.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
    finally:
        with contextlib.suppress(duckdb.Error):
            cursor.execute(f"DETACH {alias}")
        cursor.close()
    problems = verify_backup(partial)
    if problems:
        partial.unlink(missing_ok=True)
        Path(f"{partial}.wal").unlink(missing_ok=True)
        raise db.DatabaseError(f"{final}: the backup failed its check: {'; '.join(problems)}")
    partial.replace(final)
    audit.record(con, by, "backup", "file", final.name)
    if keep is not None:
        prune(folder, keep)
    return final


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `folder` (keep >= 1); the deleted ones."""
    old = backups(folder)[max(keep, 1):]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _freshness(con: duckdb.DuckDBPyConnection) -> tuple[int, dt.datetime | None]:
    """(data version, time of the latest audit event) of an open clinic database."""
    version = int(db.one(con, "SELECT value FROM meta WHERE key = 'data_version'")[0])
    latest = db.one(con, "SELECT max(logged_at) FROM audit_log")[0]
    return version, latest


class RestoreRefused(db.DatabaseError):
    """restore would lose data, or cannot run now; the message says why and what to do."""


def restore(backup: Path, target: Path, force: bool = False) -> None:
    """Put a backup in place of the database `target`. Refused when the backup fails its check,
    when a dashboard (or anything) holds `target`, and, without `force`, when `target` holds newer
    data (a higher data version or a later audit event). The target's write-ahead log is removed:
    it belongs to the old file and must never be replayed onto the restored one."""
    backup, target = Path(backup), Path(target)
    if not backup.is_file():
        raise RestoreRefused(f"{backup}: no such backup.")
    problems = verify_backup(backup)
    if problems:
        raise RestoreRefused(f"{backup}: not restored, the backup failed its check: {'; '.join(problems)}")
    checked = db.connect(backup, read_only=True)
    try:
        restored = _freshness(checked)
    finally:
        checked.close()
    if target.exists():
        try:
            current = duckdb.connect(str(target), read_only=True)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise RestoreRefused(f"{target}: a running dashboard (or another program) holds the database; "
                                     "stop it, then restore.") from None
            current = None  # unreadable: a damaged file is what a restore is for
        except duckdb.Error:
            current = None
        if current is not None:
            try:
                present = _freshness(current) if db.stored_schema_version(current) is not None else None
            except (duckdb.Error, db.DatabaseError):
                present = None
            finally:
                current.close()
            if present is not None and not force and _newer(present, restored):
                raise RestoreRefused(
                    f"{target}: holds newer data than the backup (data version {present[0]} against {restored[0]}, "
                    f"latest event {present[1]} against {restored[1]}); not restored. Pass --force to overwrite it.")
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
    shutil.copyfile(backup, partial)
    Path(f"{target}.wal").unlink(missing_ok=True)
    partial.replace(target)


def _newer(present: tuple[int, Any], restored: tuple[int, Any]) -> bool:
    if present[0] > restored[0]:
        return True
    return present[1] is not None and (restored[1] is None or present[1] > restored[1])


# ----------------------------------------------------------------------------- the socket


def ask(request: dict, path: Path | None = None, timeout: float = 600) -> dict | None:
    """Send one request to the running dashboard; its answer, or None when no dashboard listens."""
    path = path or config.socket_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
        channel.settimeout(timeout)
        try:
            channel.connect(str(path))
        except PermissionError:
            return {"exit": 2, "stdout": "", "stderr": f"{path}: only the account running the dashboard may use its "
                    "socket; run this command as that account.\n"}
        except OSError:  # no such socket, or nobody listening (a dashboard that was killed)
            return None
        channel.sendall(json.dumps(request).encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = channel.recv(65536)
            if not chunk:
                break
            answer += chunk
    return json.loads(answer) if answer.strip() else None


def hand_to_inbox(file: Path, inbox: Path) -> str:
    """Copy `file` into the inbox atomically (a hidden partial name, then a rename) and return
    the name it has there (its own, or with a time stamp if one of that name is waiting)."""
    inbox.mkdir(parents=True, exist_ok=True)
    name = file.name
    if (inbox / name).exists():
        name = f"{dt.datetime.now().strftime(_STAMP)}-{uuid.uuid4().hex[:6]}-{name}"
    partial = inbox / f".{name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
    shutil.copyfile(file, partial)
    partial.replace(inbox / name)
    return name


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            request = json.loads(self.rfile.readline(1_000_000) or b"{}")
            answer = self.server.worker.answer(request)
        except Exception as exc:  # noqa: BLE001 - the client is told; the dashboard goes on
            log.exception("socket request failed")
            answer = {"exit": 2, "stdout": "", "stderr": f"the dashboard could not answer: {type(exc).__name__}"}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    worker: Worker


class Worker:
    """The dashboard process's background work on its open connection: the inbox (scanned every
    second), the daily backup, and the socket. Started once per process and database."""

    def __init__(self, con: duckdb.DuckDBPyConnection, database: Path):
        self.con = con
        self.database = Path(database)
        self.inbox = Inbox(con, config.inbox_path(self.database))
        self.socket = config.socket_path(self.database)
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> Worker:
        self.socket.unlink(missing_ok=True)  # left by a dashboard that was killed
        server = _Server(str(self.socket), _Handler, bind_and_activate=False)
        server.worker = self
        old = os.umask(0o177)  # the socket file is made 0600 as it is bound
        try:
            server.server_bind()
        finally:
            os.umask(old)
        os.chmod(self.socket, 0o600)
        server.server_activate()
        self._server = server
        for target, name in ((server.serve_forever, "clinic-socket"), (self._loop, "clinic-inbox")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.socket.unlink(missing_ok=True)

    def _loop(self) -> None:
        last_backup_day: dt.date | None = None
        while not self._stop.wait(1.0):
            try:
                self.inbox.scan()
                last_backup_day = self._scheduled_backup(last_backup_day)
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("inbox or backup round failed")

    def _scheduled_backup(self, last_day: dt.date | None) -> dt.date | None:
        folder = config.backup_folder(self.database)
        now = dt.datetime.now()
        if folder is None or now.hour != config.BACKUP_HOUR or last_day == now.date():
            return last_day
        if any(path.name.startswith(f"{BACKUP_PREFIX}{now.strftime('%Y%m%d')}") for path in backups(folder)):
            return now.date()
        make_backup(self.con, folder, keep=config.BACKUP_KEEP, by="daily backup")
        return now.date()

    def answer(self, request: dict) -> dict:
        command = request.get("command")
        if command == "inbox-wait":
            result = self.inbox.wait_for(str(request.get("name")), float(request.get("since", 0)),
                                         min(float(request.get("timeout", 600)), 3600))
            if result is None:
                return {"exit": 2, "stdout": "", "stderr": "the dashboard has not imported the file yet; "
                        "its result will be in the inbox's done/ or refused/ folder."}
            return {"exit": 0 if result.imported else 1,
                    "stdout": result.summary_line() + "\n" if result.imported else "",
                    "stderr": "" if result.imported else f"{result.messages}\n{result.summary_line()}\n",
                    "result": result.to_text()}
        if command == "run":
            argv = [str(arg) for arg in request.get("argv", [])]
            if not argv or argv[0] not in SERVED_COMMANDS or (argv[0] == "users" and argv[1:2] != ["list"]):
                return {"exit": 2, "stdout": "", "stderr": f"the dashboard does not run {' '.join(argv[:2])!r}; stop it first."}
            from analytics import __main__ as cli  # the command line's own commands, on this connection

            out, err = io.StringIO(), io.StringIO()
            code = cli.run_served(argv, self.con, self.database, out, err)
            return {"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
        if command == "ping":  # also tells the command line where this dashboard's inbox is
            return {"exit": 0, "stdout": "", "stderr": "", "inbox": str(self.inbox.folder.resolve())}
        return {"exit": 2, "stdout": "", "stderr": f"unknown request {command!r}"}


_workers: dict[str, Worker] = {}
_workers_lock = threading.Lock()


def start_worker(con: duckdb.DuckDBPyConnection, database: Path) -> Worker | None:
    """Start the worker of `database` once per process (later calls return the same); None when
    the socket cannot be made (then the dashboard runs without; logged)."""
    key = str(Path(database).resolve())
    with _workers_lock:
        if key not in _workers:
            try:
                _workers[key] = Worker(con, Path(database)).start()
                atexit.register(stop_worker, Path(database))  # a stale socket would only refuse; tidier gone
            except OSError:
                log.exception("the inbox and command socket could not start")
                return None
        return _workers[key]


def stop_worker(database: Path) -> None:
    """Stop the worker of `database`, if running (tests; a closed connection)."""
    with _workers_lock:
        worker = _workers.pop(str(Path(database).resolve()), None)
    if worker is not None:
        worker.stop()


@contextlib.contextmanager
def served(con: duckdb.DuckDBPyConnection, database: Path) -> Iterator[Worker]:
    """A worker for the length of a block (tests)."""
    worker = Worker(con, Path(database)).start()
    try:
        yield worker
    finally:
        worker.stop()
