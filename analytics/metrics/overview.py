"""The overview tiles: the headline figures for a filter and the period before it."""
from __future__ import annotations

from typing import Any

import pandas as pd

from analytics import config
from analytics.filters import ALL, Filter
from analytics.metrics.query import documented_columns, episodes_cte, plain_value, run
from analytics.metrics.suppression import SUPPRESSED, hidden

KPI_COLUMNS = ("metric", "label", "value", "n", "previous", "previous_n", "change", "compared")


def _tiles() -> list[tuple[str, str, str, str]]:
    """Every tile: (metric, label, its value in SQL, which courses it rests on in SQL; that
    count is the tile's n, and among them the other therapists' courses decide suppression)."""
    tiles = [("clients", "Clients", "count(DISTINCT client_id)", "TRUE"),
             ("episodes", "Episodes (courses of care)", "count(*)", "TRUE"),
             ("sessions", "Sessions", "coalesce(sum(sessions), 0)", "TRUE")]
    for i, course in enumerate(config.COURSE_TYPES):
        of_course = f"course_type = $course_{i}"
        tiles += [
            (f"improved_after_session2_{course}", f"Improved after session 2, courses reaching visit 3 ({course})",
             f"avg(improved_after_session2::DOUBLE) FILTER (WHERE {of_course})",
             f"{of_course} AND improved_after_session2 IS NOT NULL"),
            (f"improved_after_session2_itt_{course}", f"Improved after session 2, all who started ({course})",
             f"avg(improved_after_session2_itt::DOUBLE) FILTER (WHERE {of_course})",
             f"{of_course} AND eligible_itt"),
            (f"improved_after_session2_immediate_{course}", f"Improved straight after session 2 ({course})",
             f"avg(improved_after_session2_immediate::DOUBLE) FILTER (WHERE {of_course})",
             f"{of_course} AND improved_after_session2_immediate IS NOT NULL"),
            (f"median_sessions_{course}", f"Median sessions ({course})",
             f"quantile_cont(visits, 0.5) FILTER (WHERE {of_course})", of_course),
            (f"dropout_rate_{course}", f"Drop-out rate ({course}, finished courses)",
             f"count(*) FILTER (WHERE {of_course} AND is_dropout)"
             f" / nullif(count(*) FILTER (WHERE {of_course} AND status <> 'active'), 0)",
             f"{of_course} AND status <> 'active'"),
        ]
    finished = "status <> 'active'"
    tiles += [("completion_rate", "Completion rate (finished courses)",
               f"count(*) FILTER (WHERE status = 'completed') / nullif(count(*) FILTER (WHERE {finished}), 0)", finished),
              ("dropout_rate", "Drop-out rate (finished courses)",
               f"count(*) FILTER (WHERE is_dropout) / nullif(count(*) FILTER (WHERE {finished}), 0)", finished)]
    return tiles


def _kpi_values(con, f: Filter) -> dict[str, Any]:
    """Every tile's value, in n_<tile> how many courses it rests on, and in others_<tile> how
    many of those are other therapists' courses."""
    episodes, params = episodes_cte(f)
    columns = ",\n    ".join(
        f"{value} AS {metric}, count(*) FILTER (WHERE {rests_on}) AS n_{metric}, "
        f"count(*) FILTER (WHERE {rests_on} AND is_other) AS others_{metric}"
        for metric, _, value, rests_on in _tiles())
    row = run(con, f"WITH {episodes}\nSELECT {columns}\nFROM chosen_episodes_itt", params).iloc[0]
    return {name: plain_value(value) for name, value in row.items()}


def kpis(con, f: Filter = ALL) -> pd.DataFrame:
    """The overview tiles, one row each: clients (distinct clients), episodes, sessions (recorded
    sessions of those episodes); per course type (acute, chronic): improved_after_session2_<course>
    (per protocol: among episodes with a baseline and a visit-3 pre-session pain, the share whose
    visit-3 pre-session pain meets the filter's improvement rule, by default at least 2 points
    and 30% below baseline), improved_after_session2_itt_<course> (intention to treat: among
    all who started, eligible_itt in query.episodes_cte, the share improved at visit 3, a drop-out
    before visit 3 counting as not improved), improved_after_session2_immediate_<course> (the
    rule on the pain straight after session 2, among episodes with a baseline and that score),
    median_sessions_<course> (median highest visit number) and dropout_rate_<course> (drop-outs /
    finished: of the course type's episodes no longer active, the share closed early or lost to
    follow-up, as in course_outcomes); completion_rate and dropout_rate (the same over both course
    types, completed or drop-outs / finished; they add up to 1). value is for the filter and n the episodes it rests on (for a rate, its
    denominator); previous and previous_n the same for the period of the same length just before
    it (empty without a start and end date); change is value minus previous, and compared is
    True when previous_n is at least config.MIN_COMPARISON_COURSES (20): a change resting on
    fewer earlier courses is not to be shown. No rows when the filter matches no episode. For a
    viewing therapist, a tile resting on 1-9 other therapists' courses is left out, and so is a
    previous value resting on as few (previous and change are then empty).
    Columns: metric, label, value, n, previous, previous_n, change, compared."""
    current = _kpi_values(con, f)
    if current["episodes"] == 0:
        return documented_columns(pd.DataFrame(), KPI_COLUMNS)
    earlier_filter = f.previous_period()
    earlier = _kpi_values(con, earlier_filter) if earlier_filter is not None else {}
    rows, left_out = [], 0
    for metric, label, _, _ in _tiles():
        if hidden(f, current[f"others_{metric}"]):
            left_out += 1
            continue
        value, previous, previous_n = current[metric], earlier.get(metric), earlier.get(f"n_{metric}")
        if earlier and hidden(f, earlier[f"others_{metric}"]):
            previous = previous_n = None
            left_out += 1
        change = value - previous if value is not None and previous is not None else None
        compared = change is not None and previous_n is not None and previous_n >= config.MIN_COMPARISON_COURSES
        rows.append({"metric": metric, "label": label, "value": value, "n": current[f"n_{metric}"],
                     "previous": previous, "previous_n": previous_n, "change": change, "compared": compared})
    frame = pd.DataFrame(rows, columns=list(KPI_COLUMNS)).astype(
        {"value": float, "n": int, "previous": float, "previous_n": float, "change": float, "compared": bool})
    frame.attrs[SUPPRESSED] = left_out
    return documented_columns(frame, KPI_COLUMNS)
