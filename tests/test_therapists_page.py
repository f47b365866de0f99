"""The therapists page at chain scale and under AppTest: a chain of 1,000 therapists sharing 59
names keeps both figures' heights bounded and never merges two therapists of one name (on made-up
figures, and end to end on a generated chain's database through the page); the page judges on
the clinic's promise by default, offers the other measures, and finds a therapist by id or name."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import auth, metrics
from ui import charts
from ui import signin as _signin

DASHBOARD = str(Path(__file__).resolve().parent.parent / "dashboard.py")
CHAIN = 1000


def chain_result() -> metrics.TherapistOutcome:
    """A made-up chain of 1,000 therapists whose names repeat (59 of them), 20-400 courses each;
    every 50th therapist is far above expectation."""
    rng = np.random.default_rng(7)
    episodes = rng.integers(20, 400, CHAIN)
    difference = rng.normal(0, 0.02, CHAIN)
    difference[::50] = 0.3
    half = 1.959964 * 0.5 / np.sqrt(episodes)
    z = difference / (0.5 / np.sqrt(episodes))
    position = np.select([z > 3.090232, z > 1.959964, z < -3.090232, z < -1.959964],
                         [metrics.FUNNEL_POSITIONS[0], metrics.FUNNEL_POSITIONS[1], metrics.FUNNEL_POSITIONS[4],
                          metrics.FUNNEL_POSITIONS[3]], "inside the limits")
    rows = pd.DataFrame({
        "therapist_id": [f"T{number:04d}" for number in range(CHAIN)],
        "therapist_name": [f"Kai Alder {number % 59}" for number in range(CHAIN)], "is_viewer": False,
        "episodes": episodes, "observed": 0.5 + difference, "expected": 0.5, "difference": difference,
        "ci_low": difference - half, "ci_high": difference + half, "z": z, "funnel_position": position,
        "judgement": np.where(difference - half > 0, "better than expected", "as expected"), "model": "logistic"})
    order = rows["funnel_position"].map(metrics.therapists.OUTSIDE_FIRST).fillna(2)
    rows = rows.assign(order=order).sort_values(["order", "therapist_name", "therapist_id"]).drop(columns="order")
    counts = np.arange(1, episodes.max() + 1)
    spread = 0.5 / np.sqrt(counts)
    limits = pd.DataFrame({"episodes": counts, "lower_95": -1.96 * spread, "upper_95": 1.96 * spread,
                           "lower_998": -3.09 * spread, "upper_998": 3.09 * spread})
    return metrics.TherapistOutcome(rows.reset_index(drop=True), limits)


def test_a_chain_of_1000_therapists_keeps_the_figures_bounded_and_never_merges_names():
    result = chain_result()
    intervals = charts.therapist_adjusted(result.therapists)
    # At most MAX_THERAPIST_ROWS rows, one position and one tick per therapist; a name shown twice
    # carries the id ("Kai Alder 0 (T0000)"), so no two therapists merge or look alike.
    ticks = intervals.layout.yaxis.ticktext
    assert len(ticks) == charts.MAX_THERAPIST_ROWS == len(set(ticks)) == len(set(intervals.data[0].y))
    with_id = [tick for tick in ticks if tick.endswith(")")]
    assert "Kai Alder 0 (T0000)" in with_id
    assert all(sum(other.startswith(tick.split(" (")[0] + " (") for other in with_id) >= 2 for tick in with_id)
    assert intervals.layout.height <= charts.MAX_THERAPIST_ROWS * charts.THERAPIST_ROW_PX + 170 < 1000
    # The rows shown are those outside the limits first: all 20 far-above therapists are listed.
    far_above = set(result.therapists.loc[result.therapists["funnel_position"] != "inside the limits", "therapist_id"])
    assert far_above <= {hover[5] for hover in intervals.data[0].customdata}
    assert "30 of 1,000 therapists" in intervals.layout.title.subtitle.text
    # The funnel has every therapist as its own point, at a fixed height, and names only those outside.
    funnel = charts.outcome_funnel(result)
    points = funnel.data[-1]
    assert len(points.x) == CHAIN and funnel.layout.height == charts.FUNNEL_HEIGHT_PX
    assert len({hover[2] for hover in points.customdata}) == CHAIN  # each hover names its own id
    assert sum(bool(label) for label in points.text) == len(far_above)
    assert len(json.dumps(funnel.to_plotly_json(), default=str)) < 2_000_000


def test_funnel_names_wrap_and_turn_inwards_so_a_phone_shows_them_whole():
    # Issue #15: at 390 px "Thea Grovesnor" ran off the right edge. Two short lines, turned inwards.
    lines, templates, sides = charts.point_labels(["Thea Grovesnor-Lind", "You", "", "Bartholomew-Fitzgerald"],
                                                  [90, 50, 30, 5], column=3)
    assert lines.tolist() == [["Thea", "Grovesnor-Lind"], ["You", ""], ["", ""], ["Bartholomew-Fi", "tzgerald"]]
    assert templates == ["%{customdata[3]}<br>%{customdata[4]}", "%{customdata[3]}", "",
                         "%{customdata[3]}<br>%{customdata[4]}"]  # no space: cut at 14 and carried on
    assert sides == ["top left", "top center", "top center", "top right"]
    # On the chart the names are data (escaped like every name), the line break the template's.
    result = chain_result()
    result.therapists.loc[0, "therapist_name"] = "<b>Rosa</b> Lindqvist-Haraldsdottir"
    points = charts.outcome_funnel(result).data[-1]
    named = [(row, template) for row, template in zip(points.customdata, points.texttemplate) if template]
    assert named and all(len(html.unescape(line)) <= charts.POINT_LABEL_CHARS for row, _ in named for line in row[3:5])
    assert any(row[3].startswith("&lt;b&gt;") for row, _ in named)
    assert set(points.textposition) <= {"top left", "top center", "top right"}


def test_a_therapist_in_a_chain_always_sees_their_own_row():
    rows = chain_result().therapists
    rows["is_viewer"] = rows["therapist_id"] == "T0999"  # inside the limits, far down the list
    assert rows.index[rows["is_viewer"]][0] > charts.MAX_THERAPIST_ROWS
    intervals = charts.therapist_adjusted(rows)
    assert len(intervals.layout.yaxis.ticktext) == charts.MAX_THERAPIST_ROWS
    assert "T0999" in {hover[5] for hover in intervals.data[0].customdata}
    assert charts.VIEWER in list(intervals.data[0].marker.color)


def run_therapists_page(section: str | None = None) -> AppTest:
    """The page as a manager sees it, with `section` open (ui.sections; None: the first)."""
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.session_state[_signin.USER_KEY] = auth.User("manager", "manager", None)
    if section:
        at.query_params["section"] = section
    at.run()
    at.switch_page("app_pages/therapists.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_judges_on_the_promise_and_finds_a_therapist(app_db):
    funnel_title = json.loads(run_therapists_page("Funnel plot").get("plotly_chart")[0].proto.spec)["layout"]["title"]
    at = run_therapists_page("The figures")
    table = at.dataframe[0].value
    assert table["therapist_id"].tolist() == ["T03", "T01", "T02"]  # T03 and T01 outside the 95% limits
    assert table.set_index("therapist_id").loc["T01", "judgement"] == "better than expected"
    assert funnel_title["text"] == "Funnel plot"
    assert funnel_title["subtitle"]["text"].startswith("n = ")
    at.text_input(key="therapist_search").set_value("grove").run()
    assert at.dataframe[0].value["therapist_id"].tolist() == ["T01"]
    at.text_input(key="therapist_search").set_value("T02").run()
    assert at.dataframe[0].value["therapist_name"].tolist() == ["Rowan Kettle"]
    at.text_input(key="therapist_search").set_value("").run()
    for measure, heading in (("dropped_before_visit3", "observed"), ("visits_to_improvement", "observed_mean"),
                             ("sessions_used", "observed_mean"), ("sessions_within_range", "observed"),
                             ("improved_at_last_visit", "observed")):
        at.segmented_control(key="therapist_measure").set_value(measure).run()
        assert not at.exception
        shown = at.dataframe[0].value
        assert heading in shown.columns and len(shown) == 3


def chain_visit_log(path: Path) -> Path:
    """A generated chain of 1,000 therapists (59 names between them, as in chain_result), twelve
    finished acute courses of three weekly visits each (36,000 sessions), written in the import
    format. Improved at visit 3 (pain 8 -> 2) for 6 of 12, except every 100th therapist (T0000,
    T0100, ...) with 12 of 12 and T0050, T0150, ... with 0 of 12: twenty therapists far outside
    the limits."""
    rows = []
    for number in range(CHAIN):
        therapist = f"T{number:04d}"
        improved = 12 if number % 100 == 0 else 0 if number % 100 == 50 else 6
        for course in range(12):
            start = pd.Timestamp("2025-01-06") + pd.Timedelta(days=7 * (course + number % 20))
            for visit_number in (1, 2, 3):
                pain = 2 if visit_number == 3 and course < improved else 8
                rows.append({"client_id": f"C{number:04d}{course:02d}", "episode_id": f"E{number:04d}{course:02d}",
                             "condition": "plantar_fasciitis", "course_type": "acute", "visit_number": visit_number,
                             "session_date": (start + pd.Timedelta(weeks=visit_number - 1)).strftime("%Y-%m-%d"),
                             "therapist_id": therapist, "pain_pre": pain, "pain_post": max(pain - 1, 0),
                             "therapist_name": f"Kai Alder {number % 59}"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def chain_db(tmp_path_factory):
    from analytics import db, visit_log

    folder = tmp_path_factory.mktemp("chain1000")
    con = db.connect(folder / "clinic.duckdb")
    result = visit_log.import_files(con, [chain_visit_log(folder / "visits.csv")])
    assert (result.inserted, result.episodes) == (36_000, 12_000)  # problems would have raised
    con.close()
    return folder / "clinic.duckdb"


def test_the_page_stays_readable_for_a_chain_of_1000_therapists(chain_db, monkeypatch):
    monkeypatch.setenv("CLINIC_DB", str(chain_db))
    intervals, funnel = (json.loads(run_therapists_page(section).get("plotly_chart")[0].proto.spec)
                         for section in ("Compared with expected", "Funnel plot"))
    at = run_therapists_page("The figures")
    outside = {f"T{number:04d}" for number in range(0, CHAIN, 50)}
    # The intervals chart: at most MAX_THERAPIST_ROWS rows, those outside the limits first, each a
    # row of its own (a repeated name carries its id), and a bounded height.
    ticks = intervals["layout"]["yaxis"]["ticktext"]
    assert len(ticks) == len(set(ticks)) == charts.MAX_THERAPIST_ROWS
    names = [tick.split(" (")[0] for tick in ticks]  # 59 names for 1,000: a name shown twice carries the id
    repeated = [tick for tick, name in zip(ticks, names) if names.count(name) > 1]
    assert repeated and all(tick.endswith(")") for tick in repeated)
    assert intervals["layout"]["height"] < 1000
    assert outside <= {hover[5] for hover in intervals["data"][0]["customdata"]}  # all twenty are listed
    assert "30 of 1,000 therapists" in intervals["layout"]["title"]["subtitle"]["text"]
    # The funnel: one point per therapist id at a fixed height, only those outside it named.
    points = funnel["data"][-1]
    assert len(points["customdata"]) == CHAIN and len({hover[2] for hover in points["customdata"]}) == CHAIN
    assert funnel["layout"]["height"] == charts.FUNNEL_HEIGHT_PX
    assert sum(bool(label) for label in points["text"]) == len(outside)
    # The table: the first 500 in view (the download has everyone), the twenty outside the limits
    # first; anyone found by id or by name.
    table = at.dataframe[0].value
    assert len(table) == 500 and set(table["therapist_id"].head(len(outside))) == outside
    assert any("Showing the first 500 of 1,000 rows; the download has them all." in c.value for c in at.caption)
    assert table["funnel_position"].head(len(outside)).ne("inside the limits").all()
    assert table["funnel_position"].iloc[len(outside):].eq("inside the limits").all()
    at.text_input(key="therapist_search").set_value("T0500").run()
    assert at.dataframe[0].value["therapist_id"].tolist() == ["T0500"]
    at.text_input(key="therapist_search").set_value("kai alder 58").run()
    found = at.dataframe[0].value
    assert sorted(found["therapist_id"]) == [f"T{number:04d}" for number in range(58, CHAIN, 59)]
