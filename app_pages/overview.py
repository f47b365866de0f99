"""Overview: is the treatment working? The period's key figures, pain by visit for acute and
chronic courses, and a plain answer in words."""
import streamlit as st

import ui
from analytics import config, metrics
from ui import charts, suppressed, words

con, f = ui.clinic_page("Foot-pain clinic outcomes")

tiles = ui.metric(metrics.kpis, f).set_index("metric")
if tiles.empty or "episodes" not in tiles.index:  # no episodes tile: suppression hid the whole selection
    ui.nothing_matches(result=tiles)
has_previous = "episodes" in tiles.index and tiles["previous"].notna().any() and tiles.loc["episodes", "previous"] > 0


def tile(column, metric: str, label: str, kind: str = "count", delta_color: str = "normal", help: str | None = None):
    """One st.metric: the value, and its change against the previous period when there is one;
    "hidden" when small-cell suppression left it out for a therapist."""
    if metric not in tiles.index:
        column.metric(label, "hidden", help=f"Rests on {suppressed.why()}.", border=True)
        return
    value, change = tiles.loc[metric, "value"], tiles.loc[metric, "change"]
    shown = {"count": "{:,.0f}", "rate": "{:.0%}", "sessions": "{:g}"}[kind]
    delta = None
    if has_previous and change == change:
        delta = {"count": f"{change:+,.0f}", "rate": f"{change * 100:+.1f} points", "sessions": f"{change:+g}"}[kind]
    column.metric(label, "n/a" if value != value else shown.format(value), delta=delta, delta_color=delta_color,
                  help=help, border=True)


period = f"{f.start:%d %b %Y} – {f.end:%d %b %Y}" if f.start and f.end else None
previous = f.previous_period()
if has_previous and previous is not None:
    st.caption(f"Courses that began {period}; changes compare with {previous.start:%d %b %Y} – {previous.end:%d %b %Y}.")
elif previous is not None and tiles.loc["episodes", "previous"] != tiles.loc["episodes", "previous"]:  # NaN: hidden
    st.caption(f"Courses that began {period}. The period before rests on {suppressed.why()}, so there is "
               "nothing to compare.")
elif previous is not None:
    st.caption(f"Courses that began {period}. No courses began in the period before, so there is nothing to compare.")
else:
    st.caption("Set a start and an end date in the sidebar to compare with the period of the same length before.")

clients, courses, sessions = st.columns(3)
tile(clients, "clients", "Clients")
tile(courses, "episodes", "Courses of care")
tile(sessions, "sessions", "Sessions")

figures = ui.metric(metrics.headline, f)
for course, column in zip(("acute", "chronic"), st.columns(2)):
    low, high = config.RECOMMENDED_SESSIONS[course]
    with column:
        st.subheader(f"{course.capitalize()} courses ({low}-{high} sessions recommended)")
        improved, median = st.columns([3, 2])
        reached = figures["by_course"][course]["episodes_reaching_visit3"]
        tile(improved, f"improved_after_session2_{course}", "Improved after the second session", "rate",
             help=f"Pain before {words.improvement_visit()} {words.improvement_rule()} below the first visit, among "
                  f"the {'' if reached is None else f'{int(reached):,} '}courses that reached "
                  f"{words.improvement_visit()}.")
        tile(median, f"median_sessions_{course}", "Median sessions", "sessions", delta_color="off",
             help="Half of the courses lasted at most this many sessions (highest visit number).")

completion, dropout = st.columns(2)
tile(completion, "completion_rate", "Completion rate", "rate",
     help="Of courses no longer active, the share that reached the recommended minimum "
          f"({words.recommended_minimums()}).")
tile(dropout, "dropout_rate", "Drop-out rate", "rate", delta_color="inverse",
     help="Of courses no longer active, the share that stopped before the recommended minimum.")

trajectory = ui.metric(metrics.pain_trajectory, f)
st.plotly_chart(charts.pain_trajectory(trajectory), width="stretch", key="overview_trajectory")

st.subheader("Does treatment work?")
outcomes = ui.metric(metrics.course_outcomes, f).set_index("course_type")
medians = ui.metric(metrics.median_visits_to_improvement, f).set_index("course_type")
st.markdown(charts.treatment_answer(figures, outcomes, medians))
