"""Check-in links and answers: unguessable, one course each, expiry, revoking, rate limits and
the audited transaction, on courses small enough to check by hand."""
import datetime as dt

import pytest

from analytics import audit, checkins, config, db
from conftest import visit

TODAY = dt.date(2026, 6, 1)


@pytest.fixture(autouse=True)
def fresh_throttles():
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()
    yield
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()


@pytest.fixture
def two_courses(clinic_db, monkeypatch):
    """A: plantar fasciitis, last visit 2026-01-05 (long finished). B: bunion of another client
    and therapist, still active (last visit 2026-05-25)."""
    monkeypatch.setattr(config, "today", lambda: TODAY)
    return clinic_db([
        visit("A", 1, "2025-12-22", 7, 5, client_name="Ann Example Smith"),
        visit("A", 2, "2026-01-05", 4, 3, client_name="Ann Example Smith"),
        visit("B", 1, "2026-05-25", 6, 5, condition="bunion", therapist_id="T2", client_name="Bob Other"),
    ])


def _rows(con, sql, params=()):
    return con.execute(sql, list(params)).fetchall()


def test_a_token_is_long_random_and_reaches_only_its_own_course(two_courses):
    con = two_courses
    token_a = checkins.make_link(con, "A", by="boss")
    token_b = checkins.make_link(con, "B", by="boss")
    assert len(token_a) >= 43 and token_a != token_b  # 32 random bytes, URL-safe
    course_a = checkins.course_for_token(con, token_a)
    course_b = checkins.course_for_token(con, token_b)
    assert course_a.episode_id == "A" and course_b.episode_id == "B"
    assert course_a.first_name == "Ann" and course_b.first_name == "Bob"
    assert course_a.asks_first_steps and not course_b.asks_first_steps  # plantar fasciitis only
    assert course_a.asks_pain_returned and not course_b.asks_pain_returned  # B is still active
    assert checkins.public_url(token_a) == f"http://localhost:8501/?checkin={token_a}"
    # Submitting with A's token writes A only, and B's answers stay B's.
    checkins.submit(con, token_a, checkins.Answers(pain=2, first_steps_pain=3, stretch_days=5, pgic=2,
                                                   pain_returned=False))
    checkins.submit(con, token_b, checkins.Answers(pain=6, first_steps_pain=9, pain_returned=True))
    assert _rows(con, "SELECT episode_id, answered_on, source, pain, first_steps_pain, stretch_days, pgic, pain_returned"
                      " FROM checkins ORDER BY episode_id") == [
        ("A", TODAY, "link", 2.0, 3.0, 5, 2, False),
        ("B", TODAY, "link", 6.0, None, None, None, None),  # not asked of a bunion, nor before the last visit
    ]
    assert not any(course.episode_id == "B" for token in (token_a, token_a + "x", token_a[:-1])
                   if (course := checkins.course_for_token(con, token)) is not None)


def test_unknown_malformed_revoked_and_expired_tokens_get_the_same_nothing(two_courses, monkeypatch):
    con = two_courses
    old = checkins.make_link(con, "A", by="boss")
    new = checkins.make_link(con, "A", by="boss")  # one live link per course: the old one is revoked
    assert checkins.course_for_token(con, old) is None
    assert checkins.course_for_token(con, new).episode_id == "A"
    assert checkins.link_for(con, "A").token == new
    for bad in ("", "x" * 10, "' OR 1=1 --" * 4, "a" * 43, new + "\n"):
        assert checkins.course_for_token(con, bad) is None
    # Expiry: 8 months after the last visit (2026-01-05 -> 2026-09-05), inclusive.
    assert checkins.link_for(con, "A").expires_on == dt.date(2026, 9, 5)
    assert checkins.course_for_token(con, new, today=dt.date(2026, 9, 5)) is not None
    assert checkins.course_for_token(con, new, today=dt.date(2026, 9, 6)) is None
    assert not checkins.link_for(con, "A", today=dt.date(2026, 9, 6)).is_live
    with pytest.raises(checkins.CheckinRefused, match="expired or is not valid"):
        checkins.submit(con, new, checkins.Answers(pain=1), today=dt.date(2026, 9, 6))
    assert checkins.revoke_link(con, "A", by="boss")
    assert checkins.course_for_token(con, new) is None and checkins.link_for(con, "A") is None
    with pytest.raises(checkins.CheckinRefused) as refused:
        checkins.submit(con, new, checkins.Answers(pain=1))
    assert str(refused.value) == checkins.INVALID_LINK
    assert _rows(con, "SELECT count(*) FROM checkins") == [(0,)]
    assert not checkins.revoke_link(con, "A", by="boss")  # nothing left to revoke


def test_expiry_at_a_month_end():
    assert checkins.expiry_day(dt.date(2026, 6, 30)) == dt.date(2027, 2, 28)
    assert checkins.expiry_day(dt.date(2026, 5, 31)) == dt.date(2027, 1, 31)
    assert checkins.expiry_day(None) is None


def test_making_and_revoking_are_audited_and_a_therapist_only_links_their_own(two_courses):
    con = two_courses
    checkins.make_link(con, "A", by="t1", viewer="T1")
    checkins.make_link(con, "A", by="t1", viewer="T1")
    with pytest.raises(ValueError):
        checkins.make_link(con, "B", by="t1", viewer="T1")  # T2's client
    with pytest.raises(ValueError):
        checkins.revoke_link(con, "B", by="t1", viewer="T1")
    checkins.revoke_link(con, "A", by="t1", viewer="T1")
    events = audit.entries(con, actions=("checkin_link",))
    assert list(zip(events["username"], events["target_type"], events["target_id"]))[::-1] == [
        ("t1", "episode", "A"), ("t1", "revoked", "A"), ("t1", "episode", "A"), ("t1", "revoked", "A")]
    assert _rows(con, "SELECT count(*) FROM checkin_links WHERE episode_id = 'B'") == [(0,)]


def test_a_submission_is_one_audited_transaction_and_the_same_day_replaces(two_courses, monkeypatch):
    con = two_courses
    token = checkins.make_link(con, "A", by="boss")
    version = db.data_version(con)
    checkins.submit(con, token, checkins.Answers(pain=5))
    checkins.submit(con, token, checkins.Answers(pain=3, pgic=1))  # same day: replaces
    assert _rows(con, "SELECT pain, pgic FROM checkins") == [(3.0, 1)]
    assert db.data_version(con) == version + 2
    events = audit.entries(con, actions=("checkin",))
    assert events["username"].isna().all() and events["target_id"].tolist() == ["A", "A"]
    assert audit.describe("checkin", "link", "A") == "A client answered a check-in of course A"
    # A failure inside the transaction (here the audit row) leaves no answer behind.
    monkeypatch.setattr(audit, "record_on", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        checkins.submit(con, token, checkins.Answers(pain=9), today=dt.date(2026, 6, 2))
    assert _rows(con, "SELECT count(*) FROM checkins") == [(1,)]


@pytest.mark.parametrize("answers", [checkins.Answers(), checkins.Answers(pain=11), checkins.Answers(pain=-1),
                                     checkins.Answers(stretch_days=8), checkins.Answers(stretch_days=2.5),
                                     checkins.Answers(pgic=0), checkins.Answers(pgic=8),
                                     checkins.Answers(pain=float("nan")), checkins.Answers(pain=True)])
def test_answers_outside_their_range_store_nothing(two_courses, answers):
    con = two_courses
    token = checkins.make_link(con, "A", by="boss")
    with pytest.raises(checkins.CheckinRefused):
        checkins.submit(con, token, answers)
    assert _rows(con, "SELECT count(*) FROM checkins") == [(0,)]


def test_an_imported_answer_of_the_day_is_not_replaced_by_the_link(two_courses):
    con = two_courses
    with db.write(con, episodes=[]) as cursor:
        cursor.execute("INSERT INTO checkins (episode_id, answered_on, source, pain) VALUES ('A', ?, 'import', 4)", [TODAY])
    token = checkins.make_link(con, "A", by="boss")
    with pytest.raises(checkins.CheckinRefused, match="already recorded"):
        checkins.submit(con, token, checkins.Answers(pain=1))
    assert _rows(con, "SELECT source, pain FROM checkins") == [("import", 4.0)]


def test_rate_limits_bad_tokens_per_source_and_submissions_per_link_and_day(two_courses):
    con = two_courses
    token = checkins.make_link(con, "A", by="boss")
    me, other = ["session:me", "address:10.0.0.1"], ["session:other"]
    for number in range(checkins.CHECKIN_BAD_TOKEN_TRIES):
        assert checkins.course_for_token(con, f"guess{number:040d}", sources=me) is None
    assert checkins.course_for_token(con, token, sources=me) is None  # blocked: even a good token
    assert checkins.course_for_token(con, token, sources=["address:10.0.0.1"]) is None
    assert checkins.course_for_token(con, token, sources=other).episode_id == "A"
    with pytest.raises(checkins.CheckinRefused, match="expired or is not valid"):
        checkins.submit(con, token, checkins.Answers(pain=1), sources=me)
    for _ in range(checkins.CHECKIN_SUBMISSIONS_PER_DAY):
        checkins.submit(con, token, checkins.Answers(pain=2), sources=other)
    with pytest.raises(checkins.CheckinRefused, match="many times today"):
        checkins.submit(con, token, checkins.Answers(pain=2), sources=other)
    checkins.submit(con, token, checkins.Answers(pain=1), today=dt.date(2026, 6, 2), sources=other)  # a new day
    assert _rows(con, "SELECT count(*) FROM checkins") == [(2,)]


def test_qr_code_is_a_png():
    assert checkins.qr_png(checkins.public_url("a" * 43)).startswith(b"\x89PNG")
