"""Every number the dashboard shows, defined once: one documented, parameterised DuckDB query per
metric, returning a small tidy frame that pages and the command line draw or print as it is.

One module per topic; everything public is re-exported here, so `metrics.pain_trajectory(...)`
is the way in. `query` holds what the topics share and `rule` the improvement rule."""
from __future__ import annotations

import inspect

from analytics.metrics import client, courses, frontdesk, lasting, outcomes, overview, quality, query, rule, therapists
from analytics.metrics.client import (
    CLIENT_EPISODE_COLUMNS,
    EPISODE_FOLLOWUP_COLUMNS,
    EPISODE_PROGRESS_COLUMNS,
    TYPICAL_COURSE_COLUMNS,
    client_episodes,
    episode_followups,
    episode_progress,
    episode_summary,
    typical_course,
)
from analytics.metrics.courses import (
    COURSE_OUTCOME_COLUMNS,
    DROPOUT_REASON_COLUMNS,
    IMMEDIATE_RELIEF_COLUMNS,
    SESSIONS_ATTENDED_COLUMNS,
    course_outcomes,
    dropout_reasons,
    headline,
    immediate_relief,
    sessions_attended,
    summary_by_course,
)
from analytics.metrics.frontdesk import FOLLOWUPS_DUE_COLUMNS, followups_due
from analytics.metrics.lasting import (
    DURABILITY_COLUMNS,
    FOLLOWUP_RESPONSE_COLUMNS,
    FUNCTION_RESPONDER_COLUMNS,
    LASTING_GROUPS,
    PGIC_COLUMNS,
    RECURRENCE_COLUMNS,
    RECURRENCE_TABLE_COLUMNS,
    RESPONDER_COMPARISON_COLUMNS,
    durability,
    followup_response,
    function_responders,
    pgic_summary,
    recurrence,
    recurrence_table,
    responder_comparison,
)
from analytics.metrics.outcomes import (
    CONDITION_BY_COURSE_COLUMNS,
    CONDITION_COLUMNS,
    CONTROL_CHART_COLUMNS,
    CONTROL_MEASURES,
    HOME_PROGRAM_COLUMNS,
    IMPROVEMENT_ALL_STARTED_COLUMNS,
    KAPLAN_MEIER_COLUMNS,
    MEDIAN_VISITS_COLUMNS,
    MONTHLY_COLUMNS,
    RESPONDER_CURVE_COLUMNS,
    TRAJECTORY_COLUMNS,
    condition_by_course,
    condition_comparison,
    home_program_effect,
    improvement_all_started,
    median_visits_to_improvement,
    monthly_control_charts,
    monthly_trend,
    pain_trajectory,
    responder_curve,
    time_to_improvement,
)
from analytics.metrics.overview import KPI_COLUMNS, kpis
from analytics.metrics.quality import (
    CORRECTED_BY,
    DATA_QUALITY_CHECKS,
    DATA_QUALITY_COLUMNS,
    DATA_QUALITY_DETAIL_COLUMNS,
    Check,
    data_quality,
    data_quality_details,
)
from analytics.metrics.query import ADHERENCE_BAND_LABELS, NOT_RECORDED, RULE_PARAMS
from analytics.metrics.rule import ROUNDING_TOLERANCE, Rule, improvement_sql
from analytics.metrics.therapists import (
    FUNNEL_POSITIONS,
    OUTCOME_COLUMNS,
    OUTCOME_LIMIT_COLUMNS,
    PRIMARY_OUTCOME,
    THERAPIST_OUTCOMES,
    VERDICTS,
    Outcome,
    TherapistOutcome,
    therapist_outcome,
    therapist_summary,
)

# The modules whose public functions taking `con` first are the metrics (docs/metrics.md
# defines each; the docs test and the benchmarks walk them).
TOPICS = (outcomes, courses, therapists, quality, client, overview, frontdesk, lasting)

__all__ = [
    "ADHERENCE_BAND_LABELS", "CLIENT_EPISODE_COLUMNS", "CONDITION_BY_COURSE_COLUMNS", "CONDITION_COLUMNS",
    "CONTROL_CHART_COLUMNS", "CONTROL_MEASURES", "COURSE_OUTCOME_COLUMNS", "DROPOUT_REASON_COLUMNS",
    "CORRECTED_BY", "DATA_QUALITY_CHECKS", "DATA_QUALITY_COLUMNS", "DATA_QUALITY_DETAIL_COLUMNS", "EPISODE_PROGRESS_COLUMNS",
    "FOLLOWUPS_DUE_COLUMNS", "HOME_PROGRAM_COLUMNS", "IMMEDIATE_RELIEF_COLUMNS",
    "IMPROVEMENT_ALL_STARTED_COLUMNS", "KAPLAN_MEIER_COLUMNS", "KPI_COLUMNS", "MEDIAN_VISITS_COLUMNS",
    "MONTHLY_COLUMNS", "NOT_RECORDED", "FUNNEL_POSITIONS", "OUTCOME_COLUMNS", "OUTCOME_LIMIT_COLUMNS",
    "PRIMARY_OUTCOME", "THERAPIST_OUTCOMES", "VERDICTS", "Outcome", "TherapistOutcome", "therapist_outcome",
    "therapist_summary",
    "RESPONDER_CURVE_COLUMNS", "ROUNDING_TOLERANCE", "RULE_PARAMS", "SESSIONS_ATTENDED_COLUMNS",
    "TOPICS", "TRAJECTORY_COLUMNS", "TYPICAL_COURSE_COLUMNS", "Check", "Rule",
    "client", "client_episodes", "condition_by_course", "condition_comparison", "course_outcomes", "courses", "data_quality",
    "followups_due", "frontdesk",
    "data_quality_details", "dropout_reasons", "episode_progress", "episode_summary", "headline",
    "home_program_effect", "immediate_relief", "improvement_all_started", "improvement_sql", "kpis", "median_visits_to_improvement",
    "monthly_control_charts", "monthly_trend", "outcomes", "overview", "pain_trajectory", "quality", "query", "responder_curve", "rule",
    "sessions_attended", "summary_by_course", "therapists", "time_to_improvement",
    "typical_course",
    "DURABILITY_COLUMNS", "FOLLOWUP_RESPONSE_COLUMNS", "FUNCTION_RESPONDER_COLUMNS", "LASTING_GROUPS", "PGIC_COLUMNS",
    "RECURRENCE_COLUMNS", "RECURRENCE_TABLE_COLUMNS", "RESPONDER_COMPARISON_COLUMNS", "durability",
    "followup_response", "function_responders", "lasting", "pgic_summary", "recurrence", "recurrence_table",
    "responder_comparison", "EPISODE_FOLLOWUP_COLUMNS", "episode_followups",
]


def public_metrics() -> list:
    """Every metric, by name: the public functions of the topic modules whose first parameter is `con`."""
    found = [function for module in TOPICS for name, function in inspect.getmembers(module, inspect.isfunction)
             if not name.startswith("_") and function.__module__ == module.__name__
             and next(iter(inspect.signature(function).parameters), None) == "con"]
    return sorted(found, key=lambda function: function.__name__)
