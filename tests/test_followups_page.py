"""The Follow-ups due page in-process (AppTest): a sample course due today is listed with its
link once made, shows as answered after the client's check-in, and reminders go out through a
local SMTP server configured in the secrets' [smtp] table."""
from __future__ import annotations

import datetime as dt

import pytest
from aiosmtpd.controller import Controller
from streamlit.testing.v1 import AppTest

from analytics import checkins, config, reminders
from conftest import ROOT, signed_in
from test_reminders import Collect, free_port
from ui import guard

PAGE = str(ROOT / "app_pages" / "followups_due.py")


@pytest.fixture
def due_today(writable_sample_db, monkeypatch):
    """A completed sample course whose 4-week follow-up is due today."""
    monkeypatch.setenv("CLINIC_DB", str(writable_sample_db))
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()
    con = guard.open_connection(str(writable_sample_db))
    row = con.execute("SELECT e.episode_id, max(s.session_date), any_value(e.therapist_id) FROM episodes e"
                      " JOIN sessions s USING (episode_id) GROUP BY e.episode_id HAVING count(*) >= 8"
                      " ORDER BY max(s.session_date) DESC, e.episode_id LIMIT 1").fetchone()
    assert row is not None
    episode_id, last_visit, therapist = row
    monkeypatch.setattr(config, "today", lambda: last_visit + dt.timedelta(days=28))
    guard.clear_metric_cache()
    yield con, episode_id, therapist
    guard.close_connection(str(writable_sample_db))
    guard.clear_metric_cache()


def open_page(role="manager", therapist_id=None, secrets=None) -> AppTest:
    at = signed_in(AppTest.from_file(PAGE, default_timeout=120), role, therapist_id)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def listed(at: AppTest, episode_id: str):
    frame = at.dataframe[0].value
    return frame[frame["episode_id"] == episode_id]


def test_due_today_then_answered_with_the_link_made_on_the_page(due_today):
    con, episode_id, therapist = due_today
    at = open_page("therapist", therapist)
    row = listed(at, episode_id)
    assert row["state"].tolist() == ["due today"] and row["checkin_link"].isna().all()
    assert row["followup"].tolist() == ["4 weeks"]
    next(b for b in at.button if b.key == "make_missing_links").click().run()
    token = checkins.link_for(con, episode_id).token
    assert listed(at, episode_id)["checkin_link"].tolist() == [checkins.public_url(token)]
    assert any(checkins.public_url(token) == str(code.value) for code in at.code)
    assert any("E-mail reminders are off" in str(caption.value) for caption in at.caption)
    checkins.submit(con, token, checkins.Answers(pain=1, pgic=1))
    at.run()
    assert listed(at, episode_id)["state"].tolist() == ["answered"]


def test_send_reminders_through_the_secrets_smtp_server(due_today):
    con, episode_id, therapist = due_today
    reminders.save_email(con, episode_id, "client@example.org", by="desk")
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        at = open_page(secrets={"smtp": {"host": "127.0.0.1", "port": controller.port, "from": "desk@example.org",
                                         "starttls": False}})
        next(b for b in at.button if b.key == "send_reminders").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("Sent 1 reminder" in str(s.value) for s in at.success)
    finally:
        controller.stop()
    assert [e.rcpt_tos for e in handler.envelopes] == [["client@example.org"]]
    at.run()
    assert listed(at, episode_id)["reminded_at"].notna().all()
