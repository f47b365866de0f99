"""Course status from the discharge reason (issue 16): completed / closed early / active / lost to
follow-up on tiny hand-checked visit logs, the drop-out figures they make, and closing and
reopening a course (records.close_course, and the form on Client progress)."""
# ruff: noqa: F811  (the fixtures imported from test_pages_therapist are test arguments here)
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from analytics import audit, db, metrics, records
from analytics.filters import ALL, Filter
from analytics.metrics import query
from conftest import visit
from test_pages_therapist import (  # noqa: F401  (fixtures)
    PROGRESS,
    click,
    run,
    sample_client,
    writable_app,
)
from ui import words

LATEST = "2025-03-28"  # the latest session in every database below: "active" means seen on or after 2025-03-07


def course(episode_id: str, last_date: str, visits: int, course_type: str = "acute", **extra) -> list[dict]:
    """`visits` weekly visits ending on `last_date`, pain 6 before and 5 after each."""
    last = dt.date.fromisoformat(last_date)
    return [visit(episode_id, k, (last - dt.timedelta(weeks=visits - k)).isoformat(), 6, 5, course_type=course_type,
                  **extra) for k in range(1, visits + 1)]


def with_reasons(con, reasons: dict[str, str]) -> None:
    """Store discharge reasons as the importer would (one per episode), facts refreshed."""
    with db.write(con, list(reasons)) as cursor:
        for episode_id, reason in reasons.items():
            cursor.execute("UPDATE episodes SET discharge_reason = ? WHERE episode_id = ?", [reason, episode_id])


@pytest.mark.parametrize("last_date, visits, course_type, reason, expected", [
    ("2025-03-07", 2, "acute", None, "active"),                      # exactly 21 days before the latest session
    ("2025-03-06", 2, "acute", None, "lost_to_follow_up"),           # 22 days, no reason
    ("2025-03-27", 2, "acute", "goals_met", "completed"),            # goals met before the minimum of 3
    ("2025-01-10", 1, "acute", "improved_enough", "completed"),      # one visit, long ago, improved enough
    ("2025-03-27", 2, "acute", "cost_or_time", "closed_early"),      # recent, but a reason: never active
    ("2025-01-10", 2, "acute", "moved", "closed_early"),             # long ago with a reason: not lost
    ("2025-03-27", 3, "acute", "no_change", "completed"),            # reached the minimum, whatever the reason
    ("2025-01-10", 3, "acute", None, "completed"),                   # reached 3, however long ago (as before)
    ("2025-03-20", 7, "chronic", "referred_elsewhere", "closed_early"),  # 7 of 8
    ("2025-03-20", 7, "chronic", None, "active"),
    ("2025-01-20", 7, "chronic", "other", "closed_early"),
    ("2025-01-20", 7, "chronic", None, "lost_to_follow_up"),
])
def test_course_status_reads_the_discharge_reason(clinic_db, last_date, visits, course_type, reason, expected):
    con = clinic_db([*course("X", last_date, visits, course_type), *course("LATEST", LATEST, 3)])
    if reason:
        with_reasons(con, {"X": reason})
    row = metrics.client_episodes(con, search="CX").iloc[0]
    assert (row["status"], row["discharge_reason"]) == (expected, reason)
    summary = metrics.episode_summary(con, "X")
    assert (summary["status"], summary["discharge_reason"]) == (expected, reason)


def test_status_in_words_says_the_reason():
    assert words.course_status("closed_early", "cost_or_time") == "closed early: cost or time"
    assert words.course_status("completed", "goals_met") == "completed: goals met"
    assert words.course_status("lost_to_follow_up", None) == "lost to follow-up"
    assert words.course_status("active") == "active"
    assert set(words.STATUS_WORDS) == set(query.STATUSES)


@pytest.fixture
def endings(clinic_db):
    """Six acute courses, latest session 2025-03-28:
    G  2 visits, goals_met, 2025-03-14          completed   (finished below the minimum)
    F  3 visits, no reason, 2025-01-20          completed   (within 3-5)
    K  1 visit, cost_or_time, 2025-03-27        closed early
    M  2 visits, moved, 2025-01-13              closed early
    L  2 visits, no reason, 2025-02-03          lost to follow-up
    R  1 visit, no reason, 2025-03-28           active
    Finished: G, F, K, M, L = 5; drop-outs K, M, L = 3 -> dropout rate 3/5; completion 2/5."""
    con = clinic_db([*course("G", "2025-03-14", 2), *course("F", "2025-01-20", 3), *course("K", "2025-03-27", 1),
                     *course("M", "2025-01-13", 2), *course("L", "2025-02-03", 2), *course("R", LATEST, 1)])
    with_reasons(con, {"G": "goals_met", "K": "cost_or_time", "M": "moved"})
    return con


def test_course_outcomes_count_closed_early_and_lost_apart(endings):
    acute = metrics.course_outcomes(endings).set_index("course_type").loc["acute"]
    assert acute[["episodes", "completed", "active", "closed_early", "lost_to_follow_up", "finished"]].tolist() == [
        6, 2, 1, 2, 1, 5]
    assert acute["closed_early_share"] == pytest.approx(2 / 6)
    assert acute["lost_to_follow_up_share"] == pytest.approx(1 / 6)
    assert acute["dropout_rate"] == pytest.approx(3 / 5)
    # Finished below the minimum: G (completed with its goals met), K, M, L; within: F; active: R.
    assert acute[["below_range", "within_range", "above_range"]].tolist() == [4, 1, 0]


def test_dropout_reasons_add_up_to_the_dropout_rate(endings):
    reasons = metrics.dropout_reasons(endings)
    assert reasons[["status", "discharge_reason", "episodes"]].values.tolist() == [
        ["closed_early", "no_change", 0], ["closed_early", "cost_or_time", 1], ["closed_early", "moved", 1],
        ["closed_early", "referred_elsewhere", 0], ["closed_early", "other", 0], ["lost_to_follow_up", None, 1]]
    assert set(reasons["finished"]) == {5}
    assert reasons["share_of_finished"].tolist() == pytest.approx([0, 0.2, 0.2, 0, 0, 0.2])
    assert reasons["share_of_finished"].sum() == pytest.approx(metrics.course_outcomes(endings)["dropout_rate"].iloc[0])


def test_kpis_and_the_monthly_trend_count_both_kinds_of_drop_out(endings):
    tiles = metrics.kpis(endings).set_index("metric")["value"]
    assert (tiles["completion_rate"], tiles["dropout_rate"]) == (pytest.approx(2 / 5), pytest.approx(3 / 5))
    trend = metrics.monthly_trend(endings)
    # First visits: F 01-06, M 01-06, L 01-27; G 03-07, K 03-27, R 03-28.
    january = trend[trend["month"] == pd.Timestamp("2025-01-01")].iloc[0]
    assert (january["episodes_finished"], january["episodes_dropped"]) == (3, 2)  # F; M, L
    march = trend[trend["month"] == pd.Timestamp("2025-03-01")].iloc[0]
    assert (march["episodes_finished"], march["episodes_dropped"]) == (2, 1)  # G, K; K (R is active)


def test_intention_to_treat_keeps_its_meaning_for_closed_courses(endings):
    sql, params = query.episodes_cte(ALL)
    frame = query.run(endings, f"WITH {sql} SELECT episode_id, eligible_itt, improved_after_session2_itt "
                               "FROM chosen_episodes_itt ORDER BY episode_id", params).set_index("episode_id")
    # Closed courses are never active, so all are judged; none has a visit-3 score but F (6 -> 6):
    # not improved. R is active short of visit 3: not judged yet.
    assert frame["eligible_itt"].to_dict() == {"F": True, "G": True, "K": True, "L": True, "M": True, "R": False}
    assert frame.loc[["F", "G", "K", "L", "M"], "improved_after_session2_itt"].tolist() == [False] * 5


def test_the_therapist_drop_out_measure_counts_closed_early_and_lost(endings):
    # Dropped out before visit 3 among finished courses with a baseline: K, M, L of G, F, K, M, L.
    table = metrics.therapist_outcome(endings, outcome="dropped_before_visit3")
    assert table.therapists.set_index("therapist_id").loc["T1", "observed"] == pytest.approx(3 / 5)


# --- closing and reopening a course ----------------------------------------------------------

@pytest.fixture
def two_courses(clinic_db):
    """E1 (T1, 2 visits, recent: active) and E2 (T2), latest session 2025-03-28."""
    return clinic_db([*course("E1", LATEST, 2), *course("E2", LATEST, 2, therapist_id="T2")])


def status(con, episode_id: str) -> str:
    return metrics.episode_summary(con, episode_id)["status"]


def test_closing_writes_the_reason_with_its_audit_row_and_reopening_clears_it(two_courses):
    con = two_courses
    version = db.data_version(con)
    records.close_course(con, "E1", "cost_or_time", by="ann", viewer="T1")
    assert records.discharge_reason(con, "E1") == "cost_or_time"
    assert status(con, "E1") == "closed_early"
    assert db.data_version(con) == version + 1  # every cache sees the new status
    # The session facts carry the reason too, refreshed in the same write.
    assert con.execute("SELECT DISTINCT discharge_reason FROM session_facts WHERE episode_id = 'E1'").fetchall() == [
        ("cost_or_time",)]
    records.close_course(con, "E1", "goals_met", by="ann", viewer="T1")  # a reason corrected later
    assert status(con, "E1") == "completed"
    records.close_course(con, "E1", None, by="ann", viewer="T1")  # reopened
    assert records.discharge_reason(con, "E1") is None and status(con, "E1") == "active"
    assert con.execute("SELECT username, action, target_type, target_id FROM audit_log ORDER BY logged_at, rowid"
                       ).fetchall() == [("ann", "record", "course_closed", "E1"), ("ann", "record", "course_closed", "E1"),
                                        ("ann", "record", "course_reopened", "E1")]
    assert audit.describe("record", "course_closed", "E1") == "Closed course E1 (or changed why it ended)"
    assert audit.describe("record", "course_reopened", "E1") == "Reopened course E1"


def test_a_close_whose_audit_row_fails_writes_nothing(two_courses, monkeypatch):
    con = two_courses

    def refuse(*args, **kwargs):
        raise RuntimeError("audit trail unavailable")

    monkeypatch.setattr(audit, "record_on", refuse)
    with pytest.raises(RuntimeError):
        records.close_course(con, "E1", "moved", by="ann")
    assert records.discharge_reason(con, "E1") is None  # the change rolled back with its audit row


@pytest.mark.parametrize("episode, reason, viewer, problems", [
    ("E2", "moved", "T1", {"episode_id": ["no course of care E2 is stored"]}),   # a colleague's course
    ("E9", "moved", None, {"episode_id": ["no course of care E9 is stored"]}),
    ("E1", "bored", None, {"discharge_reason": ["bored is not a known discharge reason; allowed: goals_met, "
                                                "improved_enough, no_change, cost_or_time, moved, referred_elsewhere, "
                                                "other"]}),
    ("E1", None, None, {"": ["nothing to store: the course is already open"]}),
])
def test_a_refused_close_writes_nothing(two_courses, episode, reason, viewer, problems):
    con = two_courses
    before = db.table_checksums(con)
    with pytest.raises(records.RecordRefused) as refused:
        records.close_course(con, episode, reason, by="ann", viewer=viewer)
    assert refused.value.problems == problems
    assert db.table_checksums(con) == before


def test_the_same_reason_twice_is_nothing_to_store(two_courses):
    records.close_course(two_courses, "E2", "moved", by="ben", viewer="T2")
    with pytest.raises(records.RecordRefused) as refused:
        records.close_course(two_courses, "E2", "moved", by="ben", viewer="T2")
    assert refused.value.problems == {"": ["nothing to store: the course is already closed for this reason"]}


def test_a_therapist_sees_their_closed_course_in_their_own_list(two_courses):
    records.close_course(two_courses, "E2", "referred_elsewhere", by="ben", viewer="T2")
    own = metrics.client_episodes(two_courses, Filter(viewer_therapist="T2"))
    assert own[["episode_id", "status", "discharge_reason"]].values.tolist() == [
        ["E2", "closed_early", "referred_elsewhere"]]


# --- the form on Client progress (AppTest) ---------------------------------------------------

def test_the_close_form_closes_and_reopens_the_course(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    at = run(PROGRESS, episode=episode)
    assert records.discharge_reason(con, episode) is None
    at.selectbox(key=f"discharge_reason_{episode}").set_value("cost_or_time")
    click(at, "Close this course")  # not confirmed yet: nothing written
    assert [e.value for e in at.error] == ["tick the box to confirm, then close the course"]
    assert records.discharge_reason(con, episode) is None
    at.checkbox(key=f"close_confirm_{episode}").check()
    click(at, "Close this course")
    assert records.discharge_reason(con, episode) == "cost_or_time"
    assert any("Course closed: cost or time." in s.value for s in at.success)
    # The sample course reached the recommended minimum: completed, with the reason shown.
    assert any("completed: cost or time" in s.value for s in at.subheader)
    assert con.execute("SELECT action, target_type, target_id FROM audit_log WHERE target_type LIKE 'course_%'"
                       ).fetchall() == [("record", "course_closed", episode)]
    at.checkbox(key=f"close_confirm_{episode}").check()
    click(at, "Reopen this course")
    assert records.discharge_reason(con, episode) is None
    assert any("Course reopened" in s.value for s in at.success)
    assert not any("cost or time" in s.value for s in at.subheader)


def test_docs_quote_the_status_definition():
    normalise = lambda text: " ".join(text.split())  # noqa: E731
    docs = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert normalise(query.episodes_cte.__doc__) in normalise(docs)


def test_a_therapist_sees_no_drop_out_row_resting_on_few_colleagues_courses(endings):
    # All six courses are T1's: for T2 the five finished ones are 5 other therapists' courses (1-9),
    # so every row goes, zero rows too (their "finished" would give the 5 away); a manager sees all 6.
    assert metrics.dropout_reasons(endings, Filter(viewer_therapist="T2")).empty
    assert len(metrics.dropout_reasons(endings)) == 6
