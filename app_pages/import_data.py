"""Import: a manager adds visit-log files; all rows or none, every problem listed."""
import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from analytics import visit_log
from ui import signin

con = ui.manager_page("Import visit logs")
user = signin.current_user()
st.write("One row per session, with the columns described in the README (CSV, Excel .xlsx or Parquet). "
         "The import is all or nothing: if any row has a problem, nothing is written and every problem "
         "is listed as file:row:column. Rows already stored unchanged are skipped.")

uploads = st.file_uploader("Visit-log files", type=["csv", "xlsx", "parquet"], accept_multiple_files=True,
                           key="import_files")
replace = st.checkbox("Overwrite stored sessions whose values differ", key="import_replace")
if not uploads or not st.button("Import", type="primary", key="import_go"):
    st.stop()

frames: list[tuple[str, pd.DataFrame]] = []
problems: list[visit_log.Problem] = []
with tempfile.TemporaryDirectory() as folder:
    for number, upload in enumerate(uploads):
        # The reader works on files (and checks the size limit, type and encoding); the upload's
        # own name is kept for the messages.
        path = Path(folder) / f"upload{number}{Path(upload.name).suffix.lower()}"
        path.write_bytes(upload.getvalue())
        try:
            frames.append((upload.name, visit_log.read(path)))
        except visit_log.ImportFailed as failure:
            problems.extend(dataclasses.replace(problem, file=upload.name) for problem in failure.problems)
try:
    if problems:
        raise visit_log.ImportFailed(problems)
    result = visit_log.import_frames(con, frames, replace=replace, by=user.username if user else None)
except visit_log.ImportFailed as failure:
    st.error(f"Nothing was imported: {len(failure.errors):,} problem(s) found. Fix them and import again.")
    st.code(visit_log.format_problems(failure.problems), language=None)
    st.stop()
st.success(f"Imported {result.inserted:,} new sessions, skipped {result.skipped:,} unchanged, "
           f"replaced {result.replaced:,} ({result.episodes:,} courses of care).")
