"""Issue 16's capture on the pages (AppTest) and in records: the stretching plan saved from Client
progress and shown again after a reload and on the PDF, only for the therapist's own course; the
session note entered on Record a session, stored with its line breaks, and never in the audit
trail or any table (hence CSV) a page offers."""
# ruff: noqa: F811  (the fixtures imported from test_pages_therapist are test arguments here)
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from analytics import client, db, records, report
from test_pages_manager import run_page
from test_pages_therapist import (  # noqa: F401  (fixtures)
    PROGRESS,
    RECORD,
    click,
    fill_session,
    run,
    sample_client,
    writable_app,
)
from test_report import pdf_text

PLAN = "1. Calf stretch on the stairs, 3 x 30 s.\n2. Roll the arch on a frozen bottle, 5 minutes."
MARKER = "PRIVATE-NOTE-7f3a"


def plan_box(at: AppTest, episode: str):
    return at.text_area(key=f"stretching_notes_{episode}")


def audit_text(con) -> str:
    return "\n".join(str(row) for row in con.execute("SELECT * FROM audit_log").fetchall())


def test_the_plan_is_saved_and_shown_again_after_a_reload_and_on_the_pdf(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    at = run(PROGRESS, episode=episode)
    assert plan_box(at, episode).value == report.default_notes("plantar_fasciitis")  # nothing saved yet
    plan_box(at, episode).set_value(PLAN)
    click(at, "Save the plan")
    assert [s.value for s in at.success] == ["Stretching plan saved; it is shown again here and printed on the report."]
    assert records.stretching_plan(con, episode) == PLAN
    assert con.execute("SELECT action, target_type, target_id FROM audit_log WHERE target_type = 'stretching_plan'"
                       ).fetchall() == [("record", "stretching_plan", episode)]
    assert "Calf stretch on the stairs" not in audit_text(con)
    reloaded = run(PROGRESS, episode=episode)  # a new browser session: nothing kept but the database
    assert plan_box(reloaded, episode).value == PLAN
    # The page makes the PDF from the box's text, which is now the stored plan.
    view = client.episode_view(con, episode)
    assert view is not None
    content = report.report_content(view, plan_box(reloaded, episode).value, dt.date.today())
    pages, text = pdf_text(report.progress_report_pdf(content))
    assert pages == 1
    assert "Calf stretch on the stairs, 3 x 30 s." in text and "Roll the arch on a frozen bottle" in text


def test_a_therapist_cannot_save_a_plan_for_a_colleagues_course(writable_app, sample_client):
    con, episode, owner = writable_app, sample_client["episode_id"], sample_client["therapist_id"]
    colleague = "T01" if owner != "T01" else "T02"
    before = db.table_checksums(con)
    with pytest.raises(records.RecordRefused) as refused:
        records.save_plan(con, episode, PLAN, by="maria", viewer=colleague)  # whatever a browser sends
    assert refused.value.problems == {"episode_id": [f"no course of care {episode} is stored"]}
    assert db.table_checksums(con) == before
    records.save_plan(con, episode, PLAN, by="own", viewer=owner)
    assert records.stretching_plan(con, episode) == PLAN


@pytest.mark.parametrize("plan, message", [
    ("x" * (report.MAX_NOTES_CHARS + 1), f"the plan is longer than {report.MAX_NOTES_CHARS} characters"),
    ("stretch\u202eevil", "the plan contains an invisible or control character U+202E (line breaks are allowed); "
                          "retype it"),
])
def test_a_plan_too_long_or_with_hidden_characters_is_refused(writable_app, sample_client, plan, message):
    con = writable_app
    before = db.table_checksums(con)
    with pytest.raises(records.RecordRefused) as refused:
        records.save_plan(con, sample_client["episode_id"], plan, by="manager")
    assert refused.value.problems == {"stretching_plan": [message]}
    assert db.table_checksums(con) == before


def test_a_plan_of_exactly_the_limit_is_saved_and_a_blank_one_clears_it(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    records.save_plan(con, episode, "y" * report.MAX_NOTES_CHARS, by="manager")
    assert len(records.stretching_plan(con, episode) or "") == report.MAX_NOTES_CHARS
    records.save_plan(con, episode, "  ", by="manager")
    assert records.stretching_plan(con, episode) is None


def test_a_note_faam_and_lefs_are_recorded_from_todays_session(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    visits = len(sample_client["progress"])
    at = fill_session(run(RECORD, episode=episode), episode, pain_pre=2, pain_post=1, faam_adl_pct=72.5, lefs=55)
    note = f"{MARKER} first line\nsecond line"
    at.text_area(key=f"session:{episode}:{visits + 1}:note").set_value(note)
    click(at, "Save session")
    assert [s.value for s in at.success] == [f"Visit {visits + 1} saved."]
    assert con.execute("SELECT faam_adl_pct, lefs, note FROM session_facts WHERE episode_id = ? AND visit_number = ?",
                       [episode, visits + 1]).fetchone() == (72.5, 55, note)
    assert MARKER not in audit_text(con)


def test_a_note_longer_than_2000_characters_is_refused_on_the_form(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    visits = len(sample_client["progress"])
    before = db.table_checksums(con)
    at = fill_session(run(RECORD, episode=episode), episode, pain_pre=2, pain_post=1)
    at.text_area(key=f"session:{episode}:{visits + 1}:note").set_value("z" * 2001)
    click(at, "Save session")
    assert [e.value for e in at.error] == ["the note is longer than 2000 characters"]
    assert db.table_checksums(con) == before


def test_a_corrected_note_keeps_no_text_in_its_history(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    session_id = con.execute("SELECT session_id FROM sessions WHERE episode_id = ? AND visit_number = 1",
                             [episode]).fetchone()[0]
    records.correct_value(con, session_id, "note", f"{MARKER} old", "typing error", by="manager")
    records.correct_value(con, session_id, "note", f"{MARKER} new\nline", "typing error", by="manager")
    assert con.execute("SELECT note FROM sessions WHERE session_id = ?", [session_id]).fetchone() == (
        f"{MARKER} new\nline",)
    assert con.execute("SELECT field, old_value, new_value FROM corrections WHERE session_id = ?",
                       [session_id]).fetchall() == [("note", None, None), ("note", None, None)]
    assert MARKER not in audit_text(con)


MANAGER_PAGES = ("overview", "courses", "conditions", "therapists", "home_program", "lasting", "trend", "data_quality",
                 "audit_log")


def test_no_page_table_or_text_shows_a_note(writable_app, sample_client):
    # Every session of the sample clinic gets a note; no table a page offers as CSV, and no text
    # it writes, may hold it.
    con = writable_app
    with db.write(con) as cursor:
        cursor.execute("UPDATE sessions SET note = ? || ' ' || session_id", [MARKER])
    shown: list[str] = []
    for name in MANAGER_PAGES:
        at = run_page(name)
        shown += [frame.value.to_csv() for frame in at.dataframe]
        shown += [str(element.value) for kind in ("markdown", "caption", "info", "warning", "error")
                  for element in at.get(kind)]
    for page in (PROGRESS, RECORD):
        at = run(page, episode=sample_client["episode_id"])
        shown += [frame.value.to_csv() for frame in at.dataframe]
        shown += [str(element.value) for kind in ("markdown", "caption", "subheader") for element in at.get(kind)]
    assert shown and not [text for text in shown if MARKER in text]


def test_a_note_is_corrected_in_a_text_box_that_never_puts_it_in_a_label(writable_app, sample_client):
    con, episode = writable_app, sample_client["episode_id"]
    session_id = con.execute("SELECT session_id FROM sessions WHERE episode_id = ? AND visit_number = 1",
                             [episode]).fetchone()[0]
    records.correct_value(con, session_id, "note", f"{MARKER} as typed", "first note", by="manager")
    at = run(RECORD, episode=episode)
    at.selectbox(key=f"correction_visit:{episode}").set_value(1).run()
    at.selectbox(key="correction_field").set_value("note").run()
    box = at.text_area(key=f"correction_value:{episode}:1:note:0")
    assert box.value == f"{MARKER} as typed" and MARKER not in box.label
    assert not [field.label for field in at.text_input if MARKER in field.label]
    box.set_value(f"{MARKER} corrected\nsecond line")
    at.text_input(key="correction_reason:0").set_value("typing error")
    click(at, "Save correction")
    assert at.success and not at.error
    assert con.execute("SELECT note FROM sessions WHERE session_id = ?", [session_id]).fetchone() == (
        f"{MARKER} corrected\nsecond line",)
    history = at.dataframe[0].value
    assert history.iloc[0][["field", "old_value", "new_value", "reason"]].tolist() == [
        "Session note", None, None, "typing error"]


def test_a_new_course_is_opened_with_its_foot_side_and_first_function_scores(writable_app):
    con = writable_app
    at = run(RECORD)
    at.text_input(key="episode:client_name").set_value("Ada Quill")
    at.selectbox(key="episode:condition").set_value("bunion")
    at.selectbox(key="episode:foot_side").set_value("right")
    at.number_input(key="episode:first:pain_pre").set_value(5)
    at.number_input(key="episode:first:pain_post").set_value(4)
    at.number_input(key="episode:first:faam_adl_pct").set_value(64)
    at.number_input(key="episode:first:lefs").set_value(48)
    click(at, "Open the course of care")
    assert at.success and "opened with its first visit" in at.success[0].value
    episode = at.query_params["episode"]
    episode = episode[-1] if isinstance(episode, list) else episode
    assert con.execute("SELECT condition, foot_side, discharge_reason FROM episodes WHERE episode_id = ?",
                       [episode]).fetchone() == ("bunion", "right", None)
    assert con.execute("SELECT faam_adl_pct, lefs, note FROM sessions WHERE episode_id = ?", [episode]).fetchone() == (
        64.0, 48, None)
