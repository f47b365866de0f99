"""Conditions: how each of the nine complaints responds, as a table and as small multiples."""
import streamlit as st

import ui
from analytics import metrics
from ui import charts, tables, words

con, f = ui.clinic_page("Conditions")

conditions = ui.metric(metrics.condition_comparison, f)
if conditions.empty:
    ui.nothing_matches(result=conditions)

SORTS = {"Courses": "episodes", "Improved (share)": "responder_rate", "Mean pain change (%)": "mean_change_pct",
         "Mean pain at first visit": "mean_baseline_pain", "Median sessions": "median_sessions"}
order, direction = st.columns([3, 1])
sort_by = order.selectbox("Order conditions by", list(SORTS), key="conditions_sort")
descending = direction.toggle("Highest first", value=True, key="conditions_descending")
conditions = conditions.sort_values(SORTS[sort_by], ascending=not descending, na_position="last")

tables.table(conditions.assign(condition=conditions["condition"].map(charts.label)), "conditions",
              caption=f"Improved: last pain before a session {words.improvement_rule()} below the first visit, among "
                      "courses with a later score. Click a column heading to sort the table itself.")

st.header("Pain by visit for each condition")
st.caption("Panels follow the order chosen above; conditions with no courses in this selection are left out.")
by_condition = ui.metric(metrics.pain_trajectory, f, by=("course_type", "condition"))
shown = [c for c in conditions["condition"] if c in set(by_condition["condition"])]
st.plotly_chart(charts.condition_trajectories(by_condition, shown), width="stretch", key="conditions_multiples")
