"""Therapists, judged on the clinic's promise: each one's results against what the clinic achieves
with the same kind of clients, a funnel plot that shows how much spread chance alone produces,
and a table to find anyone in, however many therapists there are; one at a time, in sections held
in the address (?section=Funnel+plot), only the open one drawn."""
import streamlit as st

import ui
from analytics import config, metrics
from ui import charts, tables, words

MODELS = {
    "logistic": "a logistic regression on baseline pain, course type, condition, severity and prior injuries",
    "linear": "a linear model on baseline pain, course type, condition, severity and prior injuries",
    "overall rate": "too few courses to model the case mix, so this is simply the clinic's overall rate",
    "overall mean": "too few courses to model the case mix, so this is simply the clinic's overall mean",
}
MEASURES = {name: outcome.label for name, outcome in metrics.THERAPIST_OUTCOMES.items()}
# What each measure counts, for the explanation and the charts' n.
COURSES = {metrics.PRIMARY_OUTCOME: "courses that started", "dropped_before_visit3": "finished courses",
           "visits_to_improvement": "finished courses that improved", "sessions_used": "completed courses",
           "sessions_within_range": "finished courses", "improved_at_last_visit": "finished courses with a later score"}
# A continuous measure's columns get their own headings (the shares' are percentages).
MEANS = {"observed": "observed_mean", "expected": "expected_mean", "difference": "difference_mean",
         "ci_low": "ci_low_mean", "ci_high": "ci_high_mean"}

TABLE_ROWS = 500

con, f = ui.clinic_page("Therapists, compared fairly")

measure = st.segmented_control("Judged on", list(MEASURES), format_func=lambda name: MEASURES[name],
                               default=metrics.PRIMARY_OUTCOME, key="therapist_measure") or metrics.PRIMARY_OUTCOME
result = ui.metric(metrics.therapist_outcome, f, outcome=measure)
comparison, unit = result.therapists, metrics.THERAPIST_OUTCOMES[measure].unit
if comparison.empty or comparison["episodes"].sum() == 0:
    ui.nothing_matches(f"No {COURSES[measure]} match these filters, so there is nothing to compare.", comparison)

st.info(
    "**What \"adjusted\" means.** Some therapists see harder cases: more chronic pain, higher pain at the first "
    "visit, more severe complaints or more old injuries. A raw ranking would punish them for it. So each of the "
    f"{COURSES[measure]} is given what the clinic as a whole achieves with clients like that one "
    f"({MODELS.get(comparison['model'].iloc[0], comparison['model'].iloc[0])}), and a therapist's **expected** "
    "figure is the average over their own clients. The clinic's promise is improvement after the second session "
    f"(pain before visit 3 {words.improvement_rule(f)} below the first visit, {words.rule_name(f)}), counted for "
    "everyone who started: "
    "a client who dropped out before visit 3 (closed early or lost to follow-up) counts as not improved. "
    "The charts show **observed minus expected**: only when the whole 95% interval is on one side of 0 is the "
    f"difference more than chance. Therapists with fewer than {config.MIN_EPISODES_TO_JUDGE} courses are shown as "
    "too few to judge.",
    icon=":material/balance:")

label = MEASURES[measure]
# One part at a time (ui.sections): the comparison, the funnel, the table.
compared, funnel, figures = ui.sections("Compared with expected", "Funnel plot", "The figures")

if compared.open:
    with compared:
        st.plotly_chart(charts.therapist_adjusted(comparison, label, unit, COURSES[measure]), width="stretch",
                        key="therapists_adjusted")
        st.caption(f"A meaningful improvement: pain {words.improvement_rule(f)} below the first visit ({words.rule_name(f)}; "
                   "choose another rule in the sidebar).")

if funnel.open:
    with funnel:
        st.header("Funnel plot")
        st.caption("Each dot is a therapist: observed minus expected against how many courses it rests on. Chance alone "
                   "keeps a therapist who does exactly as expected inside the dashed lines 95% of the time and inside "
                   "the dotted ones 99.8% of the time; the funnel narrows as courses add up. Dots outside are named.")
        st.plotly_chart(charts.outcome_funnel(result, label, unit, COURSES[measure]), width="stretch",
                        key="therapists_funnel")

if figures.open:
    with figures:
        st.header("The figures")
        search = st.text_input("Find a therapist (id or name)", key="therapist_search").strip()
        rows = comparison
        if search:
            found = (rows["therapist_id"].str.contains(search, case=False, regex=False)
                     | rows["therapist_name"].str.contains(search, case=False, regex=False).fillna(False))
            rows = rows[found]
        # The judgement next to the name, so it stays in view on a narrow screen.
        columns = ["therapist_name", "therapist_id", "episodes", "judgement", "observed", "expected", "difference", "ci_low",
                   "ci_high", "funnel_position"]
        rows = rows[columns]
        if unit != "share":
            rows = rows.rename(columns=MEANS)
        # A chain's thousands of therapists: the first TABLE_ROWS in view (those outside the limits come
        # first), the search finds anyone, and the download has every row (10,000 rows in view were 1 MB
        # sent on every run, 2.8 s a page at 10 M sessions).
        tables.table(rows, "therapist comparison", max_rows_shown=TABLE_ROWS,
                     caption=f"{len(rows):,} of {len(comparison):,} therapists"
                             ", those outside the funnel’s limits first, then by name: "
                             "the difference and its interval are what to read, not the order.")
