"""Lasting results (managers only): does the relief last after the last visit? Pain at the
follow-ups, the pain coming back, how many follow-ups are answered, and the clients' own
impression of change."""
import streamlit as st

import ui
from analytics import config, metrics
from ui import charts, tables, words

con, f = ui.manager_clinic_page("Lasting results")

GROUPS = {"All courses together": None, "Course type": "course_type", "Condition": "condition",
          "Completed the recommended course or not": "completed", "Stretching at the follow-up": "stretching"}
choice = st.selectbox("Split by", list(GROUPS), key="lasting_by")
by = GROUPS[choice]

st.caption(f"Follow-ups are {words.followups()} after a finished course's last visit; each is answered by the "
           "client's first check-in while it is open. Pain is 0-10; stretching at a follow-up is banded "
           f"{words.stretch_bands()}.")

response = ui.metric(metrics.followup_response, f)
compared = ui.metric(metrics.responder_comparison, f)
durability = ui.metric(metrics.durability, f, by=by)
if response.empty and durability.empty:
    ui.nothing_matches("No finished course in these filters has a follow-up due yet.", result=response)

st.header("Who answered")
st.plotly_chart(charts.followup_response(response), width="stretch", key="lasting_response")
for row in response.itertuples():
    answered = compared[(compared["followup_day"] == row.followup_day) & compared["answered"]]
    silent = compared[(compared["followup_day"] == row.followup_day) & ~compared["answered"]]
    if answered.empty or silent.empty:
        continue
    a, s = answered.iloc[0], silent.iloc[0]
    st.warning(
        f"At {words.followup_label(int(row.followup_day))}, {int(row.answered):,} of {int(row.due):,} clients answered "
        f"({row.response_rate:.0%}). Those who answer may differ from those who don't: at their last visit, those "
        f"who answered had a mean pain of {a.mean_last_pain:.1f} and {a.share_completed:.0%} had completed the "
        f"recommended course; those who did not had {s.mean_last_pain:.1f} and {s.share_completed:.0%}. "
        "The figures below are about those who answered.", icon=":material/info:")
tables.table(compared, "who answered")

st.header("How the pain has held")
if durability.empty:
    st.info("No follow-up with a pain score in these filters yet.")
else:
    st.plotly_chart(charts.durability(durability, "since_last_visit", "Pain since the last visit",
                                      "Change in pain (points)"), width="stretch", key="lasting_since_last")
    st.plotly_chart(charts.durability(durability, "share_still_improved", "Still improved",
                                      "Still improved (%)", share=True),
                    width="stretch", key="lasting_still_improved")
    st.caption(f"Above 0: the pain has crept back since the last visit. Still improved: {words.improvement_rule(f)} "
               "below the pain at the first visit (" + words.rule_name(f) + ").")
    tables.table(durability, "durability")

st.header("Has the pain come back?")
curve = ui.metric(metrics.recurrence, f, by=by)
table = ui.metric(metrics.recurrence_table, f, by=by)
st.caption("The pain has come back when a client says so at a check-in after the last visit, or starts a new "
           f"course for the same complaint within {words.recurrence_window()}. A course is followed until its last "
           "check-in; courses never heard from after their last visit are left out. A curve stops where fewer than "
           f"{config.MIN_RECURRENCE_AT_RISK} courses are still followed.")
if curve.empty:
    st.info("No finished course in these filters has been heard from after its last visit yet.")
else:
    st.plotly_chart(charts.recurrence(curve), width="stretch", key="lasting_recurrence")
    tables.table(table, "recurrence by months")

st.header("How the clients feel")
pgic = ui.metric(metrics.pgic_summary, f, by=by)
if pgic.empty:
    st.info("No follow-up in these filters has an answer on how the client feels.")
else:
    st.plotly_chart(charts.pgic(pgic), width="stretch", key="lasting_pgic")
    tables.table(pgic, "impression of change")
st.warning("These are associations, not proof: clients who stretch or finish their course may differ in other "
           "ways, so a difference between groups is not all down to that.", icon=":material/info:")
