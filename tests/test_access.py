"""Who sees what, and the audit trail of a scripted visit, through the real pages (AppTest)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import bootstrap, db, metrics
from conftest import session_widget

DASHBOARD = str(Path(__file__).resolve().parent.parent / "dashboard.py")


@pytest.fixture
def app(writable_sample_db, monkeypatch):
    """The dashboard on a private copy of the sample clinic; yields (AppTest factory, connection)."""
    monkeypatch.setenv("CLINIC_DB", str(writable_sample_db))
    con = db.connect(writable_sample_db)
    yield (lambda: AppTest.from_file(DASHBOARD, default_timeout=120)), con
    con.close()


def sign_in(at: AppTest, username: str, password: str = bootstrap.DEMO_PASSWORD) -> AppTest:
    at.run()
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def audit_rows(con, after: int = 0) -> list[tuple]:
    return con.execute("SELECT username, action, target_type, target_id FROM audit_log WHERE audit_id > ? "
                       "ORDER BY audit_id", [after]).fetchall()


def last_audit_id(con) -> int:
    return con.execute("SELECT coalesce(max(audit_id), 0) FROM audit_log").fetchone()[0]


def test_nothing_is_shown_before_sign_in(app):
    make, _ = app
    at = make().run()
    assert [t.value for t in at.title] == ["Foot-pain clinic outcomes"]
    assert not at.metric and not at.get("plotly_chart") and not at.dataframe


def test_a_wrong_password_is_refused_and_audited(app):
    make, con = app
    before = last_audit_id(con)
    at = sign_in(make(), "manager", "not the password")
    assert any("Wrong user name or password" in e.value for e in at.error)
    assert not at.metric
    assert audit_rows(con, before) == [("manager", "failed_sign_in", "user", "manager")]


def test_a_scripted_visit_leaves_exactly_its_audit_rows(app):
    make, con = app
    episode = con.execute("SELECT episode_id FROM episode_facts WHERE therapist_id = 'T01' "
                          "ORDER BY last_date DESC, episode_id LIMIT 1").fetchone()[0]
    before = last_audit_id(con)
    at = sign_in(make(), "therapist1")
    assert at.metric  # the overview's tiles
    at.query_params["episode"] = episode
    at.switch_page("app_pages/client_progress.py").run()
    assert not at.exception
    at.run()  # a rerun of the same client is not a second view
    at.switch_page("app_pages/record_session.py").run()
    assert not at.exception
    session_widget(at, episode, "pain_pre").set_value(3)
    session_widget(at, episode, "pain_post").set_value(2)
    next(b for b in at.button if b.label == "Save session").click().run()
    assert not at.exception and at.success
    assert audit_rows(con, before) == [
        ("therapist1", "sign_in", "user", "therapist1"),
        ("therapist1", "view_client", "episode", episode),
        ("therapist1", "record", "episode", episode),
    ]


def test_signing_out_is_audited_and_hides_everything(app):
    make, con = app
    before = last_audit_id(con)
    at = sign_in(make(), "manager")
    next(b for b in at.button if b.label == "Sign out").click().run()
    assert at.text_input(key="sign_in_username") and not at.metric
    assert audit_rows(con, before) == [("manager", "sign_in", "user", "manager"),
                                       ("manager", "sign_out", "user", "manager")]


def test_a_therapist_gets_not_found_for_a_colleagues_client(app):
    make, con = app
    colleague_episode = con.execute("SELECT episode_id FROM episode_facts WHERE therapist_id <> 'T01' "
                                    "ORDER BY episode_id LIMIT 1").fetchone()[0]
    at = sign_in(make(), "therapist1")
    at.query_params["episode"] = colleague_episode
    at.switch_page("app_pages/client_progress.py").run()
    assert not at.exception
    assert any("not found" in w.value for w in at.warning)
    assert not at.get("plotly_chart")
    name = con.execute("SELECT display_name FROM clients JOIN episodes USING (client_id) WHERE episode_id = ?",
                       [colleague_episode]).fetchone()[0]
    shown = " ".join(str(e.value) for kind in ("title", "subheader", "markdown", "header", "caption")
                     for e in at.get(kind))
    assert name not in shown


def test_the_analytics_layer_hides_a_colleagues_client_whatever_the_page_does(app):
    _, con = app
    from analytics.filters import Filter
    mine, theirs = Filter(viewer_therapist="T01"), con.execute(
        "SELECT episode_id FROM episode_facts WHERE therapist_id = 'T02' LIMIT 1").fetchone()[0]
    assert metrics.episode_progress(con, theirs, mine).empty
    assert metrics.episode_summary(con, theirs, mine) == {}
    assert set(metrics.client_episodes(con, mine).therapist_id) == {"T01"}


def test_therapists_have_no_manage_pages(app):
    make, _ = app
    at = sign_in(make(), "therapist1")
    # The therapist's menu has no such page; an address that names it anyway is refused by the
    # page itself.
    for page, title in (("app_pages/audit_log.py", "Audit log"), ("app_pages/import_data.py", "Import visit logs"),
                        ("app_pages/lasting.py", "Lasting results")):
        try:
            at.switch_page(page).run()
        except ValueError:  # AppTest already refuses a page the navigation does not list
            continue
        assert title not in [t.value for t in at.title] and not at.dataframe and not at.exception
        assert any("Only managers" in e.value for e in at.error)


def test_a_manager_reads_the_audit_log(app):
    make, _ = app
    at = sign_in(make(), "manager")
    at.switch_page("app_pages/audit_log.py").run()
    assert not at.exception
    assert "Audit log" in [t.value for t in at.title]
    # Issue #15: the page says what happened in words, not codes (sign_in).
    table = at.dataframe[0].value
    assert list(table.columns) == ["logged_at", "what", "username", "action"]  # what happened second, so a phone shows it
    assert "Signed in" in set(table["action"]) and "sign_in" not in set(table["action"])


def test_no_password_score_or_name_reaches_the_log(app, caplog):
    make, con = app
    episode, name = con.execute("SELECT episode_id, display_name FROM episode_facts JOIN clients USING (client_id) "
                                "WHERE therapist_id = 'T01' ORDER BY episode_id LIMIT 1").fetchone()
    caplog.set_level(logging.DEBUG)
    at = sign_in(make(), "therapist1")
    at.query_params["episode"] = episode
    at.switch_page("app_pages/client_progress.py").run()
    sign_in(make(), "manager", "a wrong password!")
    logged = caplog.text
    assert bootstrap.DEMO_PASSWORD not in logged and "a wrong password!" not in logged
    assert name not in logged
    audit_text = " ".join(str(v) for row in con.execute("SELECT * FROM audit_log").fetchall() for v in row)
    assert name not in audit_text


GOOD_LOG = (b"client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post\n"
            b"N1,NE1,Plantar fasciitis,acute,1,2026-11-02,T01,8,6\n"
            b"N1,NE1,Plantar fasciitis,acute,2,2026-11-09,T01,7,5\n")


@pytest.mark.parametrize("filename, content, expected", [
    ("visits.csv", GOOD_LOG, "Imported 2 new sessions"),
    ("bad.csv", GOOD_LOG.replace(b",8,6", b",11,6"), "bad.csv:2:pain_pre:"),
    ("junk.csv", bytes(range(256)) * 40, "junk.csv"),
    ("empty.csv", b"", "empty"),
], ids=["valid", "pain 11", "binary", "empty"])
def test_a_manager_imports_through_the_page_all_or_nothing(app, filename, content, expected):
    make, con = app
    at = sign_in(make(), "manager")
    at.switch_page("app_pages/import_data.py").run()
    before = db.table_checksums(con)
    at.get("file_uploader")[0].upload(filename, content, "text/csv").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    shown = " ".join([s.value for s in at.success] + [e.value for e in at.error] + [c.value for c in at.code])
    assert expected in shown
    after = db.table_checksums(con)
    if expected.startswith("Imported"):
        assert after["sessions"][0] == before["sessions"][0] + 2
        assert audit_rows(con, last_audit_id(con) - 1)[-1] == ("manager", "import", "sessions", "2")
    else:
        assert after == before


def test_a_therapist_sees_the_comparison_with_only_their_own_position_named(app):
    import json

    make, con = app
    names = {n for (n,) in con.execute("SELECT name FROM therapists").fetchall()}
    own = con.execute("SELECT name FROM therapists WHERE therapist_id = 'T01'").fetchone()[0]
    at = sign_in(make(), "therapist1")
    at.switch_page("app_pages/therapists.py").run()
    assert not at.exception
    shown = json.dumps([json.loads(chart.proto.spec) for chart in at.get("plotly_chart")])
    shown += json.dumps([t.value.to_dict() for t in at.dataframe], default=str)
    assert own in shown or "You" in shown
    assert not [name for name in names - {own} if name in shown]


def test_cached_figures_follow_every_write(app):
    """The clinic pages cache their figures per filter and data version: a session recorded
    anywhere shows at the next rerun, never a stale count."""
    import datetime as dt

    from analytics import records

    make, con = app
    at = sign_in(make(), "manager")

    def sessions_tile() -> str:
        return next(m.value for m in at.metric if m.label == "Sessions")

    before = sessions_tile()
    episode, last = con.execute("SELECT episode_id, last_date FROM episode_facts ORDER BY last_date DESC LIMIT 1").fetchone()
    records.record_session(con, episode, records.SessionEntry(session_date=last + dt.timedelta(days=7),
                                                              pain_pre=3, pain_post=2))
    at.run()
    assert int(sessions_tile().replace(",", "")) == int(before.replace(",", "")) + 1


def test_a_therapist_on_the_data_quality_page_sees_only_their_own_courses(app):
    make, con = app
    own = {e for (e,) in con.execute("SELECT episode_id FROM episodes WHERE therapist_id = 'T01'").fetchall()}
    at = sign_in(make(), "therapist1")
    at.switch_page("app_pages/data_quality.py").run()
    assert not at.exception
    listed = set()
    for frame in (t.value for t in at.dataframe):
        if "episode_id" in frame.columns:
            listed |= set(frame["episode_id"])
    assert listed and listed <= own


def test_a_real_database_without_accounts_explains_how_to_create_the_first(tmp_path, monkeypatch):
    from conftest import store_visits, visit

    path = tmp_path / "real.duckdb"
    con = db.connect(path)
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5)])
    con.close()
    monkeypatch.setenv("CLINIC_DB", str(path))
    at = AppTest.from_file(DASHBOARD, default_timeout=120).run()
    assert any("users add" in w.value for w in at.warning)
    assert not at.text_input and not at.metric


def test_an_upload_over_the_size_limit_is_refused_by_the_reader(app, monkeypatch):
    from analytics import config

    make, con = app
    monkeypatch.setattr(config, "MAX_IMPORT_BYTES", 100)
    at = sign_in(make(), "manager")
    at.switch_page("app_pages/import_data.py").run()
    before = db.table_checksums(con)
    at.get("file_uploader")[0].upload("big.csv", GOOD_LOG, "text/csv").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    assert "big.csv: the file is" in " ".join(c.value for c in at.code) and "import limit" in " ".join(c.value for c in at.code)
    assert db.table_checksums(con) == before


@pytest.mark.parametrize("action, target_type, target_id, words", [
    ("sign_in", "user", "maria", "Signed in"),
    ("failed_sign_in", "user", "maria", "Sign-in refused for the account maria"),
    ("failed_sign_in", "throttled", None, "Sign-in refused: too many failed attempts from this browser or address"),
    ("sign_out", "idle", "maria", "Signed out after 30 idle minutes"),
    ("view_client", "episode", "E00012", "Viewed the course of care E00012"),
    ("record", "episode", "E00012", "Recorded a session of course E00012"),
    ("correct", "session", "812", "Corrected a value of session 812"),
    ("import", "sessions", "5", "Imported 5 new sessions"),
    ("import", "refused", "3 problem(s) in visits.csv", "Refused an import: 3 problem(s) in visits.csv"),
    ("report_download", "episode", "E00012", "Downloaded the progress report of course E00012"),
    ("user_change", "user", "maria", "Changed the account maria"),
])
def test_every_audit_event_reads_in_plain_words(action, target_type, target_id, words):
    from analytics import audit

    assert audit.describe(action, target_type, target_id) == words
    assert action in audit.ACTION_WORDS and set(audit.ACTION_WORDS) == set(audit.ACTIONS)


def test_an_idle_sign_out_names_the_clinics_own_idle_minutes(monkeypatch):
    from analytics import audit, config
    monkeypatch.setattr(config, "IDLE_MINUTES", 15.0)
    assert audit.describe("sign_out", "idle", "maria") == "Signed out after 15 idle minutes"
