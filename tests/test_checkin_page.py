"""The client's check-in page in-process (AppTest): the link alone opens it, with no menu and
no sidebar, the client's first name, and answers that are stored; a bad link tells nothing."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from analytics import checkins, config
from conftest import ROOT
from ui import guard

DASHBOARD = str(ROOT / "dashboard.py")


@pytest.fixture
def linked_course(writable_sample_db, monkeypatch):
    """A finished plantar-fasciitis course of the sample clinic with a live link; today is 30 days
    after its last visit."""
    monkeypatch.setenv("CLINIC_DB", str(writable_sample_db))
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()
    con = guard.open_connection(str(writable_sample_db))
    row = con.execute(
        "SELECT e.episode_id, max(s.session_date), any_value(c.display_name) FROM episodes e"
        " JOIN sessions s USING (episode_id) JOIN clients c USING (client_id)"
        " WHERE e.condition = 'plantar_fasciitis' GROUP BY e.episode_id HAVING count(*) >= 5"
        " ORDER BY e.episode_id LIMIT 1").fetchone()
    assert row is not None
    episode_id, last_visit, name = row
    today = last_visit + dt.timedelta(days=30)
    monkeypatch.setattr(config, "today", lambda: today)
    token = checkins.make_link(con, episode_id, by="boss")
    yield con, episode_id, token, name, today
    guard.close_connection(str(writable_sample_db))
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()


def open_link(token: str) -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.query_params["checkin"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def radio(at: AppTest, key: str):
    return next(widget for widget in at.radio if widget.key == key)


def test_the_link_opens_the_checkin_only_and_stores_the_answers(linked_course):
    con, episode_id, token, name, today = linked_course
    at = open_link(token)
    assert len(at.sidebar) == 0  # no menu, no filters, no sign-in
    assert not at.text_input  # no password field
    shown = "\n".join(str(element.value) for element in (*at.title, *at.markdown))
    first, *rest = name.split()
    assert f"Hello {first}" in shown
    assert rest and not any(word in shown for word in rest)  # the first name only
    assert episode_id not in shown
    assert [widget.key for widget in at.radio] == ["checkin_pain", "checkin_first_steps", "checkin_stretch_days",
                                                   "checkin_pgic", "checkin_pain_returned"]
    radio(at, "checkin_pain").set_value(2)
    radio(at, "checkin_first_steps").set_value(4)
    radio(at, "checkin_stretch_days").set_value(5)
    radio(at, "checkin_pgic").set_value(2)
    radio(at, "checkin_pain_returned").set_value("no")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("answers are saved" in str(element.value) for element in at.success)
    assert con.execute("SELECT episode_id, answered_on, source, pain, first_steps_pain, stretch_days, pgic, pain_returned"
                       " FROM checkins WHERE source = 'link'").fetchall() == [(episode_id, today, "link", 2.0, 4.0, 5, 2, False)]
    assert con.execute("SELECT username, target_id FROM audit_log WHERE action = 'checkin'").fetchall() == [(None, episode_id)]


@pytest.mark.parametrize("kind", ["unknown", "revoked", "expired"])
def test_a_bad_revoked_or_expired_link_gets_one_plain_message(linked_course, monkeypatch, kind):
    con, episode_id, token, name, today = linked_course
    if kind == "unknown":
        token = token[::-1]
    elif kind == "revoked":
        checkins.revoke_link(con, episode_id, by="boss")
    else:
        monkeypatch.setattr(config, "today", lambda: today + dt.timedelta(days=400))
    at = open_link(token)
    assert [str(element.value) for element in at.info] == [checkins.INVALID_LINK]
    assert not at.radio and not at.button and len(at.sidebar) == 0
    assert not at.title and not at.markdown


PROGRESS = str(ROOT / "app_pages" / "client_progress.py")


def progress_page(episode_id: str, role: str = "manager", therapist_id: str | None = None) -> AppTest:
    from conftest import signed_in

    at = signed_in(AppTest.from_file(PROGRESS, default_timeout=120), role, therapist_id)
    at.query_params["episode"] = episode_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    next(button for button in at.button if button.key == key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_courses_therapist_makes_and_revokes_the_link_and_saves_the_email(linked_course):
    con, episode_id, old_token, name, today = linked_course
    therapist = con.execute("SELECT therapist_id FROM episodes WHERE episode_id = ?", [episode_id]).fetchone()[0]
    at = progress_page(episode_id, "therapist", therapist)
    assert any(old_token in str(code.value) for code in at.code)
    at = click(at, "checkin_make_link")
    new = checkins.link_for(con, episode_id)
    assert new.token != old_token and checkins.course_for_token(con, old_token) is None
    assert any(checkins.public_url(new.token) == str(code.value) for code in at.code)
    at = click(at, "checkin_revoke_link")
    assert checkins.link_for(con, episode_id) is None and not at.code
    at.text_input(key=f"client_email_{episode_id}").input("not an address")
    at = click(at, "save_client_email")
    assert any("not an e-mail address" in str(error.value) for error in at.error)
    at.text_input(key=f"client_email_{episode_id}").input("ann@example.org")
    at = click(at, "save_client_email")
    assert con.execute("SELECT m.email FROM client_contacts m JOIN episodes e USING (client_id)"
                       " WHERE e.episode_id = ?", [episode_id]).fetchall() == [("ann@example.org",)]
    assert con.execute("SELECT count(*) FROM audit_log WHERE action = 'record' AND target_type = 'client_contact'"
                       " AND target_id NOT LIKE '%@%'").fetchone() == (1,)
    assert "ann@example.org" not in "\n".join(str(e.value) for e in (*at.markdown, *at.caption, *at.success))


def test_a_signed_in_user_opening_a_link_gets_the_checkin_only_and_the_list_needs_sign_in(linked_course):
    from conftest import signed_in

    con, episode_id, token, name, today = linked_course
    at = signed_in(AppTest.from_file(DASHBOARD, default_timeout=120))
    at.query_params["checkin"] = token
    at.run()
    assert not at.exception and len(at.sidebar) == 0
    assert [widget.key for widget in at.radio][0] == "checkin_pain"
    # Signed out, the front desk's list is behind the sign-in form like every staff page.
    at = AppTest.from_file(str(ROOT / "app_pages" / "followups_due.py"), default_timeout=120).run()
    assert not at.exception and not at.dataframe
    assert any(widget.label == "Password" for widget in at.text_input)
