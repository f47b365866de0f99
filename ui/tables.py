"""Tables on the manager pages: shown sortable, with readable headings, text on one line (long
descriptions wrap in taller rows), codes as words (acute -> Acute), and always downloadable as a CSV that a spreadsheet opens safely (analytics.export escapes formula
triggers). Every download is made when it is clicked, and audited in the same call that makes
the file (audited_download), so an audit row means a file was produced."""
from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import streamlit as st

from analytics import audit, catalog, export
from analytics import text as stored_text
from ui import charts, downloads, guard, page, signin

# One number format on every page, in tables and charts alike: a share as a whole percent with no
# space ("89%", as st.metric and the sentences say it), a mean or a difference in points with one
# decimal ("-2.3"), and a difference of two shares in percentage points with one decimal ("+4.2").
# A share is stored as a fraction; the table shows it times 100 (the CSV keeps the fraction).
PERCENT = {"format": "%.0f%%"}
PERCENTAGE_POINTS = {"format": "%+.1f"}
COLUMNS: dict[str, tuple[str, dict]] = {
    "logged_at": ("When", {"format": "YYYY-MM-DD HH:mm"}),  # the audit log's columns
    "username": ("Who", {}),
    "action": ("Action", {}),
    "what": ("What happened", {}),
    "course_type": ("Course type", {}),
    "condition": ("Condition", {}),
    "episodes": ("Courses", {}),
    "sessions": ("Sessions", {}),
    "median_sessions": ("Median sessions", {}),
    "mean_baseline_pain": ("Mean pain at first visit (0-10)", {"format": "%.1f"}),
    "episodes_with_followup": ("Courses with a later score", {}),
    "mean_change_points": ("Mean pain change (points)", {"format": "%.1f"}),
    "mean_change_pct": ("Mean pain change (% of first visit)", {"format": "%.0f%%"}),
    "responders": ("Improved", {}),
    "responder_rate": ("Improved (share)", PERCENT),
    "below_range": ("Fewer sessions than recommended (finished)", {}),
    "within_range": ("Within the recommended range", {}),
    "above_range": ("More than recommended", {}),
    "completed": ("Completed", {}),
    "active": ("Active", {}),
    "closed_early": ("Closed early", {}),
    "lost_to_follow_up": ("Lost to follow-up", {}),
    "completed_share": ("Completed (share)", PERCENT),
    "active_share": ("Active (share)", PERCENT),
    "closed_early_share": ("Closed early (share of all courses)", PERCENT),
    "lost_to_follow_up_share": ("Lost to follow-up (share of all courses)", PERCENT),
    "finished": ("Finished (not active)", {}),
    "dropout_rate": ("Drop-out rate (closed early + lost / finished)", PERCENT),
    "status": ("Status", {}),
    "discharge_reason": ("Reason", {}),
    "share_of_finished": ("Share of finished courses", PERCENT),
    "sessions_with_relief_scores": ("Sessions with both scores", {}),
    "mean_immediate_relief": ("Mean relief within a session (points)", {"format": "%.1f"}),
    "adherence_band": ("Stretching adherence", {}),
    "mean_adherence_pct": ("Mean adherence", {"format": "%.0f%%"}),
    "episodes_reaching_visit3": ("Courses reaching visit 3", {}),
    "responder_rate_after_session2": ("Improved after the second session (share)", PERCENT),
    "therapist_id": ("Therapist id", {}),
    "therapist_name": ("Therapist", {}),
    "observed": ("Observed", PERCENT),
    "expected": ("Expected for their clients", PERCENT),
    "observed_mean": ("Observed (mean)", {"format": "%.1f"}),
    "expected_mean": ("Expected for their clients (mean)", {"format": "%.1f"}),
    "difference_mean": ("Observed − expected", {"format": "%+.1f"}),
    "ci_low_mean": ("95% CI from", {"format": "%+.1f"}),
    "ci_high_mean": ("95% CI to", {"format": "%+.1f"}),
    "funnel_position": ("On the funnel plot", {}),
    "observed_rate": ("Observed responder rate", PERCENT),
    "expected_rate": ("Expected for their clients", PERCENT),
    "difference": ("Observed − expected (percentage points)", PERCENTAGE_POINTS),
    "ci_low": ("95% CI from (percentage points)", PERCENTAGE_POINTS),
    "ci_high": ("95% CI to (percentage points)", PERCENTAGE_POINTS),
    "judgement": ("Judgement", {}),
    "check": ("Check", {}),
    "description": ("What it means", {}),
    "count": ("Findings", {}),
    "episode_id": ("Course (episode id)", {}),
    "visit_number": ("Visit", {}),
    "detail": ("Detail", {}),
    "followup": ("Follow-up", {}),  # the follow-ups due
    "due_date": ("Due", {"format": "YYYY-MM-DD"}),
    "state": ("State", {}),
    "answered_on": ("Answered on", {"format": "YYYY-MM-DD"}),
    "reminded_at": ("Reminder sent", {"format": "YYYY-MM-DD HH:mm"}),
    "checkin_link": ("Check-in link", {}),
}


def _column_config(frame: pd.DataFrame) -> dict:
    config = {}
    for column in frame.columns:
        if column in COLUMNS:
            heading, options = COLUMNS[column]
        elif column in catalog.NAMES:  # a visit-log column: the catalog's label
            heading, options = catalog.label(column), {}
        else:
            continue
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            config[column] = st.column_config.DatetimeColumn(heading, **options)
        elif pd.api.types.is_numeric_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(heading, **options)
        else:
            config[column] = st.column_config.TextColumn(heading)
    return config


def audited_download(make: Callable[[], bytes], action: str, target_type: str, target_id: str) -> Callable[[], bytes]:
    """A download button's `data`: a callable Streamlit runs when the person clicks (not before,
    so no file and no address to it exists until then). It makes the file with `make` and writes
    the audit row for the signed-in user, in that one call; if the audit cannot be written, no
    file is given. Streamlit runs it outside the page's run, so the user and the connection are
    taken now, and so is the clicking browser: the file is served to that browser only
    (ui/downloads.py)."""
    con, username, browser = guard.database(), signin.username(), downloads.clicking_browser()

    def produce() -> bytes:
        data = make()
        audit.record(con, username, action, target_type, target_id)
        downloads.made_for(browser)
        return data
    return produce


def _on_one_line(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the table shows it: every text cell on one line of visible characters
    (analytics/text.py); the CSV keeps the stored text."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].map(lambda value: stored_text.one_line(value) if isinstance(value, str) else value)
    return shown


# Stored codes a table shows as words (acute -> Acute); the CSV keeps the codes. A code column's
# empty cell is shown in words too (never a literal "None"): a course without a discharge reason
# (lost to follow-up, or still active) says so.
CODES = ("course_type", "condition", "status", "discharge_reason", "severity", "foot_side", "sessions_vs_range",
         "adherence_band")
NO_CODE = {"discharge_reason": "No reason given"}
NOT_RECORDED = "—"
# Columns of long text: a table holding one gets rows tall enough for it to wrap (Streamlit wraps
# text in rows taller than 4rem) instead of cutting it at the column's edge.
LONG_TEXT = ("description", "what", "detail")
WRAPPING_ROW_PX = 72


def as_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the table draws it: text on one line, codes as words, shares and their
    differences times 100 (drawn as "89%" and "+4.2" percentage points)."""
    shown = _on_one_line(frame)
    for column in shown.columns:
        options = COLUMNS.get(column, ("", {}))[1]
        if (options is PERCENT or options is PERCENTAGE_POINTS) and pd.api.types.is_numeric_dtype(shown[column]):
            shown[column] = shown[column] * 100
        elif column in CODES and shown[column].dtype == object:
            missing = NO_CODE.get(column, NOT_RECORDED)
            shown[column] = shown[column].map(lambda value, missing=missing: charts.label(value) if isinstance(value, str) else missing)
    return shown


def table(frame: pd.DataFrame, name: str, columns: list[str] | None = None, caption: str | None = None,
          max_rows_shown: int | None = None, column_config: dict | None = None) -> None:
    """Show `frame` (only `columns`, if given) as a sortable table with a CSV download of the
    same rows and columns. `name` titles the download and makes its widget key unique. The
    download is audited as an export with the page and its filter (ui.page.opened).
    `column_config` (st.column_config objects by column) adds to or replaces the headings and
    formats of COLUMNS, e.g. to pin the key column."""
    shown = frame[columns] if columns else frame
    config = _column_config(shown) | (column_config or {})
    row_height = WRAPPING_ROW_PX if any(column in LONG_TEXT for column in shown.columns) else None
    if max_rows_shown is not None and len(shown) > max_rows_shown:
        st.caption(f"Showing the first {max_rows_shown:,} of {len(shown):,} rows; the download has them all.")
        st.dataframe(as_shown(shown.head(max_rows_shown)), hide_index=True, column_config=config, row_height=row_height)
    else:
        st.dataframe(as_shown(shown), hide_index=True, column_config=config, row_height=row_height)
    if caption:
        st.caption(caption)
    slug = _slug(name)
    st.download_button(f"Download {name} (CSV)", file_name=page.download_name(slug), mime="text/csv",
                       key=f"download_{slug}", icon=":material/download:",
                       data=audited_download(lambda: export.csv_bytes(rounded_as_shown(shown)), "export", "table",
                                             f"{slug}: {page.opened()}"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# Decimals a download keeps, by the table's format for the column: shares and their differences
# as fractions to a tenth of a percent, the printf formats as shown, any other decimal number to
# 2 places.
_DECIMALS = {"%.1f": 1, "%+.1f": 1, "%.0f%%": 0, "%.0f": 0}


def rounded_as_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every decimal column rounded as the table shows it (a CSV should not carry
    0.8941176470588236 for a share the page shows as 89%)."""
    rounded = frame.copy()
    for column in rounded.columns:
        if pd.api.types.is_float_dtype(rounded[column]):
            options = COLUMNS.get(column, ("", {}))[1]
            decimals = 3 if options is PERCENT or options is PERCENTAGE_POINTS else _DECIMALS.get(options.get("format", ""), 2)
            rounded[column] = rounded[column].round(decimals)
    return rounded
