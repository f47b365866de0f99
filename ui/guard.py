"""The guard every page passes: the one cached database connection, kept behind sign-in, the
metric cache keyed by data version, the sample-data notice and the audit trail of page events."""
from __future__ import annotations

import duckdb
import streamlit as st

from analytics import audit, bootstrap, config, db, metrics
from ui import signin, suppressed


@st.cache_resource(show_spinner="Opening the clinic database…")
def open_connection(path: str) -> duckdb.DuckDBPyConnection:
    """One connection per process; callers take a cursor per query (metrics do), so browser
    sessions in different threads never share a cursor. An empty database is filled from the
    committed sample clinic on first start."""
    con = db.connect(path)
    # DuckDB's working memory for the dashboard process; past it, DuckDB spills to disk. With
    # 1 GB the app process stays near 1.5 GB at 10 M sessions (benchmarks/RESULTS.md).
    con.execute("SET memory_limit = ?", [config.APP_MEMORY_LIMIT])
    if db.is_empty(con):
        bootstrap.load_committed_sample(con)
    return con


def database() -> duckdb.DuckDBPyConnection:
    """The clinic database, or a readable error on the page and a stop. No sign-in check: only
    dashboard.py itself uses this directly."""
    try:
        return open_connection(str(config.database_path()))
    except db.DatabaseError as problem:
        st.error(str(problem))
        st.stop()


def manager_connection() -> duckdb.DuckDBPyConnection:
    """connection(), for the pages only managers may open (the menu offers them to managers only;
    this also refuses an address typed by anyone else)."""
    con = connection()
    user = signin.current_user()
    if user is None or not user.is_manager:  # connection() has shown the sign-in form for None
        st.error("Only managers can open this page.")
        st.stop()
    return con


def connection() -> duckdb.DuckDBPyConnection:
    """The clinic database for a page, only for a signed-in user. Anyone else gets the sign-in
    form in place of the page; the address stays as it was, so after sign-in the page a bookmark
    pointed to opens with its filters."""
    user = signin.current_user()
    con = database()
    if user is None:
        signin.sign_in_form(con)
        st.stop()
    if st.query_params.get("client_view") != "1":  # the screen turned to a client shows no account
        signin.sign_out_button(con, user)
    return con


@st.cache_data(max_entries=512, show_spinner=False)
def _metric_result(function_name: str, path: str, data_version: int, args: tuple, kwargs: tuple):
    # data_version is part of the key only: a write bumps it, so a figure computed before the
    # write is never served after it.
    return getattr(metrics, function_name)(open_connection(path), *args, **dict(kwargs))


def metric(function, *args, **kwargs):
    """analytics.metrics.<function>(con, *args, **kwargs), computed once per filter and data
    version for every browser session of this server (the clinic pages recompute nothing on a
    rerun, and two managers with the same filter share the work)."""
    path = str(config.database_path())
    version = db.data_version(database())
    result = _metric_result(function.__name__, path, version, args, tuple(sorted(kwargs.items())))
    suppressed.notice(result)  # a therapist is told what small-cell suppression left out
    return result


def clear_metric_cache() -> None:
    """Forget every cached figure (for a test that changes a threshold in config)."""
    _metric_result.clear()


def sample_data_notice(con: duckdb.DuckDBPyConnection) -> None:
    if bootstrap.holds_sample_data(con):
        st.info("This dashboard is showing the built-in **sample clinic** (invented clients). "
                "Import your own visit log to see your clinic.", icon="ℹ️")


def audit_event(action: str, target_type: str | None = None, target_id: str | None = None) -> None:
    """Append one event for the signed-in user to the audit trail (ids only, never values)."""
    audit.record(database(), signin.username(), action, target_type, target_id)


def audit_once(action: str, target_type: str, target_id: str) -> None:
    """Audit an event once per browser session (a page reruns on every click; viewing the same
    client ten times in a row is one view)."""
    seen = st.session_state.setdefault("_audited", set())
    if (action, target_id) not in seen:
        seen.add((action, target_id))
        audit_event(action, target_type, target_id)
