"""Record a session: today's visit for a course of care, a new course of care for a new or
returning client, and corrections to a stored visit with their history. Every save is checked
by the importer's rules and written in one transaction (analytics/records.py); a refused save
shows its messages under the fields and writes nothing (ui/forms.py)."""
import streamlit as st

from analytics import records
from analytics import text as stored_text
from ui import client_charts, forms, guard, text

con = guard.connection()
f = client_charts.viewer_filter()
label = forms.LABEL
therapists = records.therapists(con)
if f.viewer_therapist is not None:  # a therapist records and opens courses under their own name only
    therapists = {f.viewer_therapist: therapists.get(f.viewer_therapist, f.viewer_therapist)}

st.title("Record a session")
forms.show_flash()
episode_id = client_charts.episode_picker(con, f)
if episode_id:  # the picker offers only this user's clients; viewing one is audited once per session
    guard.audit_once("view_client", "episode", episode_id)
upcoming = records.next_visit(con, episode_id) if episode_id else None
forms.open_asked_correction(episode_id)  # Data quality's link to a fix: that value, that visit


def client_kind_changed(returning_client: str) -> None:
    is_new = st.session_state["episode_kind"] == "New client"
    st.session_state["episode:client_id"] = records.next_id(con, "clients", "C") if is_new else returning_client


# The open tab is kept across reruns (a save reruns the page): the person stays where they were.
today, opening, correcting = st.tabs(["Today's session", "New course of care", forms.CORRECTION_TAB],
                                     key="record_session_tab", on_change="rerun")

with today:
    if upcoming is None:
        st.info("Choose a client's course of care above to record today's session.")
    else:
        # The widgets' keys name the visit: after a save the next visit's form is a new one, so
        # the browser shows its defaults, not the scores just saved (a kept key keeps its value).
        form, prefix = f"session:{episode_id}", f"session:{episode_id}:{upcoming['visit_number']}:"
        with st.form("record_session_form"):
            forms.errors(form)
            number_column, therapist_column = st.columns([1, 2])
            with number_column:
                st.number_input(label["visit_number"], value=upcoming["visit_number"], step=1, key=prefix + "visit_number")
                forms.errors(form, "visit_number")
            with therapist_column:
                forms.therapist_choice(form, prefix + "therapist_id", therapists, upcoming["therapist_id"])
            forms.session_fields(form, prefix, first_visit=False)
            st.form_submit_button("Save session", type="primary", on_click=forms.save_session,
                                  args=(con, form, episode_id, prefix))
        assert episode_id is not None  # upcoming is known only for a chosen course
        view = guard.episode_view(episode_id, f)
        if view is not None:
            st.plotly_chart(client_charts.pain_chart(view), width="stretch", key="record_pain_chart")

with opening:
    form, prefix = "episode", "episode:first:"
    returning_client = upcoming["client_id"] if upcoming else ""
    kind = st.radio("Client", ["New client", "Returning client"], horizontal=True, key="episode_kind",
                    on_change=client_kind_changed, args=(returning_client,))
    if "episode:client_id" not in st.session_state:
        st.session_state["episode:client_id"] = (records.next_id(con, "clients", "C") if kind == "New client"
                                                 else returning_client)
    with st.form("open_episode_form"):
        forms.errors(form)
        # a signed-in therapist opens courses of care for themselves
        forms.episode_fields(form, kind == "New client", therapists, f.viewer_therapist)
        st.markdown("**First visit**")
        forms.session_fields(form, prefix, first_visit=True)
        st.form_submit_button("Open the course of care", type="primary", on_click=forms.open_course,
                              args=(con, form, prefix, kind == "New client"))

with correcting:
    stored = records.stored_visits(con, episode_id) if episode_id and upcoming is not None else None
    if stored is None or stored.empty or episode_id is None:
        st.info("Choose a client's course of care above to correct one of its visits.")
    else:
        visit_column, field_column = st.columns(2)
        visits, visit_key = stored["visit_number"].tolist(), f"correction_visit:{episode_id}"
        if st.session_state.get(visit_key, visits[-1]) not in visits:  # an address naming no stored visit
            del st.session_state[visit_key]
        # The latest visit by default; a visit already chosen (or asked for by Data quality) is kept.
        visit_number = visit_column.selectbox("Visit", visits, index=None if visit_key in st.session_state else len(visits) - 1,
                                              key=visit_key)
        correctable = records.CORRECTABLE + records.COURSE_CORRECTABLE
        field: str = field_column.selectbox("Value", correctable, format_func=lambda name: label[name],
                                            key="correction_field") or correctable[0]
        if field in records.COURSE_CORRECTABLE:
            st.caption(f"The {label[field].lower()} belongs to the whole course of care: correcting it here changes "
                       f"the course (the history below keeps it under visit {visit_number}).")
        row = stored.set_index("visit_number").loc[visit_number]
        current = records.as_text(row[field])
        # Each accepted correction gives the next form new keys, so the browser clears the value
        # and reason just saved instead of showing them again (ui/forms.py counts the rounds).
        done = forms.corrections_saved()
        value_key = f"correction_value:{episode_id}:{visit_number}:{field}:{done}"
        reason_key = f"correction_reason:{done}"
        form = value_key
        with st.form("correction_form"):
            forms.errors(form)
            if field in records.PRIVATE_TEXT:  # the stored note is the box's text, never its label
                st.text_area(f"New value ({label[field].lower()})", value=current, key=value_key,
                             help="Leave empty to clear the note.")
            else:
                st.text_input(f"New value ({label[field].lower()}, stored: {text.markdown(current) or 'not recorded'})",
                              value=current, key=value_key, help="Leave empty to clear an optional value.")
            forms.errors(form, field)
            st.text_input(label["reason"], key=reason_key, placeholder="for example: typing error")
            forms.errors(form, "reason")
            st.form_submit_button("Save correction", on_click=forms.save_correction,
                                  args=(con, form, int(row["session_id"]), field, value_key, reason_key))
        st.subheader("Corrections to this course of care", anchor=False)
        history = records.correction_history(con, episode_id)
        if history.empty:
            st.caption("No corrections yet.")
        else:
            history["field"] = history["field"].map(lambda name: label.get(name, name))
            for column in ("corrected_by", "old_value", "new_value", "reason"):  # typed text, on one line
                history[column] = history[column].map(lambda value: stored_text.one_line(value) if isinstance(value, str) else value)
            st.dataframe(history, hide_index=True, width="stretch", key="correction_history", column_config={
                "corrected_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
                "corrected_by": "Who", "visit_number": "Visit", "field": "Value", "old_value": "Old",
                "new_value": "New", "reason": "Reason"})
