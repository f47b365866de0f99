"""A therapist probing for a colleague's clients: every route issue #12 found open is tried, on
the server side (analytics.records, whatever a browser sends) and through the real pages."""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox

from analytics import config, db, metrics, options, records
from analytics.filters import Filter
from analytics.records import EpisodeEntry, RecordRefused, SessionEntry
from conftest import ROOT, signed_in, visit
from test_access import app, sign_in  # noqa: F401  (the fixture is used by name)
from ui import charts

PAGES = ROOT / "app_pages"
# E1: T1's client CE1. E2: T2's client CE2, whom T1 must never reach.
MINE = [visit("E1", 1, "2025-01-06", 7, 5, client_name="Ada Dale"), visit("E1", 2, "2025-01-13", 6, 4)]
THEIRS = [visit("E2", 1, "2025-02-03", 8, 6, therapist_id="T2", client_name="Ben Stone"),
          visit("E2", 2, "2025-02-10", 7, 5, therapist_id="T2")]


@pytest.fixture
def con(clinic_db):
    return clinic_db(MINE + THEIRS)


def first_visit() -> SessionEntry:
    return SessionEntry(session_date=dt.date(2025, 3, 3), pain_pre=6, pain_post=4)


def refused(call) -> dict[str, list[str]]:
    with pytest.raises(RecordRefused) as refusal:
        call()
    return refusal.value.problems


def test_a_colleagues_returning_client_gets_the_same_answer_as_an_unknown_id(con):
    before = db.table_checksums(con)
    theirs = refused(lambda: records.open_episode(
        con, EpisodeEntry("CE2", "heel_spur", "acute", "T1", is_new_client=False), first_visit(), viewer="T1"))
    unknown = refused(lambda: records.open_episode(
        con, EpisodeEntry("CE9", "heel_spur", "acute", "T1", is_new_client=False), first_visit(), viewer="T1"))
    # The same words but for the id typed: nothing tells the therapist that CE2 exists.
    assert theirs["client_id"][0].replace("CE2", "ID") == unknown["client_id"][0].replace("CE9", "ID")
    assert db.table_checksums(con) == before
    # Their own returning client is fine.
    episode = records.open_episode(con, EpisodeEntry("CE1", "bunion", "acute", "T1", is_new_client=False),
                                   first_visit(), viewer="T1")
    assert con.execute("SELECT client_id, therapist_id FROM episodes WHERE episode_id = ?", [episode]).fetchone() == ("CE1", "T1")


def test_a_new_client_of_a_therapist_gets_a_fresh_id_whatever_was_typed(con):
    # A rewritten form claims CE2 (a colleague's client) as a "new" client id: a fresh id is used.
    episode = records.open_episode(con, EpisodeEntry("CE2", "heel_spur", "acute", "T1", client_name="New Person"),
                                   first_visit(), viewer="T1")
    client_id = con.execute("SELECT client_id FROM episodes WHERE episode_id = ?", [episode]).fetchone()[0]
    assert client_id not in ("CE1", "CE2") and client_id.startswith("C")
    assert con.execute("SELECT count(*) FROM episodes WHERE client_id = 'CE2'").fetchone()[0] == 1


@pytest.mark.parametrize("therapist_id", ["T2", "T99"])
def test_a_therapist_opens_and_records_only_under_their_own_id(con, therapist_id):
    before = db.table_checksums(con)
    problems = refused(lambda: records.open_episode(
        con, EpisodeEntry("", "heel_spur", "acute", therapist_id, client_name="Cy"), first_visit(), viewer="T1"))
    assert "therapist_id" in problems
    problems = refused(lambda: records.record_session(
        con, "E1", SessionEntry(session_date=dt.date(2025, 1, 20), pain_pre=5, pain_post=4, therapist_id=therapist_id),
        viewer="T1"))
    assert "therapist_id" in problems
    assert db.table_checksums(con) == before


def test_a_rewritten_unknown_therapist_is_never_stored_even_for_a_manager(con):
    before = db.table_checksums(con)
    problems = refused(lambda: records.record_session(
        con, "E1", SessionEntry(session_date=dt.date(2025, 1, 20), pain_pre=5, pain_post=4, therapist_id="T99")))
    assert problems["therapist_id"] == ["no therapist T99 is stored"]
    assert db.table_checksums(con) == before


def test_a_colleagues_course_and_visits_are_not_stored_for_a_therapist(con):
    before = db.table_checksums(con)
    problems = refused(lambda: records.record_session(
        con, "E2", SessionEntry(session_date=dt.date(2025, 2, 17), pain_pre=5, pain_post=4), viewer="T1"))
    assert problems == {"episode_id": ["no course of care E2 is stored"]}
    their_session = con.execute("SELECT session_id FROM sessions WHERE episode_id = 'E2' AND visit_number = 1").fetchone()[0]
    problems = refused(lambda: records.correct_value(con, their_session, "pain_pre", "2", "typing error",
                                                     by="therapist1", viewer="T1"))
    assert problems == {"": [f"no stored visit has session id {their_session}"]}
    assert db.table_checksums(con) == before


def test_the_sidebar_offers_a_therapist_no_colleague_and_ignores_one_in_the_address(app):  # noqa: F811
    make, con = app
    at = sign_in(make(), "therapist1")
    at.query_params["therapist"] = "T02"
    at.switch_page("app_pages/courses.py").run()
    assert not at.exception
    assert "Therapist" not in [widget.label for widget in at.sidebar.multiselect]
    names = [row[0] for row in con.execute("SELECT name FROM therapists WHERE therapist_id <> 'T01'").fetchall()]
    shown = " ".join(str(element.value) for kind in ("markdown", "caption", "warning", "info")
                     for element in at.sidebar.get(kind))
    assert not any(name and name in shown for name in names)
    # The page is the clinic's, not T02's: the same figures as with no address parameter.
    assert at.query_params.get("therapist") in (None, [])


def test_the_record_page_offers_a_therapist_only_themselves(app):  # noqa: F811
    make, con = app
    at = sign_in(make(), "therapist1")
    at.switch_page("app_pages/record_session.py").run()
    assert not at.exception
    own_name = con.execute("SELECT name FROM therapists WHERE therapist_id = 'T01'").fetchone()[0]
    therapist_boxes = [box for box in at.selectbox if box.label == records.FIELD_LABELS["therapist_id"]]
    assert therapist_boxes and all(box.options == [own_name] for box in therapist_boxes)


# --- Small-cell suppression: the clinic-wide pages as therapist1 (T01) sees them ------------------

CLINIC_PAGES = ("overview", "courses", "conditions", "therapists", "home_program")
ONE_DAY = {"from": "2024-12-07", "to": "2024-12-07"}  # one course of T02's began that day, and one of T01's
NARROW = [
    ONE_DAY,
    {"condition": "heel_spur", "from": "2024-11-01", "to": "2024-11-30"},
    {"course": "chronic", "from": "2024-11-01", "to": "2024-12-31"},
    {"condition": "pronation"},  # wide enough: 17 of T02's and T03's courses of each type
    {"from": "2024-11-01", "to": "2025-05-31"},  # seven months: some conditions shown, some hidden
]
WHERE = {"from": "start_date >= ?", "to": "start_date <= ?", "condition": "condition = ?", "course": "course_type = ?"}


def open_page(at, page: str, address: dict[str, str]):
    for param in ("from", "to", "condition", "course", "section"):
        at.query_params.pop(param, None)
    for param, value in address.items():
        at.query_params[param] = value
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def everything_on(at) -> str:
    """All a person can read or download on the page: text, tiles, tables (the CSVs are made from
    the same frames) and the data inside every chart."""
    texts = [str(element.value) for kind in ("title", "header", "subheader", "markdown", "caption", "info",
                                             "warning", "success") for element in at.get(kind)]
    texts += [f"{tile.label} {tile.value}" for tile in at.metric]
    texts += [table.value.to_csv() for table in at.dataframe]
    texts += [chart.proto.spec for chart in at.get("plotly_chart")]
    return "\n".join(texts)


def whole_months(address: dict[str, str]) -> dict[str, str]:
    """The address's dates as a therapist's filter counts them: whole calendar months."""
    rounded = Filter(start=dt.date.fromisoformat(address["from"]) if "from" in address else None,
                     end=dt.date.fromisoformat(address["to"]) if "to" in address else None).in_whole_months()
    return {**address, **({"from": rounded.start.isoformat()} if rounded.start else {}),
            **({"to": rounded.end.isoformat()} if rounded.end else {})}


def others_by(con, address: dict[str, str], column: str) -> dict[str, tuple[int, int]]:
    """Independently of the metrics: per value of `column`, (courses not T01's, all courses),
    with the dates counted in whole months, as for T01."""
    address = whole_months(address)
    clauses = [WHERE[param] for param in address] or ["TRUE"]
    rows = con.execute(f"SELECT {column}, count(*) FILTER (WHERE therapist_id <> 'T01'), count(*) FROM episode_facts "
                       f"WHERE {' AND '.join(clauses)} GROUP BY 1", list(address.values())).fetchall()
    return {value: (others, total) for value, others, total in rows}


def test_a_one_day_filter_counts_the_whole_month_for_a_therapist(app):  # noqa: F811
    """The one-day filter the issue found (one course of T02's that day, shown visit by visit):
    a therapist's dates count whole months, so the day is December 2024, and the figures are the
    month's, the same as for 1-31 December: no two filters a few days apart differ."""
    make, con = app
    theirs = con.execute("SELECT e.episode_id, e.client_id, c.display_name FROM episode_facts e "
                         "JOIN clients c USING (client_id) WHERE e.start_date = ? AND e.therapist_id <> 'T01'",
                         [ONE_DAY["from"]]).fetchall()
    assert len(theirs) == 1  # the course the issue found: n = 1, with every session's pain
    episode, client, name = theirs[0]
    at = sign_in(make(), "therapist1")
    month = {"from": "2024-12-01", "to": "2024-12-31"}
    assert whole_months(ONE_DAY) == month
    for page in CLINIC_PAGES:
        shown = everything_on(open_page(at, page, ONE_DAY))
        assert any("Dates count whole months for a therapist: courses starting from 1 Dec 2024 up to 31 Dec 2024"
                   in caption.value for caption in at.sidebar.caption), page
        assert client not in shown and episode not in shown and name not in shown, page
        day = ([tile.value for tile in at.metric], [table.value for table in at.dataframe],
               [chart.proto.spec for chart in at.get("plotly_chart")])
        open_page(at, page, {"from": "2024-12-06", "to": "2024-12-08"})
        assert _frames_equal(at, day), page  # 6-8 December: the same month, the same figures
    # What a row shows rests on none or at least 10 colleagues' courses of the month.
    open_page(at, "courses", ONE_DAY)
    counts = others_by(con, ONE_DAY, "course_type")
    outcomes = next((table.value for table in at.dataframe if {"course_type", "episodes"} <= set(table.value.columns)),
                    None)
    if outcomes is None:
        assert any("fewer than 10 other therapists' courses" in notice.value for notice in at.info)
    else:
        for course, episodes in zip(outcomes["course_type"], outcomes["episodes"]):
            assert counts[course][1] == episodes and counts[course][0] in (0, *range(10, 10_000))


def _frames_equal(at, day) -> bool:
    tiles, tables, specs = day
    return ([tile.value for tile in at.metric] == tiles and [chart.proto.spec for chart in at.get("plotly_chart")] == specs
            and len(tables) == len(at.dataframe) and all(a.equals(b.value) for a, b in zip(tables, at.dataframe)))


@pytest.mark.parametrize("address", NARROW, ids=lambda address: "&".join(f"{k}={v}" for k, v in address.items()))
def test_a_narrow_filter_leaves_no_table_row_on_fewer_than_ten_colleagues_courses(app, address):  # noqa: F811
    make, con = app
    # Courses: one row per course type; conditions: one per condition (with courses).
    # Tables show codes as words (acute as Acute): the counts are keyed by the words shown.
    # (Courses' table of course outcomes is its section "The figures".)
    for page, column, shown_as, section in (("courses", "course_type", charts.label, {"section": "The figures"}),
                                            ("conditions", "condition", charts.label, {"section": "Both pooled"})):
        at = sign_in(make(), "therapist1")  # a browser session of its own: a section is kept per session
        open_page(at, page, address | section)
        counts = {shown_as(value): others_total for value, others_total in others_by(con, address, column).items()}
        # (Conditions also shows acute and chronic side by side, without a courses column: the
        # pooled table with its courses is the one checked here; both are suppressed alike.)
        # (Courses also shows the drop-outs by reason, several rows per course type, suppressed per row.)
        tables = [table.value for table in at.dataframe
                  if {column, "episodes"} <= set(table.value.columns) and table.value[column].is_unique]
        if not tables:
            assert any("fewer than 10 other therapists' courses" in n.value for n in at.info), page
            assert any(0 < others < 10 for others, _ in counts.values()), page
            continue
        shown = tables[0][tables[0]["episodes"] > 0]
        shown = dict(zip(shown[column], shown["episodes"]))
        # Each row shown rests on none or at least 10 of T02's and T03's courses, with the right count.
        assert shown and all(counts[value][1] == episodes and counts[value][0] in (0, *range(10, 10_000))
                             for value, episodes in shown.items()), page
        # Where the selection's total is shown (on the overview), the rows left out rest together
        # on none or at least 10, so the total minus the rows shown gives no small row away.
        hidden_others = sum(others for value, (others, _) in counts.items() if value not in shown)
        if sum(others for others, _ in counts.values()) >= 10:
            assert hidden_others == 0 or hidden_others >= 10, page
        # Every table on the page has its CSV download, made from the rows shown.
        assert len(at.get("download_button")) == len(at.dataframe)
    # Therapists: a colleague's row is shown only on ten or more finished courses, and never named
    # (in every section of the page).
    colleagues = [n for (n,) in con.execute("SELECT name FROM therapists WHERE therapist_id <> 'T01'").fetchall()]
    at = sign_in(make(), "therapist1")
    for part in ("Compared with expected", "Funnel plot", "The figures"):
        open_page(at, "therapists", address | {"section": part})
        shown = everything_on(at)
        assert not any(name in shown for name in colleagues)
        for table in at.dataframe:
            if "therapist_name" in table.value.columns:
                rows = table.value[table.value["therapist_name"].str.startswith("Therapist ")]
                assert (rows["episodes"].eq(0) | rows["episodes"].ge(10)).all()


def test_a_manager_still_sees_the_one_day_course(app):  # noqa: F811
    make, con = app
    at = sign_in(make(), "manager")
    open_page(at, "courses", ONE_DAY)
    assert at.get("plotly_chart") and not any("other therapists' courses" in n.value for n in at.info)
    open_page(at, "courses", ONE_DAY | {"section": "The figures"})
    outcomes = next(table.value for table in at.dataframe if "median_sessions" in table.value.columns)
    assert outcomes["episodes"].tolist() == [2]


def test_the_data_quality_page_lists_a_therapists_own_courses_only(app):  # noqa: F811
    make, con = app
    at = sign_in(make(), "therapist1")
    open_page(at, "data_quality", {})
    listed = {episode for table in at.dataframe if "episode_id" in table.value.columns
              for episode in table.value["episode_id"]}
    own = {episode for (episode,) in con.execute("SELECT episode_id FROM episodes WHERE therapist_id = 'T01'").fetchall()}
    assert listed and listed <= own


def test_unfiltered_a_therapist_gets_the_charts_without_the_late_visits_few_colleagues_reached(app):  # noqa: F811
    make, con = app
    manager = sign_in(make(), "manager")
    open_page(manager, "courses", {})
    at = sign_in(make(), "therapist1")
    open_page(at, "courses", {})
    charts = [chart.key for chart in at.get("plotly_chart")]
    assert charts and charts == [chart.key for chart in manager.get("plotly_chart")]  # every chart
    notices = [n.value for n in at.info if "not shown here" in n.value]
    assert notices and all("fewer than 10 other therapists' courses" in n for n in notices)
    # Visit 14 of a chronic course: reached by 7 courses in all, so at most 7 of T02's and T03's.
    late = con.execute("SELECT count(*) FILTER (WHERE e.therapist_id <> 'T01') FROM session_facts s "
                       "JOIN episode_facts e USING (episode_id) WHERE e.course_type = 'chronic' AND s.visit_number = 14"
                       ).fetchone()[0]
    assert 0 < late < 10
    assert last_chronic_visit_drawn(at) < 14
    manager = open_page(sign_in(make(), "manager"), "courses", {})
    assert last_chronic_visit_drawn(manager) == 14


def last_chronic_visit_drawn(at) -> int:
    """The highest visit number of the chronic lines on the Courses page's pain-by-visit chart."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    xs = [trace["x"] for trace in spec["data"] if str(trace.get("name", "")).startswith("Chronic")]
    decoded = [np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]) if isinstance(x, dict) else np.asarray(x)
               for x in xs]
    return int(max(values.max() for values in decoded))


# --- What a therapist downloads: the CSV bytes and the Overview PDF, under each narrow filter -------

@pytest.fixture
def downloads_offered(monkeypatch):
    """Every download button a page run offers, by file name: the callable Streamlit would run on
    the click (ui/tables.py audited_download), kept so the test can make the very bytes a
    browser would get. (AppTest's stand-in runtime forgets them after the run.)"""
    offered: dict[str, Callable[[], bytes]] = {}
    register = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **named):
        offered[file_name] = data_callable
        return register(self, data_callable, mimetype, coordinates, file_name, **named)
    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return offered


def colleagues_identifiers(con) -> set[str]:
    """What would single out a client of T02's or T03's: their names, client ids and course ids."""
    rows = con.execute("SELECT c.display_name, c.client_id, e.episode_id FROM episodes e JOIN clients c USING (client_id) "
                       "WHERE e.therapist_id <> 'T01' AND c.client_id NOT IN "
                       "(SELECT client_id FROM episodes WHERE therapist_id = 'T01')").fetchall()
    return {value for row in rows for value in row if value}


@pytest.mark.parametrize("address", NARROW, ids=lambda address: "&".join(f"{k}={v}" for k, v in address.items()))
def test_the_csv_and_pdf_bytes_a_therapist_gets_hold_no_colleagues_client(app, downloads_offered, address):  # noqa: F811
    make, con = app
    theirs = colleagues_identifiers(con)
    assert len(theirs) > 100
    at = sign_in(make(), "therapist1")
    got_csv = got_pdf = 0
    for page in CLINIC_PAGES:
        downloads_offered.clear()
        open_page(at, page, address)
        for file_name, make_file in downloads_offered.items():
            data = make_file()
            if file_name.endswith(".pdf"):
                got_pdf += 1
                text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
                assert not [value for value in theirs if value in text], (page, file_name)
                # Each condition's figure rests on none or at least 10 colleagues' courses of
                # its course type; where one was left out, the page says "not shown", not "no courses".
                counts = others_by(con, address, "condition || '/' || course_type")
                for condition in config.CONDITIONS:
                    label = condition.replace("_", " ").capitalize()
                    line = next(line for line in text.splitlines() if line.startswith(label + " "))
                    cells = re.findall(r"\d+% \(\d+%-\d+%, \d+\)|no courses|not shown|n/a", line[len(label):])
                    assert len(cells) == len(config.COURSE_TYPES), line
                    for course, cell in zip(config.COURSE_TYPES, cells):
                        others, total = counts.get(f"{condition}/{course}", (0, 0))
                        if cell[0].isdigit():
                            assert others == 0 or others >= 10, line
                        elif cell == "no courses":
                            assert total == 0 or not 0 < others < 10, line
                if any(0 < others < 10 for others, _ in counts.values()):
                    assert "not shown" in text and "fewer than 10 other therapists' courses" in " ".join(text.split())
                continue
            got_csv += 1
            csv_text = data.decode("utf-8-sig")
            assert not [value for value in theirs if value in csv_text], (page, file_name)
            rows = pd.read_csv(io.StringIO(csv_text))
            # The CSV is one of the page's tables, row for row, so what test_a_narrow_filter_...
            # proves of the tables holds for the bytes too; and where it has a course count by
            # course type or condition, each row rests on none or at least 10 colleagues' courses.
            assert any(len(table.value) == len(rows) and list(table.value.columns) == list(rows.columns)
                       for table in at.dataframe), (page, file_name)
            for column in ("course_type", "condition"):
                if {column, "episodes"} <= set(rows.columns) and rows[column].is_unique:
                    counts = others_by(con, address, column)
                    counts |= {charts.label(value): others_total for value, others_total in counts.items()}
                    for value, episodes in zip(rows[column], rows["episodes"]):
                        if episodes > 0:
                            assert counts[value][0] in (0, *range(10, 10_000)) and counts[value][1] == episodes
    assert got_csv or any("fewer than 10 other therapists' courses" in n.value for n in at.info)
    if got_pdf:
        assert got_pdf == 1  # the Overview's


# --- Forms with rewritten values, through the page -------------------------------------------------

def test_a_colleagues_ids_written_into_the_record_pages_widgets_are_refused(app, monkeypatch):  # noqa: F811
    """What a proxy rewriting the page's messages can send: the therapist box set to a colleague
    (a value the box never offered), a colleague's client typed as a returning client. The page's
    callbacks pass them on and the server refuses them; nothing is stored."""
    make, con = app
    own = con.execute("SELECT min(episode_id) FROM episodes WHERE therapist_id = 'T01'").fetchone()[0]
    colleagues_client = con.execute("SELECT min(client_id) FROM episodes WHERE therapist_id = 'T02' AND client_id NOT IN "
                                    "(SELECT client_id FROM episodes WHERE therapist_id = 'T01')").fetchone()[0]
    at = sign_in(make(), "therapist1")
    open_page(at, "record_session", {"episode": own})
    prefix = f"session:{own}:{records.next_visit(con, own)['visit_number']}:"
    before = db.table_checksums(con)
    at.number_input(key=prefix + "pain_pre").set_value(5)
    at.number_input(key=prefix + "pain_post").set_value(4)
    # The browser sends a select box's choice as the option's text: the rewritten message names
    # the colleague, whom the box (offering the therapist only themselves) never listed.
    colleague = con.execute("SELECT name FROM therapists WHERE therapist_id = 'T02'").fetchone()[0]
    box = at.selectbox(key=prefix + "therapist_id")
    assert box.options == [con.execute("SELECT name FROM therapists WHERE therapist_id = 'T01'").fetchone()[0]]
    honest = vars(Selectbox)["_widget_state"]  # the property, as the page would send it

    def rewritten(widget) -> WidgetState:
        state = honest.__get__(widget)
        if widget.key == box.key:
            state.string_value = colleague
        return state
    monkeypatch.setattr(Selectbox, "_widget_state", property(rewritten))
    next(button for button in at.button if button.label == "Save session").click().run()
    assert not at.exception, [e.value for e in at.exception]
    monkeypatch.undo()
    assert not at.success and [error.value for error in at.error] == ["you can record sessions only under your own name"]
    assert db.table_checksums(con) == before

    at.radio(key="episode_kind").set_value("Returning client").run()
    at.text_input(key="episode:client_id").set_value(colleagues_client)
    at.number_input(key="episode:first:pain_pre").set_value(6)
    at.number_input(key="episode:first:pain_post").set_value(5)
    next(button for button in at.button if button.label == "Open the course of care").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.success and any(colleagues_client in error.value for error in at.error), [e.value for e in at.error]
    assert db.table_checksums(con) == before
    assert con.execute("SELECT count(*) FROM episodes WHERE client_id = ? AND therapist_id = 'T01'",
                       [colleagues_client]).fetchone()[0] == 0


# --- The clinic filter: never one colleague's results, and through the same suppression -----------

def two_clinics() -> list[dict]:
    """Clinic 'pair': the viewer T1 and one colleague T2 with 12 courses (enough for any figure, so
    only the clinic filter's own rule can keep them from being T2's results). Clinic 'trio': T1,
    T2 and T3, with 3 courses each of T2 and T3 (fewer than 10 others: suppressed)."""
    rows = []
    for number in range(12):
        rows += [visit(f"P{number}", 1, "2025-01-06", 7, 5, therapist_id="T2", clinic_id="pair"),
                 visit(f"P{number}", 2, "2025-01-13", 5, 3, therapist_id="T2", clinic_id="pair")]
    rows += [visit("PMINE", 1, "2025-01-06", 6, 5, clinic_id="pair")]
    for therapist in ("T1", "T2", "T3"):
        for number in range(3):
            rows += [visit(f"Q{therapist}{number}", 1, "2025-02-03", 8, 6, therapist_id=therapist, clinic_id="trio"),
                     visit(f"Q{therapist}{number}", 2, "2025-02-10", 6, 4, therapist_id=therapist, clinic_id="trio")]
    return rows


def test_a_therapist_cannot_filter_to_a_clinic_of_one_colleague_and_a_clinic_goes_through_suppression(
        clinic_db, tmp_path, monkeypatch):
    con = clinic_db(two_clinics())
    choices = options.filter_options(con)
    assert set(choices.clinics_for(None)) == {"pair", "trio"}  # a manager: every clinic
    assert set(choices.clinics_for("T1")) == {"trio"}           # 'pair' would be T2's own results
    assert set(choices.clinics_for("T3")) == {"pair", "trio"}  # 'pair' has two of T3's colleagues, T1 and T2
    # The clinic a therapist may choose is filtered through small-cell suppression like any filter.
    trio = Filter(clinics=("trio",), viewer_therapist="T1")
    outcomes = metrics.course_outcomes(con, trio)
    assert outcomes.empty and outcomes.attrs["suppressed"] > 0
    assert not metrics.course_outcomes(con, Filter(clinics=("trio",))).empty  # a manager sees it

    monkeypatch.setenv("CLINIC_DB", str(tmp_path / "clinic0.duckdb"))
    at = signed_in(AppTest.from_file(str(PAGES / "courses.py"), default_timeout=120), "therapist", "T1")
    at.query_params["clinic"] = "pair"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    clinic_box = at.sidebar.multiselect(key="filter_clinic")
    assert clinic_box.value == [] and "pair" not in clinic_box.options and len(clinic_box.options) == 1
    assert any("Ignored clinic=`pair`" in warning.value and "at least 2 colleagues" in warning.value
               for warning in at.sidebar.warning)
    manager = signed_in(AppTest.from_file(str(PAGES / "courses.py"), default_timeout=120), "manager")
    manager.query_params["clinic"] = "pair"
    manager.run()
    assert manager.sidebar.multiselect(key="filter_clinic").value == ["pair"]


@pytest.mark.parametrize("start, end, months", [
    ("2024-12-07", "2024-12-07", ("2024-12-01", "2024-12-31")),
    ("2024-02-29", "2024-02-29", ("2024-02-01", "2024-02-29")),  # a leap year's February
    ("2025-01-31", "2025-03-01", ("2025-01-01", "2025-03-31")),
    ("2025-12-01", "2025-12-31", ("2025-12-01", "2025-12-31")),  # already whole months
])
def test_a_therapists_dates_count_whole_months(start, end, months):
    f = Filter(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end), viewer_therapist="T01")
    rounded = f.in_whole_months()
    assert (rounded.start.isoformat(), rounded.end.isoformat()) == months
    assert Filter().in_whole_months() == Filter() and rounded.viewer_therapist == "T01"
