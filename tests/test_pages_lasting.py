"""The Lasting results page in-process (AppTest), on the sample clinic with its check-ins
(sample_data/checkins.csv, loaded by the test helper until bootstrap loads them)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import auth, db, metrics
from conftest import load_sample_checkins_for_tests, signed_in
from ui import signin, words

DASHBOARD = str(Path(__file__).resolve().parent.parent / "dashboard.py")


@pytest.fixture(scope="module")
def lasting_db(sample_db_path, tmp_path_factory):
    """The sample clinic with its check-ins, shared by this module's tests (they only read)."""
    import shutil

    path = tmp_path_factory.mktemp("lasting") / "clinic.duckdb"
    shutil.copy(sample_db_path, path)
    con = db.connect(path)
    load_sample_checkins_for_tests(con)
    con.close()
    return path


@pytest.fixture
def lasting_app(lasting_db, monkeypatch):
    monkeypatch.setenv("CLINIC_DB", str(lasting_db))
    return lasting_db


def _open(role: str = "manager", therapist_id: str | None = None) -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.session_state[signin.USER_KEY] = auth.User(role, role, therapist_id)
    at.run()
    at.switch_page("app_pages/lasting.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _titles(at: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]


def test_the_page_draws_every_lasting_figure_and_warns_that_answerers_may_differ(lasting_app):
    at = _open()
    assert _titles(at) == ["Follow-ups answered", "Pain since the last visit", "Still improved", "Pain not back yet",
                           f"Feel {words.pgic_improved()}"]
    for chart in at.get("plotly_chart"):
        assert json.loads(chart.proto.spec)["layout"]["title"]["subtitle"]["text"].startswith("n = ")
    con = db.connect(lasting_app)
    try:
        response = metrics.followup_response(con).set_index("followup_day")
    finally:
        con.close()
    first = response.iloc[0]
    warnings = [w.value for w in at.warning if "may differ from those who don't" in w.value]
    assert len(warnings) == len(response)
    assert f"{int(first['answered']):,} of {int(first['due']):,} clients answered" in warnings[0]


def test_the_page_splits_by_stretching_at_the_follow_up(lasting_app):
    at = _open()
    at.selectbox(key="lasting_by").set_value("Stretching at the follow-up").run()
    assert not at.exception
    chart = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert {trace["name"] for trace in chart["data"]} >= {"0 days", "1-3 days", "4-7 days"}


PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "lasting.py")


def test_a_therapist_has_no_lasting_results_and_the_page_itself_refuses_one(lasting_app):
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    signed_in(at, "therapist", "T01", username="therapist1")
    at.run()
    with pytest.raises(ValueError):  # not in a therapist's menu
        at.switch_page("app_pages/lasting.py")
    page = signed_in(AppTest.from_file(PAGE, default_timeout=120), "therapist", "T01", username="therapist1")
    page.run()
    assert any("Only managers" in error.value for error in page.error)
    assert not page.get("plotly_chart")


def test_the_client_progress_page_shows_the_follow_ups_and_how_the_pain_has_held(lasting_app):
    from analytics import client

    con = db.connect(lasting_app)
    try:
        answered = con.execute("""SELECT c.episode_id FROM checkins c JOIN episode_facts e USING (episode_id)
            WHERE c.pain IS NOT NULL AND c.answered_on > e.last_date + 20 ORDER BY c.episode_id LIMIT 1""").fetchone()[0]
        held = client.held_sentence(metrics.episode_followups(con, answered))
    finally:
        con.close()
    assert held.startswith("At ")
    at = signed_in(AppTest.from_file(str(Path(PAGE).parent / "client_progress.py"), default_timeout=120))
    at.query_params["episode"] = answered
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(held in str(element.value).replace("\\", "") for element in at.markdown)  # escaped for Markdown
    spec = next(json.loads(chart.proto.spec) for chart in at.get("plotly_chart") if "client_pain_chart" in chart.proto.id)
    assert any(trace.get("name") == "Pain after the last visit" for trace in spec["data"])


def test_without_any_check_in_the_page_says_so_plainly(writable_sample_db, monkeypatch):
    con = db.connect(writable_sample_db)  # the sample clinic without its clients' check-ins
    with db.write(con, episodes=[]) as cursor:
        cursor.execute("DELETE FROM checkins")
    con.close()
    monkeypatch.setenv("CLINIC_DB", str(writable_sample_db))
    at = _open()
    # All due, none answered; the only courses heard from after their last visit are those whose
    # client came back with a new course (for the same condition: a recurrence).
    assert _titles(at) == ["Follow-ups answered", "Pain not back yet"]
    shown = [info.value for info in at.info]
    assert any("No follow-up with a pain score" in text for text in shown)
    assert any("answer on how the client feels" in text for text in shown)
