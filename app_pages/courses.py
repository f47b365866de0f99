"""Courses: acute against chronic — pain by visit, time to improvement, how long courses last,
how they end, and the relief felt within a session. One section at a time, in tabs held in the
address (?section=Time+to+improvement), and only the open one is computed and drawn (ui.sections)."""
import streamlit as st

import ui
from analytics import config, metrics
from ui import charts, tables, words

con, f = ui.clinic_page("Acute and chronic courses")

outcomes = ui.metric(metrics.course_outcomes, f)
if outcomes.empty:
    ui.nothing_matches(result=outcomes)

pain, soon, length, relief_tab, figures = ui.sections("Pain by visit", "Time to improvement", "Length and ending",
                                                     "Relief and function", "The figures")

if pain.open:
    with pain:
        st.header("Pain by visit")
        st.caption("Mean pain before the session (solid) and straight after it (dotted), with 95% confidence bands. "
                   "The shaded spans are the recommended course lengths; the star marks "
                   f"{words.improvement_visit()} before the session, the lasting effect of the first two sessions. "
                   f"A visit reached by fewer than {config.MIN_TRAJECTORY_COURSES} courses is a faint marker off the line "
                   "(its n is in the hover): a few long courses are not a trend.")
        trajectory = ui.metric(metrics.pain_trajectory, f)
        st.plotly_chart(charts.pain_trajectory(trajectory, phases=("pre", "post"), bands=True, title="Pain by visit"),
                        width="stretch", key="courses_trajectory")

if soon.open:
    with soon:
        st.header("How soon clients improve")
        st.caption(f"Improved = pain before a session {words.improvement_rule(f)} below the first visit ({words.rule_name(f)}).")
        medians = ui.metric(metrics.median_visits_to_improvement, f)
        for row, column in zip(medians.itertuples(), st.columns(max(1, len(medians)))):
            column.metric(f"{row.course_type.capitalize()}: half improved by visit",
                          "not reached" if row.median_visits != row.median_visits else f"{row.median_visits:.0f}",
                          help=f"Kaplan-Meier median over {row.episodes:,} courses with a first-visit score; "
                               f"{row.events:,} improved meaningfully ({words.improvement_rule(f)} below the first visit, {words.rule_name(f)}).",
                          border=True)
        st.plotly_chart(charts.time_to_improvement(ui.metric(metrics.time_to_improvement, f), medians,
                                                  ui.metric(metrics.improvement_all_started, f)),
                        width="stretch", key="courses_km")
        st.caption("Two readings of the same courses. Above, Kaplan-Meier: a course that stops before improving counts as "
                   "not yet improved while it attends and then leaves the calculation (censored), which assumes that the "
                   "clients who stopped would have improved like those who stayed; it is the better-looking reading when "
                   "drop-outs do worse. Below, all who started: a course that stops before improving counts as never "
                   "improved at every later visit, which assumes nobody improved after leaving; a course still running "
                   "that has not improved yet is left out of the visits it has not reached. The truth lies between the "
                   "two; a wide gap means drop-outs matter.")

if length.open:
    with length:
        st.header("How long courses last and how they end")
        st.plotly_chart(charts.sessions_attended(ui.metric(metrics.sessions_attended, f)), width="stretch", key="courses_sessions")
        running = int(outcomes["active"].sum()) if "active" in outcomes else 0
        st.caption(f"Sessions attended counts finished courses only: the {running:,} still running (active) are left out, "
                   "since a course that has not ended would look like one that ended below the recommended range.")
        st.plotly_chart(charts.status_mix(outcomes), width="stretch", key="courses_status")
        st.caption(f"Completed: closed with its goals met or improved enough, or reached the recommended minimum "
                   f"({words.recommended_minimums()}). Closed early: closed for another reason before the minimum. Active: "
                   f"no reason yet, short of the minimum, seen within the last {words.active_window()} of the data. "
                   "Lost to follow-up: no reason, short of the minimum, and not seen since.")

        st.subheader("Drop-outs: closed early, by reason, and lost to follow-up", anchor=False)
        reasons = ui.metric(metrics.dropout_reasons, f)
        # The counts straight after what they count (course type and reason, pinned), so a phone shows them.
        tables.table(reasons, "drop-outs by reason", columns=["course_type", "discharge_reason", "episodes", "share_of_finished",
                                                             "status"],
                     column_config={"course_type": st.column_config.TextColumn("Course type", pinned=True)})
        st.caption(f"Of the finished courses (not active), the share that ended each way; {words.dropout_meaning()}. "
                   "The rows of a course type add up to its drop-out rate. A course closed early says why it ended; a "
                   "course lost to follow-up does not, so the two are not the same kind of drop-out.")

if relief_tab.open:
    with relief_tab:
        st.header("Relief within a session is not the same as change over the course")
        relief, change = st.columns(2)
        for row in outcomes.itertuples():
            relief.metric(f"{row.course_type.capitalize()}: relief within a session",
                          f"{row.mean_immediate_relief:.1f} points",
                          help=f"Pain before minus after the same session, over {row.sessions_with_relief_scores:,} sessions.")
            change.metric(f"{row.course_type.capitalize()}: change over the course",
                          "n/a" if row.mean_change_points != row.mean_change_points else f"{row.mean_change_points:.1f} points",
                          help=f"First-visit pain minus the last pain before a session, over {row.episodes_with_followup:,} "
                               "courses with a later score.")
        st.plotly_chart(charts.immediate_relief(ui.metric(metrics.immediate_relief, f)), width="stretch", key="courses_relief")

        st.header("Foot function")
        function = ui.metric(metrics.function_responders, f)
        if function.empty:
            st.info("No course in these filters has two foot-function scores (FAAM ADL or LEFS) yet.")
        else:
            st.plotly_chart(charts.function_responders(function), width="stretch", key="courses_function")
            st.caption(f"Improved: the last score at least {words.function_changes()} above the first, among courses "
                       "scored at two sessions or more (higher is better on both).")

if figures.open:
    with figures:
        st.header("The figures")
        tables.table(outcomes, "course outcomes")
