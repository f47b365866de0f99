"""Follow-up reminders by e-mail: the client's address (client_contacts; never shown in tables
or logs), the SMTP settings (passed in by the page from `.streamlit/secrets.toml` [smtp], so this
module never imports streamlit), and sending one reminder per due follow-up not yet reminded,
with the check-in link in a plain-text body and no health detail (no condition, no pain).

The order of a send: the message goes to the SMTP server first, then its reminders_sent row and
'reminder' audit row are written in one db.write transaction. A failure while sending stores
nothing (that reminder is tried again next time); a failure after the server took the message
could send it twice, never lose the record of one that was stored."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping
from email.message import EmailMessage
from typing import Any

import duckdb

from analytics import audit, checkins, config, db, text

MAX_EMAIL_CHARS = 254
# One address: something@domain.tld, no spaces, no control characters, no second address.
_EMAIL = re.compile(r"^[^@\s,;<>\"'()\[\]\\]+@[^@\s,;<>\"'()\[\]\\]+\.[^@\s,;<>\"'()\[\]\\]+$")
CONTACT_TARGET = "client_contact"  # the audit target type of a saved address ('record', the client id)


class ContactRefused(Exception):
    """An e-mail address that was not saved, worded for the person typing it."""


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    """The clinic's outgoing mail server: `.streamlit/secrets.toml` [smtp] host, port, username,
    password, from, starttls (default true; false only for a server on this machine)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = True

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any] | None) -> SmtpSettings | None:
        """The settings from a mapping like st.secrets["smtp"]; None when host or from is missing."""
        if not settings or not settings.get("host") or not settings.get("from"):
            return None
        return cls(host=str(settings["host"]), port=int(settings.get("port", 587)), sender=str(settings["from"]),
                   username=settings.get("username") or None, password=settings.get("password") or None,
                   starttls=bool(settings.get("starttls", True)))


@dataclasses.dataclass
class SendResult:
    """Reminders sent, follow-ups skipped because the client has no e-mail address, and the
    follow-ups already reminded (left alone)."""

    sent: int = 0
    without_email: int = 0
    already_reminded: int = 0


def _client_of(cursor, episode_id: str, viewer: str | None) -> str | None:
    row = cursor.execute("SELECT client_id, therapist_id FROM episodes WHERE episode_id = ?", [episode_id]).fetchone()
    if row is None or (viewer is not None and row[1] != viewer):
        return None
    return row[0]


def save_email(con: duckdb.DuckDBPyConnection, episode_id: str, email: str, by: str | None,
               viewer: str | None = None) -> None:
    """Save (or, blank, clear) the e-mail address of the course's client, audited 'record' with
    target client_contact and the client id (never the address). A therapist `viewer` saves only
    for their own courses. ContactRefused, nothing written, for an address that is not one."""
    email = (email or "").strip()
    if email and (len(email) > MAX_EMAIL_CHARS or not _EMAIL.match(email) or text.one_line(email) != email):
        raise ContactRefused("That is not an e-mail address (one address, like name@example.com).")
    with db.write(con, episodes=[episode_id]) as cursor:  # named so a clinic chain sends its rows
        client_id = _client_of(cursor, episode_id, viewer)
        if client_id is None:
            raise ContactRefused("No such course of care.")
        cursor.execute("DELETE FROM client_contacts WHERE client_id = ?", [client_id])
        if email:
            cursor.execute("INSERT INTO client_contacts (client_id, email) VALUES (?, ?)", [client_id, email])
        audit.record_on(cursor, by, "record", CONTACT_TARGET, client_id)


def email_for(con: duckdb.DuckDBPyConnection, episode_id: str) -> str | None:
    """The e-mail address of the course's client, None when none is saved."""
    cursor = con.cursor()
    try:
        row = cursor.execute("SELECT m.email FROM episodes e JOIN client_contacts m ON m.client_id = e.client_id"
                             " WHERE e.episode_id = ?", [episode_id]).fetchone()
    finally:
        cursor.close()
    return row[0] if row else None


def message(to: str, first_name: str, url: str, sender: str) -> EmailMessage:
    """The reminder: plain text, the client's first name, the clinic and the link; no condition,
    no pain, nothing else about the client's health."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = f"A short check-in from {config.CLINIC_NAME}"
    greeting = f"Hello {first_name}," if first_name else "Hello,"
    contact = f"\n{config.CLINIC_CONTACT}" if config.CLINIC_CONTACT else ""
    mail.set_content(
        f"{greeting}\n\nIt is time for your follow-up check-in with {config.CLINIC_NAME}. "
        "It takes about a minute: please open this personal link and answer a few questions.\n\n"
        f"{url}\n\nThe link is yours alone; please do not pass it on. If you did not expect this e-mail, "
        f"please let us know.\n\n{config.CLINIC_NAME}{contact}\n")
    return mail


def send_reminders(con: duckdb.DuckDBPyConnection, due: Iterable[tuple[str, int]], settings: SmtpSettings,
                   by: str | None, viewer: str | None = None, today: dt.date | None = None,
                   connect: Callable[..., smtplib.SMTP] = smtplib.SMTP) -> SendResult:
    """E-mail one reminder for each (episode_id, followup_day) in `due` whose course's client has
    an e-mail address and that was not reminded before (reminders_sent), over one SMTP
    connection. A course with no live check-in link gets one made (audited 'checkin_link'). Each
    reminder sent is recorded in reminders_sent and audited 'reminder' (the course id) in its own
    transaction. A therapist `viewer` reminds for their own courses only (others are left out)."""
    today = today or config.today()
    result = SendResult()
    pending: list[tuple[str, int, str, str]] = []
    cursor = con.cursor()
    try:
        for episode_id, followup_day in dict.fromkeys((str(e), int(d)) for e, d in due):
            if _client_of(cursor, episode_id, viewer) is None:
                continue
            if cursor.execute("SELECT 1 FROM reminders_sent WHERE episode_id = ? AND followup_day = ?",
                              [episode_id, followup_day]).fetchone():
                result.already_reminded += 1
                continue
            row = cursor.execute("SELECT m.email, c.display_name FROM episodes e JOIN clients c USING (client_id)"
                                 " JOIN client_contacts m USING (client_id) WHERE e.episode_id = ?", [episode_id]).fetchone()
            if row is None:
                result.without_email += 1
                continue
            words = text.one_line(row[1] or "").split()
            pending.append((episode_id, followup_day, row[0], text.shorten(words[0], 40) if words else ""))
    finally:
        cursor.close()
    if not pending:
        return result
    with connect(settings.host, settings.port, timeout=30) as server:
        if settings.starttls:
            server.starttls(context=ssl.create_default_context())
        if settings.username:
            server.login(settings.username, settings.password or "")
        for episode_id, followup_day, email, first_name in pending:
            link = checkins.link_for(con, episode_id, today)
            token = link.token if link is not None and link.is_live else checkins.make_link(con, episode_id, by=by)
            server.send_message(message(email, first_name, checkins.public_url(token), settings.sender))
            with db.write(con, episodes=[episode_id]) as write:
                write.execute("INSERT INTO reminders_sent (episode_id, followup_day) VALUES (?, ?)",
                              [episode_id, followup_day])
                audit.record_on(write, by, "reminder", "episode", episode_id)
            result.sent += 1
    return result
