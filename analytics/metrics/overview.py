"""The overview tiles: the headline figures for a filter and the period before it."""
from __future__ import annotations

from typing import Any

import pandas as pd

from analytics import config
from analytics.filters import ALL, Filter
from analytics.metrics.query import documented_columns, episodes_cte, plain_value, run
from analytics.metrics.suppression import SUPPRESSED, hidden

KPI_COLUMNS = ("metric", "label", "value", "previous", "change")


def _kpi_values(con, f: Filter) -> dict[str, Any]:
    """Every tile's value, and in others_<tile> how many other therapists' courses it rests on."""
    episodes, params = episodes_cte(f)
    per_course = ",\n    ".join(
        f"avg(improved_after_session2::DOUBLE) FILTER (WHERE course_type = $course_{i}) AS improved_after_session2_{course},\n"
        f"    count(*) FILTER (WHERE course_type = $course_{i} AND improved_after_session2 IS NOT NULL AND is_other)"
        f" AS others_improved_after_session2_{course},\n"
        f"    quantile_cont(visits, 0.5) FILTER (WHERE course_type = $course_{i}) AS median_sessions_{course},\n"
        f"    count(*) FILTER (WHERE course_type = $course_{i} AND is_other) AS others_median_sessions_{course}"
        for i, course in enumerate(config.COURSE_TYPES))
    row = run(con, f"""
WITH {episodes}
SELECT count(DISTINCT client_id) AS clients, count(*) AS episodes, coalesce(sum(sessions), 0) AS sessions,
    {per_course},
    count(*) FILTER (WHERE status = 'completed') / nullif(count(*) FILTER (WHERE status <> 'active'), 0) AS completion_rate,
    count(*) FILTER (WHERE status = 'dropped') / nullif(count(*) FILTER (WHERE status <> 'active'), 0) AS dropout_rate,
    count(*) FILTER (WHERE is_other) AS others_clients,
    count(*) FILTER (WHERE status <> 'active' AND is_other) AS others_completion_rate
FROM chosen_episodes""", params).iloc[0]
    values = {name: plain_value(value) for name, value in row.items()}
    values["others_episodes"] = values["others_sessions"] = values["others_clients"]
    values["others_dropout_rate"] = values["others_completion_rate"]
    return values


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
    value minus previous. No rows when the filter matches no episode. For a viewing therapist, a
    tile resting on 1-9 other therapists' courses is left out, and so is a previous value
    resting on as few (previous and change are then empty).
    Columns: metric, label, value, previous, change."""
    current = _kpi_values(con, f)
    if current["episodes"] == 0:
        return documented_columns(pd.DataFrame(), KPI_COLUMNS)
    earlier_filter = f.previous_period()
    earlier = _kpi_values(con, earlier_filter) if earlier_filter is not None else {}
    rows, left_out = [], 0
    for metric, label in _kpi_labels().items():
        if hidden(f, current[f"others_{metric}"]):
            left_out += 1
            continue
        value, previous = current[metric], earlier.get(metric)
        if earlier and hidden(f, earlier[f"others_{metric}"]):
            previous = None
            left_out += 1
        change = value - previous if value is not None and previous is not None else None
        rows.append({"metric": metric, "label": label, "value": value, "previous": previous, "change": change})
    frame = pd.DataFrame(rows, columns=list(KPI_COLUMNS)).astype({"value": float, "previous": float, "change": float})
    frame.attrs[SUPPRESSED] = left_out
    return documented_columns(frame, KPI_COLUMNS)
