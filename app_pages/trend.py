"""Trend: month by month, is the clinic keeping its promise? Control charts, acute and chronic
apart, of the share of all who started improved after the second session, the drop-out rate and
the new courses, with the limits chance alone would keep a month within."""
import streamlit as st

import ui
from analytics import metrics
from ui import charts, tables, words

con, f = ui.clinic_page("Trend by month")

control = ui.metric(metrics.monthly_control_charts, f)
if control.empty:
    ui.nothing_matches(result=control)

st.caption("Each point is the courses whose first visit fell in that month. The dashed lines are control limits "
           "(3 sigma): the range a month stays within by chance alone if nothing changed. They are wider for a "
           "month with few courses, because a small month swings more. A cross marks a month beyond them, which is "
           "worth looking into; a month within them is no evidence of change, however it looks.")

st.header("Improved after the second session, all who started")
st.plotly_chart(charts.control_chart(control, "improved_after_session2_itt", "Improved after the second session",
                                     "Improved at visit 3 (%)", "courses judged"), width="stretch", key="trend_improved")
st.caption(f"Pain before {words.improvement_visit()} {words.improvement_rule(f)} below the first visit ({words.rule_name(f)}), among every "
           "course with a first-visit score; a drop-out before that visit counts as not improved, and a course "
           "still running short of it is not judged yet (p-chart).")

st.header("Drop-out rate")
st.plotly_chart(charts.control_chart(control, "dropout_rate", "Drop-out rate", "Dropped out (%)", "finished courses"),
                width="stretch", key="trend_dropout")
st.caption("Of the courses that have finished (not active), the share that dropped out before the "
           f"recommended minimum ({words.recommended_minimums()}): closed early or lost to follow-up (p-chart). "
           "The latest months have few finished courses yet, so their limits are wide.")

st.header("New courses")
st.plotly_chart(charts.control_chart(control, "new_courses", "New courses", "Courses begun", "courses"),
                width="stretch", key="trend_new")
st.caption("Courses begun each month, against their monthly mean -/+ 3 times its square root (c-chart). Months at "
           "the edges of the data may be part months.")

st.header("The figures")
tables.table(control.assign(month=control["month"].dt.strftime("%Y-%m")), "monthly control charts",
             caption="Rates as fractions of 1; n is the courses judged (improvement), finished (drop-out) or begun.")
