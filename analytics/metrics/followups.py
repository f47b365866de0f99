"""The follow-up schedule after a course's last visit, and which check-in answers each follow-up:
the one definition the lasting-results figures, the front desk's "follow-ups due" list and the
client's chart share."""
from __future__ import annotations

from typing import Any

from analytics import config


def followups_params() -> dict[str, Any]:
    """The schedule's values as named parameters (read from config at each call, so a test may
    change them)."""
    params: dict[str, Any] = {"followup_opens_before": config.FOLLOWUP_OPENS_DAYS_BEFORE,
                              "followup_last_open": config.FOLLOWUP_LAST_OPEN_DAYS}
    for number, day in enumerate(config.FOLLOWUP_DAYS):
        params[f"followup_day_{number}"] = day
    return params


def followups_cte() -> str:
    """CTEs on episodes_cte's chosen_episodes (parameters: followups_params()):

    `followup_points`: one row per course that is no longer active and follow-up of
    config.FOLLOWUP_DAYS (followup_day: 28, 91, 182 by default), with due_date (last visit +
    followup_day), opens_on (due_date - FOLLOWUP_OPENS_DAYS_BEFORE) and closes_on (the day the
    next follow-up opens; for the last one due_date + FOLLOWUP_LAST_OPEN_DAYS + 1): a follow-up
    is open on days opens_on <= day < closes_on. Due dates count from the latest visit, so a new
    visit moves them.

    `followup_answers`: followup_points with the first check-in dated while the follow-up is
    open (checkin_id, answered_on, source, pain, first_steps_pain, stretch_days, pgic,
    pain_returned; all NULL when none was): a follow-up has at most one answer, and a check-in
    answers at most one follow-up (of two on the same day, the lower checkin_id). A check-in
    dated on or before the last visit is a between-visit check-in and answers none."""
    # Each follow-up with the day of the next one (NULL for the last), so that when it closes
    # needs no window over every course's follow-ups; and the first check-in of each follow-up
    # found from the check-ins' side (few) rather than by numbering every follow-up's rows (at
    # 1 M sessions, half a million sorted for each figure: 500 ms of a 600 ms call).
    order = sorted(range(len(config.FOLLOWUP_DAYS)), key=lambda number: config.FOLLOWUP_DAYS[number])
    following = {number: (f"$followup_day_{order[place + 1]}" if place + 1 < len(order) else "CAST(NULL AS INTEGER)")
                 for place, number in enumerate(order)}
    days = ", ".join(f"({number}, $followup_day_{number}, {following[number]})" for number in range(len(config.FOLLOWUP_DAYS)))
    return f"""
followup_days (followup_number, followup_day, next_day) AS (VALUES {days}),
followup_points AS (
    SELECT e.episode_id, d.followup_number, d.followup_day,
        CAST(e.last_date + d.followup_day AS DATE) AS due_date,
        CAST(e.last_date + d.followup_day - $followup_opens_before AS DATE) AS opens_on,
        CAST(e.last_date + coalesce(d.next_day - $followup_opens_before,
                                    d.followup_day + $followup_last_open + 1) AS DATE) AS closes_on
    FROM chosen_episodes e CROSS JOIN followup_days d
    WHERE e.status <> 'active'
),
followup_first_checkins AS (
    SELECT p.episode_id, p.followup_number,
        min({{'answered_on': c.answered_on, 'checkin_id': c.checkin_id}}).checkin_id AS checkin_id
    FROM checkins c
    JOIN followup_points p ON p.episode_id = c.episode_id AND c.answered_on >= p.opens_on
        AND c.answered_on < p.closes_on
    GROUP BY p.episode_id, p.followup_number
),
followup_answers AS (
    SELECT p.*, c.checkin_id, c.answered_on, c.source, c.pain, c.first_steps_pain, c.stretch_days,
        c.pgic, c.pain_returned
    FROM followup_points p
    LEFT JOIN followup_first_checkins first USING (episode_id, followup_number)
    LEFT JOIN checkins c ON c.checkin_id = first.checkin_id
)"""
