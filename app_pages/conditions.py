"""Conditions: how each of the nine complaints responds, as a table and as small multiples."""
import streamlit as st

from analytics import metrics
from pages import _app, _charts, _filters, _tables

con = _app.connection()
f = _filters.sidebar(con)
st.title("Conditions")
_app.sample_data_notice(con)

conditions = _app.metric(metrics.condition_comparison, f)
if conditions.empty:
    st.info("No courses of care match these filters. Widen the dates or clear a filter in the sidebar.")
    st.stop()

SORTS = {"Courses": "episodes", "Improved (share)": "responder_rate", "Mean pain change (%)": "mean_change_pct",
         "Mean pain at first visit": "mean_baseline_pain", "Median sessions": "median_sessions"}
order, direction = st.columns([3, 1])
sort_by = order.selectbox("Order conditions by", list(SORTS), key="conditions_sort")
descending = direction.toggle("Highest first", value=True, key="conditions_descending")
conditions = conditions.sort_values(SORTS[sort_by], ascending=not descending, na_position="last")

_tables.table(conditions.assign(condition=conditions["condition"].map(_charts.label)), "conditions",
              caption="Improved: last pain before a session at least 2 points and 30 % below the first visit, among "
                      "courses with a later score. Click a column heading to sort the table itself.")

st.header("Pain by visit for each condition")
st.caption("Panels follow the order chosen above; conditions with no courses in this selection are left out.")
by_condition = _app.metric(metrics.pain_trajectory, f, by=("course_type", "condition"))
shown = [c for c in conditions["condition"] if c in set(by_condition["condition"])]
st.plotly_chart(_charts.condition_trajectories(by_condition, shown), width="stretch", key="conditions_multiples")
