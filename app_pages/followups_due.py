"""Follow-ups due, for the front desk: the follow-ups due today and overdue (and those answered
while open), each with the client's check-in link and QR code, a CSV, and e-mail reminders."""
import smtplib

import streamlit as st

from analytics import checkins, metrics, reminders
from ui import checkins as checkin_ui
from ui import client_charts, guard, page, signin, tables, text, words

TITLE = "Follow-ups due"
con = guard.connection()
f = client_charts.viewer_filter()  # a therapist: their own clients only
page.remember(TITLE, None)
st.title(TITLE)
guard.sample_data_notice(con)
st.caption("A follow-up is **due** on its day (4 weeks, 3 and 6 months after the last visit by default) and "
           "**overdue** after it while still open and unanswered; once its window closes it is missed and leaves "
           "the list. Answered follow-ups stay listed while open.")

due = guard.metric(metrics.followups_due, f)
if due.empty:
    st.info("No follow-up is due today.", icon=":material/event_available:")
    st.stop()
links = checkins.live_links(con, due["episode_id"].unique())
due["followup"] = due["followup_day"].map(words.followup_name)
due["checkin_link"] = due["episode_id"].map(lambda episode: checkins.public_url(links[episode]) if episode in links else None)
waiting = due[due["state"] != "answered"]
left, right = st.columns(2)
left.metric("Due or overdue", f"{len(waiting):,}")
right.metric("Answered while open", f"{(due['state'] == 'answered').sum():,}")

tables.table(due, "follow-ups due", columns=["client_name", "episode_id", "condition", "followup", "due_date",
                                              "state", "answered_on", "reminded_at", "checkin_link"])


@signin.while_signed_in
def _make_missing(episode_ids: list[str]) -> None:
    for episode_id in episode_ids:
        checkins.make_link(con, episode_id, by=signin.username(), viewer=signin.viewer_therapist())


missing = sorted(set(waiting["episode_id"]) - set(links))
if missing:
    st.button(f"Make check-in links for the {len(missing)} listed course(s) without one", key="make_missing_links",
              on_click=_make_missing, args=(missing,), icon=":material/add_link:")

st.subheader("Links and QR codes", anchor=False)
for row in waiting.drop_duplicates("episode_id").itertuples():
    if row.episode_id not in links:
        continue
    with st.expander(f"{text.markdown(row.client_name or row.client_id, text.LABEL_CHARS)} · "
                     f"{text.markdown(row.episode_id)} · {row.followup} follow-up, {row.state}"):
        st.code(row.checkin_link, language=None, wrap_lines=True)
        st.image(checkins.qr_png(row.checkin_link), width=160)

st.subheader("Reminders by e-mail", anchor=False)
settings = checkin_ui.smtp_settings()
unreminded = waiting[waiting["reminded_at"].isna()]
if settings is None:
    st.caption("E-mail reminders are off: set the [smtp] table in .streamlit/secrets.toml (README, Reminders).")
elif st.button(f"Send reminders ({len(unreminded)} follow-up(s) not yet reminded)", key="send_reminders",
               icon=":material/send:", disabled=unreminded.empty):
    try:
        result = reminders.send_reminders(con, zip(unreminded["episode_id"], unreminded["followup_day"].astype(int)),
                                          settings, by=signin.username(), viewer=signin.viewer_therapist())
    except (OSError, smtplib.SMTPException) as problem:
        st.error(f"The mail server refused or could not be reached ({type(problem).__name__}); nothing more was "
                 "sent. Reminders already sent are recorded.")
    else:
        st.success(f"Sent {result.sent} reminder(s); {result.without_email} follow-up(s) have no e-mail address "
                   "(add it on Client progress).", icon=":material/mark_email_read:")
