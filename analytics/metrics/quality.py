"""Data quality: problems in the recorded visits that can distort the figures, counted and listed."""
from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from analytics import config
from analytics.filters import ALL, Filter
from analytics.metrics.query import documented_columns, episodes_cte, run


class Check(NamedTuple):
    """One data-quality check: what it means, which visits it flags (SQL condition on a row of
    `checked`) and the sentence shown for each. `per_episode` says whether episode_facts counts
    its sessions per episode (as sessions_<check>, with the same condition: schema.sql), so
    data_quality sums those instead of reading every session."""
    description: str
    condition: str
    detail: str
    per_episode: bool = True


# Every session of the filter's episodes once, with what the checks compare it against; all
# checks read this one pass. session_facts keeps the previous visit's pain and date and the first
# visit of the day (schema.sql), so no window runs here.
CHECKED_CTE = """
checked AS (
    SELECT e.episode_id, e.visits, e.sessions, s.visit_number, s.session_date, s.pain_pre, s.pain_post,
        s.previous_pain, s.previous_pain_visit, s.previous_visit, s.previous_date, s.first_visit_that_day,
        s.stretching_adherence_pct
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
)"""

# Episode-level: one finding per episode whose visit numbers have gaps (UNIQUE(episode_id,
# visit_number) makes "fewer sessions than the highest visit number" mean exactly that).
MISSING_VISITS_SQL = """
SELECT episode_id, min(visit_number) AS visit_number,
    'no record of visit ' || string_agg(visit_number::VARCHAR, ', ' ORDER BY visit_number)
    || ' (highest visit ' || any_value(visits) || ')' AS detail
FROM (SELECT e.episode_id, e.visits, unnest(range(1, e.visits + 1)) AS visit_number
      FROM chosen_episodes e WHERE e.sessions < e.visits) expected
WHERE NOT EXISTS (SELECT 1 FROM sessions s
                  WHERE s.episode_id = expected.episode_id AND s.visit_number = expected.visit_number)
GROUP BY episode_id"""

# Episode-level: courses with no onset date (chronic against acute cannot be checked, nor how
# long the pain lasted before treatment).
MISSING_ONSET_SQL = """
SELECT episode_id, 1 AS visit_number, 'no onset date (when the pain began) recorded' AS detail
FROM episodes SEMI JOIN chosen_episodes c USING (episode_id) WHERE onset_date IS NULL"""

DATA_QUALITY_CHECKS: dict[str, Check] = {
    "missing_visits": Check(
        "Episodes with gaps in their visit numbers (for example visits 1, 2 and 4): a visit was not recorded.",
        "", "", per_episode=False),
    "missing_pre": Check(
        "Sessions without a pre-session pain score (a visit-1 gap leaves the episode without a baseline).",
        "pain_pre IS NULL", "'no pain score before the session'"),
    "missing_post": Check(
        "Sessions without a post-session pain score (immediate relief cannot be measured).",
        "pain_post IS NULL", "'no pain score after the session'"),
    "implausible_jump": Check(
        f"Pre-session pain changing by more than {config.IMPLAUSIBLE_JUMP_POINTS:g} points from one "
        "recorded visit to the next: often a typing error.",
        "abs(pain_pre - previous_pain) > $jump_points",
        "format('pain before the session went from {:g} at visit {} to {:g} ({:+g} points)', "
        "previous_pain, previous_pain_visit, pain_pre, pain_pre - previous_pain)",
        per_episode=False),  # the threshold is config's, so it is not stored
    "relief_negative": Check(
        "Sessions where pain after the session is higher than before it (negative relief).",
        "pain_post > pain_pre",
        "format('pain {:g} after the session, {:g} before', pain_post, pain_pre)"),
    "same_date": Check(
        "Visits of one episode recorded on the same date as an earlier visit of that episode.",
        "visit_number <> first_visit_that_day",
        "format('visit {} on {}, the same date as visit {}', visit_number, "
        "strftime(session_date, '%Y-%m-%d'), first_visit_that_day)"),
    "missing_adherence": Check(
        "Visits after the first without home-stretching adherence (the home program's effect cannot be "
        "measured for that week).",
        "visit_number > 1 AND stretching_adherence_pct IS NULL",
        "format('no stretching adherence for the week before visit {}', visit_number)", per_episode=False),
    "missing_onset": Check(
        "Courses without an onset date (when the pain began), which tells an acute injury from chronic pain.",
        "", "", per_episode=False),
    "dates_out_of_order": Check(
        "Visits dated before the previous visit number of the same episode.",
        "session_date < previous_date",
        "format('visit {} dated {}, before visit {} on {}', visit_number, strftime(session_date, '%Y-%m-%d'), "
        "previous_visit, strftime(previous_date, '%Y-%m-%d'))"),
}
# The value whose correction on Record a session fixes a check's finding (records.CORRECTABLE, or
# COURSE_CORRECTABLE for the onset date); a visit never recorded (missing_visits) is not corrected.
CORRECTED_BY: dict[str, str] = {
    "missing_pre": "pain_pre", "missing_post": "pain_post", "implausible_jump": "pain_pre",
    "relief_negative": "pain_post", "same_date": "session_date", "missing_adherence": "stretching_adherence_pct",
    "missing_onset": "onset_date", "dates_out_of_order": "session_date",
}
DATA_QUALITY_COLUMNS = ("check", "description", "count")
DATA_QUALITY_DETAIL_COLUMNS = ("episode_id", "visit_number", "detail")


def data_quality(con, f: Filter = ALL) -> pd.DataFrame:
    """Problems in the recorded visits that can distort the figures, one row per check with how
    many findings it has: missing_visits (episodes with gaps in their visit numbers),
    missing_pre and missing_post (sessions without a pain score before / after the session),
    implausible_jump (pre-session pain changing by more than 5 points between consecutive
    recorded visits), relief_negative (pain after the session above pain before it), same_date
    (a visit on the same date as an earlier visit of the same episode), missing_adherence (a
    visit after the first without home-stretching adherence), missing_onset (a course without an
    onset date) and dates_out_of_order (a visit dated before the previous visit). A viewing therapist sees only their own episodes.
    No rows when the filter matches no episode. Columns: check, description, count."""
    episodes, params = episodes_cte(f, viewer=True)
    per_episode = ", ".join(f"coalesce(sum(sessions_{name}), 0) AS {name}"
                            for name, check in DATA_QUALITY_CHECKS.items() if check.per_episode)
    # Checks not counted per episode in episode_facts read the sessions once more, each.
    per_session = ", ".join(
        f"(SELECT count(*) FROM session_facts s SEMI JOIN chosen_episodes e ON e.episode_id = s.episode_id "
        f"WHERE {check.condition}) AS {name}"
        for name, check in DATA_QUALITY_CHECKS.items() if not check.per_episode and check.condition)
    found = run(con, f"""
WITH {episodes}
SELECT count(*) AS episodes, count(*) FILTER (WHERE sessions < visits) AS missing_visits, {per_episode},
    (SELECT count(*) FROM ({MISSING_ONSET_SQL})) AS missing_onset, {per_session}
FROM chosen_episodes""", params).iloc[0]
    if found["episodes"] == 0:
        return documented_columns(pd.DataFrame(), DATA_QUALITY_COLUMNS)
    frame = pd.DataFrame({"check": list(DATA_QUALITY_CHECKS),
                          "description": [check.description for check in DATA_QUALITY_CHECKS.values()],
                          "count": [int(found[name]) for name in DATA_QUALITY_CHECKS]})
    return documented_columns(frame, DATA_QUALITY_COLUMNS)


def data_quality_details(con, f: Filter = ALL, check: str = "missing_visits") -> pd.DataFrame:
    """The findings behind one data_quality check, one row each: the episode, the visit it
    concerns (for missing_visits the first visit missing) and a sentence describing it.
    Columns: episode_id, visit_number, detail."""
    if check not in DATA_QUALITY_CHECKS:
        raise ValueError(f"check must be one of {', '.join(DATA_QUALITY_CHECKS)}, not {check!r}")
    episodes, params = episodes_cte(f, viewer=True)
    if check == "missing_visits":
        findings = MISSING_VISITS_SQL
    elif check == "missing_onset":
        findings = MISSING_ONSET_SQL
    else:
        rule = DATA_QUALITY_CHECKS[check]
        findings = f"SELECT episode_id, visit_number, {rule.detail} AS detail FROM checked WHERE {rule.condition}"
    frame = run(con, f"WITH {episodes}, {CHECKED_CTE} SELECT * FROM ({findings}) ORDER BY episode_id, visit_number",
                 params)
    return documented_columns(frame, DATA_QUALITY_DETAIL_COLUMNS)
