"""Import: a manager adds visit-log files, or client check-ins from another survey tool; all rows
or none, every problem listed."""
import io
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from analytics import checkin_import, config, db, ops, visit_log
from ui import client_charts, signin

con = ui.manager_page("Import visit logs")
user = signin.current_user()
VISITS, CHECKINS = "Visit log", "Client check-ins"
kind = st.radio("The files hold", (VISITS, CHECKINS), horizontal=True, key="import_kind")
if kind == VISITS:
    st.write("One row per session, with the columns described in the README (CSV, Excel .xlsx or Parquet). "
             "The import is all or nothing: if any row has a problem, nothing is written and every problem "
             "is listed as file:row:column. Rows already stored unchanged are skipped.")
else:
    st.write("One row per answer a client gave in another survey tool, with the columns "
             f"{', '.join(checkin_import.COLUMNS)} (README, Importing check-ins). All or nothing, every problem "
             "listed as file:row:column; a course and day already stored with the same answers is skipped, "
             "with other answers refused.")

# The inbox: files dropped in a folder on the server (by a cron job, or `python -m analytics
# import` while this dashboard runs) are imported by the dashboard itself (analytics/ops.py).
inbox = config.inbox_path()
inbox_results = ops.inbox_results(inbox, limit=20)
with st.expander(f"Inbox: the latest {len(inbox_results)} file(s) imported from the inbox folder", expanded=bool(inbox_results)):
    st.caption("A visit log copied into the inbox folder on the server is imported, all or nothing, once it has "
               "stopped changing for a few seconds; it then moves to done/ or refused/ with its result beside it.")
    if inbox_results:
        st.dataframe(pd.DataFrame([{
            "File": done.name, "Time (UTC)": done.time.strftime("%Y-%m-%d %H:%M:%S"),
            "Result": "imported" if done.imported else "refused", "New sessions": done.inserted,
            "Unchanged": done.skipped, "Overwritten": done.replaced, "Problems": done.problems,
        } for done in inbox_results]), hide_index=True, width="stretch")
        for done in inbox_results:
            if not done.imported:
                st.caption(f"Problems in {client_charts.plain(done.name)}:")
                st.code(done.messages, language=None)
    else:
        st.write("No file has come through the inbox yet.")

uploads = st.file_uploader("Visit-log files" if kind == VISITS else "Check-in files",
                           type=["csv", "xlsx", "parquet"], accept_multiple_files=True,
                           key="import_files")
sheets: dict[int, str | None] = {}
for number, upload in enumerate(uploads or []):
    # A workbook with several sheets of visits and none named 'visits': the person says which.
    if Path(upload.name).suffix.lower() == ".xlsx":
        known = st.session_state.setdefault("_import_sheets", {})  # upload id -> its sheets, read once
        if upload.file_id not in known:
            try:
                known[upload.file_id] = visit_log.workbook_sheets(io.BytesIO(upload.getvalue()))
            except Exception:  # noqa: BLE001 - a damaged workbook: the import names the problem
                known[upload.file_id] = []
        choices = known[upload.file_id]
        if len(choices) > 1 and not any(choice.strip().casefold() == "visits" for choice in choices):
            sheets[number] = st.selectbox(f"Sheet to import from {client_charts.plain(upload.name)}", choices,
                                          index=None, placeholder="Choose the sheet that holds the visits",
                                          key=f"import_sheet_{number}_{upload.file_id}")
replace = kind == VISITS and st.checkbox("Overwrite stored sessions whose values differ", key="import_replace")
if not uploads or not st.button("Import", type="primary", key="import_go"):
    st.stop()

frames: list[tuple[str, pd.DataFrame]] = []
problems: list[visit_log.Problem] = []
with tempfile.TemporaryDirectory() as folder:
    for number, upload in enumerate(uploads):
        # The reader works on files (and checks the size limit, type and encoding); the messages
        # name the upload.
        path = Path(folder) / f"upload{number}{Path(upload.name).suffix.lower()}"
        path.write_bytes(upload.getvalue())
        try:
            frames.append((upload.name, visit_log.read(path, sheet=sheets.get(number), name=upload.name)))
        except visit_log.ImportFailed as failure:
            problems.extend(failure.problems)
try:
    # Files refused while being read go to the importer too: it refuses the whole import and
    # audits the refusal with every file's name.
    if kind == CHECKINS:
        answers = checkin_import.import_frames(con, frames, by=user.username if user else None, file_problems=problems)
    else:
        result = visit_log.import_frames(con, frames, replace=replace, by=user.username if user else None,
                                         file_problems=problems)
except visit_log.ImportFailed as failure:
    if any(problem.code == "damaged" for problem in failure.problems):
        st.error(db.DAMAGED)  # the one message of a damaged file, as on every page
        st.stop()
    st.error(f"Nothing was imported: {len(failure.errors):,} problem(s) found. Fix them and import again.")
    st.code(visit_log.format_problems(failure.problems), language=None)
    st.stop()
if kind == CHECKINS:
    st.success(f"Imported {answers.inserted:,} new check-ins, skipped {answers.skipped:,} already stored "
               f"({answers.episodes:,} courses of care).")
    st.stop()
st.success(f"Imported {result.inserted:,} new sessions, skipped {result.skipped:,} unchanged, "
           f"replaced {result.replaced:,} ({result.episodes:,} courses of care).")
if result.notices:
    st.warning("Imported, but check the file:")
    st.code(visit_log.format_problems(result.notices), language=None)
