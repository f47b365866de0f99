"""What every metric shares: the thresholds as named parameters, the filtered episodes with the
status and outcome columns each rule is written in once, and running a query on a cursor of its own."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analytics import config
from analytics.filters import Filter
from analytics.metrics import rule

# "After the second session" reads episode_facts.pain_pre_v3 and pain_post_v2; a different visit
# in config needs those view columns changed too, so refuse to count silently with the old ones.
if config.AFTER_SESSION2_VISIT != 3:
    raise ImportError("config.AFTER_SESSION2_VISIT changed: update episode_facts (pain_pre_v3, pain_post_v2) to match")

NOT_RECORDED = "not recorded"
GROUPABLE = ("course_type", "condition")
ADHERENCE_BAND_LABELS = tuple(f"{low}-{high}%" for low, high in config.ADHERENCE_BANDS)

# The statuses of a course (episodes_cte's status column), in the order pages show them.
STATUSES: tuple[str, ...] = ("completed", "active", "closed_early", "lost_to_follow_up")
# The statuses that count as a drop-out (episodes_cte's is_dropout): stopped short of the
# recommended minimum without meeting the goals, with a reason or silently.
DROPOUT_STATUSES: tuple[str, ...] = ("closed_early", "lost_to_follow_up")


# Every threshold travels to DuckDB as a named parameter, like any other value. Read from config
# when the metrics are imported (a changed config takes effect on restart); tests may patch this dict.
RULE_PARAMS: dict[str, Any] = {
    **rule.pain().params(),
    **rule.psfs().params(),
    "active_within_days": config.ACTIVE_WITHIN_DAYS,
    "completing_reasons": list(config.COMPLETING_REASONS),
    "dropout_statuses": list(DROPOUT_STATUSES),
    "itt_visit": config.AFTER_SESSION2_VISIT,
    "jump_points": config.IMPLAUSIBLE_JUMP_POINTS,
    "min_peers": config.MIN_TYPICAL_COURSE_PEERS,
    "min_visit_peers": config.MIN_TYPICAL_COURSE_PEERS_PER_VISIT,
    "not_recorded": NOT_RECORDED,
}
for _i, _course in enumerate(config.COURSE_TYPES):
    RULE_PARAMS[f"course_{_i}"] = _course
    RULE_PARAMS[f"min_sessions_{_i}"], RULE_PARAMS[f"max_sessions_{_i}"] = config.RECOMMENDED_SESSIONS[_course]
for _i, _condition in enumerate(config.CONDITIONS):
    RULE_PARAMS[f"condition_{_i}"] = _condition
for _i, ((_low, _high), _label) in enumerate(zip(config.ADHERENCE_BANDS, ADHERENCE_BAND_LABELS)):
    RULE_PARAMS.update({f"band_label_{_i}": _label, f"band_low_{_i}": _low, f"band_high_{_i}": _high})

_PARAM_NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def filter_sql(f: Filter, viewer: bool = False) -> tuple[str, dict[str, Any]]:
    """The filter's conditions on episode_facts `e`, with its `?` turned into named parameters
    (DuckDB cannot mix the two and the thresholds are named)."""
    sql, values = f.restricted_to_viewer("e") if viewer else f.where("e")
    pieces = sql.split("?")  # the filter's text holds only column names and placeholders
    text, params = pieces[0], {}
    for number, (value, piece) in enumerate(zip(values, pieces[1:])):
        text += f"$filter_{number}" + piece
        params[f"filter_{number}"] = value
    return text, params


def episodes_cte(f: Filter, viewer: bool = False, episode_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """CTEs `recommended`, `active_window` and `chosen_episodes`: the filter's episode_facts rows plus the status
    and outcome columns every metric shares, so each rule is written here once (the CTE is not
    called `episodes`, which would hide the table of that name). A course's status, tried in
    this order: completed (a discharge reason of goals_met or improved_enough, whatever the
    number of sessions; or the course reached the recommended minimum, 3 acute or 8 chronic,
    whatever its reason and however recent its last visit); closed_early (a discharge reason
    other than those two, before the recommended minimum); active (no discharge reason, short of
    the minimum, last visit within 21 days of the latest session recorded anywhere, or of today
    when that is earlier); lost_to_follow_up (no discharge reason, short of the minimum, silent
    for longer). A course with a discharge reason is never active; without one (a visit log with
    no discharge_reason column) the statuses are completed, active and lost_to_follow_up by
    sessions and dates alone. discharge_reason is the course's stored reason (NULL when none);
    is_dropout is TRUE for closed_early and lost_to_follow_up (stopped short of the minimum
    without meeting the goals: the drop-outs every drop-out figure counts); is_other is TRUE when
    the course is not the viewing therapist's (every course for a manager), which small-cell
    suppression counts. `chosen_episodes_itt` is the same rows with the intention-to-treat
    columns: eligible_itt (a baseline, and not an active course short of visit 3) and
    improved_after_session2_itt (the rule met at visit 3; FALSE for an eligible course without a
    visit-3 score, such as a drop-out or a course closed with its goals met before visit 3; NULL
    when not eligible). Every "improved" column uses the filter's named rule (Filter.rule,
    rule.pain()); its thresholds are among the parameters returned, which win over RULE_PARAMS'."""
    where, params = filter_sql(f, viewer)
    params.update(rule.pain(f.rule).params())
    params["viewer_therapist"] = f.viewer_therapist
    if episode_id is not None:
        where += " AND e.episode_id = $episode_id"
        params["episode_id"] = episode_id
    recommended = ", ".join(f"($course_{i}, $min_sessions_{i}, $max_sessions_{i})"
                            for i in range(len(config.COURSE_TYPES)))
    has_followup = "(e.baseline_pain IS NOT NULL AND e.last_pre_visit > 1)"
    sql = f"""
recommended (course_type, min_sessions, max_sessions) AS (VALUES {recommended}),
-- The first day a last visit keeps an unfinished course active.
active_window AS (
    SELECT least(max(session_date), CAST($today AS DATE)) - CAST($active_within_days AS INTEGER) AS active_since
    FROM sessions),
chosen_episodes AS (
    SELECT e.*, r.min_sessions, r.max_sessions, d.discharge_reason,
        CASE WHEN list_contains($completing_reasons, d.discharge_reason) OR e.visits >= r.min_sessions
                 THEN 'completed'
             WHEN d.discharge_reason IS NOT NULL THEN 'closed_early'
             WHEN e.last_date >= a.active_since THEN 'active'
             ELSE 'lost_to_follow_up' END AS status,
        list_contains($dropout_statuses, status) AS is_dropout,
        CASE WHEN e.visits < r.min_sessions THEN 'below'
             WHEN e.visits <= r.max_sessions THEN 'within'
             ELSE 'above' END AS sessions_vs_range,
        e.therapist_id IS DISTINCT FROM CAST($viewer_therapist AS VARCHAR) AS is_other,
        {has_followup} AS has_followup,
        CASE WHEN {has_followup} THEN e.baseline_pain - e.last_pain_pre END AS change_points,
        CASE WHEN {has_followup} AND e.baseline_pain > 0
             THEN 100 * (e.baseline_pain - e.last_pain_pre) / e.baseline_pain END AS change_pct,
        CASE WHEN {has_followup} THEN {rule.improvement_sql('e.baseline_pain', 'e.last_pain_pre', name=f.rule)} END
            AS improved_at_last_visit,
        {rule.improvement_sql('e.baseline_pain', 'e.pain_pre_v3', name=f.rule)} AS improved_after_session2,
        {rule.improvement_sql('e.baseline_pain', 'e.pain_post_v2', name=f.rule)} AS improved_after_session2_immediate
    FROM episode_facts e
    LEFT JOIN recommended r ON r.course_type = e.course_type
    -- The reason is read from the episode itself: episode_facts does not carry it.
    LEFT JOIN episodes d ON d.episode_id = e.episode_id
    CROSS JOIN active_window a
    WHERE {where}
),
-- Intention to treat: every course with a baseline that started, except one still active that
-- has not yet reached visit 3 (its answer is not known yet); a course without a pre-session
-- pain at visit 3 (a drop-out before it, or a missing score) counts as not improved.
chosen_episodes_itt AS (
    SELECT *, baseline_pain IS NOT NULL AND NOT (status = 'active' AND visits < $itt_visit) AS eligible_itt,
        CASE WHEN baseline_pain IS NOT NULL AND NOT (status = 'active' AND visits < $itt_visit)
             THEN coalesce(improved_after_session2, FALSE) END AS improved_after_session2_itt
    FROM chosen_episodes
)"""
    return sql, params


# CTEs `conditions` (every condition in config, with its position: its parameters are in
# RULE_PARAMS) and `course_types` (those among episodes_cte's chosen episodes): the grid of a
# table by course type and condition, so a condition no course has still gets its row.
CONDITION_GRID_CTE = f"""
conditions (condition, position) AS (VALUES {", ".join(f"($condition_{i}, {i})" for i in range(len(config.CONDITIONS)))}),
course_types AS (SELECT DISTINCT course_type FROM chosen_episodes_itt)"""


def first_improvement_cte(f: Filter) -> str:
    """CTE `firsts` on episodes_cte(f)'s chosen_episodes (its parameters carry the rule): per
    episode with a baseline, the first visit whose pre-session pain meets the filter's rule
    (first_improved_visit, NULL when none did)."""
    return f"""
firsts AS (
    SELECT e.episode_id, any_value(e.course_type) AS course_type, any_value(e.visits) AS visits,
        any_value(e.is_other) AS is_other,
        min(s.visit_number) FILTER (WHERE {rule.improvement_sql('e.baseline_pain', 's.pain_pre', name=f.rule)})
            AS first_improved_visit
    FROM chosen_episodes e
    JOIN session_facts s ON s.episode_id = e.episode_id
    WHERE e.baseline_pain IS NOT NULL
    GROUP BY e.episode_id
)"""


@contextlib.contextmanager
def own_cursor(con) -> Iterator[Any]:
    """A cursor of its own for each call, so pages on several threads never share one."""
    cursor = con.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def query(cursor, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run `sql` with the parameters it names (DuckDB refuses unused ones)."""
    values = {**RULE_PARAMS, "today": config.today(), **params}
    return cursor.execute(sql, {name: values[name] for name in set(_PARAM_NAME.findall(sql))}).df()


def run(con, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """query() on a cursor of its own."""
    with own_cursor(con) as cursor:
        return query(cursor, sql, params)


def documented_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Exactly the documented columns in the documented order, also when there are no rows."""
    return frame.reindex(columns=list(columns)).reset_index(drop=True)


def group_columns(by: str | Sequence[str]) -> list[str]:
    """The grouping columns asked for, checked against GROUPABLE (they are written into SQL)."""
    columns = [by] if isinstance(by, str) else list(by)
    unknown = [c for c in columns if c not in GROUPABLE]
    if unknown or not columns:
        raise ValueError(f"by must be chosen from {GROUPABLE}, not {by!r}")
    return columns


def plain_value(value: Any) -> Any:
    """A JSON-friendly Python value: numpy numbers become int/float, NaN and NA become None."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return plain_value(value.item())
    return value

