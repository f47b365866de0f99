"""Every number the dashboard shows, defined once: one documented, parameterised DuckDB query per
metric, returning a small tidy frame that pages and the command line draw or print as it is."""
from __future__ import annotations

import contextlib
import hashlib
import re
import warnings
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri, stdtrit  # quantiles without importing scipy.stats (slow)

from analytics import config
from analytics.filters import ALL, Filter

# "After the second session" reads episode_facts.pain_pre_v3 and pain_post_v2; a different visit
# in config needs those view columns changed too, so refuse to count silently with the old ones.
if config.AFTER_SESSION2_VISIT != 3:
    raise ImportError("config.AFTER_SESSION2_VISIT changed: update episode_facts (pain_pre_v3, pain_post_v2) to match")

# Pain is stored as DOUBLE, and 7 - 4.9 is 2.0999999999999996 in binary, just under 30 % of 7.
# A drop that is exactly on a threshold counts as reaching it, so comparisons allow this much.
ROUNDING_TOLERANCE = 1e-9
Z_95 = float(ndtri(0.975))
Z_998 = float(ndtri(0.999))
# A case-mix model fitted on too few finished episodes per coefficient describes noise: the
# logistic model needs 10 per coefficient (the usual rule of thumb), the linear fallback 5;
# below that every episode is expected to do as well as the clinic's overall rate.
MIN_EPISODES_PER_TERM_LOGISTIC = 10
MIN_EPISODES_PER_TERM_LINEAR = 5
NOT_RECORDED = "not recorded"

# Every threshold travels to DuckDB as a named parameter, like any other value.
RULE_PARAMS: dict[str, Any] = {
    "mcid_points": config.MCID_PAIN_POINTS,
    "mcid_fraction": config.MCID_PAIN_FRACTION,
    "psfs_points": config.MCID_PSFS_POINTS,
    "tolerance": ROUNDING_TOLERANCE,
    "active_within_days": config.ACTIVE_WITHIN_DAYS,
    "jump_points": config.IMPLAUSIBLE_JUMP_POINTS,
    "min_peers": config.MIN_TYPICAL_COURSE_PEERS,
    "not_recorded": NOT_RECORDED,
}
for _i, _course in enumerate(config.COURSE_TYPES):
    RULE_PARAMS[f"course_{_i}"] = _course
    RULE_PARAMS[f"min_sessions_{_i}"], RULE_PARAMS[f"max_sessions_{_i}"] = config.RECOMMENDED_SESSIONS[_course]
for _i, _condition in enumerate(config.CONDITIONS):
    RULE_PARAMS[f"condition_{_i}"] = _condition
ADHERENCE_BAND_LABELS = tuple(f"{low}-{high} %" for low, high in config.ADHERENCE_BANDS)
for _i, ((_low, _high), _label) in enumerate(zip(config.ADHERENCE_BANDS, ADHERENCE_BAND_LABELS)):
    RULE_PARAMS.update({f"band_label_{_i}": _label, f"band_low_{_i}": _low, f"band_high_{_i}": _high})

_PARAM_NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_GROUPABLE = ("course_type", "condition")


# ---------------------------------------------------------------------------------------------
# Building blocks: the improvement rule, the filtered episodes, running a query.
# ---------------------------------------------------------------------------------------------

def improvement_sql(baseline: str, score: str, scale: str = "pain") -> str:
    """SQL that is TRUE when `score` is a meaningful improvement on `baseline`, NULL when either
    is missing. Pain (0-10, lower is better): a drop of at least 2 points AND at least 30 % of
    the baseline (Farrar 2001). PSFS (0-10, higher is better): a rise of at least 2 points.
    `baseline` and `score` are SQL expressions written in this module, never user input."""
    if scale == "pain":
        drop = f"(({baseline}) - ({score}))"
        return (f"({drop} >= $mcid_points - $tolerance"
                f" AND {drop} >= $mcid_fraction * ({baseline}) - $tolerance)")
    if scale == "psfs":
        return f"((({score}) - ({baseline})) >= $psfs_points - $tolerance)"
    raise ValueError(f"scale must be 'pain' or 'psfs', not {scale!r}")


def _filter_sql(f: Filter, viewer: bool = False) -> tuple[str, dict[str, Any]]:
    """The filter's conditions on episode_facts `e`, with its `?` turned into named parameters
    (DuckDB cannot mix the two and the thresholds are named)."""
    sql, values = f.restricted_to_viewer("e") if viewer else f.where("e")
    pieces = sql.split("?")  # the filter's text holds only column names and placeholders
    text, params = pieces[0], {}
    for number, (value, piece) in enumerate(zip(values, pieces[1:])):
        text += f"$filter_{number}" + piece
        params[f"filter_{number}"] = value
    return text, params


def _episodes_cte(f: Filter, viewer: bool = False, episode_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """CTEs `recommended` and `chosen_episodes`: the filter's episode_facts rows plus the status
    and outcome columns every metric shares, so each rule is written here once. (Not called
    `episodes`, which would hide the table of that name.)"""
    where, params = _filter_sql(f, viewer)
    if episode_id is not None:
        where += " AND e.episode_id = $episode_id"
        params["episode_id"] = episode_id
    recommended = ", ".join(f"($course_{i}, $min_sessions_{i}, $max_sessions_{i})"
                            for i in range(len(config.COURSE_TYPES)))
    has_followup = "(e.baseline_pain IS NOT NULL AND e.last_pre_visit > 1)"
    sql = f"""
recommended (course_type, min_sessions, max_sessions) AS (VALUES {recommended}),
chosen_episodes AS (
    SELECT e.*, r.min_sessions, r.max_sessions,
        CASE WHEN e.visits >= r.min_sessions THEN 'completed'
             WHEN e.last_date >= (SELECT max(session_date) FROM sessions) - CAST($active_within_days AS INTEGER)
                 THEN 'active'
             ELSE 'dropped' END AS status,
        CASE WHEN e.visits < r.min_sessions THEN 'below'
             WHEN e.visits <= r.max_sessions THEN 'within'
             ELSE 'above' END AS sessions_vs_range,
        {has_followup} AS has_followup,
        CASE WHEN {has_followup} THEN e.baseline_pain - e.last_pain_pre END AS change_points,
        CASE WHEN {has_followup} AND e.baseline_pain > 0
             THEN 100 * (e.baseline_pain - e.last_pain_pre) / e.baseline_pain END AS change_pct,
        CASE WHEN {has_followup} THEN {improvement_sql('e.baseline_pain', 'e.last_pain_pre')} END
            AS improved_at_last_visit,
        {improvement_sql('e.baseline_pain', 'e.pain_pre_v3')} AS improved_after_session2,
        {improvement_sql('e.baseline_pain', 'e.pain_post_v2')} AS improved_after_session2_immediate
    FROM episode_facts e
    LEFT JOIN recommended r ON r.course_type = e.course_type
    WHERE {where}
)"""
    return sql, params


# Per episode with a baseline: the first visit whose pre-session pain meets the rule (or NULL).
FIRST_IMPROVEMENT_CTE = f"""
firsts AS (
    SELECT e.episode_id, any_value(e.course_type) AS course_type, any_value(e.visits) AS visits,
        min(s.visit_number) FILTER (WHERE {improvement_sql('e.baseline_pain', 's.pain_pre')}) AS first_improved_visit
    FROM chosen_episodes e
    JOIN session_facts s ON s.episode_id = e.episode_id
    WHERE e.baseline_pain IS NOT NULL
    GROUP BY e.episode_id
)"""


@contextlib.contextmanager
def _cursor(con) -> Iterator[Any]:
    """A cursor of its own for each call, so pages on several threads never share one."""
    cursor = con.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _query(cursor, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run `sql` with the parameters it names (DuckDB refuses unused ones)."""
    values = {**RULE_PARAMS, **params}
    return cursor.execute(sql, {name: values[name] for name in set(_PARAM_NAME.findall(sql))}).df()


def _run(con, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    with _cursor(con) as cursor:
        return _query(cursor, sql, params)


def _columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Exactly the documented columns in the documented order, also when there are no rows."""
    return frame.reindex(columns=list(columns)).reset_index(drop=True)


def _group_columns(by: str | Sequence[str]) -> list[str]:
    columns = [by] if isinstance(by, str) else list(by)
    unknown = [c for c in columns if c not in _GROUPABLE]
    if unknown or not columns:
        raise ValueError(f"by must be chosen from {_GROUPABLE}, not {by!r}")
    return columns


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value: numpy numbers become int/float, NaN and NA become None."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


# ---------------------------------------------------------------------------------------------
# 1-3: pain over the course
# ---------------------------------------------------------------------------------------------

TRAJECTORY_COLUMNS = ("visit_number", "phase", "n", "mean", "median", "ci_low", "ci_high")


def pain_trajectory(con, f: Filter = ALL, by: str | Sequence[str] = ("course_type",), relative: bool = False) -> pd.DataFrame:
    """Pain at each visit, before the session ('pre': the lasting effect of the sessions so far)
    and after it ('post': how the client felt on leaving, which includes the short-term relief).
    For each visit number and phase: how many scores were recorded (n), their mean and median,
    and the 95 % confidence interval of the mean (t-based; empty when fewer than 2 scores).
    Grouped by course type, or by course type and condition with by=("course_type", "condition").
    With relative=True every score is first expressed as a percentage of that episode's own
    baseline (visit-1 pre-session pain), so 60 means "at 60 % of where they started"; episodes
    whose baseline is 0 or missing cannot be expressed that way and are left out.
    Columns: course_type[, condition], visit_number, phase, n, mean, median, ci_low, ci_high."""
    groups = _group_columns(by)
    episodes, params = _episodes_cte(f)
    score = "p.pain * 100 / e.baseline_pain" if relative else "p.pain"
    relative_only = "AND e.baseline_pain > 0" if relative else ""
    group_list = ", ".join(f"e.{column}" for column in groups)
    frame = _run(con, f"""
WITH {episodes},
scores AS (
    SELECT {group_list}, s.visit_number, p.phase, {score} AS pain
    FROM chosen_episodes e
    JOIN session_facts s ON s.episode_id = e.episode_id
    CROSS JOIN LATERAL (VALUES ('pre', s.pain_pre), ('post', s.pain_post)) AS p(phase, pain)
    WHERE p.pain IS NOT NULL {relative_only}
)
SELECT {', '.join(groups)}, visit_number, phase, count(*) AS n, avg(pain) AS mean,
    median(pain) AS median, stddev_samp(pain) AS sd
FROM scores
GROUP BY {', '.join(groups)}, visit_number, phase
ORDER BY {', '.join(groups)}, visit_number, phase = 'post'""", params)
    many = frame["n"] >= 2
    t = np.where(many, stdtrit(np.maximum(frame["n"] - 1, 1), 0.975), np.nan)
    half_width = t * frame["sd"] / np.sqrt(frame["n"])
    frame["ci_low"] = (frame["mean"] - half_width).where(many)
    frame["ci_high"] = (frame["mean"] + half_width).where(many)
    return _columns(frame, [*groups, *TRAJECTORY_COLUMNS])


RESPONDER_CURVE_COLUMNS = ("course_type", "visit_number", "episodes", "improved", "share", "at_risk")


def responder_curve(con, f: Filter = ALL) -> pd.DataFrame:
    """How many clients have meaningfully improved by each visit. An episode counts as improved
    from the first visit whose pre-session pain is at least 2 points and 30 % below its baseline,
    and keeps counting at every later visit, whether or not it came back. Per course type and
    visit number: episodes (the denominator: every episode with a baseline score, including
    those that stopped early, so a drop-out counts as not improved), improved (of those, how many
    had improved at or before this visit), share (improved / episodes) and at_risk (of those,
    how many were still attending: their highest visit number is this visit or later).
    Columns: course_type, visit_number, episodes, improved, share, at_risk."""
    episodes, params = _episodes_cte(f)
    frame = _run(con, f"""
WITH {episodes}, {FIRST_IMPROVEMENT_CTE},
totals AS (SELECT course_type, count(*) AS episodes, max(visits) AS last_visit FROM firsts GROUP BY course_type),
grid AS (SELECT course_type, episodes, unnest(range(1, last_visit + 1)) AS visit_number FROM totals),
newly_improved AS (
    SELECT course_type, first_improved_visit AS visit_number, count(*) AS n
    FROM firsts WHERE first_improved_visit IS NOT NULL GROUP BY ALL),
stopping AS (SELECT course_type, visits AS visit_number, count(*) AS n FROM firsts GROUP BY ALL)
SELECT g.course_type, g.visit_number, g.episodes,
    CAST(sum(coalesce(i.n, 0)) OVER (PARTITION BY g.course_type ORDER BY g.visit_number) AS BIGINT) AS improved,
    CAST(g.episodes - coalesce(sum(coalesce(st.n, 0)) OVER (PARTITION BY g.course_type ORDER BY g.visit_number
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT) AS at_risk
FROM grid g
LEFT JOIN newly_improved i ON i.course_type = g.course_type AND i.visit_number = g.visit_number
LEFT JOIN stopping st ON st.course_type = g.course_type AND st.visit_number = g.visit_number
ORDER BY g.course_type, g.visit_number""", params)
    frame["share"] = frame["improved"] / frame["episodes"]
    return _columns(frame, RESPONDER_CURVE_COLUMNS)


KAPLAN_MEIER_COLUMNS = ("course_type", "visit_number", "at_risk", "events", "survival", "ci_low", "ci_high")


def _improvement_times(con, f: Filter) -> pd.DataFrame:
    """Per course type and visit number: how many episodes improved first there (events) and how
    many stopped there without improving (censored). Tiny: a row per visit number."""
    episodes, params = _episodes_cte(f)
    return _run(con, f"""
WITH {episodes}, {FIRST_IMPROVEMENT_CTE}
SELECT course_type, coalesce(first_improved_visit, visits) AS visit_number,
    count(first_improved_visit) AS events, count(*) - count(first_improved_visit) AS censored
FROM firsts GROUP BY ALL ORDER BY ALL""", params)


def _kaplan_meier(times: pd.DataFrame) -> pd.DataFrame:
    """Kaplan-Meier on one course type's counts with lifelines' exponential Greenwood 95 % band
    (the same estimator and band lifelines.KaplanMeierFitter gives; the tests compare them)."""
    last = int(times["visit_number"].max())
    counts = times.set_index("visit_number").reindex(range(1, last + 1), fill_value=0)
    leaving = (counts["events"] + counts["censored"]).to_numpy()
    at_risk = leaving[::-1].cumsum()[::-1]
    events = counts["events"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1 - events / at_risk)
        greenwood = np.cumsum(np.where(at_risk > events, events / (at_risk * (at_risk - events)), 0.0))
        log_survival = np.log(survival)
        spread = Z_95 * np.sqrt(greenwood) / log_survival
        ci_low = np.exp(-np.exp(np.log(-log_survival) - spread))
        ci_high = np.exp(-np.exp(np.log(-log_survival) + spread))
    return pd.DataFrame({
        "visit_number": counts.index, "at_risk": at_risk, "events": events, "survival": survival,
        # Where survival is still 1 the band is [1, 1], as lifelines reports it.
        "ci_low": np.nan_to_num(ci_low, nan=1.0), "ci_high": np.nan_to_num(ci_high, nan=1.0),
    })


def time_to_improvement(con, f: Filter = ALL) -> pd.DataFrame:
    """How long meaningful improvement takes, counted in visits (Kaplan-Meier). Each episode with
    a baseline either improves at the first visit whose pre-session pain is at least 2 points
    and 30 % below baseline (an event), or is followed up to its last visit without improving
    (censored: we know only that it had not improved yet). Per course type and visit number:
    at_risk (episodes still followed at that visit and not yet improved), events (episodes
    improving first at that visit), survival (estimated share not yet improved after that visit)
    and its 95 % confidence band ci_low-ci_high.
    Columns: course_type, visit_number, at_risk, events, survival, ci_low, ci_high."""
    times = _improvement_times(con, f)
    curves = [_kaplan_meier(group).assign(course_type=course_type)
              for course_type, group in times.groupby("course_type", sort=True)]
    frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return _columns(frame, KAPLAN_MEIER_COLUMNS)


MEDIAN_VISITS_COLUMNS = ("course_type", "episodes", "events", "median_visits")


def median_visits_to_improvement(con, f: Filter = ALL) -> pd.DataFrame:
    """The visit by which half of the clients have meaningfully improved (the first visit where
    the Kaplan-Meier share not yet improved is 50 % or less), per course type; empty (NaN) when
    fewer than half have improved by the last visit observed. Also episodes (with a baseline)
    and events (of those, how many improved). Columns: course_type, episodes, events, median_visits."""
    curve = time_to_improvement(con, f)
    rows = []
    for course_type, group in curve.groupby("course_type", sort=True):
        # Products of fractions can land a hair above an exact 0.5; that still counts as half.
        reached = group.loc[group["survival"] <= 0.5 + ROUNDING_TOLERANCE, "visit_number"]
        rows.append({"course_type": course_type, "episodes": int(group["at_risk"].iloc[0]),
                     "events": int(group["events"].sum()),
                     "median_visits": float(reached.iloc[0]) if len(reached) else np.nan})
    return _columns(pd.DataFrame(rows), MEDIAN_VISITS_COLUMNS)


# ---------------------------------------------------------------------------------------------
# 4-6: outcomes by course type, condition and home program
# ---------------------------------------------------------------------------------------------

COURSE_OUTCOME_COLUMNS = (
    "course_type", "episodes", "median_sessions", "below_range", "within_range", "above_range",
    "completed", "active", "dropped", "completed_share", "active_share", "dropped_share",
    "episodes_with_followup", "mean_change_points", "mean_change_pct", "responders",
    "responder_rate", "sessions_with_relief_scores", "mean_immediate_relief")


def course_outcomes(con, f: Filter = ALL) -> pd.DataFrame:
    """Acute against chronic courses. Per course type: episodes; median_sessions (the median of
    each episode's highest visit number; a gap in visit numbers is a missing record, not a
    session not attended); how many attended below, within or above the recommended range
    (3-5 acute, 8-12 chronic); status counts and shares of all episodes: completed (reached the
    recommended minimum, 3 acute or 8 chronic), active (not completed, last visit within 21 days
    of the latest session recorded anywhere) and dropped (neither). Change over the course is
    judged on episodes_with_followup: episodes with a baseline and a pre-session pain recorded
    at a later visit (clients seen once have nothing to compare). For them: mean_change_points
    (baseline minus the last pre-session pain; for an active course, the latest so far),
    mean_change_pct (the same as a percentage of baseline, averaged over episodes with a baseline
    above 0), responders (last pre-session pain at least 2 points and 30 % below baseline) and
    responder_rate (responders / episodes_with_followup). Kept apart, because it is a different,
    short-term measure: mean_immediate_relief, the mean of pre minus post pain within a session
    over sessions_with_relief_scores (sessions with both scores).
    Columns: course_type, episodes, median_sessions, below_range, within_range, above_range,
    completed, active, dropped, completed_share, active_share, dropped_share,
    episodes_with_followup, mean_change_points, mean_change_pct, responders, responder_rate,
    sessions_with_relief_scores, mean_immediate_relief."""
    episodes, params = _episodes_cte(f)
    frame = _run(con, f"""
WITH {episodes},
relief AS (
    SELECT e.course_type, count(*) AS sessions_with_relief_scores,
        avg(s.pain_pre - s.pain_post) AS mean_immediate_relief
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
    WHERE s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL
    GROUP BY e.course_type
),
outcomes AS (
    SELECT course_type, count(*) AS episodes, quantile_cont(visits, 0.5) AS median_sessions,
        count(*) FILTER (WHERE sessions_vs_range = 'below') AS below_range,
        count(*) FILTER (WHERE sessions_vs_range = 'within') AS within_range,
        count(*) FILTER (WHERE sessions_vs_range = 'above') AS above_range,
        count(*) FILTER (WHERE status = 'completed') AS completed,
        count(*) FILTER (WHERE status = 'active') AS active,
        count(*) FILTER (WHERE status = 'dropped') AS dropped,
        count(*) FILTER (WHERE has_followup) AS episodes_with_followup,
        avg(change_points) AS mean_change_points, avg(change_pct) AS mean_change_pct,
        count(*) FILTER (WHERE improved_at_last_visit) AS responders,
        avg(improved_at_last_visit::DOUBLE) AS responder_rate
    FROM chosen_episodes GROUP BY course_type
)
SELECT o.*, o.completed / o.episodes AS completed_share, o.active / o.episodes AS active_share,
    o.dropped / o.episodes AS dropped_share,
    coalesce(r.sessions_with_relief_scores, 0) AS sessions_with_relief_scores, r.mean_immediate_relief
FROM outcomes o LEFT JOIN relief r ON r.course_type = o.course_type
ORDER BY o.course_type""", params)
    return _columns(frame, COURSE_OUTCOME_COLUMNS)


def summary_by_course(con, f: Filter = ALL) -> dict[str, dict[str, Any]]:
    """The per-course figures the command line's `summary --json` prints, for both course types
    (present with 0 episodes when none match). For each: episodes; median_visits (median over
    episodes of the highest visit number); mean_baseline_pain (mean visit-1 pre-session pain);
    episodes_reaching_visit3 (episodes with a baseline and a visit-3 pre-session pain);
    responder_rate_after_session2 (of those, the fraction whose visit-3 pre-session pain is at
    least 2 points and 30 % below baseline: the lasting effect of two sessions);
    responder_rate_after_session2_immediate (the same rule on the pain reported straight after
    session 2, among episodes with a baseline and that score: the immediate effect, not the
    lasting one); mean_pain_by_visit ({visit number: mean pre-session pain of all sessions with
    that visit number}). Rates and means are None when there is nothing to average."""
    return _summary(con, f)["by_course"]


def headline(con, f: Filter = ALL) -> dict[str, Any]:
    """The whole `summary --json` document: episodes, sessions (recorded sessions of those
    episodes), clients (distinct clients among them) and by_course (summary_by_course)."""
    return _summary(con, f)


def _summary(con, f: Filter) -> dict[str, Any]:
    """headline() in one query: one row per course type with its visit means as two lists, and
    the whole filter's totals repeated on every row."""
    episodes, params = _episodes_cte(f)
    courses = _run(con, f"""
WITH {episodes},
totals AS (
    SELECT count(*) AS all_episodes, coalesce(sum(sessions), 0) AS all_sessions,
        count(DISTINCT client_id) AS all_clients
    FROM chosen_episodes),
per_course AS (
    SELECT course_type, count(*) AS episodes, quantile_cont(visits, 0.5) AS median_visits,
        avg(baseline_pain) AS mean_baseline_pain,
        count(improved_after_session2) AS episodes_reaching_visit3,
        avg(improved_after_session2::DOUBLE) AS responder_rate_after_session2,
        avg(improved_after_session2_immediate::DOUBLE) AS responder_rate_after_session2_immediate
    FROM chosen_episodes GROUP BY course_type),
by_visit AS (
    SELECT e.course_type, s.visit_number, avg(s.pain_pre) AS mean_pain
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
    GROUP BY e.course_type, s.visit_number),
visit_lists AS (
    SELECT course_type, list(visit_number ORDER BY visit_number) AS visit_numbers,
        list(mean_pain ORDER BY visit_number) AS mean_pains
    FROM by_visit GROUP BY course_type)
SELECT t.*, c.*, v.visit_numbers, v.mean_pains
FROM totals t
LEFT JOIN per_course c ON true
LEFT JOIN visit_lists v ON v.course_type = c.course_type""", params)
    by_course = {}
    for course_type in config.COURSE_TYPES:
        figures: dict[str, Any] = {
            "episodes": 0, "median_visits": None, "mean_baseline_pain": None, "episodes_reaching_visit3": 0,
            "responder_rate_after_session2": None, "responder_rate_after_session2_immediate": None,
            "mean_pain_by_visit": {}}
        row = courses[courses["course_type"] == course_type]
        if len(row):
            row = row.iloc[0]
            figures.update({name: _plain(row[name]) for name in figures if name != "mean_pain_by_visit"})
            figures["mean_pain_by_visit"] = {int(v): _plain(p) for v, p in zip(row["visit_numbers"], row["mean_pains"])}
        by_course[course_type] = figures
    totals = courses.iloc[0]
    return {"episodes": int(totals["all_episodes"]), "sessions": int(totals["all_sessions"]),
            "clients": int(totals["all_clients"]), "by_course": by_course}


CONDITION_COLUMNS = (
    "condition", "episodes", "mean_baseline_pain", "episodes_with_followup", "mean_change_points",
    "mean_change_pct", "responders", "responder_rate", "median_sessions")


def condition_comparison(con, f: Filter = ALL) -> pd.DataFrame:
    """Outcomes for each of the nine conditions the clinic treats, always all nine (a condition
    nobody matched shows 0 episodes) unless the filter matches no episode at all (then no rows).
    Per condition: episodes; mean_baseline_pain (mean visit-1 pre-session pain); for episodes
    with a baseline and a later pre-session pain (episodes_with_followup): mean_change_points
    (baseline minus last pre-session pain), mean_change_pct (as a percentage of baseline, over
    baselines above 0), responders and responder_rate (last pre-session pain at least 2 points
    and 30 % below baseline); median_sessions (median highest visit number).
    Columns: condition, episodes, mean_baseline_pain, episodes_with_followup, mean_change_points,
    mean_change_pct, responders, responder_rate, median_sessions."""
    episodes, params = _episodes_cte(f)
    conditions = ", ".join(f"($condition_{i}, {i})" for i in range(len(config.CONDITIONS)))
    frame = _run(con, f"""
WITH {episodes},
conditions (condition, position) AS (VALUES {conditions})
SELECT c.condition, count(e.episode_id) AS episodes, avg(e.baseline_pain) AS mean_baseline_pain,
    count(*) FILTER (WHERE e.has_followup) AS episodes_with_followup,
    avg(e.change_points) AS mean_change_points, avg(e.change_pct) AS mean_change_pct,
    count(*) FILTER (WHERE e.improved_at_last_visit) AS responders,
    avg(e.improved_at_last_visit::DOUBLE) AS responder_rate,
    quantile_cont(e.visits, 0.5) AS median_sessions
FROM conditions c LEFT JOIN chosen_episodes e ON e.condition = c.condition
GROUP BY c.condition, c.position
ORDER BY c.position""", params)
    if frame["episodes"].sum() == 0:
        frame = frame.iloc[0:0]
    return _columns(frame, CONDITION_COLUMNS)


HOME_PROGRAM_COLUMNS = (
    "course_type", "adherence_band", "episodes", "mean_adherence_pct", "episodes_with_followup",
    "mean_change_pct", "responder_rate", "episodes_reaching_visit3", "responder_rate_after_session2")


def home_program_effect(con, f: Filter = ALL) -> pd.DataFrame:
    """Outcomes by how well clients kept up their stretching at home. An episode's adherence is
    the mean stretching adherence (%) over the visits where it was recorded, banded 0-25 %,
    25-50 %, 50-75 % and 75-100 % (a value on a boundary goes to the higher band; 100 to the
    last); episodes with no adherence recorded are "not recorded". Per course type and band
    (every band listed, 0 when empty): episodes; mean_adherence_pct; over episodes with a
    baseline and a later pre-session pain (episodes_with_followup): mean_change_pct (baseline
    minus last pre-session pain, as % of baseline) and responder_rate (last pre-session pain at
    least 2 points and 30 % below baseline); and over episodes_reaching_visit3 (a baseline and a
    visit-3 pre-session pain): responder_rate_after_session2. These are associations: clients who
    stretch may differ in other ways, so this does not prove stretching caused the difference.
    Columns: course_type, adherence_band, episodes, mean_adherence_pct, episodes_with_followup,
    mean_change_pct, responder_rate, episodes_reaching_visit3, responder_rate_after_session2."""
    episodes, params = _episodes_cte(f)
    last = len(config.ADHERENCE_BANDS) - 1
    bands = ", ".join(f"($band_label_{i}, $band_low_{i}, $band_high_{i}, {str(i == last).lower()}, {i})"
                      for i in range(len(config.ADHERENCE_BANDS)))
    frame = _run(con, f"""
WITH {episodes},
bands (adherence_band, low, high, is_last, position) AS (VALUES {bands}),
all_bands AS (
    SELECT adherence_band, position FROM bands
    UNION ALL SELECT $not_recorded, {last + 1}),
banded AS (
    SELECT e.*, coalesce(b.adherence_band, $not_recorded) AS adherence_band
    FROM chosen_episodes e
    LEFT JOIN bands b ON e.mean_adherence_pct >= b.low
        AND (e.mean_adherence_pct < b.high OR (b.is_last AND e.mean_adherence_pct <= b.high))
),
course_types AS (SELECT DISTINCT course_type FROM chosen_episodes)
SELECT c.course_type, a.adherence_band, count(x.episode_id) AS episodes,
    avg(x.mean_adherence_pct) AS mean_adherence_pct,
    count(*) FILTER (WHERE x.has_followup) AS episodes_with_followup,
    avg(x.change_pct) AS mean_change_pct,
    avg(x.improved_at_last_visit::DOUBLE) AS responder_rate,
    count(x.improved_after_session2) AS episodes_reaching_visit3,
    avg(x.improved_after_session2::DOUBLE) AS responder_rate_after_session2
FROM course_types c CROSS JOIN all_bands a
LEFT JOIN banded x ON x.course_type = c.course_type AND x.adherence_band = a.adherence_band
GROUP BY c.course_type, a.adherence_band, a.position
ORDER BY c.course_type, a.position""", params)
    return _columns(frame, HOME_PROGRAM_COLUMNS)


# ---------------------------------------------------------------------------------------------
# 7: therapists, compared fairly
# ---------------------------------------------------------------------------------------------

THERAPIST_COLUMNS = (
    "therapist_id", "therapist_name", "is_viewer", "episodes", "responders", "observed_rate",
    "expected_rate", "difference", "ci_low", "ci_high", "judgement", "model")


# What the fair comparison allows for, as columns of an episode_facts row `e`.
CASE_MIX_SQL = {
    "baseline_pain": "e.baseline_pain",
    "course_type": "e.course_type",
    "condition": "e.condition",
    "severity": "coalesce(e.severity, 'unknown')",
    "prior_injuries": "coalesce(e.prior_injuries, 0)",
    "prior_injuries_missing": "e.prior_injuries IS NULL",
}


def _case_mix(cells: pd.DataFrame) -> pd.DataFrame:
    """The case-mix design matrix, one row per group of alike episodes: baseline pain, course
    type, condition, severity ('unknown' when missing), prior injuries (0 when missing, plus a
    missing indicator), keeping only columns that add information (no constant or duplicated
    columns)."""
    design = pd.get_dummies(cells[["course_type", "condition", "severity"]], drop_first=True, dtype=float)
    design.insert(0, "const", 1.0)
    design["baseline_pain"] = cells["baseline_pain"].astype(float)
    design["prior_injuries"] = cells["prior_injuries"].astype(float)
    design["prior_injuries_missing"] = cells["prior_injuries_missing"].astype(float)
    # rank(X[:, S]) == rank(R[:, S]) for X = QR, and R is only columns x columns: cheap to test.
    triangle = np.linalg.qr(design.to_numpy(), mode="r")
    tolerance = 1e-7 * np.linalg.norm(triangle, 2)
    kept: list[int] = []
    for position in range(design.shape[1]):
        if np.linalg.matrix_rank(triangle[:, [*kept, position]], tol=tolerance) == len(kept) + 1:
            kept.append(position)
    return design.iloc[:, kept]


def _expected_responders(cells: pd.DataFrame) -> tuple[np.ndarray, str]:
    """For each group of alike finished episodes (cells: episodes, responders and the case-mix
    columns), the chance of responding given its case mix, and the model used: logistic
    regression; else (too few episodes, perfect separation, no convergence) a linear probability
    model clipped to 0-1; else the overall rate. Fitting on groups with their counts gives the
    same estimates as fitting one row per episode, on far fewer rows. Never raises."""
    trials = cells["episodes"].to_numpy(dtype=float)
    successes = cells["responders"].to_numpy(dtype=float)
    total = trials.sum()
    overall = np.full(len(cells), successes.sum() / total if total else np.nan)
    if total == 0 or successes.sum() in (0, total):
        return overall, "overall rate"
    # statsmodels takes over a second to import; only this model needs it, so the command line
    # and the other pages don't pay for it.
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning, PerfectSeparationWarning

    design = _case_mix(cells)
    if total >= MIN_EPISODES_PER_TERM_LOGISTIC * design.shape[1]:
        try:
            with warnings.catch_warnings():
                # Separation or no convergence: the fit is not usable. (Its RuntimeWarnings about the
                # dispersion of grouped counts do not matter: only the predictions are used.)
                warnings.simplefilter("ignore", RuntimeWarning)
                for trouble in (PerfectSeparationWarning, ConvergenceWarning, HessianInversionWarning):
                    warnings.simplefilter("error", trouble)
                fit = sm.GLM(np.column_stack([successes, trials - successes]), design,
                             family=sm.families.Binomial()).fit()
                expected = np.asarray(fit.predict(design))
            if fit.converged and np.isfinite(expected).all():
                return expected, "logistic"
        except Exception:  # noqa: BLE001 - any failure to fit means "use the simpler model"
            pass
    if total >= MIN_EPISODES_PER_TERM_LINEAR * design.shape[1]:
        try:
            fit = sm.WLS(successes / trials, design, weights=trials).fit()
            expected = np.clip(np.asarray(fit.predict(design)), 0.0, 1.0)
            if np.isfinite(expected).all():
                return expected, "linear"
        except Exception:  # noqa: BLE001 - as above
            pass
    return overall, "overall rate"


def _anonymise(frame: pd.DataFrame, viewer: str | None) -> pd.DataFrame:
    """Mark the viewer's own row and, when a therapist is looking, replace colleagues' ids and
    names by "Therapist A", "Therapist B", ... Letters follow a hash of the id, not the id's
    alphabetical order, so they do not hint at who is who."""
    frame = frame.copy()
    frame["is_viewer"] = frame["therapist_id"] == viewer if viewer is not None else False
    if viewer is None:
        return frame.sort_values("therapist_id")
    colleagues = sorted(frame.loc[~frame["is_viewer"], "therapist_id"],
                        key=lambda therapist: hashlib.sha256(therapist.encode()).hexdigest())
    labels = {therapist: f"Therapist {_letters(number)}" for number, therapist in enumerate(colleagues)}
    anonymous = ~frame["is_viewer"]
    frame.loc[anonymous, "therapist_id"] = frame.loc[anonymous, "therapist_id"].map(labels)
    frame.loc[anonymous, "therapist_name"] = frame.loc[anonymous, "therapist_id"]
    # Sorted by the shown label, so the row order does not reveal the ids either.
    return frame.sort_values("therapist_id")


def _letters(number: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, like spreadsheet columns."""
    text = ""
    number += 1
    while number:
        number, remainder = divmod(number - 1, 26)
        text = chr(ord("A") + remainder) + text
    return text


def _therapist_table(con, f: Filter) -> tuple[pd.DataFrame, float]:
    """therapist_comparison's rows (before anonymising) and the clinic's observed rate."""
    # The expected rate is what the clinic as a whole achieves with such clients, so the model is
    # fitted on every therapist's episodes in the filter, even when the filter picks therapists.
    episodes, params = _episodes_cte(f.replace(therapists=(), viewer_therapist=None))
    # One row per therapist and group of alike judged episodes (the model needs only the counts);
    # episodes not judged collapse into one row per therapist, so every therapist is listed.
    cells = _run(con, f"""
WITH {episodes},
marked AS (
    SELECT e.therapist_id, t.name AS therapist_name, e.status <> 'active' AND e.has_followup AS is_judged,
        e.improved_at_last_visit, {', '.join(f"{sql} AS {name}" for name, sql in CASE_MIX_SQL.items())}
    FROM chosen_episodes e JOIN therapists t ON t.therapist_id = e.therapist_id)
SELECT therapist_id, any_value(therapist_name) AS therapist_name,
    {', '.join(f"CASE WHEN is_judged THEN {name} END AS {name}" for name in CASE_MIX_SQL)},
    count(*) FILTER (WHERE is_judged) AS episodes,
    count(*) FILTER (WHERE is_judged AND improved_at_last_visit) AS responders
FROM marked GROUP BY ALL""", params)
    therapists = cells.groupby("therapist_id", as_index=False)["therapist_name"].first()
    judged = cells[cells["episodes"] > 0]
    # The model sees each case mix once with the clinic's counts, however many therapists had it.
    case_mixes = judged.groupby(list(CASE_MIX_SQL), as_index=False)[["episodes", "responders"]].sum()
    case_mixes["chance"], model = _expected_responders(case_mixes)
    judged = judged.merge(case_mixes.drop(columns=["episodes", "responders"]), on=list(CASE_MIX_SQL))
    judged = judged.assign(expected=judged["episodes"] * judged["chance"],
                           variance=judged["episodes"] * judged["chance"] * (1 - judged["chance"]))
    per_therapist = judged.groupby("therapist_id")[["episodes", "responders", "expected", "variance"]].sum()
    table = therapists.merge(per_therapist, on="therapist_id", how="left")
    table[["episodes", "responders"]] = table[["episodes", "responders"]].fillna(0).astype(int)
    if f.therapists:
        table = table[table["therapist_id"].isin(f.therapists)]
    with np.errstate(divide="ignore", invalid="ignore"):
        episodes_judged = table["episodes"].where(table["episodes"] > 0)
        table["observed_rate"] = table["responders"] / episodes_judged
        table["expected_rate"] = table["expected"] / episodes_judged
        table["difference"] = table["observed_rate"] - table["expected_rate"]
        half_width = Z_95 * np.sqrt(table["variance"]) / episodes_judged
    table["ci_low"] = table["difference"] - half_width
    table["ci_high"] = table["difference"] + half_width
    table["judgement"] = np.select(
        [table["episodes"] < config.MIN_EPISODES_TO_JUDGE, table["ci_low"] > 0, table["ci_high"] < 0],
        ["too few to judge", "better than expected", "worse than expected"], "as expected")
    table["model"] = model
    total = judged["episodes"].sum()
    clinic_rate = float(judged["responders"].sum() / total) if total else np.nan
    return table.reset_index(drop=True), clinic_rate


def therapist_comparison(con, f: Filter = ALL) -> pd.DataFrame:
    """A fair comparison of therapists that allows for the clients each one sees. Judged on
    finished episodes (completed or dropped, not active) with a baseline and a later pre-session
    pain: a responder's last pre-session pain is at least 2 points and 30 % below baseline.
    A model of the whole clinic (logistic regression on baseline pain, course type, condition,
    severity and prior injuries; a linear model or the clinic's overall rate when there are too
    few episodes to fit it) gives each episode its expected chance of responding. Per therapist
    (the episode's primary therapist): episodes judged, responders, observed_rate,
    expected_rate (what the clinic achieves with such clients), difference (observed minus
    expected) with its 95 % interval ci_low-ci_high, and judgement: "too few to judge" under 10
    judged episodes, otherwise "better than expected" or "worse than expected" when the whole
    interval is above or below 0, else "as expected". model names the model used. When a
    therapist is viewing, colleagues appear as "Therapist A", "Therapist B", ... and is_viewer
    marks the viewer's own row. Choosing therapists in the filter picks the rows shown; the
    expected rates still come from every therapist's episodes in the rest of the filter.
    Columns: therapist_id, therapist_name, is_viewer, episodes,
    responders, observed_rate, expected_rate, difference, ci_low, ci_high, judgement, model."""
    table, _ = _therapist_table(con, f)
    return _columns(_anonymise(table, f.viewer_therapist), THERAPIST_COLUMNS)


class Funnel(NamedTuple):
    """funnel_limits' result: the clinic rate, the limit lines and the therapists' points."""
    clinic_rate: float
    limits: pd.DataFrame
    therapists: pd.DataFrame


FUNNEL_LIMIT_COLUMNS = ("episodes", "clinic_rate", "lower_95", "upper_95", "lower_998", "upper_998")
FUNNEL_POINT_COLUMNS = ("therapist_id", "therapist_name", "is_viewer", "episodes", "rate")


def funnel_limits(con, f: Filter = ALL) -> Funnel:
    """The funnel plot of therapists' responder rates. clinic_rate: the share of all judged
    episodes (finished, with a baseline and a later pre-session pain) that responded (last
    pre-session pain at least 2 points and 30 % below baseline); NaN when none. limits: for
    every number of episodes from 1 to the largest therapist's, the range a therapist with that
    many episodes would fall in 95 % and 99.8 % of the time by chance alone if they achieved the
    clinic rate (normal approximation to the binomial, clipped to 0-1); columns episodes,
    clinic_rate, lower_95, upper_95, lower_998, upper_998. therapists: one point per therapist
    with judged episodes, anonymised for a viewing therapist as in therapist_comparison;
    columns therapist_id, therapist_name, is_viewer, episodes, rate."""
    table, clinic_rate = _therapist_table(con, f)
    points = _anonymise(table, f.viewer_therapist)
    points = points[points["episodes"] > 0].rename(columns={"observed_rate": "rate"})
    counts = np.arange(1, int(points["episodes"].max()) + 1 if len(points) else 1)
    limits = pd.DataFrame({"episodes": counts, "clinic_rate": clinic_rate})
    spread = np.sqrt(clinic_rate * (1 - clinic_rate) / counts) if len(counts) else np.array([])
    for name, z in (("95", Z_95), ("998", Z_998)):
        limits[f"lower_{name}"] = np.clip(clinic_rate - z * spread, 0.0, 1.0)
        limits[f"upper_{name}"] = np.clip(clinic_rate + z * spread, 0.0, 1.0)
    return Funnel(clinic_rate, _columns(limits, FUNNEL_LIMIT_COLUMNS), _columns(points, FUNNEL_POINT_COLUMNS))


# ---------------------------------------------------------------------------------------------
# 8-9: over time, and what to expect for one client
# ---------------------------------------------------------------------------------------------

MONTHLY_COLUMNS = ("month", "episodes_started", "sessions", "responder_rate_after_session2", "episodes_reaching_visit3")


def monthly_trend(con, f: Filter = ALL) -> pd.DataFrame:
    """Month by month, every calendar month from the first to the last with activity (0 when a
    month had none): episodes_started (episodes whose first visit fell in the month); sessions
    (sessions of the filter's episodes held in the month, so a course begun in the period can add
    sessions to months after it); episodes_reaching_visit3 and responder_rate_after_session2
    (of the episodes started that month that have a baseline and a visit-3 pre-session pain, the
    share whose visit-3 pre-session pain is at least 2 points and 30 % below baseline).
    Columns: month (first day of the month), episodes_started, sessions,
    responder_rate_after_session2, episodes_reaching_visit3."""
    episodes, params = _episodes_cte(f)
    frame = _run(con, f"""
WITH {episodes},
started AS (
    SELECT date_trunc('month', start_date)::DATE AS month, count(*) AS episodes_started,
        count(improved_after_session2) AS episodes_reaching_visit3,
        avg(improved_after_session2::DOUBLE) AS responder_rate_after_session2
    FROM chosen_episodes GROUP BY 1),
held AS (
    SELECT date_trunc('month', s.session_date)::DATE AS month, count(*) AS sessions
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id GROUP BY 1),
months AS (
    SELECT unnest(range(min(month), max(month) + INTERVAL 1 MONTH, INTERVAL 1 MONTH))::DATE AS month
    FROM (SELECT month FROM started UNION ALL SELECT month FROM held))
SELECT m.month, coalesce(st.episodes_started, 0) AS episodes_started, coalesce(h.sessions, 0) AS sessions,
    st.responder_rate_after_session2, coalesce(st.episodes_reaching_visit3, 0) AS episodes_reaching_visit3
FROM months m
LEFT JOIN started st ON st.month = m.month
LEFT JOIN held h ON h.month = m.month
ORDER BY m.month""", params)
    return _columns(frame, MONTHLY_COLUMNS)


TYPICAL_COURSE_COLUMNS = (
    "visit_number", "peers", "peer_group", "n", "p25_pct", "p50_pct", "p75_pct",
    "p25_pain", "p50_pain", "p75_pain")


def typical_course(con, course_type: str, condition: str, baseline: float | None, f: Filter = ALL,
                   exclude_episode: str | None = None) -> pd.DataFrame:
    """What a typical course looks like for a client like this one. Peers are finished episodes
    (completed or dropped) of the same course type and condition with a baseline above 0, among
    the filter's episodes, leaving out `exclude_episode` (the client's own); when fewer than 30
    such peers exist, all finished episodes of the same course type are used instead
    (peer_group says which: 'condition' or 'course_type'; peers says how many). For each visit
    number: n (peers with a pre-session pain at that visit), the 25th, 50th and 75th percentile
    of their pre-session pain as a percentage of their own baseline (p25_pct, p50_pct,
    p75_pct), and the same scaled to this client's baseline (p25_pain, p50_pain, p75_pain; empty
    without a baseline). Columns: visit_number, peers, peer_group, n, p25_pct, p50_pct, p75_pct,
    p25_pain, p50_pain, p75_pain."""
    episodes, params = _episodes_cte(f)
    params.update(course_type=course_type, condition=condition, exclude_episode=exclude_episode)
    frame = _run(con, f"""
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
FROM scores GROUP BY visit_number ORDER BY visit_number""", params)
    scale = np.nan if baseline is None else float(baseline) / 100
    for percentile in ("p25", "p50", "p75"):
        frame[f"{percentile}_pain"] = frame[f"{percentile}_pct"] * scale
    return _columns(frame, TYPICAL_COURSE_COLUMNS)


# ---------------------------------------------------------------------------------------------
# 10: data quality
# ---------------------------------------------------------------------------------------------

class Check(NamedTuple):
    """One data-quality check: what it means, which visits it flags (SQL condition on a row of
    `checked`) and the sentence shown for each."""
    description: str
    condition: str
    detail: str


# Every session of the filter's episodes once, with what the checks compare it against; all
# checks read this one pass.
CHECKED_CTE = """
checked AS (
    SELECT e.episode_id, e.visits, e.sessions, s.visit_number, s.session_date, s.pain_pre, s.pain_post,
        lag(s.pain_pre IGNORE NULLS) OVER by_visit AS previous_pain,
        lag(CASE WHEN s.pain_pre IS NOT NULL THEN s.visit_number END IGNORE NULLS) OVER by_visit AS previous_pain_visit,
        lag(s.visit_number) OVER by_visit AS previous_visit,
        lag(s.session_date) OVER by_visit AS previous_date,
        first_value(s.visit_number) OVER (PARTITION BY e.episode_id, s.session_date ORDER BY s.visit_number)
            AS first_visit_that_day
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
    WINDOW by_visit AS (PARTITION BY e.episode_id ORDER BY s.visit_number)
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

DATA_QUALITY_CHECKS: dict[str, Check] = {
    "missing_visits": Check(
        "Episodes with gaps in their visit numbers (for example visits 1, 2 and 4): a visit was not recorded.",
        "", ""),
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
        "previous_pain, previous_pain_visit, pain_pre, pain_pre - previous_pain)"),
    "relief_negative": Check(
        "Sessions where pain after the session is higher than before it (negative relief).",
        "pain_post > pain_pre",
        "format('pain {:g} after the session, {:g} before', pain_post, pain_pre)"),
    "same_date": Check(
        "Visits of one episode recorded on the same date as an earlier visit of that episode.",
        "visit_number <> first_visit_that_day",
        "format('visit {} on {}, the same date as visit {}', visit_number, "
        "strftime(session_date, '%Y-%m-%d'), first_visit_that_day)"),
    "dates_out_of_order": Check(
        "Visits dated before the previous visit number of the same episode.",
        "session_date < previous_date",
        "format('visit {} dated {}, before visit {} on {}', visit_number, strftime(session_date, '%Y-%m-%d'), "
        "previous_visit, strftime(previous_date, '%Y-%m-%d'))"),
}
DATA_QUALITY_COLUMNS = ("check", "description", "count")
DATA_QUALITY_DETAIL_COLUMNS = ("episode_id", "visit_number", "detail")


def data_quality(con, f: Filter = ALL) -> pd.DataFrame:
    """Problems in the recorded visits that can distort the figures, one row per check with how
    many findings it has: missing_visits (episodes with gaps in their visit numbers),
    missing_pre and missing_post (sessions without a pain score before / after the session),
    implausible_jump (pre-session pain changing by more than 5 points between consecutive
    recorded visits), relief_negative (pain after the session above pain before it), same_date
    (a visit on the same date as an earlier visit of the same episode) and dates_out_of_order
    (a visit dated before the previous visit). A viewing therapist sees only their own episodes.
    No rows when the filter matches no episode. Columns: check, description, count."""
    episodes, params = _episodes_cte(f, viewer=True)
    session_counts = ", ".join(f"count(*) FILTER (WHERE {check.condition}) AS {name}"
                               for name, check in DATA_QUALITY_CHECKS.items() if name != "missing_visits")
    found = _run(con, f"""
WITH {episodes}, {CHECKED_CTE}
SELECT (SELECT count(*) FROM chosen_episodes) AS episodes,
    (SELECT count(*) FROM chosen_episodes WHERE sessions < visits) AS missing_visits, {session_counts}
FROM checked""", params).iloc[0]
    if found["episodes"] == 0:
        return _columns(pd.DataFrame(), DATA_QUALITY_COLUMNS)
    frame = pd.DataFrame({"check": list(DATA_QUALITY_CHECKS),
                          "description": [check.description for check in DATA_QUALITY_CHECKS.values()],
                          "count": [int(found[name]) for name in DATA_QUALITY_CHECKS]})
    return _columns(frame, DATA_QUALITY_COLUMNS)


def data_quality_details(con, f: Filter = ALL, check: str = "missing_visits") -> pd.DataFrame:
    """The findings behind one data_quality check, one row each: the episode, the visit it
    concerns (for missing_visits the first visit missing) and a sentence describing it.
    Columns: episode_id, visit_number, detail."""
    if check not in DATA_QUALITY_CHECKS:
        raise ValueError(f"check must be one of {', '.join(DATA_QUALITY_CHECKS)}, not {check!r}")
    episodes, params = _episodes_cte(f, viewer=True)
    if check == "missing_visits":
        findings = MISSING_VISITS_SQL
    else:
        rule = DATA_QUALITY_CHECKS[check]
        findings = f"SELECT episode_id, visit_number, {rule.detail} AS detail FROM checked WHERE {rule.condition}"
    frame = _run(con, f"WITH {episodes}, {CHECKED_CTE} SELECT * FROM ({findings}) ORDER BY episode_id, visit_number",
                 params)
    return _columns(frame, DATA_QUALITY_DETAIL_COLUMNS)


# ---------------------------------------------------------------------------------------------
# 11-12: one client at a time (the therapist page)
# ---------------------------------------------------------------------------------------------

CLIENT_EPISODE_COLUMNS = (
    "episode_id", "client_id", "client_name", "condition", "course_type", "therapist_id",
    "start_date", "last_date", "visits", "status", "matches")


def client_episodes(con, f: Filter = ALL, search: str = "", limit: int | None = None) -> pd.DataFrame:
    """The filter's episodes whose client id or client name contains `search` (any case; empty
    matches all), most recently seen first; only the first `limit` of them when a limit is given
    (a picker shows a few hundred, not a whole chain's clients). A viewing therapist sees only
    their own episodes. status is completed, active or dropped as in course_outcomes; matches
    is how many episodes match in all, whatever the limit.
    Columns: episode_id, client_id, client_name, condition, course_type, therapist_id,
    start_date, last_date, visits, status, matches."""
    episodes, params = _episodes_cte(f, viewer=True)
    # %, _ and \ typed by a person are meant literally, not as wildcards.
    params["pattern"] = "%" + re.sub(r"([\\%_])", r"\\\1", search.strip()) + "%"
    params["limit"] = limit
    frame = _run(con, f"""
WITH {episodes}
SELECT e.episode_id, e.client_id, c.display_name AS client_name, e.condition, e.course_type,
    e.therapist_id, e.start_date, e.last_date, e.visits, e.status, count(*) OVER () AS matches
FROM chosen_episodes e JOIN clients c ON c.client_id = e.client_id
WHERE e.client_id ILIKE $pattern ESCAPE '\\' OR c.display_name ILIKE $pattern ESCAPE '\\'
ORDER BY e.last_date DESC, e.episode_id
LIMIT $limit""", params)
    return _columns(frame, CLIENT_EPISODE_COLUMNS)


EPISODE_PROGRESS_COLUMNS = (
    "visit_number", "session_date", "pain_pre", "pain_post", "psfs_pre", "psfs_post",
    "dorsiflexion_pre_deg", "dorsiflexion_post_deg", "stretching_adherence_pct")


def episode_progress(con, episode_id: str, f: Filter = ALL) -> pd.DataFrame:
    """One episode's sessions in visit order with the scores recorded before and after each;
    no rows when the episode does not exist, is outside the filter or belongs to another
    therapist than the one viewing. Columns: visit_number, session_date, pain_pre, pain_post,
    psfs_pre, psfs_post, dorsiflexion_pre_deg, dorsiflexion_post_deg, stretching_adherence_pct."""
    episodes, params = _episodes_cte(f, viewer=True, episode_id=episode_id)
    frame = _run(con, f"""
WITH {episodes}
SELECT s.* FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
ORDER BY s.visit_number""", params)
    return _columns(frame, EPISODE_PROGRESS_COLUMNS)


def episode_summary(con, episode_id: str, f: Filter = ALL) -> dict[str, Any]:
    """One episode at a glance, as a dict ({} when it is not visible, as in episode_progress):
    episode_id, client_id, therapist_id, course_type, condition, status, visits (highest visit
    number), recommended_min and recommended_max sessions, sessions_vs_range (below, within,
    above); baseline (visit-1 pre-session pain), latest_pain (the last pre-session pain recorded)
    and latest_pain_visit; change_points (baseline - latest_pain) and change_pct (as % of
    baseline), both None without a later score; improved_at_visit (the first visit whose
    pre-session pain is at least 2 points and 30 % below baseline, None if none yet);
    psfs_baseline, psfs_latest and psfs_improved (function score risen at least 2 points)."""
    episodes, params = _episodes_cte(f, viewer=True, episode_id=episode_id)
    frame = _run(con, f"""
WITH {episodes}, {FIRST_IMPROVEMENT_CTE}
SELECT e.episode_id, e.client_id, e.therapist_id, e.course_type, e.condition, e.status, e.visits,
    e.min_sessions AS recommended_min, e.max_sessions AS recommended_max, e.sessions_vs_range,
    e.baseline_pain AS baseline, e.last_pain_pre AS latest_pain, e.last_pre_visit AS latest_pain_visit,
    e.change_points, e.change_pct, fi.first_improved_visit AS improved_at_visit,
    e.baseline_psfs AS psfs_baseline, e.last_psfs_pre AS psfs_latest,
    {improvement_sql('e.baseline_psfs', 'e.last_psfs_pre', scale='psfs')} AS psfs_improved
FROM chosen_episodes e LEFT JOIN firsts fi ON fi.episode_id = e.episode_id""", params)
    if frame.empty:
        return {}
    return {column: _plain(value) for column, value in frame.iloc[0].items()}


# ---------------------------------------------------------------------------------------------
# 13: the overview tiles
# ---------------------------------------------------------------------------------------------

KPI_COLUMNS = ("metric", "label", "value", "previous", "change")


def _kpi_values(con, f: Filter) -> dict[str, Any]:
    episodes, params = _episodes_cte(f)
    per_course = ",\n    ".join(
        f"avg(improved_after_session2::DOUBLE) FILTER (WHERE course_type = $course_{i}) AS improved_after_session2_{course},\n"
        f"    quantile_cont(visits, 0.5) FILTER (WHERE course_type = $course_{i}) AS median_sessions_{course}"
        for i, course in enumerate(config.COURSE_TYPES))
    row = _run(con, f"""
WITH {episodes}
SELECT count(DISTINCT client_id) AS clients, count(*) AS episodes, coalesce(sum(sessions), 0) AS sessions,
    {per_course},
    count(*) FILTER (WHERE status = 'completed') / nullif(count(*) FILTER (WHERE status <> 'active'), 0) AS completion_rate,
    count(*) FILTER (WHERE status = 'dropped') / nullif(count(*) FILTER (WHERE status <> 'active'), 0) AS dropout_rate
FROM chosen_episodes""", params).iloc[0]
    return {name: _plain(value) for name, value in row.items()}


def _kpi_labels() -> dict[str, str]:
    labels = {"clients": "Clients", "episodes": "Episodes (courses of care)", "sessions": "Sessions"}
    for course in config.COURSE_TYPES:
        labels[f"improved_after_session2_{course}"] = f"Improved after session 2 ({course})"
    for course in config.COURSE_TYPES:
        labels[f"median_sessions_{course}"] = f"Median sessions ({course})"
    labels["completion_rate"] = "Completion rate (finished courses)"
    labels["dropout_rate"] = "Drop-out rate (finished courses)"
    return labels


def kpis(con, f: Filter = ALL) -> pd.DataFrame:
    """The overview tiles, one row each: clients (distinct clients), episodes, sessions (recorded
    sessions of those episodes); improved_after_session2_acute and _chronic (among episodes with
    a baseline and a visit-3 pre-session pain, the share whose visit-3 pre-session pain is at
    least 2 points and 30 % below baseline); median_sessions_acute and _chronic (median highest
    visit number); completion_rate and dropout_rate (of episodes no longer active, the share
    completed and the share dropped; they add up to 1). value is for the filter; previous for
    the period of the same length just before it (empty without a start and end date); change is
    value minus previous. No rows when the filter matches no episode.
    Columns: metric, label, value, previous, change."""
    current = _kpi_values(con, f)
    if current["episodes"] == 0:
        return _columns(pd.DataFrame(), KPI_COLUMNS)
    earlier_filter = f.previous_period()
    earlier = _kpi_values(con, earlier_filter) if earlier_filter is not None else {}
    rows = []
    for metric, label in _kpi_labels().items():
        value, previous = current[metric], earlier.get(metric)
        change = value - previous if value is not None and previous is not None else None
        rows.append({"metric": metric, "label": label, "value": value, "previous": previous, "change": change})
    return _columns(pd.DataFrame(rows).astype({"value": float, "previous": float, "change": float}), KPI_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Added for the manager pages (pages/courses.py); tests in tests/test_metrics_pages.py.
# ---------------------------------------------------------------------------------------------

SESSIONS_ATTENDED_COLUMNS = ("course_type", "visits", "episodes", "min_sessions", "max_sessions")


def sessions_attended(con, f: Filter = ALL) -> pd.DataFrame:
    """How long courses lasted: per course type and number of sessions attended (the episode's
    highest visit number, as in course_outcomes' median_sessions), how many episodes ended
    there, with the recommended range (3-5 acute, 8-12 chronic) as min_sessions/max_sessions.
    Only numbers of sessions that occur are listed. Columns: course_type, visits, episodes,
    min_sessions, max_sessions."""
    episodes, params = _episodes_cte(f)
    frame = _run(con, f"""
WITH {episodes}
SELECT course_type, visits, count(*) AS episodes, any_value(min_sessions) AS min_sessions,
    any_value(max_sessions) AS max_sessions
FROM chosen_episodes GROUP BY course_type, visits ORDER BY course_type, visits""", params)
    return _columns(frame, SESSIONS_ATTENDED_COLUMNS)


IMMEDIATE_RELIEF_COLUMNS = ("course_type", "visit_number", "sessions", "mean_relief", "ci_low", "ci_high")


def immediate_relief(con, f: Filter = ALL) -> pd.DataFrame:
    """Relief on the table: pain before minus pain after the same session, over sessions with
    both scores. Per course type and visit number: sessions, mean_relief (points) and the
    t-based 95 % confidence interval of the mean (empty under 2 sessions). A short-term effect,
    shown apart from change over the course (which compares pre-session scores across visits).
    Columns: course_type, visit_number, sessions, mean_relief, ci_low, ci_high."""
    episodes, params = _episodes_cte(f)
    frame = _run(con, f"""
WITH {episodes}
SELECT e.course_type, s.visit_number, count(*) AS sessions, avg(s.pain_pre - s.pain_post) AS mean_relief,
    stddev_samp(s.pain_pre - s.pain_post) AS sd
FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
WHERE s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL
GROUP BY e.course_type, s.visit_number ORDER BY e.course_type, s.visit_number""", params)
    many = frame["sessions"] >= 2
    t = np.where(many, stdtrit(np.maximum(frame["sessions"] - 1, 1), 0.975), np.nan)
    half_width = t * frame["sd"] / np.sqrt(frame["sessions"])
    frame["ci_low"] = (frame["mean_relief"] - half_width).where(many)
    frame["ci_high"] = (frame["mean_relief"] + half_width).where(many)
    return _columns(frame, IMMEDIATE_RELIEF_COLUMNS)
