"""Home program: do clients who keep up their stretching between sessions do better?"""
import streamlit as st

import ui
from analytics import metrics
from ui import charts, tables, words

con, f = ui.clinic_page("Home stretching program")

effect = ui.metric(metrics.home_program_effect, f)
if effect.empty or effect["episodes"].sum() == 0:
    ui.nothing_matches(result=effect)

visit = words.improvement_visit()
st.caption("A course's adherence is the mean of the stretching adherence (%) recorded at its visits, "
           f"banded {words.adherence_bands()}. Courses with no adherence recorded are shown as \"not recorded\".")
st.caption(f"Improved = pain before {visit} {words.improvement_rule(f)} below the first visit "
           f"({words.rule_name(f)}). All who started: every course with a first-visit score except one still "
           f"running short of {visit}; a course that stopped before {visit} counts as not improved. Reaching "
           f"{visit}: only the courses that got there, higher when those who stop early would have done worse.")
# One above the other, full width: side by side, their titles and bars would not fit a tablet.
st.plotly_chart(charts.home_program(effect, "responder_rate_after_session2_itt",
                                     "Improved after session 2 (all who started)",
                                     "Improved after the second session (%)", "episodes_eligible_itt"),
                width="stretch", key="home_after_session2_itt")
st.plotly_chart(charts.home_program(effect, "responder_rate_after_session2",
                                     f"Improved after session 2 (courses reaching {visit})",
                                     "Improved after the second session (%)", "episodes_reaching_visit3"),
                width="stretch", key="home_after_session2")
st.plotly_chart(charts.home_program(effect, "mean_change_pct", "Pain change over the course",
                                     "Pain change (% of first visit)", "episodes_with_followup"),
                width="stretch", key="home_change")
st.warning("These are associations, not proof: clients who stretch may differ in other ways (milder complaints, "
           "more time, more motivation), so the difference is not all down to stretching.", icon=":material/info:")

st.header("The figures")
tables.table(effect, "home program")
