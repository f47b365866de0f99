"""A therapist probing for a colleague's clients: every route issue #12 found open is tried, on
the server side (analytics.records, whatever a browser sends) and through the real pages."""
from __future__ import annotations

import datetime as dt

import pytest

from analytics import db, records
from analytics.records import EpisodeEntry, RecordRefused, SessionEntry
from conftest import visit
from test_access import app, sign_in  # noqa: F401  (the fixture is used by name)

# E1: T1's client CE1. E2: T2's client CE2, whom T1 must never reach.
MINE = [visit("E1", 1, "2025-01-06", 7, 5, client_name="Ada Dale"), visit("E1", 2, "2025-01-13", 6, 4)]
THEIRS = [visit("E2", 1, "2025-02-03", 8, 6, therapist_id="T2", client_name="Ben Stone"),
          visit("E2", 2, "2025-02-10", 7, 5, therapist_id="T2")]


@pytest.fixture
def con(clinic_db):
    return clinic_db(MINE + THEIRS)


def first_visit() -> SessionEntry:
    return SessionEntry(session_date=dt.date(2025, 3, 3), pain_pre=6, pain_post=4)


def refused(call) -> dict[str, list[str]]:
    with pytest.raises(RecordRefused) as refusal:
        call()
    return refusal.value.problems


def test_a_colleagues_returning_client_gets_the_same_answer_as_an_unknown_id(con):
    before = db.table_checksums(con)
    theirs = refused(lambda: records.open_episode(
        con, EpisodeEntry("CE2", "heel_spur", "acute", "T1", is_new_client=False), first_visit(), viewer="T1"))
    unknown = refused(lambda: records.open_episode(
        con, EpisodeEntry("CE9", "heel_spur", "acute", "T1", is_new_client=False), first_visit(), viewer="T1"))
    # The same words but for the id typed: nothing tells the therapist that CE2 exists.
    assert theirs["client_id"][0].replace("CE2", "ID") == unknown["client_id"][0].replace("CE9", "ID")
    assert db.table_checksums(con) == before
    # Their own returning client is fine.
    episode = records.open_episode(con, EpisodeEntry("CE1", "bunion", "acute", "T1", is_new_client=False),
                                   first_visit(), viewer="T1")
    assert con.execute("SELECT client_id, therapist_id FROM episodes WHERE episode_id = ?", [episode]).fetchone() == ("CE1", "T1")


def test_a_new_client_of_a_therapist_gets_a_fresh_id_whatever_was_typed(con):
    # A rewritten form claims CE2 (a colleague's client) as a "new" client id: a fresh id is used.
    episode = records.open_episode(con, EpisodeEntry("CE2", "heel_spur", "acute", "T1", client_name="New Person"),
                                   first_visit(), viewer="T1")
    client_id = con.execute("SELECT client_id FROM episodes WHERE episode_id = ?", [episode]).fetchone()[0]
    assert client_id not in ("CE1", "CE2") and client_id.startswith("C")
    assert con.execute("SELECT count(*) FROM episodes WHERE client_id = 'CE2'").fetchone()[0] == 1


@pytest.mark.parametrize("therapist_id", ["T2", "T99"])
def test_a_therapist_opens_and_records_only_under_their_own_id(con, therapist_id):
    before = db.table_checksums(con)
    problems = refused(lambda: records.open_episode(
        con, EpisodeEntry("", "heel_spur", "acute", therapist_id, client_name="Cy"), first_visit(), viewer="T1"))
    assert "therapist_id" in problems
    problems = refused(lambda: records.record_session(
        con, "E1", SessionEntry(session_date=dt.date(2025, 1, 20), pain_pre=5, pain_post=4, therapist_id=therapist_id),
        viewer="T1"))
    assert "therapist_id" in problems
    assert db.table_checksums(con) == before


def test_a_rewritten_unknown_therapist_is_never_stored_even_for_a_manager(con):
    before = db.table_checksums(con)
    problems = refused(lambda: records.record_session(
        con, "E1", SessionEntry(session_date=dt.date(2025, 1, 20), pain_pre=5, pain_post=4, therapist_id="T99")))
    assert problems["therapist_id"] == ["no therapist T99 is stored"]
    assert db.table_checksums(con) == before


def test_a_colleagues_course_and_visits_are_not_stored_for_a_therapist(con):
    before = db.table_checksums(con)
    problems = refused(lambda: records.record_session(
        con, "E2", SessionEntry(session_date=dt.date(2025, 2, 17), pain_pre=5, pain_post=4), viewer="T1"))
    assert problems == {"episode_id": ["no course of care E2 is stored"]}
    their_session = con.execute("SELECT session_id FROM sessions WHERE episode_id = 'E2' AND visit_number = 1").fetchone()[0]
    problems = refused(lambda: records.correct_value(con, their_session, "pain_pre", "2", "typing error",
                                                     by="therapist1", viewer="T1"))
    assert problems == {"": [f"no stored visit has session id {their_session}"]}
    assert db.table_checksums(con) == before


def test_the_sidebar_offers_a_therapist_no_colleague_and_ignores_one_in_the_address(app):  # noqa: F811
    make, con = app
    at = sign_in(make(), "therapist1")
    at.query_params["therapist"] = "T02"
    at.switch_page("app_pages/courses.py").run()
    assert not at.exception
    assert "Therapist" not in [widget.label for widget in at.sidebar.multiselect]
    names = [row[0] for row in con.execute("SELECT name FROM therapists WHERE therapist_id <> 'T01'").fetchall()]
    shown = " ".join(str(element.value) for kind in ("markdown", "caption", "warning", "info")
                     for element in at.sidebar.get(kind))
    assert not any(name and name in shown for name in names)
    # The page is the clinic's, not T02's: the same figures as with no address parameter.
    assert at.query_params.get("therapist") in (None, [])


def test_the_record_page_offers_a_therapist_only_themselves(app):  # noqa: F811
    make, con = app
    at = sign_in(make(), "therapist1")
    at.switch_page("app_pages/record_session.py").run()
    assert not at.exception
    own_name = con.execute("SELECT name FROM therapists WHERE therapist_id = 'T01'").fetchone()[0]
    therapist_boxes = [box for box in at.selectbox if box.label == records.FIELD_LABELS["therapist_id"]]
    assert therapist_boxes and all(box.options == [own_name] for box in therapist_boxes)
