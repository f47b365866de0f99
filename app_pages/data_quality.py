"""Data quality: what in the recorded visits could distort the figures, and where it is."""
import streamlit as st

from analytics import metrics
from pages import _app, _charts, _filters, _tables

con = _app.connection()
f = _filters.sidebar(con)
st.title("Data quality")
_app.sample_data_notice(con)

checks = _app.metric(metrics.data_quality, f)
if checks.empty:
    st.info("No courses of care match these filters. Widen the dates or clear a filter in the sidebar.")
    st.stop()

found = int(checks["count"].sum())
st.metric("Findings", f"{found:,}", help="Over all checks; one session or course can appear in several.", border=True)
st.plotly_chart(_charts.data_quality(checks), width="stretch", key="quality_counts")
_tables.table(checks.assign(check=checks["check"].map(_charts.check_name)), "data quality checks")

st.header("Details")
with_findings = checks.loc[checks["count"] > 0, "check"].tolist()
if not with_findings:
    st.success("No check found anything in this selection.")
    st.stop()
check = st.selectbox("Check", with_findings, format_func=_charts.check_name, key="quality_check")
st.caption(checks.set_index("check").loc[check, "description"])
_tables.table(_app.metric(metrics.data_quality_details, f, check), f"data quality {check}",
              max_rows_shown=2000)
