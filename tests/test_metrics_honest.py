"""Time to improvement among all who started, the monthly intention-to-treat and drop-out
counts, and the control charts of the Trend page, on the hand-written clinic of test_metrics.py
(its table gives each course's visits, status and first improved visit) and on tinier ones."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics import db, metrics, stats
from analytics.filters import Filter
from analytics.metrics import suppression
from conftest import store_visits
from test_metrics import CLINIC
from test_suppression import VIEWER, courses


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    con = db.connect(tmp_path_factory.mktemp("honest") / "clinic.duckdb")
    store_visits(con, CLINIC)
    yield con
    con.close()


# --- improved by visit, among all who started ---------------------------------------------------

def test_improvement_all_started_counts_drop_outs_as_never_improved(clinic):
    curve = metrics.improvement_all_started(clinic).set_index(["course_type", "visit_number"])
    acute = curve.loc["acute"]
    # Acute, 7 courses with a baseline. First improved: A5 at 2, A1 and A3 at 3; A2, A4 and A7
    # never (A4 and A7 dropped out: never improved). A6 is still running after 2 visits without
    # improving: at visits 3 and 4 its answer is not known, so it is left out (6 courses).
    assert acute["episodes"].tolist() == [7, 7, 6, 6]
    assert acute["improved"].tolist() == [0, 1, 3, 3]
    assert acute["still_running_left_out"].tolist() == [0, 0, 1, 1]
    assert acute.loc[3, "share"] == 0.5
    # Wilson for 0 of 7: 0 to z² / (7 + z²) = 3.8415 / 10.8415 = 0.3543.
    assert acute.loc[1, "ci_low"] == pytest.approx(0, abs=1e-12)
    assert acute.loc[1, "ci_high"] == pytest.approx(0.354330, abs=1e-6)
    # Wilson for 3 of 6 (statsmodels' proportion_confint(3, 6, method="wilson")): 0.1876-0.8124.
    assert (acute.loc[3, "ci_low"], acute.loc[3, "ci_high"]) == pytest.approx((0.187616, 0.812384), abs=1e-6)
    # Kaplan-Meier says 1 - 5/18 = 72% improved by visit 3: it assumes A4, A6 and A7, who
    # stopped, would have done as well as those who stayed. All who started: 50%.
    km = metrics.time_to_improvement(clinic).set_index(["course_type", "visit_number"])
    assert 1 - km.loc[("acute", 3), "survival"] == pytest.approx(13 / 18)
    # Chronic: C3 is running but improved at visit 2, so it stays counted (its answer is known):
    # 5 courses throughout; improved C3 and C5 at 2, C2 at 4, C1 at 6; C4 (baseline 0) never.
    chronic = curve.loc["chronic"]
    assert chronic["episodes"].tolist() == [5] * 13
    assert chronic["improved"].tolist() == [0, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]
    assert chronic["still_running_left_out"].sum() == 0


def test_improvement_all_started_for_a_viewer_counts_colleagues_courses(clinic_db):
    # Five of T2's courses stay in the denominator at every visit: the curve is hidden whole.
    con = clinic_db(courses("M", "T1", 3) + courses("O", "T2", 5))
    assert metrics.improvement_all_started(con)["episodes"].tolist() == [8, 8, 8]
    hidden = metrics.improvement_all_started(con, VIEWER)
    assert hidden.empty and suppression.suppressed(hidden) == 3
    con = clinic_db(courses("M", "T1", 3) + courses("O", "T2", 12))
    assert metrics.improvement_all_started(con, VIEWER)["improved"].tolist() == [0, 0, 15]


# --- month by month -----------------------------------------------------------------------------

def test_monthly_trend_counts_all_who_started_and_the_finished(clinic):
    months = metrics.monthly_trend(clinic).set_index("month")
    # Judged among all who started (a baseline, not running short of visit 3): Dec C5 (improved);
    # Jan A1 (yes), A2, A3 (yes), A4 (dropped), A7 (dropped), C1, C2 (no visit 3): 2 of 7;
    # Feb A5 (dropped), C4 (baseline 0): 0 of 2; Mar C3 (running, at visit 3, 8 -> 8), not A6
    # (running, 2 visits): 0 of 1.
    assert months["episodes_eligible_itt"].tolist() == [1, 7, 2, 1]
    assert months["improved_itt"].tolist() == [1, 2, 0, 0]
    assert months["responder_rate_after_session2_itt"].tolist() == pytest.approx([1, 2 / 7, 0, 0])
    # Finished = completed or dropped: Jan A4, A7 and C2 dropped of 7; Feb A5 and C4 of 2;
    # March's two are both still running: no rate.
    assert months["episodes_finished"].tolist() == [1, 7, 2, 0]
    assert months["episodes_dropped"].tolist() == [0, 3, 2, 0]
    assert months["dropout_rate"].iloc[:3].tolist() == pytest.approx([0, 3 / 7, 1])
    assert np.isnan(months["dropout_rate"].iloc[3])


def test_p_chart_limits_widen_for_a_small_month():
    # p̄ = (50 + 4 + 20) / (100 + 4 + 100) = 74 / 204 = 0.36275.
    chart = stats.p_chart_limits([50, 4, 20], [100, 4, 100])
    assert chart["centre"].tolist() == pytest.approx([74 / 204] * 3)
    # 100 courses: 3 * sqrt(0.36275 * 0.63725 / 100) = 0.14424 -> 0.21851-0.50698, so 20% is
    # below; 4 courses: 3 * sqrt(0.23116 / 4) = 0.72119 -> 0 to 1 (clipped), so even 4 of 4 is not.
    assert chart["lower"].tolist() == pytest.approx([0.218507, 0.0, 0.218507], abs=1e-6)
    assert chart["upper"].tolist() == pytest.approx([0.506983, 1.0, 0.506983], abs=1e-6)
    assert chart["outside"].tolist() == [False, False, True]
    # A month with nobody to judge has no rate and no limits, and is never outside.
    empty = stats.p_chart_limits([3, 0], [10, 0])
    assert np.isnan(empty["rate"][1]) and np.isnan(empty["upper"][1]) and not empty["outside"][1]


def test_c_chart_limits_are_the_mean_plus_minus_three_root_mean():
    # c̄ = 60 / 4 = 15, 3 * sqrt(15) = 11.619 -> 3.381-26.619: 30 is above.
    chart = stats.c_chart_limits([10, 10, 10, 30])
    assert chart["centre"].tolist() == [15.0] * 4
    assert chart["lower"][0] == pytest.approx(3.381, abs=1e-3) and chart["upper"][0] == pytest.approx(26.619, abs=1e-3)
    assert chart["outside"].tolist() == [False, False, False, True]
    # c̄ = 2: 2 - 3 * 1.414 < 0, so the lower limit is 0.
    assert stats.c_chart_limits([1, 3])["lower"].tolist() == [0.0, 0.0]


def test_monthly_control_charts_on_the_clinic_per_course_type(clinic):
    charts = metrics.monthly_control_charts(clinic)
    chart = {key: rows.set_index("month") for key, rows in charts.groupby(["course_type", "measure"])}
    assert set(chart) == {(course, measure) for course in ("acute", "chronic") for measure in metrics.CONTROL_MEASURES}
    january = pd.Timestamp("2025-01-01")
    # Acute, all who started: Jan A1 and A3 improved of A1, A2, A3, A4, A7; Feb A5 (dropped) of 1;
    # March only A6, still running short of visit 3: nobody to judge. p̄ = 2 / 6; January (n = 5):
    # 1/3 + 3 * sqrt(1/3 * 2/3 / 5) = 0.9658.
    improved = chart[("acute", "improved_after_session2_itt")]
    assert improved["n"].tolist() == [5, 1, 0]
    assert improved["centre"].iloc[0] == pytest.approx(1 / 3)
    assert improved.loc[january, "upper"] == pytest.approx(0.965789, abs=1e-6)
    assert improved.loc[january, "lower"] == 0.0
    assert np.isnan(improved["value"].iloc[2]) and np.isnan(improved["upper"].iloc[2])
    # Acute drop-outs: Jan A4 and A7 of 5 finished, Feb A5 of 1: p̄ = 3 / 6.
    dropout = chart[("acute", "dropout_rate")]
    assert dropout["value"].iloc[:2].tolist() == [0.4, 1.0] and dropout["centre"].iloc[0] == 0.5
    # Chronic new courses: Dec C5, Jan C1 and C2, Feb C4, Mar C3: c̄ = 5 / 4, upper 1.25 + 3 * sqrt(1.25).
    new = chart[("chronic", "new_courses")]
    assert new["value"].tolist() == [1, 2, 1, 1]
    assert new["upper"].iloc[0] == pytest.approx(1.25 + 3 * np.sqrt(1.25))
    # Chronic, all who started: only C5 (December) improved at visit 3, of 5: p̄ = 0.2.
    assert chart[("chronic", "improved_after_session2_itt")]["centre"].iloc[0] == pytest.approx(0.2)
    assert not charts["outside"].any()
    # A course-type filter keeps only its own charts.
    assert set(metrics.monthly_control_charts(clinic, Filter(course_types=("chronic",)))["course_type"]) == {"chronic"}


def test_a_month_far_from_the_rest_is_marked_outside(clinic_db):
    # January to March: 20 courses a month improving 8 -> 3 at visit 3; April: 20 that do not.
    flat = (8, 8, 8, 8, 8)
    rows = []
    for month in (1, 2, 3):
        rows += courses(f"M{month}", "T1", 20, start=f"2025-0{month}-06")
    rows += courses("F", "T1", 20, pains=flat, start="2025-04-07")
    charts = metrics.monthly_control_charts(clinic_db(rows))
    improved = charts[charts["measure"] == "improved_after_session2_itt"]
    # p̄ = 60 / 80 = 0.75; limits 0.75 -/+ 3 * sqrt(0.1875 / 20) = 0.75 -/+ 0.2905: 0.4595-1.
    assert improved["value"].tolist() == [1, 1, 1, 0]
    assert improved["lower"].iloc[0] == pytest.approx(0.75 - 3 * np.sqrt(0.1875 / 20))
    assert improved["outside"].tolist() == [False, False, False, True]


def test_the_control_charts_leave_out_a_month_resting_on_few_colleagues(clinic_db):
    # T2 starts 10 courses in January, 12 in February and 2 in March (see monthly_trend's test).
    con = clinic_db(courses("J", "T2", 10, start="2025-01-06") + courses("F", "T2", 12, start="2025-02-03")
                    + courses("M", "T2", 2, start="2025-03-03"))
    manager = metrics.monthly_control_charts(con)
    assert manager["month"].dt.month.unique().tolist() == [1, 2, 3]
    viewer = metrics.monthly_control_charts(con, VIEWER)
    assert viewer["month"].dt.month.unique().tolist() == [2] and suppression.suppressed(viewer) == 2
    assert set(viewer["course_type"]) == {"acute"}
    assert viewer.loc[viewer["measure"] == "new_courses", "centre"].tolist() == [12.0]


@pytest.mark.parametrize("metric, columns", [
    (metrics.improvement_all_started, metrics.IMPROVEMENT_ALL_STARTED_COLUMNS),
    (metrics.monthly_control_charts, metrics.CONTROL_CHART_COLUMNS),
    (metrics.monthly_trend, metrics.MONTHLY_COLUMNS),
])
def test_nothing_matches_gives_the_documented_columns(clinic, clinic_db, metric, columns):
    for con in (clinic, clinic_db()):
        frame = metric(con, Filter(conditions=("hammer_toe",)))
        assert frame.empty and list(frame.columns) == list(columns)


@pytest.mark.parametrize("metric", [metrics.improvement_all_started, metrics.monthly_control_charts],
                         ids=lambda metric: metric.__name__)
def test_a_therapist_sees_only_rows_the_manager_sees_on_the_sample(sample_db_path, metric):
    con = db.connect(sample_db_path)
    try:
        f = Filter(start=dt.date(2024, 11, 1), end=dt.date(2025, 6, 30))
        manager, viewer = metric(con, f), metric(con, f.replace(viewer_therapist="T01"))
    finally:
        con.close()
    keys = ["course_type", "visit_number"] if metric is metrics.improvement_all_started else ["course_type", "measure", "month"]
    shown = viewer.merge(manager, on=keys, suffixes=("", "_manager"))
    assert len(shown) == len(viewer) <= len(manager)
    counts = ["episodes", "improved"] if metric is metrics.improvement_all_started else ["n"]
    for column in counts:
        assert (shown[column] == shown[f"{column}_manager"]).all()
