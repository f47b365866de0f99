"""Does it last? What happens after a course's last visit: pain at the follow-ups (durability),
the pain coming back (recurrence, Kaplan-Meier), how many follow-ups are answered, the clients'
own impression of change (PGIC), and foot function over the course (FAAM ADL, LEFS).

Which check-in answers which follow-up is followups.followups_cte's one definition. The groups
a figure can be split by are LASTING_GROUPS: course_type, condition, completed (the course
reached its recommended minimum of sessions: status 'completed') and stretching (the days with
stretches in the last 7 at the follow-up, in config.STRETCH_DAY_BANDS)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analytics import config, stats
from analytics.filters import ALL, Filter
from analytics.metrics import followups, rule
from analytics.metrics.query import NOT_RECORDED, documented_columns, episodes_cte, run
from analytics.metrics.suppression import OTHERS, SUPPRESSED, suppress, suppress_from_first

LASTING_GROUPS = ("course_type", "condition", "completed", "stretching")
"""The ways the lasting-results figures can be split (`by`); None is every course together."""

ALL_COURSES = "all courses"
COMPLETED = "completed"
NOT_COMPLETED = "not completed"
STRETCH_BAND_LABELS = tuple(f"{low} days" if low == high else f"{low}-{high} days"
                            for low, high in config.STRETCH_DAY_BANDS)
RECURRENCE_MONTHS = ((3, 91), (6, 182), (12, 365))
"""The times the recurrence table reads off the curves: (months, days after the last visit)."""
FUNCTION_SCALES = (("faam_adl", "faam_adl_pct"), ("lefs", "lefs"))


def _check_by(by: str | None, allowed: tuple[str, ...] = LASTING_GROUPS) -> None:
    if by is not None and by not in allowed:
        raise ValueError(f"by must be None or one of {', '.join(allowed)}, not {by!r}")


def _stretch_band(days: pd.Series) -> pd.Series:
    labels = pd.Series(NOT_RECORDED, index=days.index, dtype=object)
    for (low, high), label in zip(config.STRETCH_DAY_BANDS, STRETCH_BAND_LABELS):
        labels[(days >= low) & (days <= high)] = label
    return labels


def _group(frame: pd.DataFrame, by: str | None, stretch_column: str = "stretch_days") -> pd.Series:
    if by is None:
        return pd.Series(ALL_COURSES, index=frame.index, dtype=object)
    if by == "completed":
        return frame["status"].eq("completed").map({True: COMPLETED, False: NOT_COMPLETED}).astype(object)
    if by == "stretching":
        return _stretch_band(frame[stretch_column])
    return frame[by].fillna(NOT_RECORDED).astype(object)


ANSWERED_WITH = {"pain": "a.checkin_id IS NOT NULL AND a.pain IS NOT NULL",
                 "pgic": "a.checkin_id IS NOT NULL AND a.pgic IS NOT NULL"}
"""_followup_rows' choices of rows: the follow-ups answered with a pain score, or with a PGIC
(the SQL is written here, never from input)."""


def _followup_rows(con, f: Filter, answered_with: str) -> pd.DataFrame:
    """One row per follow-up of every finished course in the filter answered with `answered_with`
    (ANSWERED_WITH: "pain" or "pgic"), with its answer; the others are left out in SQL (at 1 M
    sessions every follow-up was half a million rows fetched to be dropped)."""
    episodes, params = episodes_cte(f)
    params.update(followups.followups_params())
    improved = rule.improvement_sql("e.baseline_pain", "a.pain", name=f.rule)
    return run(con, f"""
WITH {episodes}, {followups.followups_cte()}
SELECT a.episode_id, a.followup_number, a.followup_day, a.due_date, a.checkin_id IS NOT NULL AS answered,
    a.pain, a.stretch_days, a.pgic, a.pain_returned,
    e.course_type, e.condition, e.status, e.is_other, e.baseline_pain, e.last_pain_pre,
    e.improved_at_last_visit, a.due_date <= CAST($today AS DATE) AS is_due,
    {improved} AS still_improved
FROM followup_answers a JOIN chosen_episodes e ON e.episode_id = a.episode_id
WHERE {ANSWERED_WITH[answered_with]}
ORDER BY a.episode_id, a.followup_number""", params)


def _due_followups(con, f: Filter, by_answered: bool) -> pd.DataFrame:
    """The follow-ups due by today of the finished courses in the filter, counted in SQL per
    follow-up (and, with `by_answered`, per answered or not): due (how many), answered, others
    (of a therapist other than the viewing one), mean_last_pain (mean pre-session pain at the
    last visit, among those with one), share_completed (status completed) and
    share_improved_at_last_visit (among those with a baseline and a later score). Sums are
    compensated (fsum), so every process gets the same digits."""
    episodes, params = episodes_cte(f)
    params.update(followups.followups_params())
    answered = "a.checkin_id IS NOT NULL"
    return run(con, f"""
WITH {episodes}, {followups.followups_cte()}
SELECT a.followup_day, {f"{answered} AS answered," if by_answered else ""}
    count(*) AS due, count(*) FILTER (WHERE {answered}) AS answered_count,
    count(*) FILTER (WHERE e.is_other) AS others,
    fsum(e.last_pain_pre) / count(e.last_pain_pre) AS mean_last_pain,
    fsum(CASE WHEN e.status = 'completed' THEN 1 ELSE 0 END) / count(*) AS share_completed,
    fsum(CAST(e.improved_at_last_visit AS INTEGER)) / count(e.improved_at_last_visit) AS share_improved_at_last_visit
FROM followup_answers a JOIN chosen_episodes e ON e.episode_id = a.episode_id
WHERE a.due_date <= CAST($today AS DATE)
GROUP BY ALL
ORDER BY ALL""", params)


def _mean_interval(values: pd.Series) -> tuple[int, float, float, float]:
    values = values.dropna().astype(float)
    n = len(values)
    if n == 0:
        return 0, np.nan, np.nan, np.nan
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if n > 1 else np.nan
    low, high = stats.t_interval(mean, sd, n)
    return n, mean, float(low), float(high)


DURABILITY_COLUMNS = (
    "group", "followup_day", "answered", "mean_pain", "since_last_visit", "since_last_visit_low",
    "since_last_visit_high", "since_baseline", "since_baseline_low", "since_baseline_high",
    "judged", "still_improved", "share_still_improved", "ci_low", "ci_high")


def durability(con, f: Filter = ALL, by: str | None = None) -> pd.DataFrame:
    """How well the pain has held after the last visit. Per group (`by`: None for all courses
    together, or course_type, condition, completed (the course reached its recommended minimum
    of sessions, status completed, or not) or stretching (days with stretches in the last 7 at
    that follow-up: 0, 1-3 or 4-7 days, or not recorded)) and follow-up (followup_day: 28, 91,
    182 days after the last visit), among the finished courses whose follow-up was answered with
    a pain score: answered (how many), mean_pain (their mean pain at the follow-up),
    since_last_visit (mean of follow-up pain minus the last visit's pre-session pain, among
    those with both; above 0 means the pain crept back) with its 95% t interval
    since_last_visit_low-since_last_visit_high, since_baseline (mean of follow-up pain minus
    the baseline, visit 1's pre-session pain; below 0 means better than at the start) with its
    95% t interval; judged (answers with a baseline), still_improved (of those, how many still
    meet the filter's improvement rule against baseline, by default at least 2 points and 30%
    below it) and share_still_improved with its 95% Wilson interval ci_low-ci_high. For a
    viewing therapist a row resting on 1-9 other therapists' courses is left out.
    Columns: group, followup_day, answered, mean_pain, since_last_visit, since_last_visit_low,
    since_last_visit_high, since_baseline, since_baseline_low, since_baseline_high, judged,
    still_improved, share_still_improved, ci_low, ci_high."""
    _check_by(by)
    rows = _followup_rows(con, f, "pain")
    rows["group"] = _group(rows, by)
    out: list[dict[str, Any]] = []
    for (group, day), part in rows.groupby(["group", "followup_day"], sort=True):
        n_last, since_last, last_low, last_high = _mean_interval(part["pain"] - part["last_pain_pre"])
        n_base, since_base, base_low, base_high = _mean_interval(part["pain"] - part["baseline_pain"])
        judged = part["still_improved"].notna()
        out.append({"group": group, "followup_day": int(day), "answered": len(part),
                    "mean_pain": float(part["pain"].mean()), "since_last_visit": since_last,
                    "since_last_visit_low": last_low, "since_last_visit_high": last_high,
                    "since_baseline": since_base, "since_baseline_low": base_low, "since_baseline_high": base_high,
                    "judged": int(judged.sum()), "still_improved": int(part.loc[judged, "still_improved"].astype(bool).sum()),
                    OTHERS: int(part["is_other"].sum()) if f.viewer_therapist is not None else 0})
    frame = pd.DataFrame(out, columns=[*DURABILITY_COLUMNS, OTHERS])
    frame["share_still_improved"] = frame["still_improved"] / frame["judged"].where(frame["judged"] > 0)
    frame["ci_low"], frame["ci_high"] = stats.wilson_interval(frame["still_improved"], frame["judged"])
    return documented_columns(suppress(frame, f), DURABILITY_COLUMNS)


def _recurrence_times(con, f: Filter) -> pd.DataFrame:
    """Per finished course with any contact after its last visit: days to recurrence or censoring."""
    episodes, params = episodes_cte(f)
    params.update(followups.followups_params())
    params["recurrence_within"] = config.RECURRENCE_WITHIN_DAYS
    return run(con, f"""
WITH {episodes}, {followups.followups_cte()},
finished AS (SELECT * FROM chosen_episodes WHERE status <> 'active'),
after_last AS (
    SELECT c.episode_id, c.answered_on, c.pain_returned, c.stretch_days,
        date_diff('day', e.last_date, c.answered_on) AS day
    FROM checkins c JOIN finished e ON e.episode_id = c.episode_id
    WHERE c.answered_on > e.last_date),
contacts AS (
    SELECT episode_id, max(day) AS last_contact_day,
        min(day) FILTER (WHERE pain_returned) AS returned_day,
        arg_min(stretch_days, day) FILTER (WHERE stretch_days IS NOT NULL) AS first_stretch_days
    FROM after_last GROUP BY episode_id),
new_courses AS (
    SELECT e.episode_id, min(date_diff('day', e.last_date, later.start_date)) AS new_course_day
    FROM finished e JOIN episode_facts later ON later.client_id = e.client_id AND later.condition = e.condition
        AND later.episode_id <> e.episode_id AND later.start_date > e.last_date
        AND later.start_date <= e.last_date + CAST($recurrence_within AS INTEGER)
    GROUP BY e.episode_id)
SELECT e.episode_id, e.course_type, e.condition, e.status, e.is_other, c.first_stretch_days AS stretch_days,
    c.returned_day, n.new_course_day, c.last_contact_day
FROM finished e
LEFT JOIN contacts c ON c.episode_id = e.episode_id
LEFT JOIN new_courses n ON n.episode_id = e.episode_id
WHERE c.episode_id IS NOT NULL OR n.episode_id IS NOT NULL
ORDER BY e.episode_id""", params)


RECURRENCE_COLUMNS = ("group", "day", "at_risk", "events", "censored", "survival", "ci_low", "ci_high")


def _recurrence_curves(con, f: Filter, by: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    times = _recurrence_times(con, f)
    window = config.RECURRENCE_WITHIN_DAYS
    event_day = times[["returned_day", "new_course_day"]].min(axis=1)
    event = event_day.notna() & (event_day <= window)
    contact = times["last_contact_day"].fillna(0).clip(upper=window)
    times = times.assign(group=_group(times, by), event=event,
                         day=np.where(event, event_day, contact).astype(float))
    curves = []
    for group, part in times.groupby("group", sort=True):
        table = part.groupby("day").agg(events=("event", "sum"), total=("event", "size"),
                                        others=("is_other", "sum")).reset_index()
        table["censored"] = table["total"] - table["events"]
        survival = stats.kaplan_meier(table["events"], table["censored"])
        others_at_risk = table["others"][::-1].cumsum()[::-1] if f.viewer_therapist is not None else 0 * table["others"]
        curves.append(pd.DataFrame({"group": group, "day": table["day"].astype(int), "at_risk": survival["at_risk"].astype(int),
                                    "events": table["events"].astype(int), "censored": table["censored"].astype(int),
                                    "survival": survival["survival"], "ci_low": survival["ci_low"],
                                    "ci_high": survival["ci_high"], OTHERS: others_at_risk.astype(int)}))
    whole = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=[*RECURRENCE_COLUMNS, OTHERS])
    return whole, suppress_from_first(whole, f, "group")


def recurrence(con, f: Filter = ALL, by: str | None = None) -> pd.DataFrame:
    """How long the pain stays away after the last visit (Kaplan-Meier, in days). Among the
    finished courses (not active) in the filter heard from after their last visit (a check-in
    dated after it, or a new course), a recurrence (an event) is the first of: a check-in after
    the last visit saying the pain has come back (pain_returned yes), or the start of a new
    course for the same client and condition after this course's last visit, within
    config.RECURRENCE_WITHIN_DAYS (365) days of it. A course without one is censored at its last
    contact: the day of its latest check-in after the last visit (at most 365). A course never
    heard from after its last visit is left out (nothing is known of it). Per group (`by` as in
    durability, stretching read at the first check-in after the last visit that records it)
    and day (days after the last visit at which something happened): at_risk (courses still
    followed and without a recurrence at the start of that day), events, censored, survival
    (estimated share still without a recurrence after that day) and its 95% band
    ci_low-ci_high. For a viewing therapist a curve stops before the first day at which 1-9
    other therapists' courses are at risk.
    Columns: group, day, at_risk, events, censored, survival, ci_low, ci_high."""
    _check_by(by)
    return documented_columns(_recurrence_curves(con, f, by)[1], RECURRENCE_COLUMNS)


RECURRENCE_TABLE_COLUMNS = ("group", "months", "courses", "at_risk", "recurred", "ci_low", "ci_high")


def recurrence_table(con, f: Filter = ALL, by: str | None = None) -> pd.DataFrame:
    """The share recurred by 3, 6 and 12 months after the last visit, read off recurrence's
    curves: per group and months (3, 6, 12 = day 91, 182, 365): courses (on the curve),
    at_risk (courses followed that long or longer without a recurrence before it), recurred
    (1 - survival at the last day on or before it; empty when fewer than
    config.MIN_RECURRENCE_AT_RISK, 20, courses are at risk then: the curve's tail is too thin) and its 95%
    interval ci_low-ci_high (1 minus survival's band). For a viewing therapist, a time beyond
    the part of the curve they may see is left out.
    Columns: group, months, courses, at_risk, recurred, ci_low, ci_high."""
    _check_by(by)
    whole, shown = _recurrence_curves(con, f, by)
    rows, hidden = [], 0
    for group, curve in whole.groupby("group", sort=True):
        visible = shown[shown["group"] == group]
        for months, day in RECURRENCE_MONTHS:
            if len(visible) < len(curve) and (visible.empty or visible["day"].max() < day):
                hidden += 1
                continue
            before, reaching = curve[curve["day"] <= day], curve[curve["day"] >= day]
            at_risk = int(reaching["at_risk"].iloc[0]) if len(reaching) else 0
            survival, low, high = (before.iloc[-1][["survival", "ci_low", "ci_high"]].astype(float).tolist()
                                   if len(before) else (1.0, 1.0, 1.0))
            known = at_risk >= config.MIN_RECURRENCE_AT_RISK
            rows.append({"group": group, "months": months, "courses": int(curve["at_risk"].iloc[0]),
                         "at_risk": at_risk, "recurred": 1 - survival if known else np.nan,
                         "ci_low": 1 - high if known else np.nan, "ci_high": 1 - low if known else np.nan})
    frame = pd.DataFrame(rows, columns=list(RECURRENCE_TABLE_COLUMNS))
    frame.attrs[SUPPRESSED] = hidden
    return documented_columns(frame, RECURRENCE_TABLE_COLUMNS)


def _with_others(frame: pd.DataFrame, f: Filter) -> pd.DataFrame:
    """`frame` with its "others" count (courses of therapists other than the viewing one) named
    as suppress() reads it; 0 where no therapist is viewing, as nothing is suppressed then."""
    frame = frame.rename(columns={"others": OTHERS})
    if f.viewer_therapist is None:
        frame[OTHERS] = 0
    return frame


def _with_share(frame: pd.DataFrame, share: str, count: str, of: str) -> pd.DataFrame:
    """`frame` with share = count / of and its 95% Wilson interval as ci_low-ci_high."""
    frame[share] = frame[count] / frame[of]
    frame["ci_low"], frame["ci_high"] = stats.wilson_interval(frame[count], frame[of])
    return frame


FOLLOWUP_RESPONSE_COLUMNS = ("followup_day", "due", "answered", "response_rate", "ci_low", "ci_high")


def followup_response(con, f: Filter = ALL) -> pd.DataFrame:
    """How many follow-ups are answered. Per follow-up (followup_day: 28, 91, 182 days after the
    last visit) of the finished courses in the filter: due (follow-ups whose due date is today
    or earlier), answered (of those, how many have a check-in while the follow-up was open,
    followups.followups_cte) and response_rate (answered / due) with its 95% Wilson interval
    ci_low-ci_high. For a viewing therapist a row resting on 1-9 other therapists' courses is
    left out. Columns: followup_day, due, answered, response_rate, ci_low, ci_high."""
    frame = _due_followups(con, f, by_answered=False).rename(columns={"answered_count": "answered"})
    frame = frame[["followup_day", "due", "answered", "others"]]
    frame = _with_share(_with_others(frame, f), "response_rate", "answered", "due")
    return documented_columns(suppress(frame, f), FOLLOWUP_RESPONSE_COLUMNS)


RESPONDER_COMPARISON_COLUMNS = ("followup_day", "answered", "courses", "mean_last_pain", "share_completed",
                                "share_improved_at_last_visit")


def responder_comparison(con, f: Filter = ALL) -> pd.DataFrame:
    """Whether those who answer a follow-up differ from those who do not, on what is known of
    both. Per follow-up (followup_day) that is due and answered (True) or not (False): courses,
    mean_last_pain (mean pre-session pain at the last visit), share_completed (share of courses
    that reached their recommended minimum of sessions) and share_improved_at_last_visit (share
    meeting the filter's improvement rule at the last visit, among those with a baseline and a
    later score). For a viewing therapist a row resting on 1-9 other therapists' courses is
    left out, and so is the other row of its follow-up.
    Columns: followup_day, answered, courses, mean_last_pain, share_completed,
    share_improved_at_last_visit."""
    frame = _due_followups(con, f, by_answered=True).rename(columns={"due": "courses"})
    frame = _with_others(frame[["followup_day", "answered", "courses", "mean_last_pain", "share_completed",
                                "share_improved_at_last_visit", "others"]], f)
    frame["answered"] = frame["answered"].astype(bool)
    return documented_columns(suppress(frame, f, partition=["followup_day"]), RESPONDER_COMPARISON_COLUMNS)


PGIC_COLUMNS = ("group", "followup_day", "answered", "improved", "share_improved", "ci_low", "ci_high")


def pgic_summary(con, f: Filter = ALL, by: str | None = None) -> pd.DataFrame:
    """The clients' own impression of change after the last visit (PGIC, 1 = very much
    improved .. 7 = very much worse). Per group (`by` as in durability) and follow-up
    (followup_day): answered (follow-ups answered with a PGIC), improved (of those, how many
    said much or very much improved: at most config.PGIC_IMPROVED_AT_MOST, 2) and
    share_improved with its 95% Wilson interval ci_low-ci_high. For a viewing therapist a row
    resting on 1-9 other therapists' courses is left out.
    Columns: group, followup_day, answered, improved, share_improved, ci_low, ci_high."""
    _check_by(by)
    rows = _followup_rows(con, f, "pgic")
    rows["group"] = _group(rows, by)
    rows["is_improved"] = rows["pgic"] <= config.PGIC_IMPROVED_AT_MOST
    frame = rows.groupby(["group", "followup_day"]).agg(
        answered=("pgic", "size"), improved=("is_improved", "sum"), others=("is_other", "sum")).reset_index()
    frame = _with_share(_with_others(frame, f), "share_improved", "improved", "answered")
    return documented_columns(suppress(frame, f), PGIC_COLUMNS)


FUNCTION_RESPONDER_COLUMNS = ("group", "scale", "courses", "responders", "share", "ci_low", "ci_high", "mean_change")


def function_responders(con, f: Filter = ALL, by: str | None = "course_type") -> pd.DataFrame:
    """Foot function over a course: per group (`by`: course_type, condition, or None for all
    courses together) and scale (faam_adl: the FAAM activities of daily living score, 0-100%;
    lefs: the Lower Extremity Functional Scale, 0-80; higher is better on both): courses (with
    at least two sessions scoring it), responders (of those, how many rose from the first to the
    last recorded score, by visit, by at least the meaningful change: config.MCID_FAAM_ADL_POINTS,
    8 points, Martin 2005; config.MCID_LEFS_POINTS, 9 points, Binkley 1999), share with its 95%
    Wilson interval ci_low-ci_high, and mean_change (mean last minus first score). For a viewing
    therapist a row resting on 1-9 other therapists' courses is left out.
    Columns: group, scale, courses, responders, share, ci_low, ci_high, mean_change."""
    _check_by(by, ("course_type", "condition"))
    episodes, params = episodes_cte(f)
    parts = []
    for scale, column in FUNCTION_SCALES:
        parts.append(f"""
SELECT e.episode_id, '{scale}' AS scale, any_value(e.course_type) AS course_type,
    any_value(e.condition) AS condition, any_value(e.is_other) AS is_other,
    arg_min(s.{column}, s.visit_number) AS first_score, arg_max(s.{column}, s.visit_number) AS last_score
FROM chosen_episodes e JOIN session_facts s ON s.episode_id = e.episode_id
WHERE s.{column} IS NOT NULL
GROUP BY e.episode_id HAVING count(*) >= 2""")
    rows = run(con, f"WITH {episodes} " + " UNION ALL ".join(parts), params)
    rows["group"] = _group(rows, by)
    rows["change"] = rows["last_score"] - rows["first_score"]
    mcid = rows["scale"].map({"faam_adl": config.MCID_FAAM_ADL_POINTS, "lefs": config.MCID_LEFS_POINTS})
    rows["responder"] = rows["change"] >= mcid - rule.ROUNDING_TOLERANCE
    frame = rows.groupby(["group", "scale"]).agg(
        courses=("episode_id", "size"), responders=("responder", "sum"), mean_change=("change", "mean"),
        others=("is_other", "sum")).reset_index()
    frame = _with_share(_with_others(frame, f), "share", "responders", "courses")
    return documented_columns(suppress(frame, f), FUNCTION_RESPONDER_COLUMNS)
