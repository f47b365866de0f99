"""Accounts and sign-in: argon2-hashed passwords, roles, a lock after repeated failures of one
account, and a throttle after repeated failures from one browser session or address."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable

import duckdb
import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from analytics import audit, config, db

ROLES = ("manager", "therapist")
# Five wrong passwords in a row lock the account for 15 minutes: slow enough to stop guessing,
# short enough that a therapist who mistyped is not locked out for the day.
MAX_FAILED_ATTEMPTS = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 10

# The one argon2 hasher: every stored hash, and the unknown-user hash, use its parameters.
hasher = PasswordHasher()


@functools.cache
def unknown_user_hash() -> str:
    """A hash of a random password, made once with the same parameters as every stored hash: an
    unknown user name is checked against it, so it is refused in the same time as a wrong
    password and the time cannot tell which names exist."""
    return hasher.hash(secrets.token_urlsafe(32))


# Password checks running at once in this process. Each argon2 check takes 64 MiB and four
# lanes: twenty people signing in together took the server to 1.3 GB and shared 2 cores twenty
# ways (benchmarks/RESULTS.md, load test); past this many, a check waits its turn. Known and
# unknown names queue alike, so the wait tells nothing about which names exist.
CONCURRENT_PASSWORD_CHECKS = 2
_password_checks = threading.BoundedSemaphore(CONCURRENT_PASSWORD_CHECKS)


def _is_right(password_hash: str, password: str) -> bool:
    with _password_checks:
        try:
            return hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class Throttle:
    """Failed sign-ins counted per source (a browser session, a client address): a source with
    `max_failures` failures within the last `minutes`, or with failures on `max_accounts`
    different user names within them, is refused every further try, on any account, until the
    oldest of them is `minutes` old. So a source gets at most `max_failures` wrong tries per
    `minutes`, on at most `max_accounts` names: one person can neither lock every colleague's
    account (five failures each) nor try one password on every account.

    Kept in this server process's memory, shared by its browser sessions and threads: a restart
    forgets it, and two server processes count apart. A name is kept only as a keyed hash (the
    key is random per process), since a name typed may be a password typed in the wrong box;
    unknown names count like known ones, so being refused tells nothing about which exist. At
    most `max_sources` sources are kept (the longest quiet go first), so a flood of addresses
    cannot fill the memory."""

    def __init__(self, max_failures: int, minutes: float, max_accounts: int | None = None, max_sources: int = 10_000):
        self.max_failures = max_failures
        self.window = dt.timedelta(minutes=minutes)
        self.max_accounts = max_accounts or max_failures
        self.max_sources = max_sources
        self._failures: collections.OrderedDict[str, list[tuple[dt.datetime, str]]] = collections.OrderedDict()
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def is_blocked(self, sources: Iterable[str], now: dt.datetime | None = None) -> bool:
        """Whether any of these sources is refused at `now`."""
        now = now or dt.datetime.now()
        with self._lock:
            return any(self._is_blocked(source, now) for source in sources)

    def _is_blocked(self, source: str, now: dt.datetime) -> bool:
        recent = [(t, name) for t, name in self._failures.get(source, []) if t > now - self.window]
        return len(recent) >= self.max_failures or len({name for _, name in recent}) >= self.max_accounts

    def count_failure(self, sources: Iterable[str], now: dt.datetime | None = None, username: str = "") -> None:
        """Count one failed sign-in, as the name `username` (known or not), against each source."""
        now = now or dt.datetime.now()
        name = hmac.new(self._key, username.strip().casefold().encode(), hashlib.sha256).hexdigest()
        with self._lock:
            for source in sources:
                recent = [(t, n) for t, n in self._failures.pop(source, []) if t > now - self.window]
                self._failures[source] = (recent + [(now, name)])[-self.max_failures:]  # the newest last
            while len(self._failures) > self.max_sources:
                self._failures.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


THROTTLE = Throttle(config.SIGN_IN_THROTTLE_FAILURES, config.SIGN_IN_THROTTLE_MINUTES,
                    config.SIGN_IN_THROTTLE_ACCOUNTS)


class AccountError(Exception):
    """A problem with an account request, worded for the person making it."""


@dataclasses.dataclass(frozen=True)
class User:
    username: str
    role: str
    therapist_id: str | None

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


def add_user(con: duckdb.DuckDBPyConnection, username: str, password: str, role: str,
             therapist_id: str | None = None, by: str | None = None) -> User:
    """Create an account. Therapists must be linked to a stored therapist id."""
    username = username.strip()
    if not username:
        raise AccountError("A user name is required.")
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    _check_password(password)
    if role == "therapist":
        if not therapist_id:
            raise AccountError("A therapist account needs --therapist-id.")
        cursor = con.cursor()
        known = db.one(cursor, "SELECT count(*) FROM therapists WHERE therapist_id = ?", [therapist_id])[0]
        cursor.close()
        if not known:
            raise AccountError(f"No therapist with id {therapist_id} is stored.")
    with db.account_write(con) as cursor:
        if db.one(cursor, "SELECT count(*) FROM users WHERE username = ?", [username])[0]:
            raise AccountError(f"User {username} already exists.")
        cursor.execute("INSERT INTO users (username, password_hash, role, therapist_id) VALUES (?, ?, ?, ?)",
                       [username, hasher.hash(password), role, therapist_id if role == "therapist" else None])
        audit.record_on(cursor, by, "user_change", "user", username)
    return User(username, role, therapist_id if role == "therapist" else None)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")


def set_password(con: duckdb.DuckDBPyConnection, username: str, password: str, by: str | None = None) -> None:
    _check_password(password)
    with db.account_write(con) as cursor:
        updated = cursor.execute(
            "UPDATE users SET password_hash = ?, failed_attempts = 0, locked_until = NULL WHERE username = ? RETURNING username",
            [hasher.hash(password), username]).fetchall()
        if not updated:
            raise AccountError(f"No user {username}.")
        audit.record_on(cursor, by, "user_change", "user", username)


def set_disabled(con: duckdb.DuckDBPyConnection, username: str, disabled: bool = True, by: str | None = None) -> None:
    with db.account_write(con) as cursor:
        updated = cursor.execute("UPDATE users SET is_disabled = ? WHERE username = ? RETURNING username",
                                 [disabled, username]).fetchall()
        if not updated:
            raise AccountError(f"No user {username}.")
        audit.record_on(cursor, by, "user_change", "user", username)


def list_users(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Accounts without their password hashes: username, role, therapist_id, is_disabled,
    is_locked, created_at."""
    cursor = con.cursor()
    try:
        return cursor.execute(
            "SELECT username, role, therapist_id, is_disabled, coalesce(locked_until > current_timestamp, false) AS is_locked,"
            " created_at FROM users ORDER BY username").df()
    finally:
        cursor.close()


def has_users(con: duckdb.DuckDBPyConnection) -> bool:
    cursor = con.cursor()
    try:
        return db.one(cursor, "SELECT count(*) FROM users")[0] > 0
    finally:
        cursor.close()


def sign_in(con: duckdb.DuckDBPyConnection, username: str, password: str,
            now: dt.datetime | None = None, sources: Iterable[str] = ()) -> User | None:
    """The user when the password is right and the account is enabled and not locked, else None.
    Every attempt is audited; the fifth failure in a row locks the account for 15 minutes.
    `sources` name where the attempt comes from (the browser session, the client address): a
    source the THROTTLE refuses is refused without a check, audited as a throttled failure, and
    every failure counts against each source. The reason for a refusal is not told, and an
    unknown name takes as long as a wrong password (no hint whether the name exists)."""
    now = now or dt.datetime.now()
    sources = tuple(sources)
    cursor = con.cursor()
    try:
        row = cursor.execute(
            "SELECT password_hash, role, therapist_id, is_disabled, locked_until FROM users WHERE username = ?",
            [username]).fetchone()
    finally:
        cursor.close()
    account = username if row is not None else None  # an unknown name may be a mistyped password: not kept
    if THROTTLE.is_blocked(sources, now):
        audit.record(con, account, "failed_sign_in", "throttled", account)
        return None
    if row is None:
        _is_right(unknown_user_hash(), password)  # always False; spent so the time tells nothing
        THROTTLE.count_failure(sources, now, username)
        audit.record(con, None, "failed_sign_in", "user", None)
        return None
    password_hash, role, therapist_id, is_disabled, locked_until = row
    is_locked = locked_until is not None and locked_until > now
    is_right = _is_right(password_hash, password)
    if is_right and not is_disabled and not is_locked:
        with db.account_write(con) as write:
            write.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE username = ?", [username])
            audit.record_on(write, username, "sign_in", "user", username)
        return User(username, role, therapist_id)
    THROTTLE.count_failure(sources, now, username)
    if not is_right:
        with db.account_write(con) as write:
            write.execute(
                "UPDATE users SET failed_attempts = failed_attempts + 1,"
                " locked_until = CASE WHEN failed_attempts + 1 >= ? THEN CAST(? AS TIMESTAMP) ELSE locked_until END"
                " WHERE username = ?",
                [MAX_FAILED_ATTEMPTS, now + dt.timedelta(minutes=LOCK_MINUTES), username])
            audit.record_on(write, username, "failed_sign_in", "user", username)  # with the lock it may set
        return None
    audit.record(con, username, "failed_sign_in", "user", username)
    return None


def is_locked(con: duckdb.DuckDBPyConnection, username: str, now: dt.datetime | None = None) -> bool:
    now = now or dt.datetime.now()
    cursor = con.cursor()
    try:
        row = cursor.execute("SELECT locked_until FROM users WHERE username = ?", [username]).fetchone()
    finally:
        cursor.close()
    return bool(row and row[0] is not None and row[0] > now)
