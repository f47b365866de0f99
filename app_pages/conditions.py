"""Conditions: how each of the nine complaints responds within acute and within chronic courses
(side by side, each rate with its n and 95% interval), the pooled table, and small multiples; one
at a time, in sections held in the address (?section=Pain+by+visit), only the open one drawn."""
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
                          help="Orders the conditions in all three sections: both tables and the panels.")
descending = direction.toggle("Highest first", value=True, key="conditions_descending")
conditions = conditions.sort_values(SORTS[sort_by], ascending=not descending, na_position="last")

def side_by_side(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per condition (in `order`): the four rates first (after session 2 and by the last
    visit, acute beside chronic), then each with its n and interval. Rates and interval ends
    stay numbers (in %), so a click on a heading sorts them as numbers."""
    wide = pd.DataFrame({"condition": order})
    rows = {course: frame[frame["course_type"] == course].set_index("condition").reindex(order)
            for course in config.COURSE_TYPES}
    for n, rate, low, high, what in (
            ("episodes_eligible_itt", "responder_rate_after_session2_itt", "itt_ci_low", "itt_ci_high",
             "improved after session 2"),
            ("episodes_with_followup", "responder_rate", "responder_ci_low", "responder_ci_high",
             "improved by the last visit")):
        for course, shown in rows.items():
            name = course.capitalize()
            wide[f"{name}: {'started' if n == 'episodes_eligible_itt' else 'with a later score'}"] = shown[n].to_numpy()
            wide[f"{name}: {what} (%)"] = 100 * shown[rate].to_numpy()
            last = "" if n == "episodes_eligible_itt" else " (last visit)"
            wide[f"{name}: 95% from{last}"] = 100 * shown[low].to_numpy()
            wide[f"{name}: 95% to{last}"] = 100 * shown[high].to_numpy()
    wide["condition"] = wide["condition"].map(charts.label)
    # The rates the table is for straight after the condition (a phone shows two or three columns),
    # acute beside chronic; then each rate's n and interval.
    rates = [column for column in wide.columns if "improved" in column]
    rates = sorted(rates, key=lambda column: ("last visit" in column, not column.startswith("Acute")))
    return wide[["condition", *rates, *[c for c in wide.columns if c != "condition" and c not in rates]]]


# One part at a time (ui.sections); the order chosen above applies to all three.
within, pooled_tab, trajectories = ui.sections("Within acute and chronic", "Both pooled", "Pain by visit")

if within.open:
    with within:
        st.header("Within acute and within chronic courses")
        by_course = ui.metric(metrics.condition_by_course, f)
        wide = side_by_side(by_course, [c for c in conditions["condition"] if c in set(by_course["condition"])])
        rates = [column for column in wide.columns if "improved" in column or "95%" in column]
        tables.table(wide, "conditions by course type", column_config={
            "condition": st.column_config.TextColumn("Condition", pinned=True),  # stays in view when scrolled sideways
            **{column: st.column_config.NumberColumn(column, format="%.0f%%") for column in rates}}, caption=(f"Improved after the 2nd session (all who started): pain before {words.improvement_visit()} "
                   f"{words.improvement_rule(f)} below the first visit ({words.rule_name(f)}), among every course with a "
                   f"first-visit score except one still running short of {words.improvement_visit()}; a course that stopped "
                   "before it counts as not improved. Improved by the last visit: the same rule on the last pain before a "
                   "session, among courses with a later score. Each rate with its number of courses and a 95% Wilson "
                   "interval: a wide interval means too few courses to tell conditions apart. Click a heading to sort."))

if pooled_tab.open:
    with pooled_tab:
        st.header("Both course types pooled")
        pooled = ["condition", "responder_rate", *[c for c in conditions.columns if c not in ("condition", "responder_rate")]]
        tables.table(conditions.assign(condition=conditions["condition"].map(charts.label)), "conditions", columns=pooled,
                     column_config={"condition": st.column_config.TextColumn("Condition", pinned=True)},
                     caption=f"Improved: last pain before a session {words.improvement_rule(f)} below the first visit "
                             f"({words.rule_name(f)}), among courses with a later score. Pooled figures mix acute and "
                             "chronic courses in proportions that differ by condition: compare conditions within acute "
                             "and within chronic courses (the first section). Click a column heading to sort the table "
                             "itself.")

if trajectories.open:
    with trajectories:
        st.header("Pain by visit for each condition")
        st.caption("Panels follow the order chosen above; conditions with no courses in this selection are left out. "
                   "Each line has its 95% confidence band; a visit reached by fewer than "
                   f"{config.MIN_TRAJECTORY_COURSES} courses is a faint marker off the line (its n is in the hover): "
                   "within one condition and course type, a few long courses are not a trend.")
        by_condition = ui.metric(metrics.pain_trajectory, f, by=("course_type", "condition"))
        shown = [c for c in conditions["condition"] if c in set(by_condition["condition"])]
        st.plotly_chart(charts.condition_trajectories(by_condition, shown), width="stretch", key="conditions_multiples")
