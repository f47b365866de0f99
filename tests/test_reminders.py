"""Follow-up reminders over SMTP, against a real SMTP server on 127.0.0.1 (aiosmtpd) started by
the test on a free port: one e-mail per due follow-up not yet reminded, the link in the text,
no health details, recorded and audited; the client's e-mail address checked and never logged."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from analytics import audit, checkins, config, metrics, reminders
from analytics.filters import ALL
from conftest import visit

LAST = dt.date(2026, 1, 5)
TODAY = LAST + dt.timedelta(days=30)


class Collect:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, reminders.SmtpSettings.from_mapping(
        {"host": "127.0.0.1", "port": controller.port, "from": "clinic@example.org", "starttls": False})
    controller.stop()


@pytest.fixture
def due_courses(clinic_db, monkeypatch):
    """Two courses whose 4-week follow-up is 2 days overdue; A's client has an e-mail address,
    B's not. A third (C, another therapist's) has one too."""
    monkeypatch.setattr(config, "today", lambda: TODAY)
    monkeypatch.setattr(config, "CLINIC_NAME", "Riverside Clinic")
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()
    con = clinic_db([visit("A", 1, str(LAST), 6, 4, client_name="Ann Example"),
                     visit("B", 1, str(LAST), 6, 4, client_name="Bob Other", condition="heel_spur"),
                     visit("C", 1, str(LAST), 6, 4, client_name="Cy Third", therapist_id="T2"),
                     visit("Z", 1, str(TODAY), 5, 4)])  # the clinic's latest visit: A, B and C are no longer active
    reminders.save_email(con, "A", "ann@example.org", by="desk")
    reminders.save_email(con, "C", "cy@example.org", by="desk")
    return con


def _due(con, f=ALL):
    due = metrics.followups_due(con, f)
    return list(zip(due["episode_id"], due["followup_day"]))


def test_one_reminder_per_due_followup_with_the_link_and_no_health_details(due_courses, smtp_server):
    con = due_courses
    handler, settings = smtp_server
    result = reminders.send_reminders(con, _due(con), settings, by="desk")
    assert (result.sent, result.without_email, result.already_reminded) == (2, 1, 0)
    assert sorted(envelope.rcpt_tos[0] for envelope in handler.envelopes) == ["ann@example.org", "cy@example.org"]
    to_ann = next(e for e in handler.envelopes if e.rcpt_tos == ["ann@example.org"])
    mail = email.message_from_bytes(to_ann.content, policy=email.policy.default)
    body = mail.get_content()
    link = checkins.link_for(con, "A")
    assert link is not None and checkins.public_url(link.token) in body  # a link was made for it
    assert "Hello Ann," in body and "Example" not in body
    said = (str(mail["Subject"]) + body.replace(checkins.public_url(link.token), "")).lower()
    for health in ("plantar", "fasciitis", "pain", "heel", "spur", "6", "4"):  # condition, scores
        assert health not in said
    assert checkins.course_for_token(con, link.token).episode_id == "A"
    assert con.execute("SELECT episode_id, followup_day FROM reminders_sent ORDER BY 1").fetchall() == [("A", 28), ("C", 28)]
    events = audit.entries(con, actions=("reminder",))
    assert sorted(events["target_id"]) == ["A", "C"] and set(events["username"]) == {"desk"}
    assert metrics.followups_due(con, ALL).set_index("episode_id")["reminded_at"].notna().to_dict() == \
        {"A": True, "B": False, "C": True}
    # Sending again sends nothing new: each follow-up is reminded once.
    again = reminders.send_reminders(con, _due(con), settings, by="desk")
    assert (again.sent, again.already_reminded) == (0, 2) and len(handler.envelopes) == 2


def test_a_therapist_reminds_only_their_own_clients(due_courses, smtp_server):
    con = due_courses
    handler, settings = smtp_server
    result = reminders.send_reminders(con, _due(con), settings, by="t1", viewer="T1")
    assert result.sent == 1 and [e.rcpt_tos for e in handler.envelopes] == [["ann@example.org"]]


def test_a_refusing_server_records_nothing(due_courses, smtp_server, monkeypatch):
    con = due_courses
    handler, settings = smtp_server
    closed = reminders.SmtpSettings("127.0.0.1", free_port(), "clinic@example.org", starttls=False)
    with pytest.raises(OSError):
        reminders.send_reminders(con, _due(con), closed, by="desk")
    assert con.execute("SELECT count(*) FROM reminders_sent").fetchone() == (0,)
    assert audit.entries(con, actions=("reminder",)).empty


@pytest.mark.parametrize("bad", ["not an address", "a@b", "a@b.c, d@e.f", "a@b.c\nBcc: x@y.z", "<a@b.c>",
                                 "x" * 250 + "@b.co"])
def test_an_email_address_is_one_address(due_courses, bad):
    with pytest.raises(reminders.ContactRefused):
        reminders.save_email(due_courses, "B", bad, by="desk")
    assert reminders.email_for(due_courses, "B") is None


def test_saving_blank_clears_and_a_therapist_saves_only_for_their_own(due_courses):
    con = due_courses
    with pytest.raises(reminders.ContactRefused):
        reminders.save_email(con, "C", "x@example.org", by="t1", viewer="T1")
    assert reminders.email_for(con, "C") == "cy@example.org"
    reminders.save_email(con, "A", "", by="desk")
    assert reminders.email_for(con, "A") is None
    logged = con.execute("SELECT string_agg(coalesce(target_id, '') || coalesce(target_type, ''), ' ') FROM audit_log").fetchone()[0]
    assert "@" not in logged


def test_smtp_settings_from_the_secrets_table():
    assert reminders.SmtpSettings.from_mapping(None) is None
    assert reminders.SmtpSettings.from_mapping({"host": "mail.example.org"}) is None  # no from
    settings = reminders.SmtpSettings.from_mapping({"host": "mail.example.org", "from": "c@example.org",
                                                    "username": "c", "password": "p"})
    assert (settings.port, settings.starttls, settings.username) == (587, True, "c")
