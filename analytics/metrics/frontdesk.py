"""The front desk's list of follow-ups due, on the one schedule of analytics/metrics/followups.py."""
from __future__ import annotations

import pandas as pd

from analytics.filters import ALL, Filter
from analytics.metrics import followups
from analytics.metrics.query import documented_columns, episodes_cte, run

FOLLOWUPS_DUE_COLUMNS = (
    "episode_id", "client_id", "client_name", "therapist_id", "condition", "course_type", "last_date",
    "followup_number", "followup_day", "due_date", "closes_on", "state", "answered_on", "reminded_at")
STATES = ("overdue", "due today", "answered")


def followups_due(con, f: Filter = ALL) -> pd.DataFrame:
    """The follow-ups the front desk acts on today (config.today()), one row per course and
    follow-up that is open today (opens_on <= today < closes_on, as followup_answers defines
    them) and either unanswered with its due date reached, or answered. state is "due today"
    (unanswered, due_date = today), "overdue" (unanswered, due_date before today but the
    follow-up still open: after closes_on it is missed and no longer listed) or "answered" (a
    check-in answers it; answered_on is its date). A follow-up not due yet and unanswered is not
    listed. followup_number counts from 1 (4 weeks, 3 months, 6 months by default); reminded_at
    is when its e-mail reminder was sent (NULL if none). A viewing therapist sees only their own
    courses. Overdue first, then due today, then answered; earliest due date first.
    Columns: episode_id, client_id, client_name, therapist_id, condition, course_type,
    last_date, followup_number, followup_day, due_date, closes_on, state, answered_on,
    reminded_at."""
    episodes, params = episodes_cte(f, viewer=True)
    params.update(followups.followups_params())
    frame = run(con, f"""
WITH {episodes}, {followups.followups_cte()},
listed AS (
    SELECT a.*, CASE WHEN a.checkin_id IS NOT NULL THEN 'answered'
                     WHEN a.due_date = CAST($today AS DATE) THEN 'due today'
                     ELSE 'overdue' END AS state
    FROM followup_answers a
    WHERE a.opens_on <= CAST($today AS DATE) AND CAST($today AS DATE) < a.closes_on
      AND (a.checkin_id IS NOT NULL OR a.due_date <= CAST($today AS DATE))
)
SELECT l.episode_id, e.client_id, c.display_name AS client_name, e.therapist_id, e.condition, e.course_type,
    e.last_date, l.followup_number + 1 AS followup_number, l.followup_day, l.due_date, l.closes_on, l.state,
    l.answered_on, r.sent_at AS reminded_at
FROM listed l
JOIN chosen_episodes e ON e.episode_id = l.episode_id
JOIN clients c ON c.client_id = e.client_id
LEFT JOIN reminders_sent r ON r.episode_id = l.episode_id AND r.followup_day = l.followup_day
ORDER BY CASE l.state WHEN 'overdue' THEN 0 WHEN 'due today' THEN 1 ELSE 2 END, l.due_date, l.episode_id""", params)
    return documented_columns(frame, FOLLOWUPS_DUE_COLUMNS)
