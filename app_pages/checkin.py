"""The client's check-in, opened from their personal link (?checkin=TOKEN) on their phone: no
account, no menu, only their first name, their stretching plan and a few questions. A bad,
revoked or expired link gets one plain message that tells nothing more (analytics/checkins.py)."""
import streamlit as st

from analytics import checkins, config
from ui import guard, signin, text, words

token = str(st.query_params.get("checkin", ""))
con = guard.database()
sources = signin.attempt_sources()
course = checkins.course_for_token(con, token, sources=sources)
if course is None:
    st.info(checkins.INVALID_LINK, icon=":material/link_off:")
    st.stop()

st.title(words.CHECKIN_TITLE, anchor=False)
if course.first_name:
    st.markdown(f"Hello {text.markdown(course.first_name)}.")
if st.session_state.get("checkin_sent") == course.episode_id:
    st.success(words.CHECKIN_THANKS, icon=":material/check_circle:")
    st.stop()

with st.form("checkin", border=False):
    pain = st.radio(words.CHECKIN_PAIN, range(11), index=None, horizontal=True, key="checkin_pain")
    first_steps = (st.radio(words.CHECKIN_FIRST_STEPS, range(11), index=None, horizontal=True, key="checkin_first_steps")
                   if course.asks_first_steps else None)
    stretch_days = st.radio(words.CHECKIN_STRETCH_DAYS, range(8), index=None, horizontal=True, key="checkin_stretch_days")
    pgic = st.radio(words.CHECKIN_PGIC, range(1, len(config.PGIC_ANSWERS) + 1), index=None,
                    format_func=lambda number: words.pgic_answers()[number - 1], key="checkin_pgic")
    returned = (st.radio(words.CHECKIN_PAIN_RETURNED, words.YES_NO, index=None, horizontal=True,
                         format_func=str.capitalize, key="checkin_pain_returned")
                if course.asks_pain_returned else None)
    sent = st.form_submit_button(words.CHECKIN_SEND, type="primary", width="stretch")

if sent:
    answers = checkins.Answers(pain=pain, first_steps_pain=first_steps, stretch_days=stretch_days, pgic=pgic,
                               pain_returned=None if returned is None else returned == "yes")
    try:
        checkins.submit(con, token, answers, config.today(), sources=sources)
    except checkins.CheckinRefused as refused:
        st.warning(str(refused))
    else:
        st.session_state["checkin_sent"] = course.episode_id
        st.rerun()

if course.stretching_plan:
    st.subheader(words.CHECKIN_PLAN, anchor=False)
    st.markdown("  \n".join(text.markdown(line) for line in course.stretching_plan.splitlines() if line.strip()))
