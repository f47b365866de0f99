"""Home program: do clients who keep up their stretching between sessions do better?"""
import streamlit as st

from analytics import metrics
from pages import _app, _charts, _filters, _tables

con = _app.connection()
f = _filters.sidebar(con)
st.title("Home stretching program")
_app.sample_data_notice(con)

effect = _app.metric(metrics.home_program_effect, f)
if effect.empty or effect["episodes"].sum() == 0:
    st.info("No courses of care match these filters. Widen the dates or clear a filter in the sidebar.")
    st.stop()

st.caption("A course's adherence is the mean of the stretching adherence (%) recorded at its visits, "
           "banded 0-25, 25-50, 50-75 and 75-100 %. Courses with no adherence recorded are shown as \"not recorded\".")
left, right = st.columns(2)
left.plotly_chart(_charts.home_program(effect, "responder_rate_after_session2", "Improved after session 2",
                                       "Improved after the second session (%)", "episodes_reaching_visit3"),
                  width="stretch", key="home_after_session2")
right.plotly_chart(_charts.home_program(effect, "mean_change_pct", "Pain change over the course",
                                        "Pain change (% of first visit)", "episodes_with_followup"),
                   width="stretch", key="home_change")
st.warning("These are associations, not proof: clients who stretch may differ in other ways (milder complaints, "
           "more time, more motivation), so the difference is not all down to stretching.", icon=":material/info:")

st.header("The figures")
_tables.table(effect, "home program")
