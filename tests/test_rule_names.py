"""The named pain improvement rules: each one's thresholds, hand-checked on a few drops."""
import pytest

from analytics.metrics import rule


@pytest.mark.parametrize(
    ("name", "baseline", "score", "expected"),
    [
        # baseline 8 -> 5: drop 3 (37.5%) meets 2 points and 30%
        ("points-and-percent", 8, 5, True),
        # baseline 10 -> 8: drop 2 (20%) has the points but not the percent
        ("points-and-percent", 10, 8, False),
        ("points-or-percent", 10, 8, True),
        # baseline 3 -> 2: drop 1 (33%) has the percent but not the points
        ("points-or-percent", 3, 2, True),
        ("points-and-percent", 3, 2, False),
        ("percent-30", 3, 2, True),
        # baseline 10 -> 6: drop 4 (40%): moderate, not substantial
        ("percent-30", 10, 6, True),
        ("percent-50", 10, 6, False),
        # baseline 10 -> 5: drop 5 (50%) exactly on the threshold counts
        ("percent-50", 10, 5, True),
        # baseline 0 -> 0: no pain to lose is never a 30% drop
        ("percent-30", 0, 0, False),
        ("points-or-percent", 0, 0, False),
    ],
)
def test_named_rule(name, baseline, score, expected):
    assert rule.pain(name).is_met(baseline, score) is expected


def test_default_is_points_and_percent():
    assert rule.pain() == rule.pain("points-and-percent")
    assert rule.pain_rule_names()[0] == "points-and-percent"
    assert rule.pain("points-or-percent").words() == "2 points or 30%"


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="percent-50"):
        rule.pain("half")
