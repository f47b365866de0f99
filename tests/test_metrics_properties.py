"""Invariants every metric keeps on generated visit logs: rates stay within 0-1, survival never
rises, counts never exceed the episodes behind them, and the headline figures agree with a
plain-Python recount of the same rows."""
import contextlib
import datetime as dt
import statistics
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter

from analytics import config, db, metrics
from analytics.filters import ALL
from conftest import store_visits, visit

PAIN = st.integers(0, 20).map(lambda halves: halves / 2)
# Baselines and drops chosen to sit on and around the rule's edges (7 -> 4.9 is exactly 30%).
BASELINES = st.sampled_from([7, 0, 2, 3, 4, 5, 6, 6.5, 8, 10])
DROPS = st.sampled_from([2.1, -1, 0, 0.5, 1, 1.5, 1.9, 2, 2.5, 3, 4, 6])
FIRST_DAY = dt.date(2025, 1, 6)


@st.composite
def visit_logs(draw) -> list[dict]:
    """1-8 episodes of 1-13 visits, with gaps, missing scores, adherence sometimes recorded."""
    rows = []
    for number in range(draw(st.integers(1, 8))):
        episode = {
            "course_type": draw(st.sampled_from(config.COURSE_TYPES)),
            "condition": draw(st.sampled_from(config.CONDITIONS[:3])),
            "therapist_id": draw(st.sampled_from(["T1", "T2", "T3"])),
            "severity": draw(st.sampled_from([None, *config.SEVERITIES])),
        }
        highest = draw(st.integers(1, 13))
        start = draw(st.integers(0, 120))
        baseline = draw(BASELINES)
        for visit_number in range(1, highest + 1):
            if visit_number < highest and draw(st.integers(0, 9)) == 0:
                continue  # a missing record: a gap in the visit numbers
            pain_pre = baseline if visit_number == 1 else min(10, max(0, round(baseline - draw(DROPS), 1)))
            if draw(st.integers(0, 9)) == 0:
                pain_pre = None  # a missing score, now and then
            rows.append(visit(
                f"E{number}", visit_number, (FIRST_DAY + dt.timedelta(days=start + 7 * (visit_number - 1))).isoformat(),
                pain_pre, draw(st.one_of(PAIN, st.none())),
                stretching_adherence_pct=draw(st.one_of(st.none(), st.integers(0, 100))), **episode))
    return rows


@contextlib.contextmanager
def database(rows):
    with tempfile.TemporaryDirectory() as folder:
        con = db.connect(Path(folder) / "clinic.duckdb")
        try:
            store_visits(con, rows)
            yield con
        finally:
            con.close()


def improved(baseline, score) -> bool:
    """The rule, recounted in Python for the cross-check (same tolerance as the SQL)."""
    drop = baseline - score
    return drop >= config.MCID_PAIN_POINTS - 1e-9 and drop >= config.MCID_PAIN_FRACTION * baseline - 1e-9


def recount(rows) -> dict[str, dict]:
    """Per episode from the raw rows: course type, highest visit, baseline, visit-3 pre pain, and
    the first visit whose pre-session pain meets the rule."""
    episodes: dict[str, dict] = {}
    for row in rows:
        episode = episodes.setdefault(row["episode_id"], {"course_type": row["course_type"], "pre": {}})
        episode["pre"][row["visit_number"]] = row["pain_pre"]
    for episode in episodes.values():
        episode["visits"] = max(episode["pre"])
        episode["baseline"] = episode["pre"].get(1)
        episode["v3"] = episode["pre"].get(3)
        hits = [k for k, pain in sorted(episode["pre"].items())
                if episode["baseline"] is not None and pain is not None and improved(episode["baseline"], pain)]
        episode["first_improved"] = hits[0] if hits else None
    return episodes


def within_unit(values) -> bool:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return bool(((values >= -1e-12) & (values <= 1 + 1e-12)).all())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(visit_logs())
def test_metric_invariants(rows):
    episodes = recount(rows)
    per_course = {course: sum(e["course_type"] == course for e in episodes.values()) for course in config.COURSE_TYPES}
    with database(rows) as con:
        # Summary: agrees with the recount.
        summary = metrics.headline(con, ALL)
        assert summary["episodes"] == len(episodes) and summary["sessions"] == len(rows)
        for course, figures in summary["by_course"].items():
            mine = [e for e in episodes.values() if e["course_type"] == course]
            judged = [e for e in mine if e["baseline"] is not None and e["v3"] is not None]
            assert figures["episodes"] == len(mine)
            assert figures["episodes_reaching_visit3"] == len(judged)
            if judged:
                expected = sum(improved(e["baseline"], e["v3"]) for e in judged) / len(judged)
                assert figures["responder_rate_after_session2"] == expected
            else:
                assert figures["responder_rate_after_session2"] is None
            if mine:
                assert figures["median_visits"] == statistics.median(e["visits"] for e in mine)

        # Trajectory: never more scores at a visit than episodes of that course type.
        trajectory = metrics.pain_trajectory(con, ALL)
        for row in trajectory.itertuples():
            assert 1 <= row.n <= per_course[row.course_type]
            assert 0 <= row.mean <= 10
            if row.n >= 2:
                assert row.ci_low <= row.mean + 1e-9 and row.mean <= row.ci_high + 1e-9

        # Responder curve: shares in 0-1, improved never falls, at_risk never rises.
        curve = metrics.responder_curve(con, ALL)
        assert within_unit(curve["share"])
        for course, group in curve.groupby("course_type"):
            assert (group["episodes"] <= per_course[course]).all()
            assert (group["improved"] <= group["episodes"]).all() and (group["at_risk"] <= group["episodes"]).all()
            assert group["improved"].is_monotonic_increasing and group["at_risk"].is_monotonic_decreasing

        # Kaplan-Meier: survival never rises, stays inside its band, and matches lifelines.
        km = metrics.time_to_improvement(con, ALL)
        assert within_unit(km["survival"]) and within_unit(km["ci_low"]) and within_unit(km["ci_high"])
        assert (km["ci_low"] <= km["survival"] + 1e-9).all() and (km["survival"] <= km["ci_high"] + 1e-9).all()
        for course, group in km.groupby("course_type"):
            assert group["survival"].is_monotonic_decreasing
            assert group["at_risk"].iloc[0] <= per_course[course]
            judged = [e for e in episodes.values() if e["course_type"] == course and e["baseline"] is not None]
            fitted = KaplanMeierFitter().fit([e["first_improved"] or e["visits"] for e in judged],
                                             [e["first_improved"] is not None for e in judged])
            times = group["visit_number"].to_numpy()
            assert np.allclose(group["survival"], fitted.survival_function_at_times(times))

        # Every rate and share within 0-1; counts add up.
        outcomes = metrics.course_outcomes(con, ALL)
        shares = ["completed_share", "active_share", "closed_early_share", "lost_to_follow_up_share"]
        for column in (*shares, "responder_rate"):
            assert within_unit(outcomes[column])
        assert np.allclose(outcomes[shares].sum(axis=1), 1)
        # An active course is not "below" yet: it is counted once, as active.
        assert (outcomes[["below_range", "within_range", "above_range", "active"]].sum(axis=1)
                == outcomes["episodes"]).all()
        dropouts = outcomes["closed_early"] + outcomes["lost_to_follow_up"]
        assert np.allclose(outcomes["dropout_rate"], dropouts / (outcomes["completed"] + dropouts),
                           equal_nan=True)  # NaN with no finished course
        assert (outcomes["episodes_with_followup"] <= outcomes["episodes"]).all()
        conditions = metrics.condition_comparison(con, ALL)
        assert within_unit(conditions["responder_rate"]) and conditions["episodes"].sum() == len(episodes)
        home = metrics.home_program_effect(con, ALL)
        assert within_unit(home["responder_rate"]) and within_unit(home["responder_rate_after_session2"])
        assert home["episodes"].sum() == len(episodes)
        for outcome, spec in metrics.THERAPIST_OUTCOMES.items():
            result = metrics.therapist_outcome(con, ALL, outcome=outcome)
            therapists = result.therapists
            if spec.unit == "share":
                for column in ("observed", "expected"):
                    assert within_unit(therapists[column])
            if therapists["model"].iloc[0] in ("logistic", "overall rate") and therapists["episodes"].sum():
                # Both give expected responders adding up to the observed ones across the clinic.
                observed_total = (therapists["observed"].fillna(0) * therapists["episodes"]).sum()
                expected_total = (therapists["expected"].fillna(0) * therapists["episodes"]).sum()
                assert np.isclose(expected_total, observed_total, atol=1e-4)
            # The funnel's limits lie either side of 0 and narrow as courses add up.
            limits = result.limits
            assert (limits["lower_998"] <= limits["lower_95"]).all() and (limits["lower_95"] <= 0).all()
            assert (limits["upper_998"] >= limits["upper_95"]).all() and (limits["upper_95"] >= 0).all()
            assert limits["upper_95"].is_monotonic_decreasing
        trend = metrics.monthly_trend(con, ALL)
        assert trend["episodes_started"].sum() == len(episodes) and trend["sessions"].sum() == len(rows)
        assert within_unit(trend["responder_rate_after_session2"])
        tiles = metrics.kpis(con, ALL).set_index("metric")["value"]
        assert within_unit(tiles[[name for name in tiles.index if "rate" in name or "improved" in name]])

        # Data quality: each count is the number of rows its details list.
        quality = metrics.data_quality(con, ALL).set_index("check")["count"]
        for check, count in quality.items():
            assert len(metrics.data_quality_details(con, ALL, check)) == count
