"""The improvement rule (analytics/metrics/rule.py): its SQL and its Python test are made from the
same fields, so they agree on every case, and its words follow the thresholds."""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from analytics import config, metrics
from analytics.metrics.rule import Rule

CASES = [  # baseline, score
    (10, 8), (7, 4.9), (6, 4), (5, 3.5), (10, 7), (10, 7.01), (3, 5), (3, 4.9), (6, 4), (8, 8), (0, 0),
    (None, 3), (4, None)]
RULES = [
    metrics.rule.pain(),
    metrics.rule.psfs(),
    Rule("either", points=2, fraction=0.3, combine="or"),  # points-or-percent, as issue #13 will name it
    Rule("half", points=None, fraction=0.5),
]


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.key)
@pytest.mark.parametrize("baseline, score", CASES)
def test_sql_and_python_agree(con, rule, baseline, score):
    sql = "SELECT " + rule.sql("CAST($baseline AS DOUBLE)", "CAST($score AS DOUBLE)") + " AS met"
    value = metrics.query.run(con, sql, {"baseline": baseline, "score": score, **rule.params()})["met"].iloc[0]
    assert (None if pd.isna(value) else bool(value)) == rule.is_met(baseline, score)


@pytest.mark.parametrize("rule, baseline, score, expected", [
    (RULES[2], 10, 8, True),     # either: 2 points (20%) is enough
    (RULES[2], 3, 2, True),      # either: 33% (1 point) is enough
    (RULES[2], 10, 9, False),    # either: 1 point, 10%
    (RULES[3], 8, 4, True),      # half: exactly 50%
    (RULES[3], 8, 4.1, False),
])
def test_other_combinations(rule, baseline, score, expected):
    assert rule.is_met(baseline, score) is expected


def test_the_default_rules_come_from_config(monkeypatch):
    assert metrics.rule.pain().words() == "2 points and 30%" and metrics.rule.psfs().words() == "2 points"
    monkeypatch.setattr(config, "MCID_PAIN_POINTS", 1.0)
    monkeypatch.setattr(config, "MCID_PAIN_FRACTION", 0.5)
    assert metrics.rule.pain().words() == "1 point and 50%"
    assert metrics.rule.pain().is_met(8, 4) and not metrics.rule.pain().is_met(8, 5)
    assert RULES[2].words() == "2 points or 30%" and RULES[3].words() == "50%"


def test_the_metrics_send_the_rules_thresholds_as_parameters():
    assert {"pain_points": config.MCID_PAIN_POINTS, "pain_fraction": config.MCID_PAIN_FRACTION,
            "psfs_points": config.MCID_PSFS_POINTS}.items() <= metrics.RULE_PARAMS.items()
    assert "$pain_points" in metrics.improvement_sql("b", "s") and "2" not in metrics.improvement_sql("b", "s")


def test_a_rule_needs_a_threshold_and_a_known_combination():
    with pytest.raises(ValueError):
        Rule("none", points=None, fraction=None)
    with pytest.raises(ValueError):
        Rule("xor", points=2, fraction=0.3, combine="xor")  # type: ignore[arg-type]
