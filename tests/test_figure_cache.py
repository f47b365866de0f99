"""Built charts kept for their inputs (ui/figure_cache.py): the same figure again for equal
frames and settings, a new one for any change, never one built for other inputs; and
inert_figure sets again only what it changes."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from analytics import config
from conftest import signed_in
from ui import charts, figure_cache, guard
from ui import text as shown_text


@pytest.fixture(autouse=True)
def empty() -> Iterator[None]:
    figure_cache.clear()
    yield
    figure_cache.clear()


def outcomes(acute: int = 6) -> pd.DataFrame:
    """course_outcomes' columns that status_mix reads, for two course types."""
    rows = []
    for course, episodes in (("acute", acute), ("chronic", 4)):
        counts = {"completed": episodes - 2, "active": 1, "closed_early": 1, "lost_to_follow_up": 0}
        rows.append({"course_type": course, "episodes": episodes, **counts,
                     **{f"{status}_share": count / episodes for status, count in counts.items()}})
    return pd.DataFrame(rows)


def counting(built: list):
    @figure_cache.remembered
    def build(frame: pd.DataFrame, title: str = "t") -> go.Figure:
        built.append(title)
        return go.Figure(go.Bar(x=frame["course_type"], y=frame["episodes"]), layout={"title": {"text": title}})
    return build


def test_equal_inputs_get_the_same_figure_and_any_change_a_new_one(monkeypatch):
    built: list = []
    build = counting(built)
    first = build(outcomes(), title="a")
    assert build(outcomes(), title="a") is first and built == ["a"]  # an equal frame, a new object
    assert build(outcomes(acute=7), title="a") is not first  # another value
    assert build(outcomes(), title="b").layout.title.text == "b"  # another argument
    monkeypatch.setattr(config, "MIN_TRAJECTORY_COURSES", config.MIN_TRAJECTORY_COURSES + 1)
    assert build(outcomes(), title="a") is not first  # a changed setting
    assert built == ["a", "a", "b", "a"]
    figure_cache.clear()
    monkeypatch.undo()
    build(outcomes(), title="a")
    assert len(built) == 5 and figure_cache.kept() == 1


def test_a_frame_with_other_columns_or_dtypes_is_another_input():
    built: list = []
    build = counting(built)
    frame = outcomes()
    build(frame)
    build(frame.astype({"episodes": "float64"}))
    build(frame.rename(columns={"active": "running"}))
    assert len(built) == 3


def test_the_oldest_figures_go_first(monkeypatch):
    monkeypatch.setattr(figure_cache, "MAX_FIGURES", 3)
    built: list = []
    build = counting(built)
    for title in "abcd":
        build(outcomes(), title=title)
    assert figure_cache.kept() == 3
    build(outcomes(), title="b")  # still kept
    build(outcomes(), title="a")  # gone: built again
    assert built == ["a", "b", "c", "d", "a"]


def test_two_builders_never_share_a_figure():
    frame = outcomes()
    assert charts.status_mix(frame) is charts.status_mix(frame.copy())
    assert json.loads(charts.status_mix(frame).to_json()) != json.loads(charts.data_quality(pd.DataFrame(
        {"check": ["same_day_duplicate"], "count": [1], "description": ["x"]})).to_json())


def test_clearing_the_metric_cache_forgets_the_figures():
    charts.status_mix(outcomes())
    assert figure_cache.kept() == 1
    guard.clear_metric_cache()
    assert figure_cache.kept() == 0


def test_a_warm_page_run_builds_no_chart_again(app_db):
    """Home program (three charts) twice: the second run's charts are the figures the first
    built (none is added), and they draw the same JSON."""
    at = signed_in(AppTest.from_file("../dashboard.py", default_timeout=120), "manager")
    at.switch_page("app_pages/home_program.py").run()
    assert not at.exception
    kept = figure_cache.kept()
    first = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert kept == len(first) == 3
    at.run()
    assert figure_cache.kept() == kept
    assert [chart.proto.spec for chart in at.get("plotly_chart")] == first


def test_inert_figure_sets_again_only_what_changes():
    plain = {"x": [1, 2], "y": [3.0, 4.0], "name": "Acute", "marker": {"color": "#E69F00"}}
    assert shown_text.inert_changes(plain) == {}
    spec = {"name": "A <b>", "marker": {"color": "#E69F00", "colorbar": {"title": {"text": "n & m"}}},
            "hovertemplate": "<b>%{y}</b>", "text": ["ok", "<i>"]}
    assert shown_text.inert_changes(spec) == {"name": "A &lt;b&gt;", "marker": {"colorbar": {"title": {"text": "n &amp; m"}}},
                                         "text": ["ok", "&lt;i&gt;"]}
