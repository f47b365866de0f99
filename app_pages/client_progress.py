"""Client progress: one client's course of care to go through with them, their pain by visit
against similar clients, a summary in plain words, and a one-page report to take home."""
import streamlit as st

from analytics import checkins as checkins_data
from analytics import client, config, records, report
from ui import checkins, client_charts, forms, guard, tables, text, words

con = guard.connection()
f = client_charts.viewer_filter()
heading, switch = st.columns([4, 1], vertical_alignment="bottom")
with switch:
    client_view = client_charts.client_view_toggle()

if client_view:
    # Turned to the client: no picker, no list, no other names; only the course of care chosen
    # when client view began, until the therapist's password ends it.
    client_charts.client_view_exit(con)
    episode_id = client_charts.client_view_episode()
else:
    heading.title("Client progress")
    guard.sample_data_notice(con)
    episode_id = client_charts.episode_picker(con, f)
if not episode_id:
    st.info("Turn client view off to choose a client." if client_view
            else "Find a client by name or id, then choose their course of care.")
    st.stop()

view = guard.episode_view(episode_id, f)
if view is None:
    st.warning(f"Course of care {client_charts.plain(episode_id[:40])} was not found, or is not one of your clients.",
               icon=":material/search_off:")
    st.stop()
summary = view.summary
guard.audit_once("view_client", "episode", episode_id)
name = text.markdown(view.client_name or summary["client_id"], text.HEADING_CHARS)  # literal, on one line
course = client.condition_words(summary["course_type"], summary["condition"]).capitalize()
low, high = config.RECOMMENDED_SESSIONS[summary["course_type"]]

if client_view:
    heading.title(f"{name}: your progress")
    st.header(client_charts.plain(view.sentence), anchor=False)
    if view.held:
        st.subheader(client_charts.plain(view.held), anchor=False)
else:
    status = words.course_status(summary["status"], summary["discharge_reason"])
    st.subheader(f"{name} · {course} · {summary['visits']} of {low}-{high} sessions · {status}", anchor=False)
    st.markdown(f"**{client_charts.plain(view.sentence)}**")
    if view.held:
        st.markdown(client_charts.plain(view.held))
    reason = summary["discharge_reason"]
    with st.expander("Close this course" if reason is None else "Closed: change why it ended, or reopen it",
                     icon=":material/event_available:"):
        reasons = list(config.DISCHARGE_REASONS)
        st.selectbox("Why the course ended", reasons, format_func=words.discharge_reason,
                     index=reasons.index(reason) if reason in reasons else None,
                     placeholder="Choose a reason", key=f"discharge_reason_{episode_id}")
        st.checkbox("I have checked this with the client's record", key=f"close_confirm_{episode_id}")
        forms.errors(forms.CLOSE_FORM, "confirm")
        forms.errors(forms.CLOSE_FORM, records.CLOSE_REASON)
        forms.errors(forms.CLOSE_FORM, "episode_id")
        forms.errors(forms.CLOSE_FORM)
        close, reopen = st.columns(2)
        close.button("Close this course" if reason is None else "Change the reason", key="close_course",
                     icon=":material/check:", on_click=forms.close_course,
                     args=(con, episode_id, f"discharge_reason_{episode_id}", f"close_confirm_{episode_id}"))
        if reason is not None:
            reopen.button("Reopen this course", key="reopen_course", icon=":material/undo:",
                          on_click=forms.reopen_course, args=(con, episode_id, f"close_confirm_{episode_id}"))
        st.caption(f"A course closed with goals met or improved enough counts as completed; closed for another "
                   f"reason before the recommended {low} sessions, as closed early. Without a reason, a course "
                   f"with no visit for {words.active_window()} counts as lost to follow-up.")
    forms.show_flash(forms.CLOSE_FLASH)

st.plotly_chart(client_charts.pain_chart(view, large=client_view), width="stretch", key="client_pain_chart")
st.caption(f"The shaded band shows how the middle half of similar clients felt before each visit, {view.peers}; "
           f"the green area is the recommended {low}-{high} sessions for {summary['course_type']} courses. "
           f"A clear change means pain {words.improvement_rule()} lower than at the first session.")

small = client_charts.small_charts(view.progress, summary["course_type"], large=client_view)
for column, (kind, figure) in zip(st.columns(max(len(small), 1)), small):
    column.plotly_chart(figure, width="stretch", key=f"client_{kind}_chart")

st.subheader("Report for the client", anchor=False)
saved_plan = records.stretching_plan(con, episode_id)
notes = st.text_area("Home stretching plan", value=saved_plan or report.default_notes(summary["condition"]),
                     height=160, key=f"stretching_notes_{episode_id}", max_chars=report.MAX_NOTES_CHARS)
if not client_view:
    st.button("Save the plan", key="save_stretching_plan", icon=":material/save:", on_click=forms.save_plan,
              args=(con, episode_id, f"stretching_notes_{episode_id}"))
    forms.errors(forms.PLAN_FORM, "stretching_plan")
    forms.errors(forms.PLAN_FORM, "episode_id")
    forms.show_flash()
    if saved_plan is None:
        st.caption("Not saved yet: this is the usual plan for the condition.")
    checkins.link_panel(con, episode_id)
    checkins.email_field(con, episode_id)
today = config.today()
upcoming = report.upcoming_appointment(view, today)
if upcoming is not None:
    st.markdown(f"Next appointment: **{upcoming:%A %d %B %Y}** (printed on the report)")
elif not client_view and summary["status"] == "active":  # a finished course has no next visit to book
    stored = ("No next appointment is stored with the latest visit" if view.next_appointment is None else
              f"The next appointment stored with the latest visit, {view.next_appointment:%d %B %Y}, has passed")
    st.caption(f"{stored}: record it with the visit on Record a session (or correct the visit there), "
               "and the report prints it.")
therapist = records.therapists(con).get(summary["therapist_id"]) or summary["therapist_id"]
link = checkins_data.link_for(con, episode_id)
content = report.report_content(view, notes, today, therapist=therapist,
                                checkin_url=checkins_data.public_url(link.token) if link and link.is_live else None)
st.download_button("Download the report (PDF)",  # made and audited on click
                   tables.audited_download(lambda: report.progress_report_pdf(content), "report_download", "episode",
                                           episode_id),
                   file_name=report.report_filename(summary["client_id"], episode_id), mime="application/pdf",
                   icon=":material/picture_as_pdf:", key="client_report_download")
