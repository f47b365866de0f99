"""Record a session: today's visit for a course of care, a new course of care for a new or
returning client, and corrections to a stored visit with their history. Every save is checked
by the importer's rules and written in one transaction (analytics/records.py); a refused save
shows its messages under the fields and writes nothing."""
import datetime as dt

import streamlit as st

from analytics import client, config, records
from ui import charts, client_charts, guard

con = guard.connection()
f = client_charts.viewer_filter()
label = records.FIELD_LABELS
therapists = records.therapists(con)
REFUSED = "_record_refused"  # form id -> the problems of its last refused save

st.title("Record a session")
client_charts.show_flash()
episode_id = client_charts.episode_picker(con, f)
upcoming = records.next_visit(con, episode_id) if episode_id else None


def problems(form: str) -> dict[str, list[str]]:
    return st.session_state.get(REFUSED, {}).get(form, {})


def refuse(form: str, refused: records.RecordRefused) -> None:
    st.session_state[REFUSED] = {form: refused.problems}


def values_of(prefix: str) -> dict:
    """Widget values whose keys start with `prefix`, by field name (the key's last part)."""
    return {key[len(prefix):]: st.session_state[key] for key in list(st.session_state)
            if isinstance(key, str) and key.startswith(prefix)}


def form_errors(form: str, field: str = records.WHOLE_FORM) -> None:
    client_charts.field_errors(problems(form), field)


def number(form: str, prefix: str, field: str, value=None, step: float = 0.5, help: str | None = None) -> None:
    """A number box with no limits of its own, so the importer's rules and messages decide."""
    st.number_input(label[field], value=value, step=step, key=prefix + field, help=help, placeholder="not recorded")
    form_errors(form, field)


def session_fields(form: str, prefix: str, first_visit: bool) -> None:
    """The widgets of one session; their keys are `prefix` + the visit-log column."""
    date_column, pre_column, post_column = st.columns(3)
    with date_column:
        st.date_input(label["session_date"], value=dt.date.today(), format="YYYY-MM-DD", key=prefix + "session_date")
        form_errors(form, "session_date")
    with pre_column:
        number(form, prefix, "pain_pre", help="0 = no pain, 10 = the worst imaginable")
        number(form, prefix, "psfs_pre", help="Optional: 0-10, higher is better")
        number(form, prefix, "dorsiflexion_pre_deg", step=1.0, help="Optional: -30 to 80 degrees")
    with post_column:
        number(form, prefix, "pain_post", help="Leave empty if the client left before the end")
        number(form, prefix, "psfs_post")
        number(form, prefix, "dorsiflexion_post_deg", step=1.0)
    minutes, length, stretching = st.columns(3)
    with minutes:
        number(form, prefix, "sore_spot_min", value=records.DEFAULT_SORE_SPOT_MIN, step=5)
    with length:
        number(form, prefix, "duration_min", value=records.DEFAULT_DURATION_MIN, step=5)
    if not first_visit:  # no week of home program before the first visit
        with stretching:
            number(form, prefix, "stretching_adherence_pct", step=5.0,
                   help="Share of days since the last visit on which the client did their stretches (0-100)")


def forget(prefix: str) -> None:
    for key in [key for key in st.session_state if isinstance(key, str) and key.startswith(prefix)]:
        del st.session_state[key]


def save_session(form: str, episode: str, prefix: str) -> None:
    values = values_of(prefix)
    try:
        records.record_session(con, episode, records.SessionEntry(**values))
    except records.RecordRefused as refused:
        refuse(form, refused)
        return
    st.session_state[REFUSED] = {}
    guard.audit_event("record", "episode", episode)
    forget(prefix)  # the next visit starts from the defaults and the next visit number
    client_charts.flash(f"Visit {values['visit_number']} saved.")


def open_course(form: str, prefix: str, is_new_client: bool) -> None:
    details = values_of("episode:")
    try:
        new_episode = records.open_episode(con, records.EpisodeEntry(
            client_id=details.get("client_id") or "", client_name=details.get("client_name"),
            condition=details["condition"], course_type=details["course_type"], therapist_id=details["therapist_id"],
            severity=details.get("severity"), prior_injuries=details.get("prior_injuries"),
            onset_date=details.get("onset_date"), is_new_client=is_new_client), records.SessionEntry(**values_of(prefix)))
    except records.RecordRefused as refused:
        refuse(form, refused)
        return
    st.session_state[REFUSED] = {}
    guard.audit_event("record", "episode", new_episode)
    forget(prefix)
    forget("episode:client_")
    client_charts.choose_episode(new_episode)
    client_charts.flash(f"Course of care {new_episode} opened with its first visit.")


def client_kind_changed(returning_client: str) -> None:
    is_new = st.session_state["episode_kind"] == "New client"
    st.session_state["episode:client_id"] = records.next_id(con, "clients", "C") if is_new else returning_client


def save_correction(form: str, session_id: int, field: str, value_key: str) -> None:
    try:
        records.correct_value(con, session_id, field, st.session_state[value_key],
                              st.session_state.get("correction_reason", ""), by=client_charts.who())
    except records.RecordRefused as refused:
        refuse(form, refused)
        return
    st.session_state[REFUSED] = {}
    guard.audit_event("correct", "session", str(session_id))
    st.session_state.pop("correction_reason", None)
    st.session_state.pop(value_key, None)
    client_charts.flash(f"{label[field]} corrected; the old value is kept in the history below.")


today, opening, correcting = st.tabs(["Today's session", "New course of care", "Correct a stored visit"])

with today:
    if upcoming is None:
        st.info("Choose a client's course of care above to record today's session.")
    else:
        form, prefix = f"session:{episode_id}", f"session:{episode_id}:"
        with st.form("record_session_form"):
            form_errors(form)
            number_column, therapist_column = st.columns([1, 2])
            with number_column:
                st.number_input(label["visit_number"], value=upcoming["visit_number"], step=1, key=prefix + "visit_number")
                form_errors(form, "visit_number")
            with therapist_column:
                ids = list(therapists)
                st.selectbox(label["therapist_id"], ids, format_func=therapists.get, key=prefix + "therapist_id",
                             index=ids.index(upcoming["therapist_id"]) if upcoming["therapist_id"] in ids else 0)
                form_errors(form, "therapist_id")
            session_fields(form, prefix, first_visit=False)
            st.form_submit_button("Save session", type="primary", on_click=save_session, args=(form, episode_id, prefix))
        view = client.episode_view(con, episode_id, f)
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
        form_errors(form)
        id_column, name_column = st.columns(2)
        with id_column:
            st.text_input(label["client_id"], key="episode:client_id",
                          help="A new client gets the next free id; a returning client keeps theirs.")
            form_errors(form, "client_id")
        if kind == "New client":
            with name_column:
                st.text_input(label["client_name"], key="episode:client_name")
                form_errors(form, "client_name")
        condition_column, course_column, severity_column = st.columns(3)
        with condition_column:
            st.selectbox(label["condition"], config.CONDITIONS, format_func=charts.label, key="episode:condition")
            form_errors(form, "condition")
        with course_column:
            st.radio(label["course_type"], config.COURSE_TYPES, format_func=charts.label, horizontal=True,
                     key="episode:course_type")
            form_errors(form, "course_type")
        with severity_column:
            st.selectbox(label["severity"], config.SEVERITIES, format_func=charts.label, index=None,
                         placeholder="not recorded", key="episode:severity")
        injuries_column, onset_column, therapist_column = st.columns(3)
        with injuries_column:
            st.number_input(label["prior_injuries"], value=None, step=1, key="episode:prior_injuries",
                            placeholder="not recorded")
            form_errors(form, "prior_injuries")
        with onset_column:
            st.date_input(label["onset_date"], value=None, format="YYYY-MM-DD", key="episode:onset_date")
            form_errors(form, "onset_date")
        with therapist_column:
            ids = list(therapists)  # a signed-in therapist opens courses of care for themselves
            st.selectbox(label["therapist_id"], ids, format_func=therapists.get, key="episode:therapist_id",
                         index=ids.index(f.viewer_therapist) if f.viewer_therapist in ids else 0)
            form_errors(form, "therapist_id")
        st.markdown("**First visit**")
        session_fields(form, prefix, first_visit=True)
        st.form_submit_button("Open the course of care", type="primary", on_click=open_course,
                              args=(form, prefix, kind == "New client"))

with correcting:
    stored = records.stored_visits(con, episode_id) if upcoming is not None else None
    if stored is None or stored.empty:
        st.info("Choose a client's course of care above to correct one of its visits.")
    else:
        visit_column, field_column = st.columns(2)
        visit_number = visit_column.selectbox("Visit", stored["visit_number"].tolist(), index=len(stored) - 1,
                                              key=f"correction_visit:{episode_id}")
        field = field_column.selectbox("Value", records.CORRECTABLE, format_func=label.get, key="correction_field")
        row = stored.set_index("visit_number").loc[visit_number]
        current = records.as_text(row[field])
        value_key = f"correction_value:{episode_id}:{visit_number}:{field}"
        form = value_key
        with st.form("correction_form"):
            form_errors(form)
            st.text_input(f"New value ({label[field].lower()}, stored: {current or 'not recorded'})", value=current,
                          key=value_key, help="Leave empty to clear an optional value.")
            form_errors(form, field)
            st.text_input(label["reason"], key="correction_reason", placeholder="for example: typing error")
            form_errors(form, "reason")
            st.form_submit_button("Save correction", on_click=save_correction,
                                  args=(form, int(row["session_id"]), field, value_key))
        st.subheader("Corrections to this course of care", anchor=False)
        history = records.correction_history(con, episode_id)
        if history.empty:
            st.caption("No corrections yet.")
        else:
            history["field"] = history["field"].map(lambda name: label.get(name, name))
            st.dataframe(history, hide_index=True, width="stretch", key="correction_history", column_config={
                "corrected_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
                "corrected_by": "Who", "visit_number": "Visit", "field": "Value", "old_value": "Old",
                "new_value": "New", "reason": "Reason"})
