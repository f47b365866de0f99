"""Acute against chronic courses: outcomes, sessions attended, relief on the table and the
command line's summary."""
from __future__ import annotations

from typing import Any

import pandas as pd

from analytics import config, stats
from analytics.filters import ALL, Filter
from analytics.metrics import rule
from analytics.metrics.query import CONDITION_GRID_CTE, documented_columns, episodes_cte, plain_value, run
from analytics.metrics.suppression import OTHERS, SUPPRESSED, hidden, hidden_rows, others_sql, suppress

# ---------------------------------------------------------------------------------------------
# Outcomes by course type
# ---------------------------------------------------------------------------------------------

COURSE_OUTCOME_COLUMNS = (
    "course_type", "episodes", "median_sessions", "below_range", "within_range", "above_range",
    "completed", "active", "closed_early", "lost_to_follow_up", "completed_share", "active_share",
    "closed_early_share", "lost_to_follow_up_share", "episodes_with_followup", "mean_change_points", "mean_change_pct", "responders",
    "responder_rate", "sessions_with_relief_scores", "mean_immediate_relief", "finished", "dropout_rate")


def course_outcomes(con, f: Filter = ALL) -> pd.DataFrame:
    """Acute against chronic courses. Per course type: episodes; median_sessions (the median of
    each episode's highest visit number; a gap in visit numbers is a missing record, not a
    session not attended); how many finished below (stopped before the recommended minimum; a
    course still active is not counted as below, it may yet reach it), within or above the
    recommended range (3-5 acute, 8-12 chronic), so below + within + above + active = episodes
    (a course closed with goals met before the minimum is finished below and completed);
    status counts and shares of all episodes, as query.episodes_cte defines them: completed
    (closed with goals met or improved enough, or reached the recommended minimum, 3 acute or 8
    chronic), active (no discharge reason, short of the minimum, last visit within 21 days of the
    latest session recorded anywhere, or of today when that is earlier), closed_early (closed for
    another reason before the minimum) and lost_to_follow_up (no reason, short of the minimum,
    silent for longer); finished (every course not active: completed + closed_early +
    lost_to_follow_up) and dropout_rate ((closed_early + lost_to_follow_up) / finished, the one
    drop-out base every page uses: a drop-out is a course that stopped short of the minimum
    without meeting its goals, with a reason or without; a course still running has not dropped
    out yet). Change over the course is
    judged on episodes_with_followup: episodes with a baseline and a pre-session pain recorded
    at a later visit (clients seen once have nothing to compare). For them: mean_change_points
    (baseline minus the last pre-session pain; for an active course, the latest so far),
    mean_change_pct (the same as a percentage of baseline, averaged over episodes with a baseline
    above 0), responders (last pre-session pain at least 2 points and 30% below baseline) and
    responder_rate (responders / episodes_with_followup). Kept apart, because it is a different,
    short-term measure: mean_immediate_relief, the mean of pre minus post pain within a session
    over sessions_with_relief_scores (sessions with both scores). For a viewing therapist, a
    course type resting on 1-9 other therapists' courses is left out, with the other one too
    when the clinic's totals would give it away (suppression.py).
    Columns: course_type, episodes, median_sessions, below_range, within_range, above_range,
    completed, active, closed_early, lost_to_follow_up, completed_share, active_share,
    closed_early_share, lost_to_follow_up_share, episodes_with_followup, mean_change_points, mean_change_pct, responders, responder_rate,
    sessions_with_relief_scores, mean_immediate_relief, finished, dropout_rate."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes},
relief AS (
    SELECT e.course_type, count(*) AS sessions_with_relief_scores,
        avg(s.pain_pre - s.pain_post) AS mean_immediate_relief, {others_sql(f)} AS relief_others
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
    WHERE s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL
    GROUP BY e.course_type
),
outcomes AS (
    SELECT course_type, count(*) AS episodes, quantile_cont(visits, 0.5) AS median_sessions,
        count(*) FILTER (WHERE sessions_vs_range = 'below' AND status <> 'active') AS below_range,
        count(*) FILTER (WHERE sessions_vs_range = 'within') AS within_range,
        count(*) FILTER (WHERE sessions_vs_range = 'above') AS above_range,
        count(*) FILTER (WHERE status = 'completed') AS completed,
        count(*) FILTER (WHERE status = 'active') AS active,
        count(*) FILTER (WHERE status = 'closed_early') AS closed_early,
        count(*) FILTER (WHERE status = 'lost_to_follow_up') AS lost_to_follow_up,
        count(*) FILTER (WHERE is_dropout) AS dropouts,
        count(*) FILTER (WHERE status <> 'active') AS finished,
        count(*) FILTER (WHERE has_followup) AS episodes_with_followup,
        avg(change_points) AS mean_change_points, avg(change_pct) AS mean_change_pct,
        count(*) FILTER (WHERE improved_at_last_visit) AS responders,
        avg(improved_at_last_visit::DOUBLE) AS responder_rate,
        count(*) FILTER (WHERE is_other) AS {OTHERS}
    FROM chosen_episodes GROUP BY course_type
)
SELECT o.*, o.completed / o.episodes AS completed_share, o.active / o.episodes AS active_share,
    o.closed_early / o.episodes AS closed_early_share, o.lost_to_follow_up / o.episodes AS lost_to_follow_up_share,
    o.dropouts / nullif(o.finished, 0) AS dropout_rate,
    coalesce(r.sessions_with_relief_scores, 0) AS sessions_with_relief_scores, r.mean_immediate_relief,
    r.relief_others
FROM outcomes o LEFT JOIN relief r ON r.course_type = o.course_type
ORDER BY o.course_type""", params)
    return documented_columns(suppress(frame, f, (OTHERS, "relief_others"), partition=()), COURSE_OUTCOME_COLUMNS)


def summary_by_course(con, f: Filter = ALL) -> dict[str, dict[str, Any]]:
    """The per-course figures the command line's `summary --json` prints, for both course types
    (present with 0 episodes when none match). For each: episodes; median_visits (median over
    episodes of the highest visit number); mean_baseline_pain (mean visit-1 pre-session pain);
    episodes_reaching_visit3 (episodes with a baseline and a visit-3 pre-session pain);
    responder_rate_after_session2 (of those, the fraction whose visit-3 pre-session pain is at
    least 2 points and 30% below baseline: the lasting effect of two sessions);
    responder_rate_after_session2_immediate (the same rule on the pain reported straight after
    session 2, among episodes with a baseline and that score: the immediate effect, not the
    lasting one); episodes_eligible_itt and responder_rate_after_session2_itt (intention to
    treat: every episode with a baseline except one still active short of visit 3, and the
    fraction of them whose visit-3 pre-session pain meets the rule, a drop-out before visit 3
    counting as not improved); mean_pain_by_visit ({visit number: mean pre-session pain of all
    sessions with that visit number}); by_condition ({condition: {episodes,
    episodes_reaching_visit3, responder_rate_after_session2, episodes_eligible_itt,
    responder_rate_after_session2_itt}} for every condition the clinic treats, the same
    definitions within the course type). "The rule" is the filter's improvement rule (by default
    at least 2 points and 30% below baseline). Rates and means are None when there is nothing
    to average. For a viewing therapist, a course type resting on 1-9 other therapists' courses
    (and the other one with it, when the totals would give it away) has every figure None, no
    visits and every condition's figures None; a visit resting on 1-9 of them is left out of
    mean_pain_by_visit, and a condition resting on as few (with the next smallest too when the
    rest would give it away) has its figures None."""
    return _summary(con, f)["by_course"]


def headline(con, f: Filter = ALL) -> dict[str, Any]:
    """The whole `summary --json` document: rule (the filter's improvement rule: {name, points,
    fraction, combine}), episodes, sessions (recorded sessions of those episodes), clients
    (distinct clients among them) and by_course (summary_by_course). For a
    viewing therapist the totals are None when they rest on 1-9 other therapists' courses, and
    "suppressed" says how many figures were left out (the key is there only then)."""
    return _summary(con, f)


_CONDITION_FIGURES = ("episodes", "episodes_reaching_visit3", "responder_rate_after_session2",
                      "episodes_eligible_itt", "responder_rate_after_session2_itt")


def _by_condition(con, f: Filter) -> tuple[dict[str, dict[str, dict[str, Any]]], int]:
    """summary_by_course's by_condition: {course type: {condition: figures}} for every course type
    with episodes and every condition (0 and None where none matched), and how many conditions
    were left out for a viewing therapist (their figures None)."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes}, {CONDITION_GRID_CTE}
SELECT t.course_type, c.condition, count(e.episode_id) AS episodes,
    count(e.improved_after_session2) AS episodes_reaching_visit3,
    avg(e.improved_after_session2::DOUBLE) AS responder_rate_after_session2,
    count(*) FILTER (WHERE e.eligible_itt) AS episodes_eligible_itt,
    avg(e.improved_after_session2_itt::DOUBLE) AS responder_rate_after_session2_itt,
    {others_sql(f, once_per_course=True)} AS {OTHERS}
FROM course_types t CROSS JOIN conditions c
LEFT JOIN chosen_episodes_itt e ON e.course_type = t.course_type AND e.condition = c.condition
GROUP BY t.course_type, c.condition, c.position
ORDER BY t.course_type, c.position""", params)
    gone = hidden_rows(frame, f, partition=("course_type",))
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for (_, row), hide in zip(frame.iterrows(), gone):
        values = dict.fromkeys(_CONDITION_FIGURES) if hide else {name: plain_value(row[name]) for name in _CONDITION_FIGURES}
        found.setdefault(row["course_type"], {})[row["condition"]] = values
    return found, int(gone.sum())


def _summary(con, f: Filter) -> dict[str, Any]:
    """headline() in one query: one row per course type with its visit means as two lists, and
    the whole filter's totals repeated on every row."""
    episodes, params = episodes_cte(f)
    courses = run(con, f"""
WITH {episodes},
totals AS (
    SELECT count(*) AS all_episodes, coalesce(sum(sessions), 0) AS all_sessions,
        count(DISTINCT client_id) AS all_clients, count(*) FILTER (WHERE is_other) AS all_others
    FROM chosen_episodes),
per_course AS (
    SELECT course_type, count(*) AS episodes, quantile_cont(visits, 0.5) AS median_visits,
        avg(baseline_pain) AS mean_baseline_pain,
        count(improved_after_session2) AS episodes_reaching_visit3,
        avg(improved_after_session2::DOUBLE) AS responder_rate_after_session2,
        avg(improved_after_session2_immediate::DOUBLE) AS responder_rate_after_session2_immediate,
        count(*) FILTER (WHERE eligible_itt) AS episodes_eligible_itt,
        avg(improved_after_session2_itt::DOUBLE) AS responder_rate_after_session2_itt,
        count(*) FILTER (WHERE is_other) AS course_others
    FROM chosen_episodes_itt GROUP BY course_type),
by_visit AS (
    SELECT e.course_type, s.visit_number, avg(s.pain_pre) AS mean_pain,
        {others_sql(f, once_per_course=True)} AS visit_others
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
    GROUP BY e.course_type, s.visit_number),
visit_lists AS (
    SELECT course_type, list(visit_number ORDER BY visit_number) AS visit_numbers,
        list(mean_pain ORDER BY visit_number) AS mean_pains, list(visit_others ORDER BY visit_number) AS visit_others
    FROM by_visit GROUP BY course_type)
SELECT t.*, c.*, v.visit_numbers, v.mean_pains, v.visit_others
FROM totals t
LEFT JOIN per_course c ON true
LEFT JOIN visit_lists v ON v.course_type = c.course_type""", params)
    by_course = {}
    left_out = 0
    conditions, conditions_left_out = _by_condition(con, f)
    hidden_courses = set(courses.loc[hidden_rows(courses.fillna({"course_others": 0}), f, "course_others", partition=()),
                                     "course_type"])
    for course_type in config.COURSE_TYPES:
        figures: dict[str, Any] = {
            "episodes": 0, "median_visits": None, "mean_baseline_pain": None, "episodes_reaching_visit3": 0,
            "responder_rate_after_session2": None, "responder_rate_after_session2_immediate": None,
            "episodes_eligible_itt": 0, "responder_rate_after_session2_itt": None, "mean_pain_by_visit": {}}
        row = courses[courses["course_type"] == course_type]
        if course_type in hidden_courses:
            figures = dict.fromkeys(figures) | {"mean_pain_by_visit": {}}
            left_out += 1
        elif len(row):
            row = row.iloc[0]
            figures.update({name: plain_value(row[name]) for name in figures if name != "mean_pain_by_visit"})
            visits = zip(row["visit_numbers"], row["mean_pains"], row["visit_others"])
            figures["mean_pain_by_visit"] = {int(visit): plain_value(pain) for visit, pain, others in visits
                                             if not hidden(f, others)}
            left_out += len(row["visit_numbers"]) - len(figures["mean_pain_by_visit"])
        if course_type in hidden_courses:
            figures["by_condition"] = {condition: dict.fromkeys(_CONDITION_FIGURES) for condition in config.CONDITIONS}
        else:
            nobody = dict.fromkeys(_CONDITION_FIGURES) | {"episodes": 0, "episodes_reaching_visit3": 0,
                                                          "episodes_eligible_itt": 0}
            figures["by_condition"] = {condition: conditions.get(course_type, {}).get(condition, nobody)
                                       for condition in config.CONDITIONS}
        by_course[course_type] = figures
    left_out += conditions_left_out
    totals = courses.iloc[0]
    document: dict[str, Any] = {"rule": rule.describe(f.rule), "episodes": int(totals["all_episodes"]),
                                "sessions": int(totals["all_sessions"]), "clients": int(totals["all_clients"]),
                                "by_course": by_course}
    if f.viewer_therapist is not None:
        if hidden(f, int(totals["all_others"])):
            document.update(episodes=None, sessions=None, clients=None)
            left_out += 1
        document[SUPPRESSED] = left_out
    return document

# ---------------------------------------------------------------------------------------------
# Sessions attended and relief on the table
# ---------------------------------------------------------------------------------------------

SESSIONS_ATTENDED_COLUMNS = ("course_type", "visits", "episodes", "min_sessions", "max_sessions")


def sessions_attended(con, f: Filter = ALL) -> pd.DataFrame:
    """How long finished courses lasted: per course type and number of sessions attended (the
    episode's highest visit number, as in course_outcomes' median_sessions), how many finished
    episodes (status not active) ended there, with the recommended range (3-5 acute, 8-12
    chronic) as min_sessions/max_sessions. A course still running is left out: it has not ended,
    and counted at its visits so far it would look like a course that ended below the range.
    Only numbers of sessions that occur are listed; for a viewing therapist, not those resting
    on 1-9 other therapists' courses, with the next smallest too when the rest would give it
    away (suppression.py). Columns: course_type, visits, episodes, min_sessions, max_sessions."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes}
SELECT course_type, visits, count(*) AS episodes, any_value(min_sessions) AS min_sessions,
    any_value(max_sessions) AS max_sessions, count(*) FILTER (WHERE is_other) AS {OTHERS}
FROM chosen_episodes WHERE status <> 'active'
GROUP BY course_type, visits ORDER BY course_type, visits""", params)
    return documented_columns(suppress(frame, f, partition=("course_type",)), SESSIONS_ATTENDED_COLUMNS)


DROPOUT_REASON_COLUMNS = ("course_type", "status", "discharge_reason", "episodes", "finished", "share_of_finished")
# The reasons a course can be closed early for: every discharge reason that does not complete it.
CLOSED_EARLY_REASONS = tuple(r for r in config.DISCHARGE_REASONS if r not in config.COMPLETING_REASONS)


def dropout_reasons(con, f: Filter = ALL) -> pd.DataFrame:
    """How the drop-outs of course_outcomes ended, per course type: one row per discharge reason
    a course can be closed early for (status closed_early: no_change, cost_or_time, moved,
    referred_elsewhere, other; goals_met and improved_enough complete a course) and one for
    status lost_to_follow_up (no reason, silent for longer than 21 days), each with episodes
    (courses that ended so; 0 rows included), finished (the course type's courses no longer
    active, course_outcomes' base) and share_of_finished (episodes / finished; the rows add up
    to course_outcomes' dropout_rate). Only course types with finished courses; for a viewing
    therapist, a row whose episodes or finished rest on 1-9 other therapists' courses is left
    out, with the next smallest too when the rest would give it away (suppression.py).
    Columns: course_type, status, discharge_reason, episodes, finished, share_of_finished."""
    episodes, params = episodes_cte(f)
    endings = [f"('closed_early', $closed_reason_{i}, {i})" for i in range(len(CLOSED_EARLY_REASONS))]
    endings.append(f"('lost_to_follow_up', NULL, {len(CLOSED_EARLY_REASONS)})")
    params.update({f"closed_reason_{i}": reason for i, reason in enumerate(CLOSED_EARLY_REASONS)})
    frame = run(con, f"""
WITH {episodes},
endings (status, discharge_reason, position) AS (VALUES {", ".join(endings)}),
finished AS (
    SELECT course_type, count(*) AS finished, count(*) FILTER (WHERE is_other) AS finished_others
    FROM chosen_episodes WHERE status <> 'active' GROUP BY course_type),
counted AS (
    SELECT course_type, status, discharge_reason, count(*) AS episodes,
        count(*) FILTER (WHERE is_other) AS {OTHERS}
    FROM chosen_episodes WHERE is_dropout GROUP BY ALL)
SELECT t.course_type, x.status, x.discharge_reason, coalesce(c.episodes, 0) AS episodes, t.finished,
    coalesce(c.episodes, 0) / t.finished AS share_of_finished, coalesce(c.{OTHERS}, 0) AS {OTHERS},
    t.finished_others
FROM finished t CROSS JOIN endings x
LEFT JOIN counted c ON c.course_type = t.course_type AND c.status = x.status
    AND c.discharge_reason IS NOT DISTINCT FROM x.discharge_reason
ORDER BY t.course_type, x.position""", params)
    return documented_columns(suppress(frame, f, (OTHERS, "finished_others"), partition=("course_type",)),
                              DROPOUT_REASON_COLUMNS)


IMMEDIATE_RELIEF_COLUMNS = ("course_type", "visit_number", "sessions", "mean_relief", "ci_low", "ci_high")


def immediate_relief(con, f: Filter = ALL) -> pd.DataFrame:
    """Relief on the table: pain before minus pain after the same session, over sessions with
    both scores. Per course type and visit number: sessions, mean_relief (points) and the
    t-based 95% confidence interval of the mean (empty under 2 sessions). A short-term effect,
    shown apart from change over the course (which compares pre-session scores across visits).
    For a viewing therapist, visits resting on 1-9 other therapists' courses are left out,
    with the next smallest too when the rest would give it away (suppression.py).
    Columns: course_type, visit_number, sessions, mean_relief, ci_low, ci_high."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes}
SELECT e.course_type, s.visit_number, count(*) AS sessions, avg(s.pain_pre - s.pain_post) AS mean_relief,
    stddev_samp(s.pain_pre - s.pain_post) AS sd,
    {others_sql(f, once_per_course=True)} AS {OTHERS}
FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
WHERE s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL
GROUP BY e.course_type, s.visit_number ORDER BY e.course_type, s.visit_number""", params)
    frame["ci_low"], frame["ci_high"] = stats.t_interval(frame["mean_relief"], frame["sd"], frame["sessions"])
    return documented_columns(suppress(frame, f, partition=("course_type",)), IMMEDIATE_RELIEF_COLUMNS)
