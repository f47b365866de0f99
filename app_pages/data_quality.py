"""Data quality: what in the recorded visits could distort the figures, and where it is."""
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

import ui
from analytics import metrics
from ui import charts, forms, tables, text

con, f = ui.clinic_page("Data quality")

checks = ui.metric(metrics.data_quality, f)
if checks.empty:
    ui.nothing_matches()

found = int(checks["count"].sum())
st.metric("Findings", f"{found:,}", help="Over all checks; one session or course can appear in several.", border=True)
st.plotly_chart(charts.data_quality(checks), width="stretch", key="quality_counts")
# The count straight after the check's name, the check pinned: on a phone both stay in view.
tables.table(checks.assign(check=checks["check"].map(charts.check_name)), "data quality checks",
             columns=["check", "count", "description"],
             column_config={"check": st.column_config.TextColumn("Check", pinned=True)})

st.header("Details")
with_findings = checks.loc[checks["count"] > 0, "check"].tolist()
if not with_findings:
    st.success("No check found anything in this selection.")
    st.stop()
check = st.selectbox("Check", with_findings, format_func=charts.check_name, key="quality_check")
st.caption(checks.set_index("check").loc[check, "description"])
details = ui.metric(metrics.data_quality_details, f, check)
tables.table(details, f"data quality {check}", max_rows_shown=2000)

# From a finding to the fix: the course opens on Record a session's "Correct a stored visit" tab
# with the value that fixes this check and the flagged visit chosen (kept with who, when and why).
# At most forms.MAX_FLAGGED_CHOICES courses to choose from, in the table's order: each corrected course
# leaves the list and the next one comes in (thousands of choices were 170 kB sent on every run).
flagged = list(dict.fromkeys(details["episode_id"]))
if flagged:
    field = metrics.CORRECTED_BY.get(check)
    chosen = st.selectbox("Open a flagged course to correct it", flagged[:forms.MAX_FLAGGED_CHOICES], key=f"quality_open_{check}",
                          help="Opens the course on Record a session, on the tab 'Correct a stored visit'"
                               + (f" with {forms.LABEL[field].lower()} chosen." if field else "."))
    if len(flagged) > forms.MAX_FLAGGED_CHOICES:
        st.caption(f"The first {forms.MAX_FLAGGED_CHOICES} of {len(flagged):,} flagged courses, in the table's order: "
                   "a corrected course leaves the list and the next one takes its place.")
    address = {"episode": chosen}
    if field:
        visit = details.loc[details["episode_id"] == chosen, "visit_number"].iloc[0]
        address |= {forms.CORRECT_PARAM: field, forms.VISIT_PARAM: str(int(visit))}
    try:
        st.page_link("app_pages/record_session.py", label=f"Correct course {text.markdown(chosen)} on Record a session",
                     icon=":material/edit_note:", query_params=address)
    except StreamlitPageNotFoundError:  # the page run on its own, outside dashboard.py's menu (tests)
        st.caption(f"Open course {text.markdown(chosen)} on Record a session to correct it.")
