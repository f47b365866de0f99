"""The therapist pages in-process (AppTest): a sample client's progress with the right numbers,
the address holding the selection, client view hiding everyone else, recording a session that
shows at once, refused entries that write nothing, and corrections with their history."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import bootstrap, db, metrics
from conftest import session_widget, signed_in

PAGES = Path(__file__).resolve().parent.parent / "app_pages"
PROGRESS, RECORD = str(PAGES / "client_progress.py"), str(PAGES / "record_session.py")


def run(page: str, **params) -> AppTest:
    at = signed_in(AppTest.from_file(page, default_timeout=120))
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Everything the page writes as text, one string."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success")
    shown = [str(element.value) for kind in kinds for element in at.get(kind)]
    shown += [str(option) for box in at.selectbox for option in box.options]
    return "\n".join(shown)


def figure(at: AppTest, key: str) -> dict:
    chart = next(chart for chart in at.get("plotly_chart") if chart.proto.id.endswith(key) or key in chart.proto.id)
    return json.loads(chart.proto.spec)


def trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def address(at: AppTest, key: str) -> str | None:
    """One address parameter as the page left it (AppTest keeps a str or a list)."""
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def click(at: AppTest, label: str) -> AppTest:
    next(button for button in at.button if button.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def sample_client(sample_db_path):
    """A finished acute plantar fasciitis course of the sample clinic whose first clear change
    came before visit 3 (after the second session), with its numbers worked out from its visits."""
    con = db.connect(sample_db_path)  # as the app opens it: DuckDB shares one instance per configuration
    try:
        episodes = metrics.client_episodes(con)
        for row in episodes.itertuples():
            if (row.condition, row.course_type, row.status) != ("plantar_fasciitis", "acute", "completed"):
                continue
            summary = metrics.episode_summary(con, row.episode_id)
            if summary["improved_at_visit"] == 3 and summary["change_points"] > 0:
                progress = metrics.episode_progress(con, row.episode_id)
                typical = metrics.typical_course(con, "acute", "plantar_fasciitis", summary["baseline"],
                                                 exclude_episode=row.episode_id)
                # Names are not unique (two clients may be called Ben Ridge): others are other names.
                others = {name for (name,) in con.execute("SELECT display_name FROM clients WHERE display_name <> ?",
                                                          [row.client_name]).fetchall()}
                return {"episode_id": row.episode_id, "client_id": row.client_id, "name": row.client_name,
                        "progress": progress, "summary": summary, "peers": int(typical["peers"].iloc[0]),
                        "others": others, "therapist_id": row.therapist_id}
    finally:
        con.close()
    raise AssertionError("the sample clinic has no such course")


def test_a_sample_clients_progress_shows_the_right_numbers(app_db, sample_client):
    at = run(PROGRESS, episode=sample_client["episode_id"])
    progress = sample_client["progress"]
    baseline, latest = progress["pain_pre"].iloc[0], progress.dropna(subset=["pain_pre"])["pain_pre"].iloc[-1]
    drop = round(100 * (baseline - latest) / baseline)
    shown = texts(at)
    article = "an" if str(drop).startswith("8") or drop in (11, 18) else "a"
    assert f"Your pain before sessions went from {baseline:g} to {latest:g}, {article} {drop}% drop" in shown.replace("\\", "")
    assert "you did after your second" in shown
    assert f"based on {sample_client['peers']:,} finished acute plantar fasciitis courses" in shown
    assert sample_client["name"] in shown
    spec = figure(at, "client_pain_chart")
    before = trace(spec, "Pain before the session")
    assert before["x"] == progress["visit_number"].tolist() and before["y"] == progress["pain_pre"].tolist()
    assert trace(spec, "Similar clients (middle half)")["fill"] == "tonexty"
    star = trace(spec, "First clear change")
    assert star["x"] == [3] and star["y"] == [float(progress.set_index("visit_number").loc[3, "pain_pre"])]
    shaded = spec["layout"]["shapes"][0]
    assert (shaded["x0"], shaded["x1"]) == (2.5, 5.5)  # the recommended 3-5 acute sessions
    assert at.get("download_button")  # the report
    assert address(at, "episode") == sample_client["episode_id"]


def test_searching_and_picking_a_client_puts_the_choice_in_the_address(app_db, sample_client):
    at = run(PROGRESS)
    assert at.selectbox(key="therapist_episode_pick").value is None
    at.text_input(key="therapist_client_search").set_value(sample_client["client_id"]).run()
    picker = at.selectbox(key="therapist_episode_pick")
    assert sample_client["episode_id"] in picker.options[0] or sample_client["name"] in " ".join(picker.options)
    picker.set_value(sample_client["episode_id"]).run()
    assert not at.exception
    assert address(at, "episode") == sample_client["episode_id"]
    assert figure(at, "client_pain_chart")


@pytest.mark.parametrize("episode", ["E99999", "<script>alert(1)</script>", "[x](javascript:alert(1))"])
def test_an_unknown_episode_in_the_address_says_not_found(app_db, episode):
    at = run(PROGRESS, episode=episode)
    assert any("was not found" in warning.value for warning in at.warning)
    assert not at.get("plotly_chart")


def test_a_therapist_cannot_open_a_colleagues_client(app_db, sample_client):
    at = AppTest.from_file(PROGRESS, default_timeout=120)
    colleague = "T01" if sample_client["therapist_id"] != "T01" else "T02"
    signed_in(at, "therapist", colleague, username="maria")
    at.query_params["episode"] = sample_client["episode_id"]
    at.run()
    assert not at.exception
    assert any("not one of your clients" in warning.value for warning in at.warning)
    assert sample_client["name"] not in texts(at)


def test_client_view_hides_the_picker_and_every_other_client(app_db, sample_client):
    at = run(PROGRESS, episode=sample_client["episode_id"], client_view="1")
    assert not at.text_input and not at.selectbox  # no search, no list of clients
    shown = texts(at)
    assert sample_client["name"] in at.title[0].value
    assert not [name for name in sample_client["others"] if name and name in shown]
    assert at.header and "Your pain before sessions" in at.header[0].value  # the larger type
    assert at.toggle(key="therapist_client_view").value is True
    # Turning it off (with the therapist's password, tests/test_signin_hardening.py) brings the
    # picker back and takes the flag out of the address.
    at.toggle(key="therapist_client_view").set_value(False).run()
    at.text_input(key="client_view_password").input(bootstrap.DEMO_PASSWORD)
    click(at, "Leave client view")
    assert "client_view" not in at.query_params and at.selectbox(key="therapist_episode_pick")


@pytest.mark.parametrize("client_view, position", [("1", "hidden"), (None, "sidebar")])
def test_client_view_hides_the_navigation_in_the_dashboard(app_db, sample_client, monkeypatch, client_view, position):
    """dashboard.py reads ?client_view=1 and hides the page menu (AppTest does not draw the menu,
    so the test records what dashboard.py asks st.navigation for)."""
    positions = []
    navigation = st.navigation

    def recording_navigation(*args, **kwargs):
        positions.append(kwargs.get("position", "sidebar"))
        return navigation(*args, **kwargs)

    monkeypatch.setattr(st, "navigation", recording_navigation)
    at = signed_in(AppTest.from_file(str(PAGES.parent / "dashboard.py"), default_timeout=120))
    at.query_params["episode"] = sample_client["episode_id"]
    if client_view:
        at.query_params["client_view"] = client_view
    at.run()
    at.switch_page("app_pages/client_progress.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert positions and set(positions) == {position}
    assert bool(at.selectbox) is (client_view is None)  # the client picker only outside client view


@pytest.fixture
def writable_app(writable_sample_db, monkeypatch):
    """The app on a private copy of the sample clinic, and the test's own connection to it."""
    monkeypatch.setenv("CLINIC_DB", str(writable_sample_db))
    con = db.connect(writable_sample_db)
    yield con
    con.close()


def fill_session(at: AppTest, episode: str, **values) -> AppTest:
    for field, value in values.items():
        session_widget(at, episode, field).set_value(value)
    return at


def test_recording_a_session_shows_it_in_the_chart_and_stores_it(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    visits = len(sample_client["progress"])
    version = db.data_version(con)
    at = run(RECORD, episode=episode)
    assert session_widget(at, episode, "visit_number").value == visits + 1  # the next visit
    assert session_widget(at, episode, "session_date").value == dt.date.today()
    assert session_widget(at, episode, "sore_spot_min").value == 45
    fill_session(at, episode, pain_pre=1.5, pain_post=0.5, psfs_pre=8, stretching_adherence_pct=86)
    click(at, "Save session")
    assert [s.value for s in at.success] == [f"Visit {visits + 1} saved."]
    assert not at.error
    stored = metrics.episode_progress(con, episode).set_index("visit_number").loc[visits + 1]
    assert (stored["pain_pre"], stored["pain_post"], stored["psfs_pre"], stored["stretching_adherence_pct"]) == (1.5, 0.5, 8, 86)
    assert stored["session_date"].date() == dt.date.today()
    assert db.data_version(con) == version + 1
    # The chart on the same page already has it, and the form moved on to the next visit.
    assert figure(at, "record_pain_chart")["data"] and trace(figure(at, "record_pain_chart"), "Pain before the session")["y"][-1] == 1.5
    assert session_widget(at, episode, "visit_number").value == visits + 2
    assert session_widget(at, episode, "pain_pre").value is None
    progress_page = run(PROGRESS, episode=episode)
    assert trace(figure(progress_page, "client_pain_chart"), "Pain before the session")["x"][-1] == visits + 1


def test_the_next_appointment_is_stored_from_the_form_shown_on_client_progress_and_printed(writable_app, sample_client):
    from analytics import client, report
    from test_report import pdf_text

    con, episode = writable_app, sample_client["episode_id"]
    visits = len(sample_client["progress"])
    ahead = dt.date.today() + dt.timedelta(days=7)
    at = run(RECORD, episode=episode)
    assert session_widget(at, episode, "next_appointment").value is None  # optional, blank by default
    fill_session(at, episode, pain_pre=2, pain_post=1, next_appointment=ahead)
    click(at, "Save session")
    assert [s.value for s in at.success] == [f"Visit {visits + 1} saved."] and not at.error
    assert con.execute("SELECT next_appointment FROM sessions WHERE episode_id = ? AND visit_number = ?",
                       [episode, visits + 1]).fetchone() == (ahead,)
    assert session_widget(at, episode, "next_appointment").value is None  # the next visit's form starts blank
    # Client progress shows the stored date (no box of its own to type it again) ...
    progress_page = run(PROGRESS, episode=episode)
    assert f"Next appointment: **{ahead:%A %d %B %Y}** (printed on the report)" in texts(progress_page)
    assert not [box for box in progress_page.date_input if "appointment" in (box.key or "")]
    # ... and the page's report (made from the same view on click) prints it.
    view = client.episode_view(con, episode)
    assert view is not None and view.next_appointment == ahead
    _, text = pdf_text(report.progress_report_pdf(report.report_content(view, "", dt.date.today())))
    assert f"Next appointment: {ahead:%A %d %B %Y}" in text
    # Once the day has passed it is no longer "next": neither shown as such nor printed.
    assert report.upcoming_appointment(view, ahead) == ahead
    assert report.upcoming_appointment(view, ahead + dt.timedelta(days=1)) is None
    _, later = pdf_text(report.progress_report_pdf(report.report_content(view, "", ahead + dt.timedelta(days=1))))
    assert "Next appointment" not in later


def test_a_finished_course_is_not_asked_for_its_next_appointment(app_db):
    from analytics import client

    con = db.connect(app_db)  # as the app opens it: the in-process pages of other tests may hold it open
    try:
        episodes = [row[0] for row in con.execute(
            "SELECT episode_id FROM sessions GROUP BY episode_id HAVING count(next_appointment) = 0 "
            "ORDER BY episode_id LIMIT 20").fetchall()]
        finished = next(episode for episode in episodes if client.episode_view(con, episode).summary["status"] != "active")
    finally:
        con.close()
    assert "next appointment" not in texts(run(PROGRESS, episode=finished)).lower()


@pytest.mark.parametrize("values, field_message", [
    ({"pain_pre": 11, "pain_post": 3}, "11 is outside 0-10"),
    ({"pain_pre": 3, "pain_post": 2, "session_date": "before the last visit"}, "is before visit"),
    ({"pain_pre": 3, "pain_post": 2, "visit_number": 1}, "visit 1 of"),
    ({"pain_pre": None, "pain_post": 2}, "required value is missing"),
    ({"pain_pre": 3, "pain_post": 2, "next_appointment": "the day before"}, "the next appointment is on or after it"),
], ids=["pain 11", "date before the previous visit", "duplicate visit", "no pain score", "appointment before the visit"])
def test_an_invalid_entry_is_refused_with_a_message_and_writes_nothing(writable_app, sample_client, values, field_message):
    con, episode = writable_app, sample_client["episode_id"]
    if values.get("session_date") == "before the last visit":
        values["session_date"] = sample_client["progress"]["session_date"].iloc[-1].date() - dt.timedelta(days=1)
    if values.get("next_appointment") == "the day before":  # the form's session date is today
        values["next_appointment"] = dt.date.today() - dt.timedelta(days=1)
    before = db.table_checksums(con)
    at = fill_session(run(RECORD, episode=episode), episode, **values)
    click(at, "Save session")
    assert any(field_message in error.value for error in at.error), [e.value for e in at.error]
    assert not at.success
    assert db.table_checksums(con) == before


def test_opening_a_course_of_care_for_a_new_client(writable_app):
    con = writable_app
    at = run(RECORD)
    new_client = at.text_input(key="episode:client_id").value
    at.text_input(key="episode:client_name").set_value("Zoë Ødegård")
    at.selectbox(key="episode:condition").set_value("heel_spur")
    at.radio(key="episode:course_type").set_value("chronic")
    at.number_input(key="episode:first:pain_pre").set_value(8)
    at.number_input(key="episode:first:pain_post").set_value(6)
    click(at, "Open the course of care")
    assert at.success and "opened with its first visit" in at.success[0].value
    new_episode = address(at, "episode")
    assert con.execute("SELECT display_name FROM clients WHERE client_id = ?", [new_client]).fetchall() == [("Zoë Ødegård",)]
    summary = metrics.episode_summary(con, new_episode)
    assert (summary["client_id"], summary["condition"], summary["course_type"], summary["baseline"]) == (
        new_client, "heel_spur", "chronic", 8)
    # The picker now shows the new course, ready for its second visit.
    assert session_widget(at, new_episode, "visit_number").value == 2


def test_a_correction_is_stored_and_appears_in_the_history(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    at = signed_in(AppTest.from_file(RECORD, default_timeout=120), username="maria")
    at.query_params["episode"] = episode
    at.run()
    at.selectbox(key=f"correction_visit:{episode}").set_value(1).run()
    at.selectbox(key="correction_field").set_value("pain_pre").run()
    old = sample_client["progress"]["pain_pre"].iloc[0]
    new = 10 if old != 10 else 9
    at.text_input(key=f"correction_value:{episode}:1:pain_pre:0").set_value(str(new))
    at.text_input(key="correction_reason:0").set_value("typed the wrong score")
    click(at, "Save correction")
    assert at.success and not at.error
    history = at.dataframe[0].value
    assert list(history.columns[:4]) == ["corrected_at", "corrected_by", "visit_number", "field"]
    assert history.iloc[0][["corrected_by", "visit_number", "field", "old_value", "new_value", "reason"]].tolist() == [
        "maria", 1, "Pain before the session", f"{old:g}", f"{new:g}", "typed the wrong score"]
    assert con.execute("SELECT corrected_by, field, old_value, new_value FROM corrections").fetchall() == [
        ("maria", "pain_pre", f"{old:g}", f"{new:g}")]
    assert metrics.episode_summary(con, episode)["baseline"] == new


def test_after_a_save_the_person_stays_on_their_tab_with_a_fresh_form(writable_app, sample_client):
    # Issue #15: the browser keeps a widget's value while its key lives, so each visit's form and
    # each correction round get keys of their own; the open tab is kept across the save's rerun.
    episode = sample_client["episode_id"]
    visits = len(sample_client["progress"])
    at = run(RECORD, episode=episode)
    at.text_input(key="therapist_client_search").set_value(sample_client["client_id"]).run()
    first_form = session_widget(at, episode, "pain_pre").key
    fill_session(at, episode, pain_pre=4, pain_post=3)
    click(at, "Save session")
    assert [s.value for s in at.success] == [f"Visit {visits + 1} saved."]
    assert session_widget(at, episode, "pain_pre").key != first_form  # a new form: nothing carried over
    assert session_widget(at, episode, "visit_number").value == visits + 2
    assert session_widget(at, episode, "pain_pre").value is None
    assert at.text_input(key="therapist_client_search").value == sample_client["client_id"]

    at.session_state["record_session_tab"] = "Correct a stored visit"
    at.run()
    at.selectbox(key=f"correction_visit:{episode}").set_value(1).run()
    at.selectbox(key="correction_field").set_value("pain_pre").run()
    at.text_input(key=f"correction_value:{episode}:1:pain_pre:0").set_value("9")
    at.text_input(key="correction_reason:0").set_value("typed the wrong score")
    click(at, "Save correction")
    assert at.success and not at.error
    assert at.session_state["record_session_tab"] == "Correct a stored visit"
    # The next correction starts empty: new keys, the stored value as the default, no reason.
    assert at.text_input(key="correction_reason:1").value == ""
    assert at.text_input(key=f"correction_value:{episode}:1:pain_pre:1").value == "9"
    assert at.text_input(key="therapist_client_search").value == sample_client["client_id"]


def test_a_correction_without_a_reason_is_refused(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    before = db.table_checksums(con)
    at = run(RECORD, episode=episode)
    field = at.selectbox(key="correction_field").value
    visit = at.selectbox(key=f"correction_visit:{episode}").value
    at.text_input(key=f"correction_value:{episode}:{visit}:{field}:0").set_value("2000-01-01")
    click(at, "Save correction")
    assert any("give a reason" in error.value for error in at.error)
    assert db.table_checksums(con) == before
    assert "No corrections yet." in texts(at)



def test_a_missing_onset_opens_its_correction_from_data_quality_and_is_stored(writable_app):
    """Data quality's "No onset date" finding links to the correction that fixes it: Record a
    session on its correction tab with the onset date and visit 1 chosen; the date saved there
    is the course's, the finding is gone and the history keeps it."""
    from urllib.parse import parse_qsl

    from analytics import records
    from test_pages_manager import run_page

    con = writable_app
    episode = metrics.data_quality_details(con, check="missing_onset")["episode_id"].iloc[0]
    first_visit = con.execute("SELECT min(session_date) FROM sessions WHERE episode_id = ?", [episode]).fetchone()[0]
    quality = run_page("data_quality")
    quality.selectbox(key="quality_check").set_value("missing_onset").run()
    quality.selectbox(key="quality_open_missing_onset").set_value(episode).run()
    link = quality.get("page_link")[0].proto
    address = dict(parse_qsl(link.query_string))
    assert link.page.endswith("record_session") and address == {"episode": episode, "correct": "onset_date", "visit": "1"}

    at = run(RECORD, **address)
    assert at.session_state["record_session_tab"] == "Correct a stored visit"
    assert at.selectbox(key="correction_field").value == "onset_date"
    assert at.selectbox(key=f"correction_visit:{episode}").value == 1
    assert not at.warning  # no "default value also set through Session State" warning
    onset = first_visit - dt.timedelta(days=30)
    at.text_input(key=f"correction_value:{episode}:1:onset_date:0").set_value(onset.isoformat())
    at.text_input(key="correction_reason:0").set_value("asked the client")
    click(at, "Save correction")
    assert [s.value for s in at.success] == ["Onset date corrected; the old value is kept in the history below."]
    assert not at.error
    assert con.execute("SELECT onset_date FROM episodes WHERE episode_id = ?", [episode]).fetchone() == (onset,)
    assert episode not in set(metrics.data_quality_details(con, check="missing_onset")["episode_id"])
    history = records.correction_history(con, episode)
    assert history[["visit_number", "field", "old_value", "new_value", "reason"]].iloc[0].tolist() == [
        1, "onset_date", None, onset.isoformat(), "asked the client"]
    assert con.execute("SELECT action, target_type, target_id FROM audit_log WHERE action = 'correct'").fetchall() == [
        ("correct", "episode", episode)]
    assert at.session_state["record_session_tab"] == "Correct a stored visit"  # still where the person was
    # Only the address's first arrival chooses for the person: the next run keeps what they choose.
    at.selectbox(key="correction_field").set_value("pain_pre").run()
    assert at.selectbox(key="correction_field").value == "pain_pre" and not at.exception
