"""What every page shares: the one cached database connection and the sample-data notice."""
from __future__ import annotations

import duckdb
import streamlit as st

from analytics import bootstrap, config, db


@st.cache_resource(show_spinner="Opening the clinic database…")
def _open_connection(path: str) -> duckdb.DuckDBPyConnection:
    """One connection per process; callers take a cursor per query (metrics do), so browser
    sessions in different threads never share a cursor. An empty database is filled from the
    committed sample clinic on first start."""
    con = db.connect(path)
    if db.is_empty(con):
        bootstrap.load_committed_sample(con)
    return con


def connection() -> duckdb.DuckDBPyConnection:
    """The clinic database, or a readable error on the page and a stop."""
    try:
        return _open_connection(str(config.database_path()))
    except db.DatabaseError as problem:
        st.error(str(problem))
        st.stop()


def sample_data_notice(con: duckdb.DuckDBPyConnection) -> None:
    if bootstrap.holds_sample_data(con):
        st.info("This dashboard is showing the built-in **sample clinic** (invented clients). "
                "Import your own visit log to see your clinic.", icon="ℹ️")
