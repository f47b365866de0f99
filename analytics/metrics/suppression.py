"""Small-cell suppression: what a therapist may see of the clinic-wide figures.

A manager sees every figure. A therapist (`Filter.viewer_therapist` set) sees a figure, chart
point or table row only when the courses it is computed from include no other therapist's
course (then it is all their own clients) or at least `config.MIN_CELL_COURSES` of them. Anything
in between could single out a colleague's client (a one-day filter once showed one course's
pain at every visit), so it is left out of the result altogether: not drawn, not in the table,
not in the CSV. Where a metric's rows add up to a figure shown elsewhere (the conditions to the
clinic's total), one more row goes when needed, so that the total minus the rows shown cannot
give a hidden row away (secondary suppression, see hidden_rows). How many rows were left out
travels with the frame as `frame.attrs[SUPPRESSED]`, so the page can say why.

Every metric counts, per row, the courses that are not the viewer's with others_sql() (the
`is_other` column of `chosen_episodes`, see query.episodes_cte) and hands its frame to
suppress(); nothing else decides what is hidden."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analytics import config
from analytics.filters import Filter

SUPPRESSED = "suppressed"
"""The key in `frame.attrs` (and in headline()'s dict) holding how many rows were left out."""

OTHERS = "others_courses"
"""The column in which a metric's query counts the courses of a row that are not the viewer's."""


def others_sql(f: Filter, alias: str = "e", once_per_course: bool = False, among: str = "") -> str:
    """An aggregate counting the courses of a group that are not the viewer's, over rows called
    `alias` carrying chosen_episodes' episode_id and is_other, only the rows meeting the SQL
    condition `among` when one is given. With once_per_course (each course is at most one row of
    a group: one row per course, or per course and visit number) a plain count does, else a
    distinct count. For a manager nothing is hidden, so the SQL is just 0 and costs nothing."""
    if f.viewer_therapist is None:
        return "0"
    condition = f"{alias}.is_other AND ({among})" if among else f"{alias}.is_other"
    if once_per_course:
        return f"count(*) FILTER (WHERE {condition})"
    return f"count(DISTINCT {alias}.episode_id) FILTER (WHERE {condition})"


def hidden(f: Filter, others: pd.Series | float | int) -> pd.Series | bool:
    """True where a cell resting on `others` courses of other therapists must be hidden from the
    filter's viewer: more than none and fewer than config.MIN_CELL_COURSES. Never for a manager."""
    if f.viewer_therapist is None:
        return pd.Series(False, index=others.index) if isinstance(others, pd.Series) else False
    return (others > 0) & (others < config.MIN_CELL_COURSES)


def hidden_rows(frame: pd.DataFrame, f: Filter, others: str | Sequence[str] = OTHERS,
                partition: Sequence[str] | None = None) -> pd.Series:
    """Which rows of `frame` a viewing therapist may not see: those where any `others` column is
    hidden() (primary suppression), and, when the rows within each `partition` group add up to
    a figure shown elsewhere (conditions to the clinic's total, adherence bands to their course
    type; () makes the whole frame one group), as many more as it takes (the fewest others'
    courses first) for the hidden rows of a group to rest together on at least
    config.MIN_CELL_COURSES others' courses; otherwise the shown total minus the shown rows would
    give the one hidden row away (secondary suppression). All False for a manager."""
    columns = [others] if isinstance(others, str) else list(others)
    gone = pd.Series(False, index=frame.index)
    if f.viewer_therapist is None:
        return gone
    for column in columns:
        counts = frame[column].fillna(0)
        mine = pd.Series(hidden(f, counts), index=frame.index, dtype=bool)
        if partition is not None:
            groups = frame.groupby(list(partition), sort=False).groups.values() if partition else [frame.index]
            for rows in groups:
                while 0 < counts[rows][mine[rows]].sum() < config.MIN_CELL_COURSES:
                    candidates = counts[rows][~mine[rows] & (counts[rows] > 0)]
                    if candidates.empty:
                        break
                    mine[candidates.idxmin()] = True
        gone |= mine
    return gone


def suppress(frame: pd.DataFrame, f: Filter, others: str | Sequence[str] = OTHERS,
             partition: Sequence[str] | None = None) -> pd.DataFrame:
    """`frame` without the rows hidden_rows() finds (see the module's docstring). attrs[SUPPRESSED]
    adds up how many rows went, here and in any earlier call on the same frame; 0 for a manager."""
    gone = hidden_rows(frame, f, others, partition)
    kept = frame[~gone].reset_index(drop=True)
    kept.attrs[SUPPRESSED] = int(frame.attrs.get(SUPPRESSED, 0)) + int(gone.sum())
    return kept


def suppressed(frame: pd.DataFrame) -> int:
    """How many rows suppress() left out of `frame` (0 when none, or never suppressed)."""
    return int(frame.attrs.get(SUPPRESSED, 0))


def suppress_from_first(frame: pd.DataFrame, f: Filter, by: str, others: str = OTHERS) -> pd.DataFrame:
    """For a curve whose every point builds on the points before it (Kaplan-Meier, a cumulative
    count), ordered by visit within each `by` group: drop the first row suppress() would drop and
    every later row of its group, so a later point cannot give away what a hidden one held."""
    gone = pd.Series(hidden(f, frame[others].fillna(0)), index=frame.index, dtype=bool)
    gone = gone.astype(int).groupby(frame[by]).cummax().astype(bool)
    kept = frame[~gone].reset_index(drop=True)
    kept.attrs[SUPPRESSED] = int(frame.attrs.get(SUPPRESSED, 0)) + int(gone.sum())
    return kept
