"""The follow-up schedule and which check-in answers which follow-up, on courses small enough to
check by hand."""
import datetime as dt

from analytics import config, db
from analytics.filters import ALL
from analytics.metrics import followups, query
from conftest import visit


def _answers(con):
    episodes, params = query.episodes_cte(ALL)
    params.update(query.RULE_PARAMS | params)
    params.update(followups.followups_params())
    return query.run(con, f"""WITH {episodes}, {followups.followups_cte()}
        SELECT episode_id, followup_day, due_date, opens_on, closes_on, answered_on, pain
        FROM followup_answers ORDER BY episode_id, followup_day""", params)


def _checkin(con, episode_id, day, pain):
    with db.write(con, episodes=[episode_id]) as cur:
        cur.execute("INSERT INTO checkins (episode_id, answered_on, source, pain) VALUES (?, ?, 'link', ?)",
                    [episode_id, day, pain])


def test_followups_are_due_after_the_last_visit_and_take_the_first_checkin_while_open(clinic_db, monkeypatch):
    monkeypatch.setattr(config, "today", lambda: dt.date(2026, 6, 1))
    # E1: three visits, last on 2026-01-05, long finished. E2: still active (last visit 10 days ago).
    con = clinic_db([visit("E1", 1, "2025-12-22", 7, 5), visit("E1", 2, "2025-12-29", 5, 4),
                     visit("E1", 3, "2026-01-05", 4, 3), visit("E2", 1, "2026-05-22", 6, 5)])
    _checkin(con, "E1", "2026-01-03", 4)   # before the last visit: between visits, answers nothing
    _checkin(con, "E1", "2026-01-26", 3)   # day 21 = 28 - 7: the 4-week follow-up opens
    _checkin(con, "E1", "2026-01-30", 9)   # a second answer in the same window is not the follow-up's
    _checkin(con, "E1", "2026-05-28", 2)   # day 143: after the 3-month window closes (day 175) it is still open
    _checkin(con, "E2", "2026-05-30", 5)
    rows = _answers(con)
    assert rows["episode_id"].unique().tolist() == ["E1"]  # an active course has no follow-ups yet
    last = dt.date(2026, 1, 5)
    assert rows["due_date"].dt.date.tolist() == [last + dt.timedelta(days=d) for d in (28, 91, 182)]
    assert rows["opens_on"].dt.date.tolist() == [last + dt.timedelta(days=d) for d in (21, 84, 175)]
    assert rows["closes_on"].dt.date.tolist() == [last + dt.timedelta(days=d) for d in (84, 175, 243)]
    # 3-month window: days 84-174; 2026-05-28 is day 143.
    assert rows["pain"].tolist()[:2] == [3, 2] and rows["pain"].isna().tolist() == [False, False, True]
    assert rows["answered_on"].dt.date.tolist()[:2] == [dt.date(2026, 1, 26), dt.date(2026, 5, 28)]
