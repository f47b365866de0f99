"""The append-only audit trail: who did what to which record, and when. Only ids are stored,
never pain values or names, so the trail itself holds no health data."""
from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

ACTIONS = ("sign_in", "failed_sign_in", "sign_out", "view_client", "record", "correct", "import",
           "export", "report_download", "user_change")


def record(con: duckdb.DuckDBPyConnection, username: str | None, action: str,
           target_type: str | None = None, target_id: str | None = None) -> None:
    """Append one event. This module only ever inserts into audit_log; nothing updates or
    deletes it."""
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
