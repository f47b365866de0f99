"""The opening every page shares, so a page file starts with what it draws: the guard, the
sidebar filters, the title and the sample-data notice, in that order. The page's title and
filter are kept for this run, so a download from the page is audited with them (ui/tables.py)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, NoReturn

import duckdb
import streamlit as st

from analytics.filters import Filter
from ui import filters, guard, suppressed

_OPENED = "_page_opened"  # (title, the sidebar's filter or None) of the page this run draws
SECTION_PARAM = "section"  # the open section of a page drawn in sections(), in the address


def clinic_page(title: str) -> tuple[duckdb.DuckDBPyConnection, Filter]:
    """The clinic's connection and the sidebar's Filter for a page about the whole clinic, with
    its title and, on the sample database, the notice saying so. Signed out: the sign-in form."""
    return _with_filters(guard.connection(), title)


def manager_page(title: str) -> duckdb.DuckDBPyConnection:
    """The clinic's connection for a page only managers may open, with its title."""
    con = guard.manager_connection()
    remember(title, None)
    st.title(title)
    return con


def manager_clinic_page(title: str) -> tuple[duckdb.DuckDBPyConnection, Filter]:
    """clinic_page() for a page about the whole clinic that only managers may open (with the
    sidebar filters); anyone else is refused as on manager_page()."""
    return _with_filters(guard.manager_connection(), title)


def _with_filters(con: duckdb.DuckDBPyConnection, title: str) -> tuple[duckdb.DuckDBPyConnection, Filter]:
    """The sidebar's Filter, the title and the sample notice of a page about the whole clinic."""
    f = filters.sidebar(con)
    remember(title, f)
    st.title(title)
    guard.sample_data_notice(con)
    return con, f


def remember(title: str, f: Filter | None) -> None:
    """Keep the page this run draws and its filter (None: a page with no sidebar filter), which
    opened() and download_name() report."""
    st.session_state[_OPENED] = (title, f)


def opened() -> str:
    """The page this run draws and its filter in address form, ids only (never a name): what an
    export's audit row says it came from, e.g. 'Acute and chronic courses (course=acute)'."""
    title, f = st.session_state.get(_OPENED, ("", None))
    return f"{title} ({filters.describe(f) if f is not None else 'no filter'})"


def download_name(what: str, suffix: str = "csv") -> str:
    """A download's file name from the page, what it holds, the filter and today's date, ids
    only: 'courses_course-outcomes_course-acute_from-2025-01-01_2026-12-02.csv'."""
    title, f = st.session_state.get(_OPENED, ("", None))
    described = filters.describe(f) if f is not None else "no filter"
    parts = [title, what, "" if described == "no filter" else described, dt.date.today().isoformat()]
    slugs = [re.sub(r"[^a-z0-9_]+", "-", part.lower().replace("&", "_").replace("=", "-")).strip("-_")
             for part in parts]
    name = "_".join(slug for slug in dict.fromkeys(slugs) if slug)
    return f"{name[:150]}.{suffix}"


def nothing_matches(what: str = "No courses of care match these filters.", result: Any = None) -> NoReturn:
    """Say that the filters leave nothing to show, and how to widen them; the page ends here.
    When small-cell suppression left rows out of `result` (the metric found empty), ui.metric
    has already said so, and saying "nothing matches" would be untrue."""
    if not suppressed.count(result):
        st.info(f"{what} Widen the dates or clear a filter in the sidebar.")
    st.stop()


def sections(*labels: str) -> list[Any]:
    """A long page's parts as tabs, one open at a time: bound to the address (?section=Label,
    so a bookmark or a shared link opens it, and an unknown label opens the first), and only
    the open tab's code should run (`if tab.open:`, Streamlit 1.67), so a page draws one part's
    charts rather than all of them (six charts at once were about 600 ms of drawing in a browser
    at every visit; benchmarks/RESULTS.md section 8). Every page's sections share the key, as
    they share the address's name: arriving from another page's section, a page opens its first
    (the other page's label is not one of its own)."""
    return list(st.tabs(list(labels), key=SECTION_PARAM, bind="query-params"))

