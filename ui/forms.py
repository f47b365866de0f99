"""The therapist's forms: widgets keyed by visit-log column, what a save does, the importer's
messages shown under the field they name, and a success message that survives the rerun.

Every save goes through analytics.records, which checks it by the importer's rules and writes it
in one transaction; a refused save keeps its problems here (by form and field) and writes nothing."""
from __future__ import annotations

import datetime as dt

import duckdb
import streamlit as st

from analytics import catalog, config, records
from analytics import text as stored_text
from ui import charts, client_charts, signin, text, words

MAX_FLAGGED_CHOICES = 200  # Data quality's list of flagged courses to open for correction

LABEL = records.FIELD_LABELS
EPISODE_PREFIX = "episode:"  # the new-course form's widgets: episode:condition, episode:client_id, ...
_REFUSED = "_record_refused"  # form id -> the problems of its last refused save
_FLASH = "_therapist_flash"


# ---------------------------------------------------------------------------------------------
# Messages


def flash(message: str, slot: str = _FLASH) -> None:
    """A success message for the next run (written in a form callback, shown by show_flash with
    the same `slot`, so a page with two forms shows each one's message beside it)."""
    st.session_state[slot] = message


def show_flash(slot: str = _FLASH) -> None:
    message = st.session_state.pop(slot, None)
    if message:
        st.success(message, icon=":material/check_circle:")


def _problems(form: str) -> dict[str, list[str]]:
    return st.session_state.get(_REFUSED, {}).get(form, {})


def errors(form: str, field: str = records.WHOLE_FORM) -> None:
    """The last refused save's problems for one field of `form` (or the whole form), right under
    its widget."""
    for message in _problems(form).get(field, []):
        # A message may quote what was typed (a name, a reason): shown literally.
        st.error(text.markdown(message), icon=":material/error:")


# ---------------------------------------------------------------------------------------------
# Widgets


def values_of(prefix: str) -> dict:
    """Widget values whose keys start with `prefix`, by field name (the key's last part)."""
    return {key[len(prefix):]: st.session_state[key] for key in list(st.session_state)
            if isinstance(key, str) and key.startswith(prefix)}


def forget(prefix: str) -> None:
    for key in [key for key in st.session_state if isinstance(key, str) and key.startswith(prefix)]:
        del st.session_state[key]


def number(form: str, prefix: str, field: str, value=None, step: float = 0.5, help: str | None = None) -> None:
    """A number box with no limits of its own, so the importer's rules and messages decide."""
    st.number_input(LABEL[field], value=value, step=step, key=prefix + field, help=help, placeholder="not recorded")
    errors(form, field)


def therapist_choice(form: str, key: str, therapists: dict[str, str], chosen: str | None) -> None:
    ids: list[str] = list(therapists)
    st.selectbox(LABEL["therapist_id"], ids, key=key, index=ids.index(chosen) if chosen in ids else 0,
                 format_func=lambda therapist: stored_text.label(therapists[therapist], text.LABEL_CHARS))
    errors(form, "therapist_id")


def session_fields(form: str, prefix: str, first_visit: bool) -> None:
    """The widgets of one session; their keys are `prefix` + the visit-log column."""
    date_column, pre_column, post_column = st.columns(3)
    with date_column:
        st.date_input(LABEL["session_date"], value=dt.date.today(), format="YYYY-MM-DD", key=prefix + "session_date")
        errors(form, "session_date")
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
    faam, lefs, appointment = st.columns(3)
    with faam:
        number(form, prefix, "faam_adl_pct", step=1.0,
               help="Optional: the FAAM activities-of-daily-living score as scored on the form, 0-100%")
    with lefs:
        number(form, prefix, "lefs", step=1.0, help="Optional: the LEFS total as scored on the form, 0-80")
    with appointment:
        # The importer's rule decides (on or after the session's date); printed on the client's
        # take-home report while it is still ahead.
        st.date_input(LABEL["next_appointment"], value=None, format="YYYY-MM-DD", key=prefix + "next_appointment",
                      help="Optional: the next appointment agreed at this visit; printed on the client's report")
        errors(form, "next_appointment")
    st.text_area(LABEL["note"], key=prefix + "note", placeholder="optional",
                 help="Private to the clinic: never shown in a download, a log or the audit trail. "
                      f"At most {catalog.MAX_NOTE_LENGTH} characters.")
    errors(form, "note")


def episode_fields(form: str, is_new_client: bool, therapists: dict[str, str], therapist: str | None) -> None:
    """The widgets of a new course of care (not its first visit); keys are EPISODE_PREFIX + column."""
    id_column, name_column = st.columns(2)
    with id_column:
        st.text_input(LABEL["client_id"], key=EPISODE_PREFIX + "client_id",
                      help="A new client gets the next free id; a returning client keeps theirs.")
        errors(form, "client_id")
    if is_new_client:
        with name_column:
            st.text_input(LABEL["client_name"], key=EPISODE_PREFIX + "client_name")
            errors(form, "client_name")
    condition_column, course_column, severity_column = st.columns(3)
    with condition_column:
        st.selectbox(LABEL["condition"], config.CONDITIONS, format_func=charts.label, key=EPISODE_PREFIX + "condition")
        errors(form, "condition")
    with course_column:
        st.radio(LABEL["course_type"], config.COURSE_TYPES, format_func=charts.label, horizontal=True,
                 key=EPISODE_PREFIX + "course_type")
        errors(form, "course_type")
    with severity_column:
        st.selectbox(LABEL["severity"], config.SEVERITIES, format_func=charts.label, index=None,
                     placeholder="not recorded", key=EPISODE_PREFIX + "severity")
    injuries_column, onset_column, therapist_column = st.columns(3)
    with injuries_column:
        st.number_input(LABEL["prior_injuries"], value=None, step=1, key=EPISODE_PREFIX + "prior_injuries",
                        placeholder="not recorded")
        errors(form, "prior_injuries")
    with onset_column:
        st.date_input(LABEL["onset_date"], value=None, format="YYYY-MM-DD", key=EPISODE_PREFIX + "onset_date")
        errors(form, "onset_date")
    with therapist_column:
        therapist_choice(form, EPISODE_PREFIX + "therapist_id", therapists, therapist)
    foot_column, _, _ = st.columns(3)
    with foot_column:
        st.selectbox(LABEL["foot_side"], config.FOOT_SIDES, format_func=charts.label, index=None,
                     placeholder="not recorded", key=EPISODE_PREFIX + "foot_side")
        errors(form, "foot_side")


# ---------------------------------------------------------------------------------------------
# Saving (form callbacks)


def _refuse(form: str, refused: records.RecordRefused) -> None:
    st.session_state[_REFUSED] = {form: refused.problems}


def _accept() -> None:
    st.session_state[_REFUSED] = {}


@signin.while_signed_in
def save_session(con: duckdb.DuckDBPyConnection, form: str, episode: str, prefix: str) -> None:
    values = values_of(prefix)
    try:
        records.record_session(con, episode, records.SessionEntry(**values), by=client_charts.who(),
                               viewer=signin.viewer_therapist())
    except records.RecordRefused as refused:
        _refuse(form, refused)
        return
    _accept()
    forget(prefix)  # the next visit starts from the defaults and the next visit number
    flash(f"Visit {values['visit_number']} saved.")


@signin.while_signed_in
def open_course(con: duckdb.DuckDBPyConnection, form: str, prefix: str, is_new_client: bool) -> None:
    details = values_of(EPISODE_PREFIX)
    try:
        new_episode = records.open_episode(con, records.EpisodeEntry(
            client_id=details.get("client_id") or "", client_name=details.get("client_name"),
            condition=details["condition"], course_type=details["course_type"], therapist_id=details["therapist_id"],
            severity=details.get("severity"), prior_injuries=details.get("prior_injuries"),
            onset_date=details.get("onset_date"), foot_side=details.get("foot_side"), is_new_client=is_new_client),
            records.SessionEntry(**values_of(prefix)),
            by=client_charts.who(), viewer=signin.viewer_therapist())
    except records.RecordRefused as refused:
        _refuse(form, refused)
        return
    _accept()
    forget(prefix)
    forget(EPISODE_PREFIX + "client_")
    client_charts.choose_episode(new_episode)
    flash(f"Course of care {new_episode} opened with its first visit.")


PLAN_FORM = "stretching_plan"  # the Client progress page's plan box and its Save button


@signin.while_signed_in
def save_plan(con: duckdb.DuckDBPyConnection, episode: str, key: str) -> None:
    """Save the course's home-stretching plan from the text box `key` (records.save_plan checks
    it, and that a therapist saves only for their own course)."""
    try:
        records.save_plan(con, episode, st.session_state.get(key, ""), by=client_charts.who(),
                          viewer=signin.viewer_therapist())
    except records.RecordRefused as refused:
        _refuse(PLAN_FORM, refused)
        return
    _accept()
    flash("Stretching plan saved; it is shown again here and printed on the report.")


CLOSE_FORM = "close_course"  # the Client progress page's "Close this course" form
CLOSE_FLASH = "_close_course_flash"


@signin.while_signed_in
def close_course(con: duckdb.DuckDBPyConnection, episode: str, reason_key: str, confirm_key: str) -> None:
    """Close the course (or change why it ended) with the reason chosen in `reason_key`, once the
    box `confirm_key` is ticked (records.close_course checks the reason, and that a therapist
    closes only their own course)."""
    if not st.session_state.get(confirm_key):
        _refuse(CLOSE_FORM, records.RecordRefused({"confirm": ["tick the box to confirm, then close the course"]}))
        return
    reason = st.session_state.get(reason_key)
    if not reason:  # a blank reason would reopen the course: that is the other button
        _refuse(CLOSE_FORM, records.RecordRefused({records.CLOSE_REASON: ["choose why the course ended"]}))
        return
    try:
        records.close_course(con, episode, reason, by=client_charts.who(), viewer=signin.viewer_therapist())
    except records.RecordRefused as refused:
        _refuse(CLOSE_FORM, refused)
        return
    _accept()
    st.session_state.pop(confirm_key, None)
    flash(f"Course closed: {words.discharge_reason(str(reason))}. Its status follows on "
          "every page; it can be reopened here.", CLOSE_FLASH)


@signin.while_signed_in
def reopen_course(con: duckdb.DuckDBPyConnection, episode: str, confirm_key: str) -> None:
    """Reopen a closed course (its reason cleared), by the same form and the same checks."""
    if not st.session_state.get(confirm_key):
        _refuse(CLOSE_FORM, records.RecordRefused({"confirm": ["tick the box to confirm, then reopen the course"]}))
        return
    try:
        records.close_course(con, episode, None, by=client_charts.who(), viewer=signin.viewer_therapist())
    except records.RecordRefused as refused:
        _refuse(CLOSE_FORM, refused)
        return
    _accept()
    st.session_state.pop(confirm_key, None)
    flash("Course reopened: it has no discharge reason again.", CLOSE_FLASH)


_CORRECTIONS_SAVED = "_corrections_saved"
CORRECTION_TAB = "Correct a stored visit"
# Data quality's link to a fix: ?episode=E1&correct=onset_date&visit=1 opens the correction tab
# with that value and visit chosen (open_asked_correction).
CORRECT_PARAM, VISIT_PARAM = "correct", "visit"


def open_asked_correction(episode_id: str | None) -> None:
    """When the address asks for a correction (CORRECT_PARAM, VISIT_PARAM), open the correction
    tab with that value and visit chosen, once: the parameters are then dropped from the address,
    so the person can move to another tab or value as usual."""
    field = st.query_params.get(CORRECT_PARAM)
    visit = st.query_params.get(VISIT_PARAM, "")
    for name in (CORRECT_PARAM, VISIT_PARAM):
        if name in st.query_params:
            del st.query_params[name]
    if not episode_id or field not in records.CORRECTABLE + records.COURSE_CORRECTABLE:
        return
    st.session_state["record_session_tab"] = CORRECTION_TAB
    st.session_state["correction_field"] = field
    if visit.isdigit():
        st.session_state[f"correction_visit:{episode_id}"] = int(visit)


def corrections_saved() -> int:
    """How many corrections this browser session has saved: part of the correction form's keys."""
    return int(st.session_state.get(_CORRECTIONS_SAVED, 0))


@signin.while_signed_in
def save_correction(con: duckdb.DuckDBPyConnection, form: str, session_id: int, field: str, value_key: str,
                    reason_key: str) -> None:
    try:
        records.correct_value(con, session_id, field, st.session_state[value_key],
                              st.session_state.get(reason_key, ""), by=client_charts.who(),
                              viewer=signin.viewer_therapist())
    except records.RecordRefused as refused:
        _refuse(form, refused)
        return
    _accept()
    st.session_state.pop(reason_key, None)
    st.session_state.pop(value_key, None)
    st.session_state[_CORRECTIONS_SAVED] = corrections_saved() + 1  # the next form starts empty
    flash(f"{LABEL[field]} corrected; the old value is kept in the history below.")
