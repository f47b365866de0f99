"""Data quality: what in the recorded visits could distort the figures, and where it is."""
import streamlit as st

import ui
from analytics import metrics
from ui import charts, tables

con, f = ui.clinic_page("Data quality")

checks = ui.metric(metrics.data_quality, f)
if checks.empty:
    ui.nothing_matches()

found = int(checks["count"].sum())
st.metric("Findings", f"{found:,}", help="Over all checks; one session or course can appear in several.", border=True)
st.plotly_chart(charts.data_quality(checks), width="stretch", key="quality_counts")
tables.table(checks.assign(check=checks["check"].map(charts.check_name)), "data quality checks")

st.header("Details")
with_findings = checks.loc[checks["count"] > 0, "check"].tolist()
if not with_findings:
    st.success("No check found anything in this selection.")
    st.stop()
check = st.selectbox("Check", with_findings, format_func=charts.check_name, key="quality_check")
st.caption(checks.set_index("check").loc[check, "description"])
tables.table(ui.metric(metrics.data_quality_details, f, check), f"data quality {check}",
              max_rows_shown=2000)
