"""The Trend page and the Courses page's two readings of time to improvement (AppTest, the
sample clinic): what is drawn is what the metrics give, thin visits are off the pain line, and a
therapist sees the Trend page without colleagues' small months."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analytics import config, db, metrics
from analytics.filters import Filter
from conftest import signed_in
from test_pages_manager import figures, run_page
from test_suppression import courses

TREND = str(Path(__file__).resolve().parent.parent / "app_pages" / "trend.py")


@pytest.fixture
def sample_con(app_db):
    con = db.connect(app_db)
    yield con
    con.close()


def by_title(at: AppTest, start: str) -> dict:
    return next(figure for figure in figures(at) if figure["layout"]["title"]["text"].startswith(start))


def values(trace: dict, axis: str = "y") -> list:
    """A trace's y (or x) values, plain or in plotly's typed-array form ({dtype, bdata})."""
    data = trace[axis]
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def test_courses_page_shows_kaplan_meier_beside_all_who_started(app_db, sample_con):
    at = run_page("courses", {"section": "Time to improvement"})
    curve = metrics.improvement_all_started(sample_con)
    chart = by_title(at, "Time to meaningful improvement, two readings")
    acute = next(trace for trace in chart["data"] if trace.get("name") == "Acute, all who started")
    expected = ((1 - curve.loc[curve["course_type"] == "acute", "share"]) * 100).tolist()
    assert values(acute) == pytest.approx(expected)
    assert acute["xaxis"] == "x2"  # the right-hand panel, beside Kaplan-Meier on the left
    kaplan_meier = next(trace for trace in chart["data"] if trace.get("name", "").startswith("Acute (half improved"))
    assert kaplan_meier.get("xaxis", "x") == "x"
    panels = [annotation["text"] for annotation in chart["layout"]["annotations"]]
    assert panels[:2] == ["Kaplan-Meier: drop-outs leave the count", "All who started: drop-outs never improved"]
    # 390 acute courses are judged by visit 3 (11 still running left out), 70% improved; Kaplan-Meier
    # says 77% (it assumes the drop-outs would have done as well as those who stayed).
    row = curve[(curve["course_type"] == "acute") & (curve["visit_number"] == 3)].iloc[0]
    assert (row["episodes"], row["improved"], row["still_running_left_out"]) == (390, 273, 11)
    km = metrics.time_to_improvement(sample_con).set_index(["course_type", "visit_number"])
    assert 1 - km.loc[("acute", 3), "survival"] == pytest.approx(0.774808, abs=1e-6)
    captions = " ".join(caption.value for caption in at.caption)
    assert "do not make the curve look better" not in captions
    assert "would have improved like those who stayed" in captions and "nobody improved after leaving" in captions


def test_pain_by_visit_leaves_visits_of_fewer_than_twenty_courses_off_the_line(app_db, sample_con):
    at = run_page("courses")
    chart = by_title(at, "Pain by visit")
    trajectory = metrics.pain_trajectory(sample_con)
    pre = trajectory[(trajectory["course_type"] == "chronic") & (trajectory["phase"] == "pre")]
    # Chronic visits 13 and 14 rest on 15 and 7 courses: faint markers, not the line.
    assert pre.set_index("visit_number").loc[[13, 14], "n"].tolist() == [15, 7]
    line = next(trace for trace in chart["data"] if trace.get("name") == "Chronic, before session")
    few = next(trace for trace in chart["data"] if trace.get("name", "").startswith("Chronic, before session (fewer"))
    assert max(values(line, "x")) == 12 and sorted(values(few, "x")) == [13, 14]
    assert few["marker"]["opacity"] < 1 and few["mode"] == "markers"
    assert "n = %{customdata:,} scores" in few["hovertemplate"]
    assert f"fewer than {config.MIN_TRAJECTORY_COURSES} courses" in " ".join(c.value for c in at.caption)


def test_conditions_small_multiples_leave_visits_of_fewer_than_twenty_courses_off_the_line(app_db, sample_con):
    at = run_page("conditions", {"section": "Pain by visit"})
    chart = by_title(at, "Pain before each session, by condition")
    trajectory = metrics.pain_trajectory(sample_con, by=("course_type", "condition"))
    pre = trajectory[trajectory["phase"] == "pre"]
    checked = 0
    for (course, condition), rows in pre.groupby(["course_type", "condition"]):
        name = f"{condition.replace('_', ' ').capitalize()}, {course}"
        line = [t for t in chart["data"] if t.get("legendgroup") == course and t.get("hovertemplate", "").startswith(name + "<br>")
                and t.get("mode") == "lines+markers"]
        assert len(line) == 1, name
        enough = rows[rows["n"] >= config.MIN_TRAJECTORY_COURSES]
        few = rows[rows["n"] < config.MIN_TRAJECTORY_COURSES]
        assert sorted(values(line[0], "x")) == sorted(enough["visit_number"].tolist()), name
        faint = [t for t in chart["data"] if t.get("name") == f"{name} (fewer than {config.MIN_TRAJECTORY_COURSES} courses)"]
        if len(few):
            assert sorted(values(faint[0], "x")) == sorted(few["visit_number"].tolist())
            assert faint[0]["mode"] == "markers" and faint[0]["marker"]["opacity"] < 1
            assert "n = %{customdata:,} scores" in faint[0]["hovertemplate"]
            checked += 1
        else:
            assert not faint
        band = [t for t in chart["data"] if t.get("name") == f"{name} 95% CI"]
        assert len(band) == 2 and band[1]["fill"] == "tonexty"  # the 95% band, through the line's visits only
        assert sorted(values(band[0], "x")) == sorted(enough.dropna(subset=["ci_low"])["visit_number"].tolist())
    # The sample's condition-by-course-type cells are small: most have late visits on a handful of courses.
    assert checked >= 10
    assert any(f"fewer than {config.MIN_TRAJECTORY_COURSES} courses is a faint marker" in c.value for c in at.caption)


def test_pain_by_visit_follows_the_threshold_in_config(app_db, monkeypatch):
    monkeypatch.setattr(config, "MIN_TRAJECTORY_COURSES", 5)
    at = run_page("courses")
    chart = by_title(at, "Pain by visit")
    line = next(trace for trace in chart["data"] if trace.get("name") == "Chronic, before session")
    assert max(values(line, "x")) == 14  # 7 courses at visit 14 are enough for a line of 5


def test_trend_page_draws_the_control_charts_of_the_metric(app_db, sample_con):
    at = run_page("trend")
    control = metrics.monthly_control_charts(sample_con)
    improved = by_title(at, "Improved after the second session")
    acute = next(trace for trace in improved["data"] if trace.get("name") == "Acute")
    rows = control[(control["course_type"] == "acute") & (control["measure"] == "improved_after_session2_itt")]
    assert values(acute) == pytest.approx((rows["value"] * 100).tolist(), nan_ok=True)
    assert len(rows) == 24  # November 2024 to October 2026
    # Both panels and the n they rest on: 390 acute and 292 chronic courses judged.
    titles = [annotation["text"] for annotation in improved["layout"]["annotations"]]
    assert titles == ["Acute (n = 390 courses judged)", "Chronic (n = 292 courses judged)"]
    limits = [trace for trace in improved["data"] if trace.get("name") == "Limits (3 sigma)"]
    assert len(limits) == 4  # upper and lower in each panel
    assert {"Drop-out rate", "New courses"} <= {figure["layout"]["title"]["text"].split(" (")[0] for figure in figures(at)}
    table = at.dataframe[0].value
    assert len(table) == len(control) and set(table["measure"]) == set(metrics.CONTROL_MEASURES)


def test_a_month_outside_its_limits_is_marked_on_the_trend_page(clinic_db, monkeypatch, tmp_path):
    rows = []
    for month in (1, 2, 3):
        rows += courses(f"M{month}", "T1", 20, start=f"2025-0{month}-06")
    rows += courses("F", "T1", 20, pains=(8, 8, 8, 8, 8), start="2025-04-07")
    clinic_db(rows).close()
    monkeypatch.setenv("CLINIC_DB", str(tmp_path / "clinic0.duckdb"))
    at = signed_in(AppTest.from_file(TREND, default_timeout=120)).run()
    assert not at.exception
    chart = by_title(at, "Improved after the second session")
    outside = next(trace for trace in chart["data"] if trace.get("name") == "Outside the limits")
    assert len(outside["x"]) == 1 and str(outside["x"][0]).startswith("2025-04-01")
    assert "1 month outside the limits" in chart["layout"]["title"]["subtitle"]["text"]


def test_a_therapist_sees_the_trend_page_without_colleagues_small_months(app_db, sample_con):
    at = signed_in(AppTest.from_file(TREND, default_timeout=120), "therapist", "T01").run()
    assert not at.exception
    shown = at.dataframe[0].value
    viewer = metrics.monthly_control_charts(sample_con, Filter(viewer_therapist="T01"))
    assert len(shown) == len(viewer) <= len(metrics.monthly_control_charts(sample_con))
    assert "n = " in json.dumps(figures(at)[0]["layout"]["title"])
