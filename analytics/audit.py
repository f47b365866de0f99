"""The append-only audit trail: who did what to which record, and when. Only ids are stored,
never pain values or names, so the trail itself holds no health data."""
from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from analytics import config, db

ACTIONS = ("sign_in", "failed_sign_in", "sign_out", "view_client", "record", "correct", "import",
           "export", "report_download", "user_change", "checkin", "checkin_link", "reminder", "backup")


# Each action in plain words, for the Audit log page and its filter.
ACTION_WORDS: dict[str, str] = {
    "sign_in": "Signed in", "failed_sign_in": "Sign-in refused", "sign_out": "Signed out",
    "view_client": "Viewed a client", "record": "Recorded", "correct": "Corrected a value",
    "import": "Imported", "export": "Downloaded a table", "report_download": "Downloaded a report",
    "user_change": "Changed an account", "checkin": "Check-in from a client",
    "checkin_link": "Made or revoked a check-in link", "reminder": "Sent a reminder", "backup": "Made a backup",
}


def describe(action: str, target_type: str | None, target_id: str | None) -> str:
    """One event in plain words, with the ids it names (never a name or a score):
    'Recorded a session of course E00012', 'Refused an import: 3 problem(s) in visits.csv'."""
    target = target_id or ""
    if action == "sign_in":
        return "Signed in" if target_type != "episode" else f"Left client view of course {target}"
    if action == "failed_sign_in":
        if target_type == "throttled":
            return "Sign-in refused: too many failed attempts from this browser or address"
        return f"Sign-in refused for the account {target}" if target else "Sign-in refused"
    if action == "sign_out":
        return f"Signed out after {config.IDLE_MINUTES:g} idle minutes" if target_type == "idle" else "Signed out"
    if action == "view_client":
        return f"Viewed the course of care {target}"
    if action == "record":
        if target_type == "stretching_plan":
            return f"Saved the stretching plan of course {target}"
        if target_type == "course_closed":
            return f"Closed course {target} (or changed why it ended)"
        if target_type == "course_reopened":
            return f"Reopened course {target}"
        if target_type == "client_contact":
            return f"Saved the e-mail address of client {target}"
        return f"Recorded a session of course {target}" if target_type == "episode" else f"Recorded {target}"
    if action == "correct":
        if target_type == "episode":
            return f"Corrected a value of course {target}"
        return f"Corrected a value of session {target}"
    if action == "import":
        if target_type == "checkins":
            return f"Imported {target} new check-ins"
        return f"Refused an import: {target}" if target_type == "refused" else f"Imported {target} new sessions"
    if action == "export":
        return f"Downloaded the table {target}"
    if action == "report_download":
        return f"Downloaded the progress report of course {target}"
    if action == "user_change":
        return f"Changed the account {target}"
    if action == "checkin":
        return f"A client answered a check-in of course {target}"
    if action == "checkin_link":
        return f"Revoked the check-in link of course {target}" if target_type == "revoked" else \
            f"Made a check-in link for course {target}"
    if action == "reminder":
        return f"E-mailed a follow-up reminder for course {target}"
    if action == "backup":
        return f"Made a backup {target}"
    return f"{action} {target_type or ''} {target}".strip()


def record(con: duckdb.DuckDBPyConnection, username: str | None, action: str,
           target_type: str | None = None, target_id: str | None = None) -> None:
    """Append one event. This module only ever inserts into audit_log; nothing updates or
    deletes it."""
    if config.database_url():  # the clinic chain: the event travels to PostgreSQL like any write
        with db.account_write(con) as write:
            record_on(write, username, action, target_type, target_id)
        return
    cursor = con.cursor()
    try:
        record_on(cursor, username, action, target_type, target_id)
    finally:
        cursor.close()


def record_on(cursor: duckdb.DuckDBPyConnection, username: str | None, action: str,
              target_type: str | None = None, target_id: str | None = None) -> None:
    """Append one event on the cursor of an open write (db.write, db.account_write), so the
    event commits or rolls back with the change it records: a kill before the commit loses
    both, never only the audit row."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    cursor.execute("INSERT INTO audit_log (username, action, target_type, target_id) VALUES (?, ?, ?, ?)",
                   [username, action, target_type, None if target_id is None else str(target_id)])


def entries(con: duckdb.DuckDBPyConnection, start: dt.date | None = None, end: dt.date | None = None,
            username: str | None = None, actions: tuple[str, ...] = (), limit: int = 5000) -> pd.DataFrame:
    """The newest audit events first, optionally within dates (inclusive), for one user and for
    some actions. Columns: logged_at, username, action, target_type, target_id."""
    clauses: list[str] = ["TRUE"]
    params: list[object] = []
    if start is not None:
        clauses.append("logged_at >= ?")
        params.append(start)
    if end is not None:
        clauses.append("logged_at < ? + INTERVAL 1 DAY")
        params.append(end)
    if username:
        clauses.append("username = ?")
        params.append(username)
    if actions:
        clauses.append(f"action IN ({', '.join('?' for _ in actions)})")
        params.extend(actions)
    params.append(limit)
    cursor = con.cursor()
    try:
        return cursor.execute(
            "SELECT logged_at, username, action, target_type, target_id FROM audit_log "
            f"WHERE {' AND '.join(clauses)} ORDER BY audit_id DESC LIMIT ?", params).df()
    finally:
        cursor.close()
