"""Conditions: how each of the nine complaints responds within acute and within chronic courses
(side by side, each rate with its n and 95 % interval), the pooled table, and small multiples."""
import pandas as pd
import streamlit as st

import ui
from analytics import config, metrics
from ui import charts, tables, words

con, f = ui.clinic_page("Conditions")

conditions = ui.metric(metrics.condition_comparison, f)
if conditions.empty:
    ui.nothing_matches(result=conditions)

SORTS = {"Courses": "episodes", "Improved (share)": "responder_rate", "Mean pain change (%)": "mean_change_pct",
         "Mean pain at first visit": "mean_baseline_pain", "Median sessions": "median_sessions"}
order, direction = st.columns([3, 1])
sort_by = order.selectbox("Order conditions by", list(SORTS), key="conditions_sort",
                          help="Orders the pooled table below, and the conditions in the table by course type "
                               "and in the panels the same way.")
descending = direction.toggle("Highest first", value=True, key="conditions_descending")
conditions = conditions.sort_values(SORTS[sort_by], ascending=not descending, na_position="last")

st.header("Within acute and within chronic courses")
by_course = ui.metric(metrics.condition_by_course, f)


def interval(low: float, high: float) -> str:
    return "" if low != low else f"{low:.0%} – {high:.0%}"


def side_by_side(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per condition (in `order`), each course type's n, rate and interval beside it."""
    wide = pd.DataFrame({"condition": order})
    for course in config.COURSE_TYPES:
        rows = frame[frame["course_type"] == course].set_index("condition").reindex(order)
        name = course.capitalize()
        wide[f"{name}: courses started"] = rows["episodes_eligible_itt"].to_numpy()
        wide[f"{name}: improved after the 2nd session (all who started)"] = \
            rows["responder_rate_after_session2_itt"].to_numpy()
        wide[f"{name}: 95 % interval"] = [interval(lo, hi) for lo, hi in zip(rows["itt_ci_low"], rows["itt_ci_high"])]
        wide[f"{name}: courses with a later score"] = rows["episodes_with_followup"].to_numpy()
        wide[f"{name}: improved by the last visit"] = rows["responder_rate"].to_numpy()
        wide[f"{name}: 95 % interval (last visit)"] = [
            interval(lo, hi) for lo, hi in zip(rows["responder_ci_low"], rows["responder_ci_high"])]
    wide["condition"] = wide["condition"].map(charts.label)
    return wide


wide = side_by_side(by_course, [c for c in conditions["condition"] if c in set(by_course["condition"])])
rates = [column for column in wide.columns if "improved" in column]
tables.table(wide, "conditions by course type", column_config={
    "condition": st.column_config.TextColumn("Condition", pinned=True),  # stays in view when scrolled sideways
    **{column: st.column_config.NumberColumn(column, format="percent") for column in rates}}, caption=(f"Improved after the 2nd session (all who started): pain before {words.improvement_visit()} "
           f"{words.improvement_rule(f)} below the first visit ({words.rule_name(f)}), among every course with a "
           f"first-visit score except one still running short of {words.improvement_visit()}; a course that stopped "
           "before it counts as not improved. Improved by the last visit: the same rule on the last pain before a "
           "session, among courses with a later score. Each rate with its number of courses and a 95 % Wilson "
           "interval: a wide interval means too few courses to tell conditions apart. Click a heading to sort."))

st.header("Both course types pooled")
tables.table(conditions.assign(condition=conditions["condition"].map(charts.label)), "conditions",
             caption=f"Improved: last pain before a session {words.improvement_rule(f)} below the first visit "
                     f"({words.rule_name(f)}), among courses with a later score. Pooled figures mix acute and "
                     "chronic courses in proportions that differ by condition: compare conditions in the table "
                     "above. Click a column heading to sort the table itself.")

st.header("Pain by visit for each condition")
st.caption("Panels follow the order chosen above; conditions with no courses in this selection are left out.")
by_condition = ui.metric(metrics.pain_trajectory, f, by=("course_type", "condition"))
shown = [c for c in conditions["condition"] if c in set(by_condition["condition"])]
st.plotly_chart(charts.condition_trajectories(by_condition, shown), width="stretch", key="conditions_multiples")
