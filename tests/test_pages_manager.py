"""The manager pages in-process (AppTest): every page with the default and with filtered views,
the figures the analytics give for the sample clinic, filters kept in the address, and charts
that say their n and stay small."""
from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import audit, auth, db, metrics
from analytics.filters import Filter
from conftest import signed_in
from ui import charts as _charts
from ui import signin as _signin
from ui import tables

DASHBOARD = str(Path(__file__).resolve().parent.parent / "dashboard.py")
PAGES = ("overview", "courses", "conditions", "therapists", "home_program", "trend", "data_quality")
CHARTS_PER_PAGE = {"overview": 1, "courses": 6, "conditions": 1, "therapists": 2, "home_program": 3, "trend": 3,
                   "data_quality": 1}
# Pages shown one section at a time (ui.sections: a tab held in the address as ?section=), each
# section with the charts it draws; only the open one runs.
PAGE_SECTIONS = {
    "courses": {"Pain by visit": 1, "Time to improvement": 1, "Length and ending": 2, "Relief and function": 2,
                "The figures": 0},
    "therapists": {"Compared with expected": 1, "Funnel plot": 1, "The figures": 0},
    "conditions": {"Within acute and chronic": 0, "Both pooled": 0, "Pain by visit": 1},
}

# Address parameters -> the Filter the sidebar must build from them.
VIEWS: dict[str, tuple[dict, Filter]] = {
    "default": ({}, Filter()),
    "acute plantar fasciitis in 2025": (
        {"course": "acute", "condition": "plantar_fasciitis", "from": "2025-01-01", "to": "2025-12-31"},
        Filter(start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), course_types=("acute",),
               conditions=("plantar_fasciitis",))),
    "chronic, severe or moderate": (
        {"course": "chronic", "severity": ["severe", "moderate"]},
        Filter(course_types=("chronic",), severities=("severe", "moderate"))),
    "one therapist, one clinic": ({"therapist": "T02", "clinic": "main"}, Filter(therapists=("T02",), clinics=("main",))),
}
NOTHING = {"from": "2030-01-01"}  # the sample clinic's calendar ends in October 2026


@pytest.fixture
def sample_con(app_db):
    """The app's own database, opened the way the app opens it (same process, same settings)."""
    con = db.connect(app_db)
    yield con
    con.close()


def run_page(page: str, params: dict | None = None) -> AppTest:
    """The dashboard as a signed-in manager, the address set to `params`, showing `page`."""
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.session_state[_signin.USER_KEY] = auth.User("manager", "manager", None)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_sections(page: str, params: dict | None = None) -> list[AppTest]:
    """The page as run_page() shows it; a page in sections once per section (each draws only its own)."""
    if page not in PAGE_SECTIONS:
        return [run_page(page, params)]
    return [run_page(page, {**(params or {}), "section": section}) for section in PAGE_SECTIONS[page]]


def metric_values(at: AppTest) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for tile in at.metric:
        values.setdefault(tile.label, []).append(tile.value)
    return values


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _length(values) -> int:
    """Points in one plotly array, plain or in plotly's typed-array form ({dtype, bdata[, shape]})."""
    if isinstance(values, dict) and "bdata" in values:
        if "shape" in values:
            return int(np.prod([int(n) for n in str(values["shape"]).split(",")]))
        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def _charts_numbers(values) -> np.ndarray:
    """One plotly array as numbers, plain or in plotly's typed-array form."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).astype(float)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def points(figure: dict) -> int:
    return sum(_length(trace.get("x", trace.get("y", []))) for trace in figure["data"])


def axis_titles(figure: dict) -> set[str]:
    return {axis.get("title", {}).get("text") for key, axis in figure["layout"].items()
            if key.startswith(("xaxis", "yaxis")) and axis.get("title", {}).get("text")}


def expected_filter_values(f: Filter, sample_con) -> dict[str, str]:
    headline = metrics.headline(sample_con, f)
    return {"Clients": f"{headline['clients']:,}", "Courses of care": f"{headline['episodes']:,}",
            "Sessions": f"{headline['sessions']:,}"}


# --- every page, every view ---------------------------------------------------------------------

@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_draws_small_charts_that_say_their_n_and_offers_downloads(app_db, page, view):
    params, _ = VIEWS[view]
    runs = run_sections(page, params)
    charts = [figure for at in runs for figure in figures(at)]
    assert len(charts) == CHARTS_PER_PAGE[page]
    for figure in charts:
        assert "n = " in json.dumps(figure["layout"].get("title", {})) + json.dumps(figure["layout"].get("annotations", []))
        assert points(figure) <= _charts.MAX_POINTS
        assert axis_titles(figure), "every chart names its axes"
    for at in runs:
        # Every table offers its CSV (the Overview also offers itself as a PDF, which is not a table).
        assert len([b for b in at.get("download_button") if b.label.endswith("(CSV)")]) == len(at.dataframe)
    if page != "overview":
        assert sum(len(at.dataframe) for at in runs) >= 1


@pytest.mark.parametrize("page", PAGES)
def test_a_filter_that_leaves_no_data_shows_a_friendly_note(app_db, page):
    at = run_page(page, NOTHING)
    assert any("match these filters" in note.value for note in at.info)
    assert not at.get("plotly_chart") and not at.error


# --- the overview's figures -----------------------------------------------------------------------

@pytest.mark.parametrize("view", list(VIEWS))
def test_overview_shows_the_headline_figures_of_the_filter(app_db, sample_con, view):
    params, f = VIEWS[view]
    at = run_page("overview", params)
    shown = metric_values(at)
    for label, value in expected_filter_values(f, sample_con).items():
        assert shown[label] == [value]
    tiles = metrics.kpis(sample_con, f).set_index("metric")["value"]
    improved = [tiles[f"improved_after_session2_{course}"] for course in ("acute", "chronic")]
    assert shown["Improved after the second session"] == ["n/a" if v != v else f"{v:.0%}" for v in improved]
    assert shown["Completion rate"] == [f"{tiles['completion_rate']:.0%}"]
    assert any("sample clinic" in note.value for note in at.info)
    assert {"Visit number", "Pain before session (0-10)"} <= axis_titles(figures(at)[0])


def test_overview_numbers_for_the_sample_clinic(app_db):
    """Literal figures of sample_data/visits.csv, so a change in the sample or a metric shows here."""
    at = run_page("overview")
    shown = metric_values(at)
    assert shown["Clients"] == ["632"]
    assert shown["Courses of care"] == ["706"]
    assert shown["Sessions"] == ["3,998"]
    assert shown["Improved after the second session"] == ["77%", "31%"]  # acute, chronic
    assert shown["Median sessions"] == ["4", "9"]


def test_overview_compares_with_the_previous_period_only_when_a_date_range_is_set(app_db, sample_con):
    without = run_page("overview")
    assert all(not tile.delta for tile in without.metric)
    # The second half of 2025 against the first: hundreds of courses in each.
    params, f = {"from": "2025-07-01", "to": "2025-12-31"}, Filter(start=dt.date(2025, 7, 1), end=dt.date(2025, 12, 31))
    with_range = run_page("overview", params)
    before = metrics.headline(sample_con, f.previous_period())
    now = metrics.headline(sample_con, f)
    assert before["episodes"] >= 20
    deltas = {tile.label: tile.delta for tile in with_range.metric}
    assert deltas["Courses of care"] == f"{now['episodes'] - before['episodes']:+,}"
    assert deltas["Clients"] == f"{now['clients'] - before['clients']:+,}"
    # n for both periods under every tile.
    captions = [c.value for c in with_range.caption]
    assert f"of {now['episodes']:,} courses; period before: {before['episodes']:,} of {before['episodes']:,}" in captions


def test_overview_shows_no_change_against_a_period_of_fewer_than_20_courses(app_db, sample_con):
    # Acute plantar fasciitis in 2025 against 2024, when the sample clinic had just opened: 5 courses.
    params, f = VIEWS["acute plantar fasciitis in 2025"]
    at = run_page("overview", params)
    before = metrics.headline(sample_con, f.previous_period())
    assert 0 < before["episodes"] < 20
    assert all(not tile.delta for tile in at.metric)
    captions = " ".join(c.value for c in at.caption)
    assert "at least 20 courses" in captions
    assert f"period before: {before['episodes']} of {before['episodes']} (under 20: no change shown)" in captions


def test_overview_shows_all_who_started_beside_those_reaching_visit_3_and_the_immediate_rate(app_db, sample_con):
    at = run_page("overview")
    shown = metric_values(at)
    summary = metrics.headline(sample_con)["by_course"]
    # Issue 13's independent recomputation: acute 270 of 390 who started, 77% of those reaching visit 3.
    assert shown["Improved after the 2nd session (all who started)"] == [
        f"{summary[c]['responder_rate_after_session2_itt']:.0%}" for c in ("acute", "chronic")]
    assert shown["Improved after the 2nd session (all who started)"][0] == f"{270 / 390:.0%}"
    assert shown["Improved straight after session 2"] == [
        f"{summary[c]['responder_rate_after_session2_immediate']:.0%}" for c in ("acute", "chronic")]
    captions = [c.value for c in at.caption]
    assert "of 390 who started" in captions and f"of {summary['acute']['episodes_reaching_visit3']} reaching visit 3" in captions
    tiles = metrics.kpis(sample_con).set_index("metric")["value"]
    assert shown["Drop-out rate"] == [f"{tiles[m]:.0%}" for m in ("dropout_rate_acute", "dropout_rate_chronic", "dropout_rate")]
    helps = " ".join(tile.help or "" for tile in at.metric)
    assert "(the points-and-percent rule)" in helps


def test_the_improvement_rule_is_chosen_in_the_sidebar_and_kept_in_the_address(app_db, sample_con):
    at = run_page("overview")
    assert "rule" not in at.query_params  # the default is not written
    at.selectbox(key="filter_rule").set_value("points-or-percent").run()
    assert at.query_params["rule"] == "points-or-percent"
    either = metrics.headline(sample_con, Filter(rule="points-or-percent"))["by_course"]
    assert metric_values(at)["Improved after the second session"] == [
        f"{either[c]['responder_rate_after_session2']:.0%}" for c in ("acute", "chronic")]
    assert metric_values(at)["Improved after the second session"][1] == "48%"  # 47.6%, against 31% by default
    helps = " ".join(tile.help or "" for tile in at.metric)
    assert "at least 2 points or 30% below the first visit (the points-or-percent rule)" in helps
    # Kept across pages and by a bookmark.
    at.switch_page("app_pages/conditions.py").run()
    assert at.query_params["rule"] == "points-or-percent"
    assert "the points-or-percent rule" in " ".join(c.value for c in at.caption)
    bookmarked = run_page("courses", {"rule": "percent-50"})
    assert bookmarked.selectbox(key="filter_rule").value == "percent-50"
    # An unknown name is ignored with a warning listing the rules.
    wrong = run_page("overview", {"rule": "half"})
    assert any("points-and-percent, points-or-percent, percent-30, percent-50" in w.value for w in wrong.warning)
    assert metric_values(wrong)["Improved after the second session"] == ["77%", "31%"]


def test_overview_answers_does_treatment_work_in_plain_text(app_db):
    at = run_page("overview")
    answer = at.markdown[-1].value
    assert answer.startswith(("Yes", "For some", "Not clearly"))
    assert "after the second session" in answer and "comparison group" in answer
    assert "<" not in answer and ">" not in answer


def test_changing_a_filter_widget_changes_the_figures_and_the_address(app_db, sample_con):
    at = run_page("overview")
    everything = metric_values(at)["Courses of care"]
    at.multiselect(key="filter_course").set_value(["chronic"]).run()
    chronic = metrics.headline(sample_con, Filter(course_types=("chronic",)))
    assert metric_values(at)["Courses of care"] == [f"{chronic['episodes']:,}"] != everything
    assert at.query_params["course"] == "chronic"
    at.date_input(key="filter_from").set_value(dt.date(2025, 6, 1)).run()
    assert at.query_params["from"] == "2025-06-01"
    later = metrics.headline(sample_con, Filter(course_types=("chronic",), start=dt.date(2025, 6, 1)))
    assert metric_values(at)["Courses of care"] == [f"{later['episodes']:,}"]


# --- the filter in the address ---------------------------------------------------------------------

def test_the_address_sets_the_widgets_and_follows_them_across_pages(app_db):
    params, _ = VIEWS["acute plantar fasciitis in 2025"]
    at = run_page("courses", {**params, "section": "Time to improvement"})
    assert at.multiselect(key="filter_course").value == ["acute"]
    assert at.multiselect(key="filter_condition").value == ["plantar_fasciitis"]
    assert at.date_input(key="filter_from").value == dt.date(2025, 1, 1)
    assert {k: at.query_params[k] for k in params} == params  # still bookmarkable after navigating
    assert [tile.label for tile in at.metric][0].startswith("Acute")  # only acute courses shown


def test_a_new_address_overrides_the_widgets(app_db, sample_con):
    at = run_page("overview")
    at.query_params["course"] = "acute"
    at.run()
    acute = metrics.headline(sample_con, Filter(course_types=("acute",)))
    assert metric_values(at)["Courses of care"] == [f"{acute['episodes']:,}"]


@pytest.mark.parametrize("params, problem", [
    ({"condition": "gout"}, "condition"),
    ({"course": ["acute", "<script>alert(1)</script>"]}, "course"),
    ({"from": "2025-13-45"}, "from"),
    ({"from": "2025-12-31", "to": "2025-01-01"}, "start is after the end"),
    ({"therapist": "T99", "severity": "extreme"}, "therapist"),
])
def test_invalid_address_values_are_ignored_with_a_warning(app_db, sample_con, params, problem):
    at = run_page("overview", params)
    warnings = [w.value for w in at.warning]
    assert any(problem in w for w in warnings)
    assert not any("<script>" in w for w in warnings)
    valid = Filter(course_types=("acute",)) if params.get("course") else Filter()
    assert metric_values(at)["Courses of care"] == [f"{metrics.headline(sample_con, valid)['episodes']:,}"]


# --- the other pages' figures ---------------------------------------------------------------------------

def test_courses_page_shows_median_visits_to_improvement_and_course_outcomes(app_db, sample_con):
    at = run_page("courses", {"section": "Time to improvement"})
    medians = metrics.median_visits_to_improvement(sample_con).set_index("course_type")["median_visits"]
    shown = metric_values(at)
    for course in ("acute", "chronic"):
        assert shown[f"{course.capitalize()}: half improved by visit"] == [f"{medians[course]:.0f}"]
    reasons = run_page("courses", {"section": "Length and ending"}).dataframe[0].value  # drop-outs by reason
    table = run_page("courses", {"section": "The figures"}).dataframe[0].value
    outcomes = metrics.course_outcomes(sample_con)
    assert table["episodes"].tolist() == outcomes["episodes"].tolist()
    # The drop-outs table splits each course type's drop-outs: closed early by reason, and lost to follow-up.
    assert (reasons.groupby("course_type", sort=True)["episodes"].sum().tolist()
            == (outcomes["closed_early"] + outcomes["lost_to_follow_up"]).tolist())
    titles = [figure["layout"]["title"]["text"] for figure in figures(at)]
    assert any(title.startswith("Time to meaningful improvement") for title in titles)
    relief = run_page("courses", {"section": "Relief and function"})
    assert any(figure["layout"]["title"]["text"].startswith("Immediate relief") for figure in figures(relief))
    # The two survival panels stand one above the other: the caption says so.
    captions = " ".join(c.value for c in at.caption)
    assert "Above, Kaplan-Meier" in captions and "Below, all who started" in captions and "Left," not in captions


def test_conditions_page_sorts_table_and_small_multiples(app_db, sample_con):
    at = run_page("conditions", {"section": "Both pooled"})
    by_episodes = metrics.condition_comparison(sample_con).sort_values("episodes", ascending=False)
    assert at.dataframe[0].value["condition"].tolist() == [_charts.label(c) for c in by_episodes["condition"]]
    at.selectbox(key="conditions_sort").set_value("Median sessions").run()
    at.toggle(key="conditions_descending").set_value(False).run()
    values = at.dataframe[0].value["median_sessions"].tolist()
    assert values == sorted(values)
    first = at.dataframe[0].value["condition"].iloc[0]
    # The small multiples and the table by course type (the other sections) follow the same order.
    at.query_params["section"] = "Pain by visit"
    at.run()
    panels = [a["text"] for a in figures(at)[0]["layout"]["annotations"]]
    assert panels[0].startswith(first)
    within = run_page("conditions", {"section": "Within acute and chronic"})
    within.selectbox(key="conditions_sort").set_value("Median sessions").run()
    within.toggle(key="conditions_descending").set_value(False).run()
    assert within.dataframe[0].value["condition"].iloc[0] == first


def test_conditions_page_puts_acute_and_chronic_side_by_side_with_n_and_intervals(app_db, sample_con):
    at = run_page("conditions")
    wide = at.dataframe[0].value.set_index("condition")
    by_course = metrics.condition_by_course(sample_con).set_index(["course_type", "condition"])
    flat = by_course.loc[("acute", "flat_feet")]
    row = wide.loc[_charts.label("flat_feet")]
    assert row["Acute: started"] == flat["episodes_eligible_itt"]
    assert row["Acute: improved after session 2 (%)"] == pytest.approx(100 * flat["responder_rate_after_session2_itt"])
    assert row["Acute: 95% from"] == pytest.approx(100 * flat["itt_ci_low"])
    assert row["Acute: 95% to"] == pytest.approx(100 * flat["itt_ci_high"])
    # Numbers, shown as percentages, so a heading click sorts them as numbers (9% before 10%).
    intervals = [column for column in wide.columns if "95%" in column]
    assert len(intervals) == 8 and all(pd.api.types.is_float_dtype(wide[column]) for column in intervals)
    formats = json.loads(at.dataframe[0].proto.columns)
    assert all(formats[column]["type_config"]["format"] == "%.0f%%" for column in intervals)
    assert row["Chronic: started"] == by_course.loc[("chronic", "flat_feet"), "episodes_eligible_itt"]
    # The rates first, acute beside chronic (a phone shows the condition and two or three columns),
    # then their n and intervals.
    assert list(wide.columns[:6]) == [
        "Acute: improved after session 2 (%)", "Chronic: improved after session 2 (%)",
        "Acute: improved by the last visit (%)", "Chronic: improved by the last visit (%)",
        "Acute: started", "Acute: 95% from"]
    # The key column stays in view when the table scrolls sideways (1440 px shows only part of it).
    assert '"pinned":true' in at.dataframe[0].proto.columns.replace(" ", "")
    caption = " ".join(c.value for c in at.caption)
    assert "the points-and-percent rule" in caption and "95% Wilson interval" in caption


def test_therapists_page_shows_the_adjusted_comparison_not_a_league_table(app_db, sample_con):
    at = run_page("therapists", {"section": "The figures"})
    comparison = metrics.therapist_outcome(sample_con).therapists
    table = at.dataframe[0].value
    # Judged on the clinic's promise: those outside the funnel's 95% limits first, each group by
    # name, not ranked by the difference (T03 Sol Linden and T01 Thea Grove are outside).
    outside = table["funnel_position"] != "inside the limits"
    assert table["therapist_name"].tolist() == sorted(table.loc[outside, "therapist_name"]) + sorted(
        table.loc[~outside, "therapist_name"])
    assert sorted(table["therapist_name"]) == sorted(comparison["therapist_name"])
    assert "difference" in table.columns and "judgement" in table.columns
    # The older measure (the last visit of finished courses) is adjusted and ordered like the others:
    # the same figures as therapist_outcome's, with its funnel position.
    at.segmented_control(key="therapist_measure").set_value("improved_at_last_visit").run()
    last = metrics.therapist_outcome(sample_con, outcome="improved_at_last_visit").therapists
    shown = at.dataframe[0].value
    assert shown["therapist_id"].tolist() == last["therapist_id"].tolist()
    assert shown["funnel_position"].tolist() == last["funnel_position"].tolist()
    assert shown["expected"].tolist() == pytest.approx((last["expected"] * 100).tolist())  # shown as %
    assert any("adjusted" in note.value for note in at.info)
    at = run_page("therapists", {"section": "Funnel plot"})
    at.segmented_control(key="therapist_measure").set_value("improved_at_last_visit").run()
    funnel = next(figure for figure in figures(at) if figure["layout"]["title"]["text"].startswith("Funnel plot"))
    assert "Observed − expected" in json.dumps(funnel["layout"], ensure_ascii=False)


def test_therapists_page_shows_too_few_to_judge(app_db):
    at = run_page("therapists", {"from": "2026-10-01", "to": "2026-10-31"})
    chart = figures(at)[0]
    assert "too few to judge" in json.dumps(chart["data"])


def test_home_program_and_data_quality_pages_show_the_analytics_counts(app_db, sample_con):
    at = run_page("home_program")
    effect = metrics.home_program_effect(sample_con)
    assert at.dataframe[0].value["episodes"].sum() == effect["episodes"].sum() == metrics.headline(sample_con)["episodes"]
    at = run_page("data_quality")
    checks = metrics.data_quality(sample_con)
    assert metric_values(at)["Findings"] == [f"{checks['count'].sum():,}"]
    assert at.dataframe[0].value["count"].tolist() == checks["count"].tolist()
    if checks["count"].sum():
        first = checks.loc[checks["count"] > 0, "check"].iloc[0]
        details = metrics.data_quality_details(sample_con, check=first)
        assert len(at.dataframe[1].value) == min(2000, len(details))
        # From a finding to its fix: the first flagged course opens on Record a session.
        link = at.get("page_link")[0].proto
        assert link.page.endswith("record_session") and f"episode={details['episode_id'].iloc[0]}" in link.query_string


def test_tables_put_their_key_column_first_where_a_phone_shows_it(app_db, sample_con):
    """A phone (390 px) shows two or three columns of a table: the figure each table is for comes
    straight after the column naming the row, which stays pinned when the table scrolls sideways
    (the browser layout test checks the headers are drawn in view at 390 px)."""
    audit.record(sample_con, "manager", "sign_in", "user", "manager")

    def pinned(table) -> set[str]:
        config = json.loads(table.proto.columns)
        return {column for column, options in config.items() if options.get("pinned")}

    dq = run_page("data_quality").dataframe[0]
    assert list(dq.value.columns) == ["check", "count", "description"] and pinned(dq) == {"check"}
    log = run_page("audit_log").dataframe[0]
    assert list(log.value.columns)[:2] == ["logged_at", "what"]
    conditions = run_page("conditions")
    assert list(conditions.dataframe[0].value.columns)[:2] == ["condition", "Acute: improved after session 2 (%)"]
    pooled = run_page("conditions", {"section": "Both pooled"}).dataframe[0]
    assert list(pooled.value.columns)[:2] == ["condition", "responder_rate"]
    assert pinned(pooled) == {"condition"}
    reasons = run_page("courses", {"section": "Length and ending"}).dataframe[0]
    assert list(reasons.value.columns)[:3] == ["course_type", "discharge_reason", "episodes"]
    assert pinned(reasons) == {"course_type"}


def test_tables_show_course_types_and_a_missing_reason_in_words(app_db):
    reasons = run_page("courses", {"section": "Length and ending"}).dataframe[0].value
    assert set(reasons["course_type"]) == {"Acute", "Chronic"}
    lost = reasons[reasons["status"] == "Lost to follow-up"]
    assert len(lost) and set(lost["discharge_reason"]) == {"No reason given"}
    assert not reasons.isin(["None", None]).any().any()
    shown = tables.as_shown(pd.DataFrame({"course_type": ["acute", "chronic"], "severity": ["mild", None]}))
    assert shown["course_type"].tolist() == ["Acute", "Chronic"] and shown["severity"].tolist() == ["Mild", "—"]


# --- charts stay small whatever the data size --------------------------------------------------------

def test_charts_send_at_most_max_points_for_a_huge_clinic():
    therapists = pd.DataFrame({"therapist_id": [f"T{i}" for i in range(300)], "therapist_name": [f"T{i}" for i in range(300)],
                               "is_viewer": False, "episodes": np.arange(300) * 3000 + 10, "difference": 0.01,
                               "judgement": "as expected", "funnel_position": "inside the limits"})
    rows = 2_000_000
    limits = pd.DataFrame({"episodes": np.arange(1, rows + 1), "lower_95": -0.1, "upper_95": 0.1,
                           "lower_998": -0.2, "upper_998": 0.2})
    figure = _charts.outcome_funnel(metrics.TherapistOutcome(therapists, limits))
    assert _charts.point_count(figure) <= _charts.MAX_POINTS
    big = _charts.limit_points(_charts.go.Figure(_charts.go.Scatter(x=np.arange(50_000), y=np.arange(50_000))))
    assert _charts.point_count(big) <= _charts.MAX_POINTS


def test_acute_and_chronic_keep_their_colours_on_every_chart(app_db):
    for figure in [figure for at in run_sections("courses") for figure in figures(at)]:
        for trace in figure["data"]:
            name = trace.get("name", "")
            for course, colour in _charts.COURSE_COLOURS.items():
                if name.lower().startswith(course) and "95% CI" not in name:
                    used = trace.get("line", {}).get("color") or trace.get("marker", {}).get("color")
                    assert used == colour, (figure["layout"]["title"]["text"], name)


def test_a_download_is_named_after_the_page_the_filter_and_the_day_and_rounded_as_shown(app_db):
    from streamlit.testing.v1 import AppTest

    def script():
        import datetime as dt

        import streamlit as st

        from analytics.filters import Filter
        from ui import page

        page.remember("Acute and chronic courses", Filter(start=dt.date(2025, 1, 1), course_types=("acute",)))
        st.text(page.download_name("course-outcomes"))
        page.remember("Audit log", None)
        st.text(page.download_name("audit-log"))

    at = AppTest.from_function(script).run()
    today = dt.date.today().isoformat()
    assert [element.value for element in at.text] == [
        f"acute-and-chronic-courses_course-outcomes_from-2025-01-01_course-acute_{today}.csv",
        f"audit-log_{today}.csv"]
    frame = pd.DataFrame({"responder_rate": [0.8941176470588236], "mean_change_points": [2.3456], "episodes": [17]})
    rounded = tables.rounded_as_shown(frame)
    assert rounded.iloc[0].tolist() == [0.894, 2.3, 17]


def test_a_therapist_chooses_the_rule_too_and_sees_the_clinic_under_it(app_db, sample_con):
    at = signed_in(AppTest.from_file(DASHBOARD, default_timeout=120), "therapist", "T01")
    at.query_params["rule"] = "percent-50"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="filter_rule").value == "percent-50"
    half = metrics.kpis(sample_con, Filter(rule="percent-50", viewer_therapist="T01")).set_index("metric")
    shown = metric_values(at)["Improved after the 2nd session (all who started)"]
    assert shown == [f"{half.loc[f'improved_after_session2_itt_{c}', 'value']:.0%}" for c in ("acute", "chronic")]
    assert "(the percent-50 rule)" in " ".join(tile.help or "" for tile in at.metric)


@pytest.mark.parametrize("page", ["courses", "trend", "therapists", "overview", "home_program", "conditions"])
def test_every_caption_that_states_the_rule_names_the_chosen_one(app_db, page):
    # On Courses the rule is stated where time to improvement is.
    at = run_page(page, {"rule": "percent-50"} | ({"section": "Time to improvement"} if page == "courses" else {}))
    words = " ".join([c.value for c in at.caption] + [tile.help or "" for tile in at.metric])
    assert "at least 50% below the first visit" in words and "the percent-50 rule" in words
    assert "2 points and 30%" not in words
    # Visible text, not only the (?) tooltips: the captions alone name the rule.
    visible = " ".join(c.value for c in at.caption)
    assert "at least 50% below the first visit" in visible and "the percent-50 rule" in visible


def test_overview_names_the_rule_above_each_course_types_tiles(app_db):
    at = run_page("overview")
    named = [c.value for c in at.caption if "(the points-and-percent rule)" in c.value]
    assert len(named) == 2  # one for acute, one for chronic, under each subheader


def test_home_program_shows_all_who_started_beside_those_reaching_visit_3_each_with_n(app_db, sample_con):
    at = run_page("home_program")
    effect = metrics.home_program_effect(sample_con)
    titles = [figure["layout"]["title"]["text"] for figure in figures(at)]
    assert any("all who started" in title for title in titles)
    assert any("courses reaching visit 3" in title for title in titles)
    charts = {title: figure for title, figure in zip(titles, figures(at))}
    itt = next(figure for title, figure in charts.items() if "all who started" in title)
    acute = effect[effect["course_type"] == "acute"]
    bar = next(trace for trace in itt["data"] if trace["name"] == "Acute")
    assert list(_charts_numbers(bar["customdata"])) == acute["episodes_eligible_itt"].tolist()
    assert np.allclose(_charts_numbers(bar["y"]), acute["responder_rate_after_session2_itt"] * 100, equal_nan=True)
    shown = at.dataframe[0].value
    assert {"episodes_eligible_itt", "responder_rate_after_session2_itt",
            "episodes_reaching_visit3", "responder_rate_after_session2"} <= set(shown.columns)


def test_courses_page_leaves_running_courses_out_of_how_long_courses_last_and_says_so(app_db, sample_con):
    at = run_page("courses", {"section": "Length and ending"})
    outcomes = metrics.course_outcomes(sample_con)
    running, finished = int(outcomes["active"].sum()), int(outcomes["finished"].sum())
    assert running > 0  # the sample has courses still running, so leaving them out shows
    sessions = next(figure for figure in figures(at) if "Sessions attended" in figure["layout"]["title"]["text"])
    assert f"n = {finished:,} finished courses" in json.dumps(sessions["layout"])
    assert any(f"the {running:,} still running (active) are left out" in c.value for c in at.caption)


def test_data_quality_offers_the_first_flagged_courses_to_open_and_says_how_many_there_are(app_db, sample_con, monkeypatch):
    from ui import forms

    flagged = list(dict.fromkeys(metrics.data_quality_details(sample_con, check="missing_onset")["episode_id"]))
    assert len(flagged) > 2  # the sample has courses without an onset date
    monkeypatch.setattr(forms, "MAX_FLAGGED_CHOICES", 2)
    at = run_page("data_quality")
    at.selectbox(key="quality_check").set_value("missing_onset").run()
    assert at.selectbox(key="quality_open_missing_onset").options == flagged[:2]  # the table's first two
    assert any(f"The first 2 of {len(flagged):,} flagged courses" in c.value for c in at.caption)
