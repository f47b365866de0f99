"""What the staff pages show of a course's check-ins: its personal link with a QR code, the
buttons that make and revoke it, and the client's e-mail address for reminders."""
from __future__ import annotations

import duckdb
import streamlit as st

from analytics import checkins, config, reminders
from ui import signin


@signin.while_signed_in
def _make(con: duckdb.DuckDBPyConnection, episode_id: str) -> None:
    checkins.make_link(con, episode_id, by=signin.username(), viewer=signin.viewer_therapist())


@signin.while_signed_in
def _revoke(con: duckdb.DuckDBPyConnection, episode_id: str) -> None:
    checkins.revoke_link(con, episode_id, by=signin.username(), viewer=signin.viewer_therapist())


def link_panel(con: duckdb.DuckDBPyConnection, episode_id: str) -> None:
    """The course's check-in link (the address to copy and its QR code, and until when it works)
    with Make a new link / Revoke; the page has checked the viewer may see this course."""
    st.subheader("Check-in link", anchor=False)
    link = checkins.link_for(con, episode_id)
    if link is not None and link.is_live:
        url = checkins.public_url(link.token)
        st.code(url, language=None, wrap_lines=True)
        st.image(checkins.qr_png(url), width=180)
        st.caption(f"Works until {link.expires_on:%Y-%m-%d} ({config.CHECKIN_LINK_MONTHS} months after "
                   "the last visit) unless revoked. Making a new link stops the old one.")
    elif link is not None:
        st.caption("The course's check-in link has expired.")
    else:
        st.caption("No check-in link yet: make one to give the client (printed on the report with its QR code).")
    make, revoke = st.columns(2)
    make.button("Make a new link" if link else "Make a check-in link", key="checkin_make_link", on_click=_make,
                args=(con, episode_id), icon=":material/add_link:")
    if link is not None:
        revoke.button("Revoke the link", key="checkin_revoke_link", on_click=_revoke, args=(con, episode_id),
                      icon=":material/link_off:")


@signin.while_signed_in
def _save_email(con: duckdb.DuckDBPyConnection, episode_id: str, key: str) -> None:
    try:
        reminders.save_email(con, episode_id, st.session_state.get(key) or "", by=signin.username(),
                             viewer=signin.viewer_therapist())
    except reminders.ContactRefused as refused:
        st.session_state[f"{key}_problem"] = str(refused)
    else:
        st.session_state.pop(f"{key}_problem", None)
        st.session_state[f"{key}_saved"] = True


def email_field(con: duckdb.DuckDBPyConnection, episode_id: str) -> None:
    """The client's e-mail address for follow-up reminders (typed as a password-style field, so
    it is not shown on a screen turned to others; blank and saved clears it)."""
    key = f"client_email_{episode_id}"
    stored = reminders.email_for(con, episode_id)
    field, button = st.columns([3, 1], vertical_alignment="bottom")
    field.text_input("Client's e-mail for follow-up reminders", value=stored or "", key=key, type="password",
                     max_chars=reminders.MAX_EMAIL_CHARS, help="Used only to e-mail the check-in link; never shown in tables.")
    button.button("Save the e-mail", key="save_client_email", on_click=_save_email, args=(con, episode_id, key),
                  icon=":material/mail:")
    if problem := st.session_state.get(f"{key}_problem"):
        st.error(problem)
    elif st.session_state.pop(f"{key}_saved", False):
        st.success("E-mail address saved.", icon=":material/check_circle:")
    elif stored:
        st.caption("An e-mail address is saved for reminders.")


def smtp_settings() -> reminders.SmtpSettings | None:
    """The [smtp] table of .streamlit/secrets.toml as settings; None when there is none (no
    secrets file, or no host or from)."""
    try:
        table = st.secrets.get("smtp")
    except Exception:  # no secrets.toml at all: Streamlit raises on the first read
        return None
    return reminders.SmtpSettings.from_mapping(dict(table) if table else None)
