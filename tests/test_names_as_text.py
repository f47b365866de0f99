"""Hostile names are text everywhere: HTML, Markdown links, spreadsheet formulas, 5,000
characters, right-to-left overrides and newlines, stored as therapist names, client names and
correction reasons (older data: today's importer refuses the last three), shown literally on
every page (AppTest), in every chart's figure, in the CSV downloads and in the PDF report."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from analytics import audit, client, export, metrics, records, report
from analytics import text as stored_text
from analytics.filters import Filter
from conftest import signed_in, visit
from test_pages_manager import PAGE_SECTIONS
from ui import filters
from ui import text as shown_text

PAGES = Path(__file__).resolve().parent.parent / "app_pages"
HOSTILE = {
    "html": '<a href="https://evil.example">x</a> <b>bold</b><br>next',
    "link": "[x](http://evil.example) www.evil.example :red[red] $x$",
    "formula": "=cmd|' /C calc'!A1",
    "long": ("Wolfeschlegelsteinhausen " * 200)[:5000],
    "rtl": "Ann \u202eeel\u202c Lee",
    "newline": "Ann\nEvil Lee",
}
KINDS = list(HOSTILE)
# Pieces that must never reach a renderer as they are.
RAW = ("<a href", "<b>", "<br>", "[x](", "](http", "www.evil", ":red[", "$x$", "=cmd|", "\u202e", "\u202c",
       "Ann\nEvil", HOSTILE["long"][:200])
MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success")


def hostile_visits() -> list[dict]:
    """Per hostile text: a therapist and a client of that name, an acute course of four visits
    (8, 6, 5, 4: a clear change at visit 2) and a chronic one of two, so every page has data."""
    rows = []
    for number, kind in enumerate(KINDS, start=1):
        names = {"therapist_id": f"T{number}", "therapist_name": HOSTILE[kind], "client_id": f"C{number}",
                 "client_name": HOSTILE[kind]}
        for visit_number, pain in enumerate((8, 6, 5, 4), start=1):
            rows.append(visit(f"A{number}", visit_number, f"2025-0{visit_number}-0{number}", pain, pain - 1,
                              stretching_adherence_pct=50, **names))
        for visit_number, pain in enumerate((7, 7), start=1):
            rows.append(visit(f"B{number}", visit_number, f"2025-0{visit_number}-1{number}", pain, pain,
                              course_type="chronic", condition="heel_spur", **names))
    return rows


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory):
    """A clinic whose therapists, clients and correction reasons all carry hostile text."""
    from analytics import db
    from conftest import store_visits

    path = tmp_path_factory.mktemp("hostile") / "clinic.duckdb"
    con = db.connect(path)
    store_visits(con, hostile_visits())
    for number, kind in enumerate(KINDS, start=1):
        session_id = int(records.stored_visits(con, f"A{number}")["session_id"].iloc[0])
        records.correct_value(con, session_id, "pain_post", "6", HOSTILE[kind], by="manager")
    con.close()
    return path


@pytest.fixture
def app(hostile_db, monkeypatch):
    monkeypatch.setenv("CLINIC_DB", str(hostile_db))
    return hostile_db


def run(page: str, role: str = "manager", therapist_id: str | None = None, **params) -> AppTest:
    at = signed_in(AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=120), role, therapist_id)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_bodies(at: AppTest) -> list[str]:
    """Every string the page hands to Streamlit's Markdown: elements and widget labels."""
    bodies = [str(element.value) for kind in MARKDOWN_KINDS for element in at.get(kind)]
    widgets = ("text_input", "text_area", "selectbox", "multiselect", "number_input", "date_input", "button",
               "toggle", "radio", "checkbox")
    bodies += [widget.label for kind in widgets for widget in at.get(kind)]
    bodies += [expander.label for expander in at.expander]
    return bodies


def option_labels(at: AppTest) -> list[str]:
    return [str(option) for kind in ("selectbox", "multiselect") for box in at.get(kind) for option in box.options]


def figure_strings(spec, key: str = "") -> list[str]:
    """Every string of a figure's JSON except our own hover and text templates."""
    if key in shown_text.TEMPLATES:
        return []
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, dict):
        return [s for name, value in spec.items() if name != "template" for s in figure_strings(value, name)]
    if isinstance(spec, list):
        return [s for value in spec for s in figure_strings(value)]
    return []


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def table_cells(at: AppTest) -> list[str]:
    return [value for table in at.dataframe for value in np.asarray(table.value, dtype=object).ravel()
            if isinstance(value, str)]


def assert_plain_everywhere(at: AppTest) -> None:
    """No hostile piece reaches Markdown, a chart, a picker or a table as it is."""
    for body in markdown_bodies(at):
        unescaped = re.sub(r"\\.", "", body)  # what Markdown would still read as markup
        for piece in RAW:
            assert piece not in unescaped, (piece, body[:200])
    for spec in figures(at):
        for string in figure_strings(spec):
            assert "<" not in string and ">" not in string and "\n" not in string, string[:200]
            assert "\u202e" not in string and len(string) <= 300, string[:200]
    for option in option_labels(at):
        assert "\n" not in option and "\u202e" not in option and HOSTILE["long"][:100] not in option, option[:200]
    for cell in table_cells(at):
        assert "\n" not in cell and "\u202e" not in cell, cell[:200]


# ---------------------------------------------------------------------------------------------
# The functions


@pytest.mark.parametrize("raw, one_line", [
    ("Ann \u202eeel\u202c Lee", "Ann eel Lee"),          # the override and its end are dropped
    ("Ann\nEvil Lee", "Ann Evil Lee"),                    # a newline is a space
    ("  Ann\t\r\n Lee\u2028x\u200b ", "Ann Lee x"),       # controls and separators; zero-width dropped
    ("Zoë Ødegård", "Zoë Ødegård"),
    ("Zoe\u0308", "Zoë"),                                 # composed (NFC)
])
def test_one_line_drops_what_reorders_or_breaks_a_line(raw, one_line):
    assert stored_text.one_line(raw) == one_line


def test_visible_keeps_the_line_breaks_of_a_note_when_asked():
    assert stored_text.visible("1. Calf\n2. \u202eToes", keep_newlines=True) == "1. Calf\n2. Toes"


@pytest.mark.parametrize("raw, limit, label", [
    ("Thea Grove", 40, "Thea Grove"),
    ("x" * 41, 40, "x" * 39 + "…"),
    ("Ann  Lee " + "y" * 50, 12, "Ann Lee yyy…"),
])
def test_label_shortens_with_an_ellipsis(raw, limit, label):
    assert stored_text.label(raw, limit) == label
    assert len(stored_text.label(raw, limit)) <= limit


@pytest.mark.parametrize("raw, markdown", [
    ("[x](http://evil.example)", r"\[x\]\(http\://evil\.example\)"),
    ('<a href="x">', r"\<a href\=\"x\"\>"),
    (":red[x] :material/home: $x$", r"\:red\[x\] \:material/home\: \$x\$"),
    ("www.evil.example a@b.example", r"www\.evil\.example a\@b\.example"),
    ("Ann\n# Lee", r"Ann \# Lee"),
])
def test_markdown_escapes_every_sign_markdown_reads(raw, markdown):
    assert shown_text.markdown(raw) == markdown


@pytest.mark.parametrize("raw, plotly", [
    ('<a href="https://x">x</a>', '&lt;a href="https://x"&gt;x&lt;/a&gt;'),
    ("<b>B</b> &amp; <br>", "&lt;b&gt;B&lt;/b&gt; &amp;amp; &lt;br&gt;"),
    ("Ann\n\u202eLee", "Ann Lee"),
])
def test_plotly_text_is_entities_plotly_decodes_back_to_the_letters(raw, plotly):
    assert shown_text.plotly(raw) == plotly


def test_an_inert_figure_keeps_its_templates_numbers_and_colours():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[1, 2], y=["<b>A</b>", "B\nC"], customdata=np.array([[3, "<i>"], [4, "&"]], dtype=object),
                               marker={"color": "#E69F00"}, hovertemplate="%{y}<br>%{customdata[1]}<extra></extra>"))
    fig.update_layout(title={"text": "n = 2 <courses>"})
    inert = shown_text.inert_figure(fig)
    trace = inert.data[0]
    assert list(trace.y) == ["&lt;b&gt;A&lt;/b&gt;", "B C"]
    assert trace.customdata.tolist() == [[3, "&lt;i&gt;"], [4, "&amp;"]]
    assert trace.hovertemplate == "%{y}<br>%{customdata[1]}<extra></extra>"
    assert list(trace.x) == [1, 2] and trace.marker.color == "#E69F00"
    assert inert.layout.title.text == "n = 2 &lt;courses&gt;"


def test_describe_gives_the_filter_in_address_form_ids_only():
    f = Filter(start=dt.date(2024, 12, 7), end=dt.date(2024, 12, 31), therapists=("T02",), course_types=("acute",),
               viewer_therapist="T05")
    assert filters.describe(f) == "from=2024-12-07&to=2024-12-31&therapist=T02&course=acute"
    assert filters.describe(Filter()) == "no filter"
    # The rule is written as the address writes it: not when it is the default.
    assert filters.describe(f.replace(rule="percent-30")).endswith("&course=acute&rule=percent-30")
    assert filters.describe(Filter(rule="points-and-percent")) == "no filter"


# ---------------------------------------------------------------------------------------------
# The pages


@pytest.mark.parametrize("page", ["overview", "courses", "conditions", "therapists", "home_program", "trend", "data_quality"])
def test_every_clinic_page_shows_hostile_names_as_text(app, page):
    # A page in sections runs one at a time: every section is checked.
    for section in PAGE_SECTIONS.get(page, [None]):
        assert_plain_everywhere(run(page, **({"section": section} if section else {})))


def test_the_therapists_chart_shows_each_name_escaped_and_shortened(app):
    at = run("therapists")
    shown = [s for spec in figures(at) for s in figure_strings(spec)]
    for kind, name in HOSTILE.items():
        assert shown_text.plotly(stored_text.label(name, shown_text.LABEL_CHARS)) in shown, kind
    assert '&lt;a href="https://evil.example"&gt;x&lt;/a&gt; &lt;b…' in shown  # 40 characters, then escaped
    long_label = shown_text.plotly(stored_text.label(HOSTILE["long"], shown_text.HOVER_CHARS))
    assert long_label in shown and len(long_label) == shown_text.HOVER_CHARS  # the hover: longer, still cut
    # The sidebar lists the therapists one line each, shortened.
    therapists = at.multiselect(key="filter_therapist")
    assert stored_text.label(HOSTILE["long"], shown_text.LABEL_CHARS) in therapists.options
    assert "Ann eel Lee" in therapists.options and "Ann Evil Lee" in therapists.options


@pytest.mark.parametrize("kind", KINDS)
def test_client_progress_heading_shows_the_name_escaped(app, kind):
    at = run("client_progress", episode=f"A{KINDS.index(kind) + 1}")
    assert_plain_everywhere(at)
    heading = at.subheader[0].value
    name = shown_text.markdown(HOSTILE[kind], shown_text.HEADING_CHARS)
    assert heading.startswith(name + " · ")
    if kind == "long":
        assert len(stored_text.label(HOSTILE[kind], shown_text.HEADING_CHARS)) == shown_text.HEADING_CHARS
        assert heading.split(" · ")[0].endswith("…")
    # The picker (plain text, not Markdown) names the client on one line, shortened.
    assert any(option.startswith(stored_text.label(HOSTILE[kind], shown_text.LABEL_CHARS) + " (C")
               for option in option_labels(at))
    client_view = run("client_progress", episode=f"A{KINDS.index(kind) + 1}", client_view="1")
    assert client_view.title[0].value == f"{name}: your progress"
    assert_plain_everywhere(client_view)


@pytest.mark.parametrize("kind", KINDS)
def test_a_therapist_sees_their_hostile_client_as_text(app, kind):
    number = KINDS.index(kind) + 1
    assert_plain_everywhere(run("client_progress", "therapist", f"T{number}", episode=f"A{number}"))
    assert_plain_everywhere(run("therapists", "therapist", f"T{number}"))


@pytest.mark.parametrize("kind", KINDS)
def test_record_session_shows_names_and_correction_reasons_as_text(app, kind):
    at = run("record_session", episode=f"A{KINDS.index(kind) + 1}")
    assert_plain_everywhere(at)
    (history,) = [table.value for table in at.dataframe]  # the corrections of this course
    assert list(history["reason"]) == [stored_text.one_line(HOSTILE[kind].strip())]
    assert list(history["field"]) == ["Pain after the session"]


def test_the_audit_log_and_its_table_stay_text(app):
    assert_plain_everywhere(run("audit_log"))


# ---------------------------------------------------------------------------------------------
# CSV and PDF


def read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_every_csv_escapes_hostile_names_and_reasons(hostile_db):
    from analytics import db

    con = db.connect(hostile_db)  # as the app opens it: DuckDB shares one instance per configuration
    try:
        comparison = metrics.therapist_outcome(con, Filter()).therapists
        rows = read_back(export.csv_bytes(comparison[["therapist_name", "episodes"]]))
        names = {row[0] for row in rows[1:]}
        assert "'" + HOSTILE["formula"] in names and HOSTILE["formula"] not in names
        assert HOSTILE["html"] in names and HOSTILE["long"] in names  # text as stored, whole, in its cell
        assert HOSTILE["newline"] in names  # quoted: one cell, not two rows
        assert len(rows) == len(KINDS) + 1
        history = records.correction_history(con, "A3")
        assert read_back(export.csv_bytes(history))[1][-1] == "'" + HOSTILE["formula"]
        events = read_back(export.csv_bytes(audit.entries(con)))
        assert all(not cell.startswith(("=", "+", "@")) for row in events for cell in row)
    finally:
        con.close()


def test_a_download_is_audited_in_the_call_that_makes_the_file(app):
    def script():
        import streamlit as st

        from analytics import audit
        from ui import guard, tables

        before = len(audit.entries(guard.database(), actions=("export",)))
        produce = tables.audited_download(lambda: b"the file", "export", "table", "t: Page (no filter)")
        st.session_state["not_yet"] = len(audit.entries(guard.database(), actions=("export",))) - before
        st.session_state["made"] = produce()
        st.session_state["after"] = audit.entries(guard.database(), actions=("export",)).head(1).to_dict("records")

    at = signed_in(AppTest.from_function(script, default_timeout=60), "manager", username="boss")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["not_yet"] == 0  # building the button writes nothing
    assert at.session_state["made"] == b"the file"
    event = at.session_state["after"][0]
    assert (event["username"], event["target_type"], event["target_id"]) == ("boss", "table", "t: Page (no filter)")


def pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize("font", ["auto", None], ids=["unicode font", "core font"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_report_for_a_hostile_name_is_one_page_of_plain_text(hostile_db, kind, font):
    from analytics import db

    con = db.connect(hostile_db)  # as the app opens it: DuckDB shares one instance per configuration
    try:
        view = client.episode_view(con, f"A{KINDS.index(kind) + 1}", Filter())
    finally:
        con.close()
    assert view is not None
    notes = f"1. Calf stretch\n2. {HOSTILE[kind]}"
    data = report.progress_report_pdf(report.report_content(view, notes, dt.date(2025, 5, 1)), font_path=font)
    pages, text = pdf_text(data)
    assert pages == 1 and len(re.findall(rb"/Type /Page\b(?!s)", data)) == 1
    assert "\u202e" not in text
    expected = stored_text.label(HOSTILE[kind], report.MAX_NAME_CHARS)
    title = " ".join(text.split("\n")[:2]).replace("...", "…")  # the title wraps onto a second line
    assert title.startswith("Your progress: ") and expected[:30] in title
    if kind == "html":
        assert '<a href="https://evil.example">x</a>' in text  # drawn as the letters, not a link
        assert b"/URI" not in data
    assert "1. Calf stretch" in text


def test_a_name_of_wide_letters_keeps_the_title_to_two_lines():
    progress = pd.DataFrame({"visit_number": [1, 2], "session_date": pd.to_datetime(["2025-01-06", "2025-01-13"]),
                             "pain_pre": [8.0, 6.0], "pain_post": [6.0, 5.0]})
    content = report.ReportContent(
        client_name="W" * 5000, course_type="acute", episode_line="Acute plantar fasciitis, 2 sessions (course E1)",
        summary="Your pain before sessions went from 8 to 6.", notes=report.default_notes("plantar_fasciitis"),
        progress=progress, typical=progress.iloc[0:0], recommended=(3, 5), improved_at_visit=None,
        peers="based on 40 courses", generated_on=dt.date(2025, 1, 27))
    pages, text = pdf_text(report.progress_report_pdf(content))
    lines = text.split("\n")
    # "Your progress:" alone, as the name is one long word; then one line of it, cut.
    assert pages == 1 and lines[0] == "Your progress:" and lines[1].startswith("WWWW") and lines[1].endswith("…")
    assert lines[2] == "Acute plantar fasciitis, 2 sessions (course E1)"
    assert "Your home stretching plan" in text


# ---------------------------------------------------------------------------------------------
# The pages added since: Follow-ups due, the check-in page, Import; and the Overview PDF


@pytest.fixture
def hostile_copy(hostile_db, tmp_path, monkeypatch):
    """A private copy of the hostile clinic (these tests write links and plans), opened as the
    pages open it."""
    from analytics import checkins
    from ui import guard

    path = tmp_path / "clinic.duckdb"
    shutil.copy(hostile_db, path)
    monkeypatch.setenv("CLINIC_DB", str(path))
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()
    guard.clear_metric_cache()
    yield guard.open_connection(str(path))
    guard.close_connection(str(path))
    guard.clear_metric_cache()
    checkins.INVALID_TOKEN_THROTTLE.clear()
    checkins.SUBMISSION_THROTTLE.clear()


def code_blocks(at: AppTest) -> list[str]:
    return [str(block.value) for block in at.code]


def test_followups_due_lists_hostile_names_as_text(hostile_copy, monkeypatch):
    from analytics import config

    # The acute courses' last visits are 1-6 April 2025: their 4-week follow-ups are open on the 29th.
    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 4, 29))
    at = run("followups_due")
    assert_plain_everywhere(at)
    next(button for button in at.button if button.key == "make_missing_links").click().run()  # the links' expanders
    assert not at.exception, [e.value for e in at.exception]
    assert_plain_everywhere(at)
    listed = at.dataframe[0].value
    assert {stored_text.one_line(HOSTILE[kind].strip()) for kind in KINDS if kind != "long"} <= set(listed["client_name"])
    labels = [expander.label for expander in at.expander]
    assert len(labels) >= len(KINDS)
    assert any(label.startswith(shown_text.markdown(HOSTILE["html"], shown_text.LABEL_CHARS) + " · ") for label in labels)


@pytest.mark.parametrize("kind", KINDS)
def test_the_checkin_page_greets_a_hostile_name_and_shows_a_hostile_plan_as_text(hostile_copy, kind, monkeypatch):
    from analytics import checkins, config

    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 4, 29))  # the link is live 4 weeks after the last visit
    con, episode = hostile_copy, f"A{KINDS.index(kind) + 1}"
    # The plan holds the hostile text where a plan may (a plan is shown whole, so not the long
    # one; the override character it refuses).
    try:
        records.save_plan(con, episode, "1. Calf stretch" + ("" if kind == "long" else f"\n2. {HOSTILE[kind]}"),
                          by="manager")
    except records.RecordRefused:
        assert kind == "rtl"
        records.save_plan(con, episode, "1. Calf stretch", by="manager")
    token = checkins.make_link(con, episode, by="manager")
    at = AppTest.from_file(str(PAGES.parent / "dashboard.py"), default_timeout=120)
    at.query_params["checkin"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert_plain_everywhere(at)
    shown = "\n".join(markdown_bodies(at))
    assert "Calf stretch" in shown  # the plan is on the page, as text
    if kind == "html":
        assert "\\<a" in shown or "&lt;a" in shown  # the greeting's first name, escaped


def test_import_messages_quote_hostile_cells_as_text(hostile_copy):
    header = "client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post,client_name"
    rows = [f'N{number},NE{number},"{HOSTILE[kind].replace(chr(34), chr(34) * 2)}",acute,1,2026-11-02,'
            f'"{HOSTILE[kind].replace(chr(34), chr(34) * 2)}",8,6,"{HOSTILE[kind].replace(chr(34), chr(34) * 2)}"'
            for number, kind in enumerate(KINDS, start=1)]
    at = run("import_data")
    before = db_checksums(hostile_copy)
    at.file_uploader(key="import_files").upload("hostile.csv", "\n".join([header, *rows]).encode(), "text/csv").run()
    next(button for button in at.button if button.label == "Import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert_plain_everywhere(at)
    assert [error.value for error in at.error][0].startswith("Nothing was imported")
    messages = "\n".join(code_blocks(at))
    # Each hostile cell is quoted in its message: the markup as letters (st.code is no Markdown),
    # the override and the line break as escapes.
    assert "hostile.csv:2:condition: '<a href=" in messages and "hostile.csv:4:condition: \"=cmd|" in messages
    assert "'Ann \\u202eeel\\u202c Lee'" in messages and "'Ann\\nEvil Lee'" in messages
    # A quoted cell is one line of visible characters, shortened: no override, no line of its own.
    for line in messages.splitlines():
        assert "\u202e" not in line and "\u202c" not in line and HOSTILE["long"][:300] not in line
        assert line.startswith("hostile.csv"), line[:200]
    assert db_checksums(hostile_copy) == before


def db_checksums(con) -> dict:
    from analytics import db

    return db.table_checksums(con)


@pytest.mark.parametrize("font", ["auto", None], ids=["unicode font", "core font"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_overview_pdf_of_a_hostile_clinic_is_one_page_of_plain_text(hostile_db, kind, font):
    from analytics import db, overview_report

    con = db.connect(hostile_db)
    try:
        f = Filter()
        kpis, conditions = metrics.kpis(con, f), metrics.condition_by_course(con, f)
    finally:
        con.close()
    # The clinic's name and the filter's words are the PDF's only free text: both hostile here.
    content = overview_report.OverviewContent(kpis.reset_index(), conditions, HOSTILE[kind], HOSTILE[kind],
                                              dt.date(2025, 5, 1), clinic_name=HOSTILE[kind])
    data = overview_report.overview_pdf(content, font_path=font)
    pages, text = pdf_text(data)
    assert pages == 1 and len(re.findall(rb"/Type /Page\b(?!s)", data)) == 1
    assert "\u202e" not in text and b"/URI" not in data
    assert HOSTILE["long"][:1000] not in text  # shortened
    if kind == "html":
        assert '<a href="https://evil.example">x</a>' in text  # the letters, not a link
