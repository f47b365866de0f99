"""The guard every page passes: the one database connection of this server process, kept
behind sign-in, the metric cache keyed by data version, the sample-data notice and the audit
trail of page events.

The connection and the metric cache are this module's own objects, not st.cache_resource or
st.cache_data: Streamlit empties those for every browser session when any one session sends a
`clear_cache` message (the app menu's "Clear cache", or a rewritten message from a session that
has not even signed in), which would reopen the database and recompute every figure for all."""
from __future__ import annotations

import collections
import contextlib
import copy
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import streamlit as st

from analytics import audit, bootstrap, client, config, db, metrics, ops, options
from analytics.filters import Filter
from ui import figure_cache, signin, suppressed

METRIC_CACHE_ENTRIES = 512  # figures kept for the whole server; the least recently used go first

_connections: dict[str, duckdb.DuckDBPyConnection] = {}
_connections_lock = threading.Lock()
_metric_results: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
_metric_lock = threading.Lock()
_options: dict[tuple[str, int], options.FilterOptions] = {}
_computing: dict[tuple, threading.Lock] = {}  # a lock per figure being computed (see metric)
_background: list[threading.Thread] = []  # the warm-up's and prefetches' threads not yet waited for


def open_connection(path: str) -> duckdb.DuckDBPyConnection:
    """One connection per database file and process, opened on first use; callers take a cursor
    per query (metrics do), so browser sessions in different threads never share a cursor. An
    empty database is filled from the committed sample clinic on first start."""
    with _connections_lock:  # two first visitors at once must not open (or fill) it twice
        if path not in _connections:
            con = db.connect(path)
            # DuckDB's working memory for the dashboard process; past it, DuckDB spills to disk.
            # config.APP_MEMORY_LIMIT says how much and why (benchmarks/RESULTS.md section 8).
            con.execute("SET memory_limit = ?", [config.APP_MEMORY_LIMIT])
            if db.is_empty(con):
                bootstrap.load_committed_sample(con)
            _connections[path] = con
            # This process now holds the file's lock: the inbox, the daily backup and the command
            # line's socket run here, on this connection (analytics/ops.py).
            ops.start_worker(con, Path(path))
            if config.warm_up_on_open():
                _in_background("the warm-up of the first page's figures", _warm_up, path)
        return _connections[path]


def close_connection(path: str) -> None:
    """Close and forget this process's connection to `path`, if open (for a test that made a
    database of its own)."""
    with _connections_lock:
        con = _connections.pop(path, None)
    ops.stop_worker(Path(path))
    if con is not None:
        con.close()


def database() -> duckdb.DuckDBPyConnection:
    """The clinic database, or a readable error on the page and a stop. No sign-in check: only
    dashboard.py itself uses this directly."""
    path = str(config.database_path())
    try:
        if path in _connections:
            return _connections[path]
        with st.spinner("Opening the clinic database…"):  # the first visitor: may migrate or fill it
            return open_connection(path)
    except db.DamagedDatabase:
        st.error(db.DAMAGED)  # DuckDB's detail names the file's path: the command line shows it
        st.stop()
    except db.DatabaseError as problem:
        st.error(str(problem).replace(path, "the clinic database file"))  # no server path on a page
        st.stop()


@contextlib.contextmanager
def damage_told_plainly() -> Iterator[None]:
    """Run a page so that a DuckDB error meaning the file is damaged (a failed block checksum, a
    cut-off copy) ends it with db.DAMAGED, never a traceback or a server path; other errors
    pass on unchanged."""
    try:
        yield
    except duckdb.Error as exc:
        if not db.is_damage(exc):
            raise
        st.error(db.DAMAGED)


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
    con = database()
    user = signin.signed_in_user(con)  # None too after CLINIC_IDLE_MINUTES without a rerun
    if user is None:
        signin.sign_in_form(con)
        st.stop()
    if not signin.is_client_view():  # the screen turned to a client shows no account
        signin.sign_out_button(con, user)
    signin.idle_watch()  # the screen clears itself after the idle time, click or not
    return con


def metric(function, *args, **kwargs):
    """analytics.metrics.<function>(con, *args, **kwargs), computed once per filter, data version
    and day for every browser session of this server (the clinic pages recompute nothing on a
    rerun, and two managers with the same filter share the work). Each caller gets its own copy,
    so a page that changes the frame it got cannot change the cached figure.

    The filter in the key includes the viewing therapist: every figure a page caches here counts,
    per row, the courses that are not the viewer's and hides the small ones (small-cell
    suppression), so a therapist's figures are not the manager's, and not a colleague's."""
    database()  # a readable error on the page if the file cannot be opened
    result = _figure(str(config.database_path()), function, args, kwargs)
    suppressed.notice(result)  # a therapist is told what small-cell suppression left out
    return result


def _figure(path: str, function, args: tuple, kwargs: dict) -> Any:
    """A copy of metric()'s figure, computed now if it is not cached (no Streamlit call: the
    warm-up thread uses this too)."""
    version = db.data_version(open_connection(path))
    # data_version is part of the key: a write bumps it, so a figure computed before the write is
    # never served after it (and the figures of older versions are dropped when a newer one comes).
    # So is the day: a course with no visit for a while counts as lost to follow-up from config.today().
    today = config.today()
    key = (function.__name__, path, version, today, args, tuple(sorted(kwargs.items())))
    result = _cached(key)
    if result is None:
        # One computation per key: sessions asking for the same figure at once (twenty people
        # opening the Overview after a restart) wait for the first instead of each computing it.
        with _metric_lock:
            computing = _computing.setdefault(key, threading.Lock())
        with computing:
            result = _cached(key)
            if result is None:
                # metrics' own function by name (a test may count its calls), else the one given
                computed = getattr(metrics, function.__name__, function)(open_connection(path), *args, **kwargs)
                with _metric_lock:
                    for stale in [k for k in _metric_results if k[1] == path and (k[2] < version or k[3] != today)]:
                        del _metric_results[stale]
                    _metric_results[key] = computed
                    while len(_metric_results) > METRIC_CACHE_ENTRIES:
                        _metric_results.popitem(last=False)
                result = copy.deepcopy(computed)
        with _metric_lock:
            _computing.pop(key, None)
    return result


def episode_view(episode_id: str, f: Filter) -> client.EpisodeView | None:
    """client.episode_view for the therapist pages, cached like metric() (per episode, filter
    with its viewer, data version and day), so the course a search has just found may already
    be computed when it is picked (prefetch_episode_views)."""
    database()
    return _figure(str(config.database_path()), client.episode_view, (episode_id, f), {})


PREFETCH_AT_MOST = 3  # a search that finds this many courses or fewer has them computed before a pick


def prefetch_episode_views(episode_ids: list[str], f: Filter) -> None:
    """Compute episode_view for a search's few courses in the background (the pick that follows,
    a second or so later, then finds its course ready: its five queries were about 150 ms of a
    650 ms pick at 1 M sessions). Nothing is shown or audited here: the page does that when the
    course is picked. Off with the warm-up (config.warm_up_on_open)."""
    if not config.warm_up_on_open() or not 0 < len(episode_ids) <= PREFETCH_AT_MOST:
        return
    path = str(config.database_path())
    _in_background("the prefetch of a search's courses",
                   lambda: [_figure(path, client.episode_view, (episode_id, f), {}) for episode_id in episode_ids])


def _in_background(what: str, work, *args) -> None:
    """Run work(*args) in a thread of its own, quietly: a failure is logged (`what` stopped) and
    left to the page, which computes the figure again and shows any error."""
    def run() -> None:
        try:
            work(*args)
        except Exception:  # noqa: BLE001 - see above
            logging.getLogger(__name__).warning("%s stopped", what, exc_info=True)

    thread = threading.Thread(target=run, name=what, daemon=True)
    _background.append(thread)
    thread.start()


def wait_for_background(timeout: float | None = None) -> None:
    """Wait until every warm-up and prefetch started so far has ended (for tests and benchmarks)."""
    while _background:
        _background.pop().join(timeout)


# The Overview's figures for a manager's default filter, which the first page after sign-in
# shows: computed in a background thread as soon as the server has opened the database, so the
# first sign-in after a start finds them ready (cold, they were most of a 2.4 s first page at 1 M
# sessions). tests/test_cache_keys.py holds the list to what the Overview asks for.
WARM_UP = ("kpis", "headline", "pain_trajectory", "course_outcomes", "median_visits_to_improvement",
           "condition_by_course")


def _warm_up(path: str) -> None:
    """Compute WARM_UP and the sidebar's choices for `path`."""
    filter_options(open_connection(path), path)
    for name in WARM_UP:
        _figure(path, getattr(metrics, name), (Filter(),), {})


def _cached(key: tuple) -> Any:
    """A copy of the cached figure for `key`, None when there is none."""
    with _metric_lock:
        if key not in _metric_results:
            return None
        _metric_results.move_to_end(key)
        return copy.deepcopy(_metric_results[key])


def filter_options(con: duckdb.DuckDBPyConnection, path: str | None = None) -> options.FilterOptions:
    """options.filter_options(con) for the sidebar, computed once per data version for every
    browser session of this server (each caller gets its own copy)."""
    path = path or str(config.database_path())
    version = db.data_version(con)
    with _metric_lock:
        cached = _options.get((path, version))
    if cached is None:
        cached = options.filter_options(con)
        with _metric_lock:
            for stale in [k for k in _options if k[0] == path and k[1] < version]:
                del _options[stale]
            _options[(path, version)] = cached
    return copy.deepcopy(cached)


def clear_metric_cache() -> None:
    """Forget every cached figure, built chart and filter choice (for a test that changes a
    threshold in config)."""
    with _metric_lock:
        _metric_results.clear()
        _options.clear()
    figure_cache.clear()


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
