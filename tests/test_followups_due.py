"""The front desk's follow-ups due, on courses small enough to check by hand."""
import datetime as dt

from analytics import config, db, metrics
from analytics.filters import ALL
from conftest import visit

LAST = dt.date(2026, 1, 5)


def _checkin(con, episode_id, day):
    with db.write(con, episodes=[]) as cur:
        cur.execute("INSERT INTO checkins (episode_id, answered_on, source, pain) VALUES (?, ?, 'link', 3)",
                    [episode_id, day])


def test_due_today_overdue_and_answered(clinic_db, monkeypatch):
    today = LAST + dt.timedelta(days=28)  # the 4-week follow-up of the courses last seen on LAST is due
    monkeypatch.setattr(config, "today", lambda: today)
    con = clinic_db([
        visit("D", 1, "2026-01-05", 6, 5),                       # due today
        visit("O", 1, "2026-01-01", 6, 5, therapist_id="T2"),    # 4 days overdue (day 32)
        visit("A", 1, "2026-01-05", 6, 5),                       # answered on day 22, before it was due
        visit("N", 1, "2026-01-09", 6, 5),                       # day 24: open, not due yet: not listed
        visit("M", 1, "2025-10-01", 6, 5),                       # day 124: 4-week missed, 3-month overdue
        visit("X", 1, str(today - dt.timedelta(days=3)), 6, 5),  # still active: no follow-ups yet
    ])
    _checkin(con, "A", LAST + dt.timedelta(days=22))
    with db.write(con, episodes=[]) as cur:
        cur.execute("INSERT INTO reminders_sent (episode_id, followup_day) VALUES ('O', 28)")
    due = metrics.followups_due(con, ALL)
    assert list(zip(due["episode_id"], due["followup_number"], due["state"])) == [
        ("M", 2, "overdue"), ("O", 1, "overdue"), ("D", 1, "due today"), ("A", 1, "answered")]
    assert due.set_index("episode_id").loc["M", "due_date"].date() == dt.date(2025, 10, 1) + dt.timedelta(days=91)
    assert due.set_index("episode_id").loc["A", "answered_on"].date() == LAST + dt.timedelta(days=22)
    assert due["reminded_at"].notna().tolist() == [False, True, False, False]
    # A therapist sees only their own courses.
    own = metrics.followups_due(con, ALL.replace(viewer_therapist="T2"))
    assert own["episode_id"].tolist() == ["O"]
    # The day after the 4-week window closes (day 84), O's first follow-up is missed: not listed.
    monkeypatch.setattr(config, "today", lambda: dt.date(2026, 1, 1) + dt.timedelta(days=84))
    assert "O" not in metrics.followups_due(con, ALL).query("followup_number == 1")["episode_id"].tolist()
