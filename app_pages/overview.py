"""Overview: is the treatment working? The period's key figures, each with its n, pain by visit
for acute and chronic courses, and a plain answer in words."""
import datetime as dt

import streamlit as st

import ui
from analytics import config, metrics, overview_report
from ui import charts, filters, page, suppressed, tables, words

con, f = ui.clinic_page("Foot-pain clinic outcomes")

tiles = ui.metric(metrics.kpis, f).set_index("metric")
if tiles.empty or "episodes" not in tiles.index:  # no episodes tile: suppression hid the whole selection
    ui.nothing_matches(result=tiles)
has_previous = "episodes" in tiles.index and tiles["previous"].notna().any() and tiles.loc["episodes", "previous"] > 0
FEWEST = config.MIN_COMPARISON_COURSES


def tile(column, metric: str, label: str, kind: str = "count", delta_color: str = "normal", help: str | None = None,
         of: str = "courses", among: str = "of"):
    """One st.metric: the value, and its change against the previous period when the earlier
    figure rests on at least FEWEST courses; under it, the n of both periods ("of 349 courses",
    `among` and `of` say how: "in 706 courses").
    "hidden" when small-cell suppression left it out for a therapist."""
    if metric not in tiles.index:
        column.metric(label, "hidden", help=f"Rests on {suppressed.why()}.", border=True)
        return
    row = tiles.loc[metric]
    shown = {"count": "{:,.0f}", "rate": "{:.0%}", "sessions": "{:g}"}[kind]
    delta = None
    if has_previous and row["compared"]:
        change = row["change"]
        delta = {"count": f"{change:+,.0f}", "rate": f"{change * 100:+.1f} points", "sessions": f"{change:+g}"}[kind]
    column.metric(label, "n/a" if row["value"] != row["value"] else shown.format(row["value"]), delta=delta,
                  delta_color=delta_color, help=help, border=True)
    n = f"{among} {int(row['n']):,} {of}"
    if has_previous and row["previous_n"] == row["previous_n"]:
        before = "n/a" if row["previous"] != row["previous"] else shown.format(row["previous"])
        n += f"; period before: {before} {among} {int(row['previous_n']):,}"
        if not row["compared"]:
            n += f" (under {FEWEST}: no change shown)"
    column.caption(n)


period = f"{f.start:%d %b %Y} – {f.end:%d %b %Y}" if f.start and f.end else None
previous = f.previous_period()
if has_previous and previous is not None:
    st.caption(f"Courses that began {period}; changes compare with {previous.start:%d %b %Y} – "
               f"{previous.end:%d %b %Y}, shown only where the earlier figure rests on at least {FEWEST} courses "
               "(fewer, and one or two clients could make the change).")
elif previous is not None and tiles.loc["episodes", "previous"] != tiles.loc["episodes", "previous"]:  # NaN: hidden
    st.caption(f"Courses that began {period}. The period before rests on {suppressed.why()}, so there is "
               "nothing to compare.")
elif previous is not None:
    st.caption(f"Courses that began {period}. No courses began in the period before, so there is nothing to compare.")
else:
    st.caption("Set a start and an end date in the sidebar to compare with the period of the same length before.")

clients, courses, sessions = st.columns(3)
tile(clients, "clients", "Clients", among="in")
tile(courses, "episodes", "Courses of care")
tile(sessions, "sessions", "Sessions", among="in")

rule = f"{words.improvement_rule(f)} below the first visit ({words.rule_name(f)})"
visit = words.improvement_visit()
figures = ui.metric(metrics.headline, f)
for course in config.COURSE_TYPES:  # full width each, so the labels fit at 1440 px; acute above chronic
    low, high = config.RECOMMENDED_SESSIONS[course]
    st.subheader(f"{course.capitalize()} courses ({low}-{high} sessions recommended)")
    st.caption(f"Improved = pain before {visit} {rule}; straight after session 2 for the immediate rate.")
    (all_started, reached), (immediate, median, dropout) = st.columns(2), st.columns(3)
    tile(all_started, f"improved_after_session2_itt_{course}", "Improved after the 2nd session (all who started)",
         "rate", of="who started",
         help=f"Pain before {visit} {rule}, among every course with a first-visit score except one still "
              f"running that has not reached {visit} yet. A course that stopped before {visit} counts as not "
              "improved: the clinic's promise, judged on everyone it was made to.")
    tile(reached, f"improved_after_session2_{course}", "Improved after the second session", "rate",
         of=f"reaching {visit}",
         help=f"Pain before {visit} {rule}, among the courses that reached {visit} only. Higher than the "
              "figure for all who started when those who stopped early would have done worse.")
    tile(immediate, f"improved_after_session2_immediate_{course}", "Improved straight after session 2", "rate",
         of="with the score",
         help=f"Pain straight after session 2 {rule}: the relief on leaving, not the lasting effect that "
              f"the pain before {visit} shows.")
    tile(median, f"median_sessions_{course}", "Median sessions", "sessions", delta_color="off",
         help="Half of the courses lasted at most this many sessions (highest visit number); a course still "
              "running counts at its visits so far.")
    tile(dropout, f"dropout_rate_{course}", "Drop-out rate", "rate", delta_color="inverse", of="finished",
         help=f"Of the {course} courses that have finished (not those still running), the share that stopped "
              f"before the recommended minimum of {low} without meeting their goals: closed early or lost to "
              "follow-up.")

completion, dropout = st.columns(2)
tile(completion, "completion_rate", "Completion rate", "rate", of="finished",
     help="Of courses no longer active (finished), the share completed: closed with their goals met or improved "
          f"enough, or reached the recommended minimum ({words.recommended_minimums()}).")
tile(dropout, "dropout_rate", "Drop-out rate", "rate", delta_color="inverse", of="finished",
     help=f"Of courses no longer active (finished), the share that dropped out; {words.dropout_meaning()}. "
          "The same base as each course type's drop-out rate above.")

trajectory = ui.metric(metrics.pain_trajectory, f)
st.plotly_chart(charts.pain_trajectory(trajectory), width="stretch", key="overview_trajectory")

st.subheader("Does treatment work?")
outcomes = ui.metric(metrics.course_outcomes, f).set_index("course_type")
medians = ui.metric(metrics.median_visits_to_improvement, f).set_index("course_type")
st.markdown(charts.treatment_answer(figures, outcomes, medians))

# One page for the monthly team meeting: the same figures, the filter and the rule on it.
pdf = overview_report.OverviewContent(tiles.reset_index(), ui.metric(metrics.condition_by_course, f),
                                      filters.describe(f), rule, dt.date.today())
st.download_button("Download this overview (PDF)",  # made and audited on click
                   tables.audited_download(lambda: overview_report.overview_pdf(pdf), "export", "overview",
                                           f"overview-pdf: {page.opened()}"),
                   file_name=page.download_name("overview", "pdf"), mime="application/pdf",
                   icon=":material/picture_as_pdf:", key="overview_pdf_download")
