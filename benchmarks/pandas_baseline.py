"""The headline metrics written the way a data analyst would in plain pandas: read the clinic's
tables into DataFrames once, then merge and group by. The benchmark times them against
analytics.metrics and checks that both give the same numbers (tests/test_benchmarks.py does the
same on a small clinic), so the comparison is between two correct implementations.

Definitions follow analytics.metrics' docstrings; the thresholds come from analytics.config and
the rounding tolerance from analytics.metrics, so a change of rule there shows up here as a
failed check rather than a silent difference.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analytics import config, metrics
from analytics.filters import ALL, Filter

TOLERANCE = metrics.ROUNDING_TOLERANCE
# "Same numbers": absolute difference at most this much (counts must match exactly).
SAME_NUMBER = 1e-9


@dataclasses.dataclass
class Tables:
    """The clinic's base tables as DataFrames, read once; or (the stricter comparison) the
    database's own one-row-per-session `session_facts` table, already joined."""

    sessions: pd.DataFrame
    episodes: pd.DataFrame | None = None
    clients: pd.DataFrame | None = None
    assessments: pd.DataFrame | None = None
    session_facts: pd.DataFrame | None = None


def read_tables(con) -> Tables:
    """Every base table a headline metric needs, straight from DuckDB (the analyst's read)."""
    cursor = con.cursor()
    try:
        return Tables(**{name: cursor.execute(f"SELECT * FROM {name}").df()
                         for name in ("sessions", "episodes", "clients", "assessments")})
    finally:
        cursor.close()


def read_session_facts(con) -> Tables:
    """The columns the headline metrics use from the database's session_facts table (one row
    per session with its episode and both assessments), and the session dates."""
    cursor = con.cursor()
    try:
        facts = cursor.execute(f"SELECT {', '.join(FACT_COLUMNS)} FROM session_facts").df()
        sessions = cursor.execute("SELECT session_date FROM sessions").df()
    finally:
        cursor.close()
    return Tables(sessions=sessions, session_facts=facts)


# ---------------------------------------------------------------------------------------------
# The shared building blocks: one row per session, one row per episode, the filter.
# ---------------------------------------------------------------------------------------------

FACT_COLUMNS = ("session_id", "episode_id", "visit_number", "session_date", "stretching_adherence_pct",
                "client_id", "clinic_id", "therapist_id", "condition", "course_type", "severity", "prior_injuries",
                "discharge_reason", "pain_pre", "psfs_pre", "pain_post", "psfs_post")


def session_facts(tables: Tables) -> pd.DataFrame:
    """One row per session with its episode's attributes and the pre/post assessments side by side."""
    if tables.session_facts is not None:
        return tables.session_facts
    # Only read_session_facts() leaves these out, and it sets session_facts.
    assessments, episodes, clients = tables.assessments, tables.episodes, tables.clients
    assert assessments is not None and episodes is not None and clients is not None
    pre = assessments.loc[assessments["phase"] == "pre", ["session_id", "pain", "psfs"]].rename(
        columns={"pain": "pain_pre", "psfs": "psfs_pre"})
    post = assessments.loc[assessments["phase"] == "post", ["session_id", "pain", "psfs"]].rename(
        columns={"pain": "pain_post", "psfs": "psfs_post"})
    episodes = episodes.merge(clients[["client_id", "clinic_id"]], on="client_id")
    return (tables.sessions[["session_id", "episode_id", "visit_number", "session_date", "stretching_adherence_pct"]]
            .merge(episodes, on="episode_id")
            .merge(pre, on="session_id", how="left")
            .merge(post, on="session_id", how="left"))


def episode_facts(facts: pd.DataFrame) -> pd.DataFrame:
    """One row per episode that has sessions: its attributes, first and last visit, and the scores
    the outcome rules look at (baseline, last pre-session pain, visit-3 pre and visit-2 post)."""
    by_episode = facts.groupby("episode_id", sort=False)
    episodes = by_episode.agg(
        client_id=("client_id", "first"), clinic_id=("clinic_id", "first"),
        therapist_id=("therapist_id", "first"), condition=("condition", "first"),
        course_type=("course_type", "first"), severity=("severity", "first"),
        discharge_reason=("discharge_reason", "first"),
        start_date=("session_date", "min"), last_date=("session_date", "max"),
        visits=("visit_number", "max"), sessions=("visit_number", "size"),
    )

    def at_visit(visit: int, column: str) -> pd.Series:
        rows = facts.loc[facts["visit_number"] == visit]
        return rows.set_index("episode_id")[column]

    episodes["baseline_pain"] = at_visit(1, "pain_pre")
    episodes["pain_pre_v3"] = at_visit(config.AFTER_SESSION2_VISIT, "pain_pre")
    episodes["pain_post_v2"] = at_visit(config.AFTER_SESSION2_VISIT - 1, "pain_post")
    scored = facts.loc[facts["pain_pre"].notna(), ["episode_id", "visit_number", "pain_pre"]]
    last_scored = scored.loc[scored.groupby("episode_id", sort=False)["visit_number"].idxmax()].set_index("episode_id")
    episodes["last_pain_pre"] = last_scored["pain_pre"]
    episodes["last_pre_visit"] = last_scored["visit_number"]
    return episodes.reset_index()


def apply_filter(episodes: pd.DataFrame, f: Filter) -> pd.DataFrame:
    """The episodes the filter selects (start/end on the first visit, the rest by attribute)."""
    keep = pd.Series(True, index=episodes.index)
    if f.start is not None:
        keep &= episodes["start_date"] >= pd.Timestamp(f.start)
    if f.end is not None:
        keep &= episodes["start_date"] <= pd.Timestamp(f.end)
    for column, values in (("clinic_id", f.clinics), ("therapist_id", f.therapists), ("condition", f.conditions),
                           ("course_type", f.course_types), ("severity", f.severities)):
        if values:
            keep &= episodes[column].isin(values)
    return episodes.loc[keep]


def improved(baseline: pd.Series, score: pd.Series) -> pd.Series:
    """1.0 when `score` is at least 2 points and 30 % below `baseline`, 0.0 when not, NaN when
    either is missing (Farrar 2001, with the metrics' rounding tolerance)."""
    drop = baseline - score
    meets = (drop >= config.MCID_PAIN_POINTS - TOLERANCE) & (drop >= config.MCID_PAIN_FRACTION * baseline - TOLERANCE)
    return meets.astype(float).where(drop.notna())


def episode_outcomes(tables: Tables, f: Filter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(session facts of the filter's episodes, the filter's episodes with status and outcome columns)."""
    facts = session_facts(tables)
    episodes = apply_filter(episode_facts(facts), f).copy()
    low = episodes["course_type"].map({c: r[0] for c, r in config.RECOMMENDED_SESSIONS.items()})
    high = episodes["course_type"].map({c: r[1] for c, r in config.RECOMMENDED_SESSIONS.items()})
    latest = tables.sessions["session_date"].max()
    is_recent = episodes["last_date"] >= latest - pd.Timedelta(days=config.ACTIVE_WITHIN_DAYS)
    reason = episodes["discharge_reason"]
    completes = reason.isin(config.COMPLETING_REASONS) | (episodes["visits"] >= low)
    episodes["status"] = np.select([completes, reason.notna(), is_recent],
                                   ["completed", "closed_early", "active"], "lost_to_follow_up")
    episodes["sessions_vs_range"] = np.select([episodes["visits"] < low, episodes["visits"] <= high],
                                              ["below", "within"], "above")
    episodes["finished_below"] = (episodes["sessions_vs_range"] == "below") & (episodes["status"] != "active")
    has_followup = episodes["baseline_pain"].notna() & (episodes["last_pre_visit"] > 1)
    episodes["has_followup"] = has_followup
    episodes["change_points"] = (episodes["baseline_pain"] - episodes["last_pain_pre"]).where(has_followup)
    episodes["change_pct"] = (100 * (episodes["baseline_pain"] - episodes["last_pain_pre"])
                              / episodes["baseline_pain"]).where(has_followup & (episodes["baseline_pain"] > 0))
    episodes["improved_at_last_visit"] = improved(episodes["baseline_pain"], episodes["last_pain_pre"]).where(has_followup)
    episodes["improved_after_session2"] = improved(episodes["baseline_pain"], episodes["pain_pre_v3"])
    episodes["improved_after_session2_immediate"] = improved(episodes["baseline_pain"], episodes["pain_post_v2"])
    # Intention to treat: a baseline, and not an active course short of visit 3; no visit-3 score is "not improved".
    eligible = episodes["baseline_pain"].notna() & ~((episodes["status"] == "active") & (episodes["visits"] < 3))
    episodes["eligible_itt"] = eligible
    episodes["improved_after_session2_itt"] = episodes["improved_after_session2"].fillna(0).where(eligible)
    facts = facts.loc[facts["episode_id"].isin(episodes["episode_id"])]
    return facts, episodes


# ---------------------------------------------------------------------------------------------
# The headline metrics (same columns and rows as their analytics.metrics namesakes).
# ---------------------------------------------------------------------------------------------

def pain_trajectory(tables: Tables, f: Filter = ALL, by: tuple[str, ...] = ("course_type",)) -> pd.DataFrame:
    """Mean, median and 95 % CI of pain before and after each visit, by course type."""
    facts, _ = episode_outcomes(tables, f)
    columns = list(by)
    scores = pd.concat([
        facts[columns + ["visit_number"]].assign(phase="pre", pain=facts["pain_pre"]),
        facts[columns + ["visit_number"]].assign(phase="post", pain=facts["pain_post"]),
    ]).dropna(subset=["pain"])
    # "pre" sorts before "post" alphabetically, which is also the order metrics uses.
    frame = (scores.groupby(columns + ["visit_number", "phase"])["pain"]
             .agg(n="count", mean="mean", median="median", sd="std")
             .sort_index(ascending=[True] * (len(columns) + 1) + [False]).reset_index())
    many = frame["n"] >= 2
    t = np.where(many, stats.t.ppf(0.975, np.maximum(frame["n"] - 1, 1)), np.nan)
    half_width = t * frame["sd"] / np.sqrt(frame["n"])
    frame["ci_low"] = (frame["mean"] - half_width).where(many)
    frame["ci_high"] = (frame["mean"] + half_width).where(many)
    return frame[columns + list(metrics.TRAJECTORY_COLUMNS)]


def summary_by_course(tables: Tables, f: Filter = ALL) -> dict[str, dict[str, Any]]:
    """Per course type: episodes, median visits, mean baseline, and the responder rate after the
    second session (visit-3 pre-session pain; and the immediate one on visit-2 post pain)."""
    facts, episodes = episode_outcomes(tables, f)
    courses = episodes.groupby("course_type").agg(
        episodes=("episode_id", "size"), median_visits=("visits", "median"),
        mean_baseline_pain=("baseline_pain", "mean"),
        episodes_reaching_visit3=("improved_after_session2", "count"),
        responder_rate_after_session2=("improved_after_session2", "mean"),
        responder_rate_after_session2_immediate=("improved_after_session2_immediate", "mean"),
        episodes_eligible_itt=("eligible_itt", "sum"),
        responder_rate_after_session2_itt=("improved_after_session2_itt", "mean"))
    by_condition = episodes.groupby(["course_type", "condition"]).agg(
        episodes=("episode_id", "size"), episodes_reaching_visit3=("improved_after_session2", "count"),
        responder_rate_after_session2=("improved_after_session2", "mean"),
        episodes_eligible_itt=("eligible_itt", "sum"),
        responder_rate_after_session2_itt=("improved_after_session2_itt", "mean"))
    by_visit = facts.groupby(["course_type", "visit_number"])["pain_pre"].mean()
    summary = {}
    for course in config.COURSE_TYPES:
        if course in courses.index:
            row = courses.loc[course]
            values = {name: _plain(row[name]) for name in courses.columns}
            values["episodes"] = int(row["episodes"])
            values["episodes_reaching_visit3"] = int(row["episodes_reaching_visit3"])
            values["episodes_eligible_itt"] = int(row["episodes_eligible_itt"])
        else:
            values = {"episodes": 0, "median_visits": None, "mean_baseline_pain": None, "episodes_reaching_visit3": 0,
                      "responder_rate_after_session2": None, "responder_rate_after_session2_immediate": None,
                      "episodes_eligible_itt": 0, "responder_rate_after_session2_itt": None}
        empty = dict.fromkeys(by_condition.columns)
        values["by_condition"] = {condition: {name: _plain(value) for name, value in by_condition.loc[(course, condition)].items()}
                                  if (course, condition) in by_condition.index
                                  else empty | {"episodes": 0, "episodes_reaching_visit3": 0, "episodes_eligible_itt": 0}
                                  for condition in config.CONDITIONS}
        visits = by_visit.loc[course] if course in by_visit.index.get_level_values(0) else pd.Series(dtype=float)
        values["mean_pain_by_visit"] = {int(v): _plain(p) for v, p in visits.items()}
        summary[course] = values
    return summary


def course_outcomes(tables: Tables, f: Filter = ALL) -> pd.DataFrame:
    """Acute against chronic: length, status, change over the course and relief within a session."""
    facts, episodes = episode_outcomes(tables, f)
    grouped = episodes.assign(
        below=episodes["finished_below"], within=episodes["sessions_vs_range"] == "within",
        above=episodes["sessions_vs_range"] == "above", completed=episodes["status"] == "completed",
        active=episodes["status"] == "active", closed_early=episodes["status"] == "closed_early",
        lost_to_follow_up=episodes["status"] == "lost_to_follow_up",
        responder=episodes["improved_at_last_visit"] == 1,
    ).groupby("course_type")
    frame = grouped.agg(
        episodes=("episode_id", "size"), median_sessions=("visits", "median"),
        below_range=("below", "sum"), within_range=("within", "sum"), above_range=("above", "sum"),
        completed=("completed", "sum"), active=("active", "sum"), closed_early=("closed_early", "sum"),
        lost_to_follow_up=("lost_to_follow_up", "sum"),
        episodes_with_followup=("has_followup", "sum"), mean_change_points=("change_points", "mean"),
        mean_change_pct=("change_pct", "mean"), responders=("responder", "sum"),
        responder_rate=("improved_at_last_visit", "mean"))
    for status in ("completed", "active", "closed_early", "lost_to_follow_up"):
        frame[f"{status}_share"] = frame[status] / frame["episodes"]
    dropouts = frame["closed_early"] + frame["lost_to_follow_up"]
    frame["finished"] = frame["completed"] + dropouts
    frame["dropout_rate"] = dropouts / frame["finished"].where(frame["finished"] > 0)
    both = facts.dropna(subset=["pain_pre", "pain_post"])
    relief = (both["pain_pre"] - both["pain_post"]).groupby(both["course_type"]).agg(["size", "mean"])
    frame["sessions_with_relief_scores"] = relief["size"].reindex(frame.index).fillna(0).astype(int)
    frame["mean_immediate_relief"] = relief["mean"].reindex(frame.index)
    return frame.reset_index()[list(metrics.COURSE_OUTCOME_COLUMNS)]


def condition_comparison(tables: Tables, f: Filter = ALL) -> pd.DataFrame:
    """The nine conditions (all of them, 0 episodes where none match; no rows when nothing matches)."""
    _, episodes = episode_outcomes(tables, f)
    if episodes.empty:
        return pd.DataFrame(columns=list(metrics.CONDITION_COLUMNS))
    frame = episodes.assign(responder=episodes["improved_at_last_visit"] == 1).groupby("condition").agg(
        episodes=("episode_id", "size"), mean_baseline_pain=("baseline_pain", "mean"),
        episodes_with_followup=("has_followup", "sum"), mean_change_points=("change_points", "mean"),
        mean_change_pct=("change_pct", "mean"), responders=("responder", "sum"),
        responder_rate=("improved_at_last_visit", "mean"), median_sessions=("visits", "median"))
    frame = frame.reindex(list(config.CONDITIONS))
    counts = ["episodes", "episodes_with_followup", "responders"]
    frame[counts] = frame[counts].fillna(0).astype(int)
    return frame.rename_axis("condition").reset_index()[list(metrics.CONDITION_COLUMNS)]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


# The headline metrics: name -> (ours, the analyst's). Each takes (connection or tables, Filter).
HEADLINE: dict[str, tuple[Callable, Callable]] = {
    "pain_trajectory": (metrics.pain_trajectory, pain_trajectory),
    "responder_after_session2 (summary_by_course)": (metrics.summary_by_course, summary_by_course),
    "course_outcomes": (metrics.course_outcomes, course_outcomes),
    "condition_comparison": (metrics.condition_comparison, condition_comparison),
}


# ---------------------------------------------------------------------------------------------
# Same numbers?
# ---------------------------------------------------------------------------------------------

def differences(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Where two results disagree: frames column by column, dicts key by key; numbers may differ
    by at most SAME_NUMBER, missing values must be missing on both sides. [] when the same."""
    if isinstance(ours, pd.DataFrame) or isinstance(theirs, pd.DataFrame):
        return _frame_differences(ours, theirs, where)
    if isinstance(ours, dict) and isinstance(theirs, dict):
        problems = []
        if set(ours) != set(theirs):
            problems.append(f"{where}: keys {sorted(map(str, ours))} != {sorted(map(str, theirs))}")
        for key in sorted(set(ours) & set(theirs), key=str):
            problems += differences(ours[key], theirs[key], f"{where}[{key!r}]")
        return problems
    if not _same_value(ours, theirs):
        return [f"{where}: ours {ours!r} != pandas {theirs!r}"]
    return []


def _same_value(a: Any, b: Any) -> bool:
    a_missing, b_missing = _missing(a), _missing(b)
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return abs(float(a) - float(b)) <= SAME_NUMBER
    return a == b


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _frame_differences(ours: pd.DataFrame, theirs: pd.DataFrame, where: str) -> list[str]:
    if list(ours.columns) != list(theirs.columns):
        return [f"{where}: columns {list(ours.columns)} != {list(theirs.columns)}"]
    if len(ours) != len(theirs):
        return [f"{where}: {len(ours)} rows != {len(theirs)} rows"]
    problems = []
    for column in ours.columns:
        a, b = ours[column].reset_index(drop=True), theirs[column].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
            same = (np.abs(x - y) <= SAME_NUMBER) | (np.isnan(x) & np.isnan(y))
        else:
            same = np.array([_same_value(p, q) for p, q in zip(a, b)], dtype=bool)
        for row in np.flatnonzero(~same)[:5]:
            problems.append(f"{where}: row {row} column {column}: ours {a[row]!r} != pandas {b[row]!r}")
        if (~same).sum() > 5:
            problems.append(f"{where}: column {column}: {(~same).sum() - 5} more rows differ")
    return problems


def check_same(con, tables: Tables, filters: tuple[Filter, ...] = (ALL, Filter(course_types=("acute",)))) -> list[str]:
    """Every headline metric, ours against the analyst's, for each filter: the differences found."""
    problems = []
    for name, (ours, theirs) in HEADLINE.items():
        for f in filters:
            problems += differences(ours(con, f), theirs(tables, f), f"{name} with {f}")
    return problems
