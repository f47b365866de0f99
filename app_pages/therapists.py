"""Therapists, compared fairly: each one's results against what the clinic achieves with the same
kind of clients, and a funnel plot that shows how much spread chance alone produces."""
import streamlit as st

import ui
from analytics import config, metrics
from ui import charts, tables, words

MODELS = {
    "logistic": "a logistic regression on baseline pain, course type, condition, severity and prior injuries",
    "linear": "a linear model on baseline pain, course type, condition, severity and prior injuries; too few "
              "courses for a logistic regression",
    "overall rate": "too few courses to model the case mix, so this is simply the clinic's overall rate",
}

con, f = ui.clinic_page("Therapists, compared fairly")

comparison = ui.metric(metrics.therapist_comparison, f)
if comparison.empty or comparison["episodes"].sum() == 0:
    ui.nothing_matches("No finished courses match these filters, so there is nothing to compare.", comparison)

st.info(
    "**What \"adjusted\" means.** Some therapists see harder cases: more chronic pain, higher pain at the first "
    "visit, more severe complaints or more old injuries. A raw ranking would punish them for it. So each finished "
    "course is given the chance of improving that the clinic as a whole achieves with clients like that one "
    f"({MODELS.get(comparison['model'].iloc[0], comparison['model'].iloc[0])}), and a therapist's **expected** "
    "rate is the average of those chances over their own clients. "
    "The chart shows **observed minus expected**: to the right of 0 is better than expected for that case mix, "
    "to the left worse. Only when the whole 95 % interval is on one side is the difference more than chance. "
    f"Therapists with fewer than {config.MIN_EPISODES_TO_JUDGE} finished courses are shown as too few to judge.",
    icon=":material/balance:")

st.plotly_chart(charts.therapist_adjusted(comparison), width="stretch", key="therapists_adjusted")

st.header("Funnel plot")
st.caption("Each dot is a therapist's share of finished courses that improved meaningfully (last pain before a "
           f"session {words.improvement_rule(f)} below the first visit, {words.rule_name(f)}). The funnel shows where a therapist with that "
           "many courses would fall by chance alone at the clinic's rate: 95 % of the time inside the dashed lines, "
           "99.8 % inside the dotted ones. Dots inside the funnel are not different from the clinic; raw rates are not "
           "adjusted for case mix here, so read the chart above first.")
st.plotly_chart(charts.funnel(ui.metric(metrics.funnel_limits, f)), width="stretch", key="therapists_funnel")

st.header("The figures")
tables.table(comparison.sort_values("therapist_name"), "therapist comparison",
              columns=["therapist_name", "episodes", "responders", "observed_rate", "expected_rate", "difference",
                       "ci_low", "ci_high", "judgement"],
              caption="Listed by name, not ranked: the difference and its interval are what to read.")
