"""How pain changes over the course of care, by condition, with the home program and month by month."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics import config, stats
from analytics.filters import ALL, Filter
from analytics.metrics.query import (
    CONDITION_GRID_CTE,
    documented_columns,
    episodes_cte,
    first_improvement_cte,
    group_columns,
    run,
)
from analytics.metrics.rule import ROUNDING_TOLERANCE
from analytics.metrics.suppression import OTHERS, SUPPRESSED, others_sql, suppress, suppress_from_first
from analytics.metrics.suppression import suppressed as suppressed_rows

# ---------------------------------------------------------------------------------------------
# Pain over the course
# ---------------------------------------------------------------------------------------------

TRAJECTORY_COLUMNS = ("visit_number", "phase", "n", "mean", "median", "ci_low", "ci_high")


def pain_trajectory(con, f: Filter = ALL, by: str | Sequence[str] = ("course_type",), relative: bool = False) -> pd.DataFrame:
    """Pain at each visit, before the session ('pre': the lasting effect of the sessions so far)
    and after it ('post': how the client felt on leaving, which includes the short-term relief).
    For each visit number and phase: how many scores were recorded (n), their mean and median,
    and the 95% confidence interval of the mean (t-based; empty when fewer than 2 scores).
    Grouped by course type, or by course type and condition with by=("course_type", "condition").
    With relative=True every score is first expressed as a percentage of that episode's own
    baseline (visit-1 pre-session pain), so 60 means "at 60% of where they started"; episodes
    whose baseline is 0 or missing cannot be expressed that way and are left out. For a viewing
    therapist, points resting on 1-9 other therapists' courses are left out, by condition with
    the next smallest at that visit too when the rest would give it away (suppression.py).
    Columns: course_type[, condition], visit_number, phase, n, mean, median, ci_low, ci_high."""
    groups = group_columns(by)
    episodes, params = episodes_cte(f)
    relative_only = "WHERE e.baseline_pain > 0" if relative else ""
    group_list = ", ".join(f"e.{column}" for column in groups)
    # Both phases of a visit side by side, one row per session (not one per score): half the
    # rows to group, and each median runs over one column.
    phases = {phase: f"s.pain_{phase} * 100 / e.baseline_pain" if relative else f"s.pain_{phase}"
              for phase in ("pre", "post")}
    aggregates = ", ".join(
        f"count({phase}) AS n_{phase}, avg({phase}) AS mean_{phase}, median({phase}) AS median_{phase}, "
        f"stddev_samp({phase}) AS sd_{phase}, "
        f"{others_sql(f, 'scores', once_per_course=True, among=f'scores.{phase} IS NOT NULL')} AS others_{phase}"
        for phase in phases)
    per_phase = " UNION ALL ".join(
        f"SELECT {', '.join(groups)}, visit_number, '{phase}' AS phase, n_{phase} AS n, mean_{phase} AS mean, "
        f"median_{phase} AS median, sd_{phase} AS sd, others_{phase} AS {OTHERS} FROM by_visit WHERE n_{phase} > 0"
        for phase in phases)
    frame = run(con, f"""
WITH {episodes},
scores AS (
    SELECT {group_list}, e.episode_id, e.is_other, s.visit_number, {phases['pre']} AS pre, {phases['post']} AS post
    FROM chosen_episodes e
    JOIN session_facts s ON s.episode_id = e.episode_id
    {relative_only}
),
by_visit AS (SELECT {', '.join(groups)}, visit_number, {aggregates} FROM scores GROUP BY {', '.join(groups)}, visit_number)
SELECT * FROM ({per_phase})
ORDER BY {', '.join(groups)}, visit_number, phase = 'post'""", params)
    frame["ci_low"], frame["ci_high"] = stats.t_interval(frame["mean"], frame["sd"], frame["n"])
    # By condition, a visit's points add up to the course type's point at that visit.
    partition = [*(g for g in groups if g != "condition"), "visit_number", "phase"] if "condition" in groups else None
    return documented_columns(suppress(frame, f, partition=partition), [*groups, *TRAJECTORY_COLUMNS])


RESPONDER_CURVE_COLUMNS = ("course_type", "visit_number", "episodes", "improved", "share", "at_risk")


def responder_curve(con, f: Filter = ALL) -> pd.DataFrame:
    """How many clients have meaningfully improved by each visit. An episode counts as improved
    from the first visit whose pre-session pain is at least 2 points and 30% below its baseline,
    and keeps counting at every later visit, whether or not it came back. Per course type and
    visit number: episodes (the denominator: every episode with a baseline score, including
    those that stopped early, so a drop-out counts as not improved), improved (of those, how many
    had improved at or before this visit), share (improved / episodes) and at_risk (of those,
    how many were still attending: their highest visit number is this visit or later). For a
    viewing therapist, a course type's curve stops before the first visit at which 1-9 other
    therapists' courses are still attending.
    Columns: course_type, visit_number, episodes, improved, share, at_risk."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes}, {first_improvement_cte(f)},
totals AS (SELECT course_type, count(*) AS episodes, max(visits) AS last_visit,
    count(*) FILTER (WHERE is_other) AS others FROM firsts GROUP BY course_type),
grid AS (SELECT course_type, episodes, others, unnest(range(1, last_visit + 1)) AS visit_number FROM totals),
newly_improved AS (
    SELECT course_type, first_improved_visit AS visit_number, count(*) AS n
    FROM firsts WHERE first_improved_visit IS NOT NULL GROUP BY ALL),
stopping AS (SELECT course_type, visits AS visit_number, count(*) AS n,
    count(*) FILTER (WHERE is_other) AS others_n FROM firsts GROUP BY ALL)
SELECT g.course_type, g.visit_number, g.episodes,
    CAST(g.others - coalesce(sum(coalesce(st.others_n, 0)) OVER (PARTITION BY g.course_type ORDER BY g.visit_number
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT) AS {OTHERS},
    CAST(sum(coalesce(i.n, 0)) OVER (PARTITION BY g.course_type ORDER BY g.visit_number) AS BIGINT) AS improved,
    CAST(g.episodes - coalesce(sum(coalesce(st.n, 0)) OVER (PARTITION BY g.course_type ORDER BY g.visit_number
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT) AS at_risk
FROM grid g
LEFT JOIN newly_improved i ON i.course_type = g.course_type AND i.visit_number = g.visit_number
LEFT JOIN stopping st ON st.course_type = g.course_type AND st.visit_number = g.visit_number
ORDER BY g.course_type, g.visit_number""", params)
    frame["share"] = frame["improved"] / frame["episodes"]
    return documented_columns(suppress_from_first(frame, f, "course_type"), RESPONDER_CURVE_COLUMNS)


KAPLAN_MEIER_COLUMNS = ("course_type", "visit_number", "at_risk", "events", "survival", "ci_low", "ci_high")


def _improvement_times(con, f: Filter) -> pd.DataFrame:
    """Per course type and visit number: how many episodes improved first there (events), how
    many stopped there without improving (censored) and how many of either were other
    therapists' courses (others_leaving). Tiny: a row per visit number."""
    episodes, params = episodes_cte(f)
    return run(con, f"""
WITH {episodes}, {first_improvement_cte(f)}
SELECT course_type, coalesce(first_improved_visit, visits) AS visit_number,
    count(first_improved_visit) AS events, count(*) - count(first_improved_visit) AS censored,
    count(*) FILTER (WHERE is_other) AS others_leaving
FROM firsts GROUP BY ALL ORDER BY ALL""", params)


def _kaplan_meier(times: pd.DataFrame) -> pd.DataFrame:
    """Kaplan-Meier on one course type's counts, every visit number from 1 to the last (the
    estimator and band lifelines.KaplanMeierFitter gives; the tests compare them)."""
    last = int(times["visit_number"].max())
    counts = times.set_index("visit_number").reindex(range(1, last + 1), fill_value=0)
    events = counts["events"].to_numpy()
    curve = stats.kaplan_meier(events, counts["censored"].to_numpy())
    leaving = counts["others_leaving"].to_numpy()
    return pd.DataFrame({"visit_number": counts.index, "at_risk": curve["at_risk"].astype(int), "events": events,
                         "survival": curve["survival"], "ci_low": curve["ci_low"], "ci_high": curve["ci_high"],
                         OTHERS: leaving.sum() - np.cumsum(leaving) + leaving})


def _curves(con, f: Filter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every course type's whole Kaplan-Meier curve, and the part of it a viewing therapist may
    see: each step multiplies in the visits before it, so a curve stops at the first visit at
    which 1-9 other therapists' courses are still followed (OTHERS: at risk there)."""
    times = _improvement_times(con, f)
    curves = [_kaplan_meier(group).assign(course_type=course_type)
              for course_type, group in times.groupby("course_type", sort=True)]
    whole = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=[*KAPLAN_MEIER_COLUMNS, OTHERS])
    return whole, suppress_from_first(whole, f, "course_type")


def time_to_improvement(con, f: Filter = ALL) -> pd.DataFrame:
    """How long meaningful improvement takes, counted in visits (Kaplan-Meier). Each episode with
    a baseline either improves at the first visit whose pre-session pain is at least 2 points
    and 30% below baseline (an event), or is followed up to its last visit without improving
    (censored: we know only that it had not improved yet). Per course type and visit number:
    at_risk (episodes still followed at that visit and not yet improved), events (episodes
    improving first at that visit), survival (estimated share not yet improved after that visit)
    and its 95% confidence band ci_low-ci_high. For a viewing therapist a curve stops before the
    first visit at which 1-9 other therapists' courses are still followed.
    Columns: course_type, visit_number, at_risk, events, survival, ci_low, ci_high."""
    return documented_columns(_curves(con, f)[1], KAPLAN_MEIER_COLUMNS)


IMPROVEMENT_ALL_STARTED_COLUMNS = (
    "course_type", "visit_number", "episodes", "improved", "share", "ci_low", "ci_high", "still_running_left_out")


def improvement_all_started(con, f: Filter = ALL) -> pd.DataFrame:
    """How many of all the courses that started have meaningfully improved by each visit,
    counting a drop-out as never improved (the other way to read time to improvement, beside
    Kaplan-Meier, which assumes the courses that stopped would have improved like those that
    stayed). A course improves at the first visit whose pre-session pain is at least 2 points
    and 30% below its baseline and counts as improved from then on, whether or not it came back.
    Per course type and visit number k: episodes (the denominator: every course with a baseline,
    except one still active that has not improved and has not yet reached visit k: its answer at
    k is not known, so it is left out rather than counted as not improved), improved (of those,
    how many had improved at or before visit k), share (improved / episodes) with its 95% Wilson
    interval ci_low-ci_high, and still_running_left_out (the active courses left out at visit k).
    For a viewing therapist, a course type's curve stops before the first visit at which 1-9
    other therapists' courses are counted.
    Columns: course_type, visit_number, episodes, improved, share, ci_low, ci_high,
    still_running_left_out."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes}, {first_improvement_cte(f)},
started AS (
    SELECT x.*, x.first_improved_visit IS NULL AND e.status = 'active' AS is_running_unimproved
    FROM firsts x JOIN chosen_episodes e ON e.episode_id = x.episode_id),
totals AS (SELECT course_type, count(*) AS episodes, max(visits) AS last_visit,
    count(*) FILTER (WHERE is_other) AS others FROM started GROUP BY course_type),
grid AS (SELECT course_type, episodes, others, unnest(range(1, last_visit + 1)) AS visit_number FROM totals),
newly_improved AS (
    SELECT course_type, first_improved_visit AS visit_number, count(*) AS n
    FROM started WHERE first_improved_visit IS NOT NULL GROUP BY ALL),
-- A running course not yet improved leaves the denominator after its last visit so far.
running AS (SELECT course_type, visits AS visit_number, count(*) AS n,
    count(*) FILTER (WHERE is_other) AS others_n FROM started WHERE is_running_unimproved GROUP BY ALL),
counted AS (
    SELECT g.course_type, g.visit_number, g.episodes, g.others,
        coalesce(sum(coalesce(r.n, 0)) OVER earlier, 0) AS left_out,
        coalesce(sum(coalesce(r.others_n, 0)) OVER earlier, 0) AS others_left_out,
        sum(coalesce(i.n, 0)) OVER (PARTITION BY g.course_type ORDER BY g.visit_number) AS improved
    FROM grid g
    LEFT JOIN newly_improved i ON i.course_type = g.course_type AND i.visit_number = g.visit_number
    LEFT JOIN running r ON r.course_type = g.course_type AND r.visit_number = g.visit_number
    WINDOW earlier AS (PARTITION BY g.course_type ORDER BY g.visit_number
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
SELECT course_type, visit_number, CAST(episodes - left_out AS BIGINT) AS episodes,
    CAST(improved AS BIGINT) AS improved, CAST(left_out AS BIGINT) AS still_running_left_out,
    CAST(others - others_left_out AS BIGINT) AS {OTHERS}
FROM counted ORDER BY course_type, visit_number""", params)
    frame["share"] = frame["improved"] / frame["episodes"]
    frame["ci_low"], frame["ci_high"] = stats.wilson_interval(frame["improved"], frame["episodes"])
    return documented_columns(suppress_from_first(frame, f, "course_type"), IMPROVEMENT_ALL_STARTED_COLUMNS)


MEDIAN_VISITS_COLUMNS = ("course_type", "episodes", "events", "median_visits")


def median_visits_to_improvement(con, f: Filter = ALL) -> pd.DataFrame:
    """The visit by which half of the clients have meaningfully improved (the first visit where
    the Kaplan-Meier share not yet improved is 50% or less), per course type; empty (NaN) when
    fewer than half have improved by the last visit observed. Also episodes (with a baseline)
    and events (of those, how many improved). For a viewing therapist, a course type whose median
    lies beyond the part of the curve they may see (time_to_improvement) is left out.
    Columns: course_type, episodes, events, median_visits."""
    whole, shown = _curves(con, f)
    rows = []
    for course_type, group in whole.groupby("course_type", sort=True):
        # Products of fractions can land a hair above an exact 0.5; that still counts as half.
        reached = group.loc[group["survival"] <= 0.5 + ROUNDING_TOLERANCE, "visit_number"]
        median = float(reached.iloc[0]) if len(reached) else np.nan
        visible = shown.loc[shown["course_type"] == course_type, "visit_number"]
        beyond = len(visible) < len(group) and not (median <= visible.max())
        rows.append({"course_type": course_type, "episodes": int(group["at_risk"].iloc[0]),
                     "events": int(group["events"].sum()), "median_visits": median, "beyond": int(beyond)})
    frame = pd.DataFrame(rows, columns=[*MEDIAN_VISITS_COLUMNS, "beyond"])
    # "beyond" is 1 exactly when the viewer may not see the median.
    kept = frame[frame["beyond"] == 0].reset_index(drop=True)
    kept.attrs[SUPPRESSED] = int(frame["beyond"].sum())
    return documented_columns(kept, MEDIAN_VISITS_COLUMNS)

# ---------------------------------------------------------------------------------------------
# Conditions and the home program
# ---------------------------------------------------------------------------------------------

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
    and 30% below baseline); median_sessions (median highest visit number). For a viewing
    therapist, a condition resting on 1-9 other therapists' courses is left out, with the next
    smallest too when the rest would give it away (and when only conditions nobody matched are
    left, no rows; suppression.py).
    Columns: condition, episodes, mean_baseline_pain, episodes_with_followup, mean_change_points,
    mean_change_pct, responders, responder_rate, median_sessions."""
    episodes, params = episodes_cte(f)
    conditions = ", ".join(f"($condition_{i}, {i})" for i in range(len(config.CONDITIONS)))
    frame = run(con, f"""
WITH {episodes},
conditions (condition, position) AS (VALUES {conditions})
SELECT c.condition, count(e.episode_id) AS episodes, avg(e.baseline_pain) AS mean_baseline_pain,
    count(*) FILTER (WHERE e.has_followup) AS episodes_with_followup,
    avg(e.change_points) AS mean_change_points, avg(e.change_pct) AS mean_change_pct,
    count(*) FILTER (WHERE e.improved_at_last_visit) AS responders,
    avg(e.improved_at_last_visit::DOUBLE) AS responder_rate,
    quantile_cont(e.visits, 0.5) AS median_sessions,
    {others_sql(f, once_per_course=True)} AS {OTHERS}
FROM conditions c LEFT JOIN chosen_episodes e ON e.condition = c.condition
GROUP BY c.condition, c.position
ORDER BY c.position""", params)
    frame = suppress(frame, f, partition=())  # the conditions add up to the whole selection
    if frame["episodes"].sum() == 0:  # also when suppression left only conditions nobody matched
        frame = frame.iloc[0:0]
    return documented_columns(frame, CONDITION_COLUMNS)


CONDITION_BY_COURSE_COLUMNS = (
    "course_type", "condition", "episodes", "episodes_eligible_itt", "improved_itt",
    "responder_rate_after_session2_itt", "itt_ci_low", "itt_ci_high", "episodes_with_followup", "responders",
    "responder_rate", "responder_ci_low", "responder_ci_high")


def condition_by_course(con, f: Filter = ALL) -> pd.DataFrame:
    """The conditions within each course type, since the share of chronic courses differs from
    one condition to the next and pooled figures compare case mixes, not conditions. Per course
    type with episodes and every condition the clinic treats (0 episodes where none matched):
    episodes; episodes_eligible_itt, improved_itt and responder_rate_after_session2_itt
    (intention to treat: of every episode with a baseline except one still active short of
    visit 3, how many had a visit-3 pre-session pain meeting the filter's improvement rule, by
    default at least 2 points and 30% below baseline; a drop-out before visit 3 counts as not
    improved); episodes_with_followup, responders and responder_rate (the rule met by the last
    pre-session pain, among episodes with a baseline and a later score); each rate with its 95%
    Wilson interval (itt_ci_low-itt_ci_high, responder_ci_low-responder_ci_high; empty with no
    episodes to judge). Rates are empty with nothing to judge. For a viewing therapist, a row
    resting on 1-9 other therapists' courses is left out, with the next smallest of its course
    type too when the rest would give it away (suppression.py).
    Columns: course_type, condition, episodes, episodes_eligible_itt, improved_itt,
    responder_rate_after_session2_itt, itt_ci_low, itt_ci_high, episodes_with_followup, responders,
    responder_rate, responder_ci_low, responder_ci_high."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes}, {CONDITION_GRID_CTE}
SELECT t.course_type, c.condition, count(e.episode_id) AS episodes,
    count(*) FILTER (WHERE e.eligible_itt) AS episodes_eligible_itt,
    count(*) FILTER (WHERE e.improved_after_session2_itt) AS improved_itt,
    avg(e.improved_after_session2_itt::DOUBLE) AS responder_rate_after_session2_itt,
    count(*) FILTER (WHERE e.has_followup) AS episodes_with_followup,
    count(*) FILTER (WHERE e.improved_at_last_visit) AS responders,
    avg(e.improved_at_last_visit::DOUBLE) AS responder_rate,
    {others_sql(f, once_per_course=True)} AS {OTHERS}
FROM course_types t CROSS JOIN conditions c
LEFT JOIN chosen_episodes_itt e ON e.course_type = t.course_type AND e.condition = c.condition
GROUP BY t.course_type, c.condition, c.position
ORDER BY t.course_type, c.position""", params)
    frame["itt_ci_low"], frame["itt_ci_high"] = stats.wilson_interval(frame["improved_itt"], frame["episodes_eligible_itt"])
    frame["responder_ci_low"], frame["responder_ci_high"] = stats.wilson_interval(
        frame["responders"], frame["episodes_with_followup"])
    # The conditions of a course type add up to its figures on the other pages.
    return documented_columns(suppress(frame, f, partition=("course_type",)), CONDITION_BY_COURSE_COLUMNS)


HOME_PROGRAM_COLUMNS = (
    "course_type", "adherence_band", "episodes", "mean_adherence_pct", "episodes_with_followup",
    "mean_change_pct", "responder_rate", "episodes_reaching_visit3", "responder_rate_after_session2",
    "episodes_eligible_itt", "responder_rate_after_session2_itt")


def home_program_effect(con, f: Filter = ALL) -> pd.DataFrame:
    """Outcomes by how well clients kept up their stretching at home. An episode's adherence is
    the mean stretching adherence (%) over the visits where it was recorded, banded 0-25%,
    25-50%, 50-75% and 75-100% (a value on a boundary goes to the higher band; 100 to the
    last); episodes with no adherence recorded are "not recorded". Per course type and band
    (every band listed, 0 when empty): episodes; mean_adherence_pct; over episodes with a
    baseline and a later pre-session pain (episodes_with_followup): mean_change_pct (baseline
    minus last pre-session pain, as % of baseline) and responder_rate (last pre-session pain at
    least 2 points and 30% below baseline); and over episodes_reaching_visit3 (a baseline and a
    visit-3 pre-session pain): responder_rate_after_session2; and for all who started,
    episodes_eligible_itt (a baseline, and not still active short of visit 3) and
    responder_rate_after_session2_itt (a drop-out before visit 3 counts as not improved, so a band
    whose clients stop early is not flattered by leaving them out). Improvement follows the
    filter's rule (at least 2 points and 30% below baseline by default). These are associations:
    clients who stretch may differ in other ways, so this does not prove stretching caused the
    difference. For a viewing therapist, a band resting on 1-9 other therapists' courses is left
    out, with the next smallest too when the rest would give it away (suppression.py).
    Columns: course_type, adherence_band, episodes, mean_adherence_pct, episodes_with_followup,
    mean_change_pct, responder_rate, episodes_reaching_visit3, responder_rate_after_session2,
    episodes_eligible_itt, responder_rate_after_session2_itt."""
    episodes, params = episodes_cte(f)
    last = len(config.ADHERENCE_BANDS) - 1
    bands = ", ".join(f"($band_label_{i}, $band_low_{i}, $band_high_{i}, {str(i == last).lower()}, {i})"
                      for i in range(len(config.ADHERENCE_BANDS)))
    frame = run(con, f"""
WITH {episodes},
bands (adherence_band, low, high, is_last, position) AS (VALUES {bands}),
all_bands AS (
    SELECT adherence_band, position FROM bands
    UNION ALL SELECT $not_recorded, {last + 1}),
banded AS (
    SELECT e.*, coalesce(b.adherence_band, $not_recorded) AS adherence_band
    FROM chosen_episodes_itt e
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
    avg(x.improved_after_session2::DOUBLE) AS responder_rate_after_session2,
    count(*) FILTER (WHERE x.eligible_itt) AS episodes_eligible_itt,
    avg(x.improved_after_session2_itt::DOUBLE) FILTER (WHERE x.eligible_itt) AS responder_rate_after_session2_itt,
    {others_sql(f, 'x', once_per_course=True)} AS {OTHERS}
FROM course_types c CROSS JOIN all_bands a
LEFT JOIN banded x ON x.course_type = c.course_type AND x.adherence_band = a.adherence_band
GROUP BY c.course_type, a.adherence_band, a.position
ORDER BY c.course_type, a.position""", params)
    return documented_columns(suppress(frame, f, partition=("course_type",)), HOME_PROGRAM_COLUMNS)

# ---------------------------------------------------------------------------------------------
# Over time
# ---------------------------------------------------------------------------------------------

MONTHLY_COLUMNS = ("month", "episodes_started", "sessions", "responder_rate_after_session2", "episodes_reaching_visit3",
                   "episodes_eligible_itt", "improved_itt", "responder_rate_after_session2_itt",
                   "episodes_finished", "episodes_dropped", "dropout_rate")


def monthly_trend(con, f: Filter = ALL) -> pd.DataFrame:
    """Month by month, every calendar month from the first to the last with activity (0 when a
    month had none): episodes_started (episodes whose first visit fell in the month); sessions
    (sessions of the filter's episodes held in the month, so a course begun in the period can add
    sessions to months after it); episodes_reaching_visit3 and responder_rate_after_session2
    (of the episodes started that month that have a baseline and a visit-3 pre-session pain, the
    share whose visit-3 pre-session pain is at least 2 points and 30% below baseline); the same
    for all who started: episodes_eligible_itt (a baseline, and not still active short of visit
    3), improved_itt and responder_rate_after_session2_itt (a drop-out before visit 3 counts as
    not improved); episodes_finished (no longer active), episodes_dropped (drop-outs: closed
    early or lost to follow-up, as in course_outcomes) and dropout_rate (episodes_dropped /
    episodes_finished) of the episodes started that month. For a viewing therapist, a month
    whose courses started, sessions held, courses judged or courses finished rest on 1-9 other
    therapists' courses is left out, with the next smallest too when the rest would give it away
    (suppression.py). Columns: month (first day of the month), episodes_started, sessions,
    responder_rate_after_session2, episodes_reaching_visit3, episodes_eligible_itt, improved_itt,
    responder_rate_after_session2_itt, episodes_finished, episodes_dropped, dropout_rate."""
    episodes, params = episodes_cte(f)
    frame = run(con, f"""
WITH {episodes},
started AS (
    SELECT date_trunc('month', start_date)::DATE AS month, count(*) AS episodes_started,
        count(improved_after_session2) AS episodes_reaching_visit3,
        avg(improved_after_session2::DOUBLE) AS responder_rate_after_session2,
        count(*) FILTER (WHERE eligible_itt) AS episodes_eligible_itt,
        count(*) FILTER (WHERE improved_after_session2_itt) AS improved_itt,
        count(*) FILTER (WHERE status <> 'active') AS episodes_finished,
        count(*) FILTER (WHERE is_dropout) AS episodes_dropped,
        count(*) FILTER (WHERE is_other) AS others_started,
        count(*) FILTER (WHERE is_other AND eligible_itt) AS others_judged,
        count(*) FILTER (WHERE is_other AND status <> 'active') AS others_finished
    FROM chosen_episodes_itt GROUP BY 1),
held AS (
    SELECT date_trunc('month', s.session_date)::DATE AS month, count(*) AS sessions,
        {others_sql(f)} AS others_held
    FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id GROUP BY 1),
months AS (
    SELECT unnest(range(min(month), max(month) + INTERVAL 1 MONTH, INTERVAL 1 MONTH))::DATE AS month
    FROM (SELECT month FROM started UNION ALL SELECT month FROM held))
SELECT m.month, coalesce(st.episodes_started, 0) AS episodes_started, coalesce(h.sessions, 0) AS sessions,
    st.responder_rate_after_session2, coalesce(st.episodes_reaching_visit3, 0) AS episodes_reaching_visit3,
    coalesce(st.episodes_eligible_itt, 0) AS episodes_eligible_itt, coalesce(st.improved_itt, 0) AS improved_itt,
    st.improved_itt / nullif(st.episodes_eligible_itt, 0) AS responder_rate_after_session2_itt,
    coalesce(st.episodes_finished, 0) AS episodes_finished, coalesce(st.episodes_dropped, 0) AS episodes_dropped,
    st.episodes_dropped / nullif(st.episodes_finished, 0) AS dropout_rate,
    st.others_started, h.others_held, st.others_judged, st.others_finished
FROM months m
LEFT JOIN started st ON st.month = m.month
LEFT JOIN held h ON h.month = m.month
ORDER BY m.month""", params)
    others = ("others_started", "others_held", "others_judged", "others_finished")
    return documented_columns(suppress(frame, f, others, partition=()), MONTHLY_COLUMNS)


CONTROL_CHART_COLUMNS = ("course_type", "measure", "month", "n", "value", "centre", "lower", "upper", "outside")
CONTROL_MEASURES = ("improved_after_session2_itt", "dropout_rate", "new_courses")


def monthly_control_charts(con, f: Filter = ALL) -> pd.DataFrame:
    """Three control charts per course type (acute and chronic apart, as their rates differ and
    their mix changes from month to month), by month of first visit, from monthly_trend's months
    for that course type (so for a viewing therapist without the months it leaves out).
    improved_after_session2_itt (a p-chart of the share of all who started improved at visit 3,
    n = episodes_eligible_itt) and dropout_rate (a p-chart of drop-outs / finished, n =
    episodes_finished): value is the month's rate, centre p̄ the months' total successes over
    their total n, and lower-upper p̄ -/+ 3 * sqrt(p̄ (1 - p̄) / n), clipped to 0-1, so the limits
    widen for months with few courses; a month with n = 0 has no value and no limits.
    new_courses (a c-chart of episodes_started, n = value = the month's count): centre the mean
    count c̄ and lower-upper c̄ -/+ 3 * sqrt(c̄), at least 0. outside is True where value lies
    beyond a limit: a month to look into, not proof that something changed.
    Columns: course_type, measure, month, n, value, centre, lower, upper, outside."""
    charts, hidden = [], 0
    for course_type in config.COURSE_TYPES:
        if f.course_types and course_type not in f.course_types:
            continue
        trend = monthly_trend(con, f.replace(course_types=(course_type,)))
        hidden += suppressed_rows(trend)
        if trend.empty:
            continue
        for measure, successes, trials in (("improved_after_session2_itt", "improved_itt", "episodes_eligible_itt"),
                                           ("dropout_rate", "episodes_dropped", "episodes_finished")):
            limits = stats.p_chart_limits(trend[successes], trend[trials])
            charts.append(pd.DataFrame({"course_type": course_type, "measure": measure, "month": trend["month"],
                                        "n": trend[trials], "value": limits["rate"], "centre": limits["centre"],
                                        "lower": limits["lower"], "upper": limits["upper"],
                                        "outside": limits["outside"]}))
        limits = stats.c_chart_limits(trend["episodes_started"])
        charts.append(pd.DataFrame({"course_type": course_type, "measure": "new_courses", "month": trend["month"],
                                    "n": trend["episodes_started"], "value": trend["episodes_started"].astype(float),
                                    "centre": limits["centre"], "lower": limits["lower"], "upper": limits["upper"],
                                    "outside": limits["outside"]}))
    frame = pd.concat(charts, ignore_index=True) if charts else pd.DataFrame(columns=list(CONTROL_CHART_COLUMNS))
    frame.attrs[SUPPRESSED] = hidden
    return documented_columns(frame, CONTROL_CHART_COLUMNS)
