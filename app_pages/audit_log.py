"""Audit log: who signed in, viewed, recorded, corrected, imported or exported — for managers."""
import datetime as dt

import streamlit as st

import ui
from analytics import audit
from ui import tables

con = ui.manager_page("Audit log")
st.caption("Every sign-in (and failed attempt), client view, recorded or corrected session, import, "
           "export and report download, newest first. Only ids are kept here, never names or scores.")

left, middle, right = st.columns(3)
period = left.date_input("Between", value=(dt.date.today() - dt.timedelta(days=30), dt.date.today()), key="audit_period")
username = middle.text_input("User", key="audit_user").strip()
actions = right.multiselect("Actions", audit.ACTIONS, key="audit_actions", format_func=lambda action: audit.ACTION_WORDS.get(action, action))
start, end = (period if isinstance(period, tuple) and len(period) == 2 else (None, None))

events = audit.entries(con, start=start, end=end, username=username or None, actions=tuple(actions))
if events.empty:
    st.info("No events match.")
    st.stop()
st.metric("Events", f"{len(events):,}")
# Who did what to which course, when: in words, with the ids (the codes stay in the database).
shown = events.assign(
    what=[audit.describe(*row) for row in events[["action", "target_type", "target_id"]].itertuples(index=False)],
    action=events["action"].map(lambda action: audit.ACTION_WORDS.get(action, action)))
# "What happened" straight after "When", so a phone shows it; the action (in words) last.
tables.table(shown[["logged_at", "what", "username", "action"]], "audit log")
