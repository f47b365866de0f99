"""One client at a time, for the therapist pages: finding an episode, its sessions, its summary and
what a typical course looks like for a client like this one."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from analytics.filters import ALL, Filter
from analytics.metrics import followups, rule
from analytics.metrics.query import documented_columns, episodes_cte, first_improvement_cte, plain_value, run

# ---------------------------------------------------------------------------------------------
# Finding an episode and its sessions
# ---------------------------------------------------------------------------------------------

CLIENT_EPISODE_COLUMNS = (
    "episode_id", "client_id", "client_name", "condition", "course_type", "therapist_id",
    "start_date", "last_date", "visits", "status", "discharge_reason", "matches")


def client_episodes(con, f: Filter = ALL, search: str = "", limit: int | None = None) -> pd.DataFrame:
    """The filter's episodes whose client id or client name contains `search` (any case; empty
    matches all), most recently seen first; only the first `limit` of them when a limit is given
    (a picker shows a few hundred, not a whole chain's clients). A viewing therapist sees only
    their own episodes. status is completed, active, closed_early or lost_to_follow_up as in
    course_outcomes, and discharge_reason the stored reason (None when none); matches
    is how many episodes match in all, whatever the limit.
    Columns: episode_id, client_id, client_name, condition, course_type, therapist_id,
    start_date, last_date, visits, status, discharge_reason, matches."""
    episodes, params = episodes_cte(f, viewer=True)
    # %, _ and \ typed by a person are meant literally, not as wildcards.
    params["pattern"] = "%" + re.sub(r"([\\%_])", r"\\\1", search.strip()) + "%"
    params["limit"] = limit
    frame = run(con, f"""
WITH {episodes}
SELECT e.episode_id, e.client_id, c.display_name AS client_name, e.condition, e.course_type,
    e.therapist_id, e.start_date, e.last_date, e.visits, e.status, e.discharge_reason, count(*) OVER () AS matches
FROM chosen_episodes e JOIN clients c ON c.client_id = e.client_id
WHERE e.client_id ILIKE $pattern ESCAPE '\\' OR c.display_name ILIKE $pattern ESCAPE '\\'
ORDER BY e.last_date DESC, e.episode_id
LIMIT $limit""", params)
    return documented_columns(frame, CLIENT_EPISODE_COLUMNS)


EPISODE_PROGRESS_COLUMNS = (
    "visit_number", "session_date", "pain_pre", "pain_post", "psfs_pre", "psfs_post",
    "dorsiflexion_pre_deg", "dorsiflexion_post_deg", "stretching_adherence_pct", "next_appointment")


def episode_progress(con, episode_id: str, f: Filter = ALL) -> pd.DataFrame:
    """One episode's sessions in visit order with the scores recorded before and after each;
    no rows when the episode does not exist, is outside the filter or belongs to another
    therapist than the one viewing. Columns: visit_number, session_date, pain_pre, pain_post,
    psfs_pre, psfs_post, dorsiflexion_pre_deg, dorsiflexion_post_deg, stretching_adherence_pct,
    next_appointment (the next appointment agreed at that visit, empty when none)."""
    episodes, params = episodes_cte(f, viewer=True, episode_id=episode_id)
    frame = run(con, f"""
WITH {episodes}
SELECT s.* FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
ORDER BY s.visit_number""", params)
    return documented_columns(frame, EPISODE_PROGRESS_COLUMNS)


EPISODE_FOLLOWUP_COLUMNS = (
    "followup_day", "due_date", "answered_on", "pain", "first_steps_pain", "stretch_days", "pgic",
    "pain_returned", "last_visit_pain")


def episode_followups(con, episode_id: str, f: Filter = ALL) -> pd.DataFrame:
    """One finished episode's follow-ups after its last visit (followups.followups_cte), in
    order, each with its answer when one came: followup_day (28, 91, 182 days after the last
    visit), due_date, answered_on, pain, first_steps_pain, stretch_days, pgic and pain_returned
    (empty when not answered), and last_visit_pain (the last pre-session pain recorded). No rows
    while the episode is active, or when it is not visible (as in episode_progress).
    Columns: followup_day, due_date, answered_on, pain, first_steps_pain, stretch_days, pgic,
    pain_returned, last_visit_pain."""
    episodes, params = episodes_cte(f, viewer=True, episode_id=episode_id)
    params.update(followups.followups_params())
    frame = run(con, f"""
WITH {episodes}, {followups.followups_cte()}
SELECT a.followup_day, a.due_date, a.answered_on, a.pain, a.first_steps_pain, a.stretch_days, a.pgic,
    a.pain_returned, e.last_pain_pre AS last_visit_pain
FROM followup_answers a JOIN chosen_episodes e ON e.episode_id = a.episode_id
ORDER BY a.followup_day""", params)
    return documented_columns(frame, EPISODE_FOLLOWUP_COLUMNS)


def episode_summary(con, episode_id: str, f: Filter = ALL) -> dict[str, Any]:
    """One episode at a glance, as a dict ({} when it is not visible, as in episode_progress):
    episode_id, client_id, therapist_id, course_type, condition, status (as in course_outcomes),
    discharge_reason (None when none), visits (highest visit
    number), recommended_min and recommended_max sessions, sessions_vs_range (below, within,
    above); baseline (visit-1 pre-session pain), latest_pain (the last pre-session pain recorded)
    and latest_pain_visit; change_points (baseline - latest_pain) and change_pct (as % of
    baseline), both None without a later score; improved_at_visit (the first visit whose
    pre-session pain is at least 2 points and 30% below baseline, None if none yet);
    psfs_baseline, psfs_latest and psfs_improved (function score risen at least 2 points)."""
    episodes, params = episodes_cte(f, viewer=True, episode_id=episode_id)
    frame = run(con, f"""
WITH {episodes}, {first_improvement_cte(f)}
SELECT e.episode_id, e.client_id, e.therapist_id, e.course_type, e.condition, e.status, e.discharge_reason, e.visits,
    e.min_sessions AS recommended_min, e.max_sessions AS recommended_max, e.sessions_vs_range,
    e.baseline_pain AS baseline, e.last_pain_pre AS latest_pain, e.last_pre_visit AS latest_pain_visit,
    e.change_points, e.change_pct, fi.first_improved_visit AS improved_at_visit,
    e.baseline_psfs AS psfs_baseline, e.last_psfs_pre AS psfs_latest,
    {rule.psfs().sql('e.baseline_psfs', 'e.last_psfs_pre')} AS psfs_improved
FROM chosen_episodes e LEFT JOIN firsts fi ON fi.episode_id = e.episode_id""", params)
    if frame.empty:
        return {}
    return {column: plain_value(value) for column, value in frame.iloc[0].items()}

# ---------------------------------------------------------------------------------------------
# What to expect: the typical course
# ---------------------------------------------------------------------------------------------

TYPICAL_COURSE_COLUMNS = (
    "visit_number", "peers", "peer_group", "n", "p25_pct", "p50_pct", "p75_pct",
    "p25_pain", "p50_pain", "p75_pain")


def typical_course(con, course_type: str, condition: str, baseline: float | None, f: Filter = ALL,
                   exclude_episode: str | None = None) -> pd.DataFrame:
    """What a typical course looks like for a client like this one. Peers are finished episodes
    (not active: completed, closed early or lost to follow-up) of the same course type and condition with a baseline above 0, among
    the filter's episodes, leaving out `exclude_episode` (the client's own); when fewer than 30
    such peers exist, all finished episodes of the same course type are used instead
    (peer_group says which: 'condition' or 'course_type'; peers says how many). For each visit
    number: n (peers with a pre-session pain at that visit), the 25th, 50th and 75th percentile
    of their pre-session pain as a percentage of their own baseline (p25_pct, p50_pct,
    p75_pct), and the same scaled to this client's baseline (p25_pain, p50_pain, p75_pain; empty
    without a baseline). The band stops before the first visit at which fewer than 10 peers have
    a score, so it never shows one or two other clients' own pain. Columns: visit_number, peers,
    peer_group, n, p25_pct, p50_pct, p75_pct, p25_pain, p50_pain, p75_pain."""
    episodes, params = episodes_cte(f)
    params.update(course_type=course_type, condition=condition, exclude_episode=exclude_episode)
    frame = run(con, f"""
WITH {episodes},
candidates AS (
    SELECT episode_id, baseline_pain, condition = $condition AS same_condition
    FROM chosen_episodes
    WHERE status <> 'active' AND course_type = $course_type AND baseline_pain > 0
        AND episode_id IS DISTINCT FROM $exclude_episode),
group_choice AS (
    SELECT count(*) FILTER (WHERE same_condition) >= $min_peers AS by_condition FROM candidates),
peers AS (
    SELECT c.* FROM candidates c, group_choice g WHERE c.same_condition OR NOT g.by_condition),
scores AS (
    SELECT s.visit_number, 100 * s.pain_pre / p.baseline_pain AS pct
    FROM peers p JOIN session_facts s ON s.episode_id = p.episode_id
    WHERE s.pain_pre IS NOT NULL)
SELECT visit_number, (SELECT count(*) FROM peers) AS peers,
    CASE WHEN (SELECT by_condition FROM group_choice) THEN 'condition' ELSE 'course_type' END AS peer_group,
    count(*) AS n, quantile_cont(pct, 0.25) AS p25_pct, quantile_cont(pct, 0.5) AS p50_pct,
    quantile_cont(pct, 0.75) AS p75_pct
FROM scores GROUP BY visit_number
QUALIFY visit_number < coalesce(min(visit_number) FILTER (WHERE n < $min_visit_peers) OVER (), 1e9)
ORDER BY visit_number""", params)
    scale = np.nan if baseline is None else float(baseline) / 100
    for percentile in ("p25", "p50", "p75"):
        frame[f"{percentile}_pain"] = frame[f"{percentile}_pct"] * scale
    return documented_columns(frame, TYPICAL_COURSE_COLUMNS)
