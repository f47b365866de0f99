"""Recording, opening and correcting from the therapist's forms (analytics/records.py): the
importer's rules apply, each write is one transaction, a refused entry writes nothing, and a
correction keeps the old value."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analytics import db, metrics, records, visit_log
from analytics.records import EpisodeEntry, RecordRefused, SessionEntry
from analytics.visit_log import Problem
from conftest import visit

# E1: an acute plantar fasciitis course, three weekly visits, with PSFS and flexibility at visit 2.
E1 = [
    visit("E1", 1, "2025-01-06", 7, 5, client_name="Ada Dale", severity="moderate"),
    visit("E1", 2, "2025-01-13", 6, 4, psfs_pre=4, psfs_post=5, dorsiflexion_pre_deg=8, dorsiflexion_post_deg=10),
    visit("E1", 3, "2025-01-20", 4, 3, stretching_adherence_pct=57),
]
# E2: another client of another therapist, in clinic "north".
E2 = [visit("E2", 1, "2025-02-03", 8, 6, therapist_id="T2", clinic_id="north", client_name="Ben Stone")]


@pytest.fixture
def con(clinic_db):
    return clinic_db(E1 + E2)


def today_entry(**changes) -> SessionEntry:
    values = dict(session_date=dt.date(2025, 1, 27), pain_pre=3, pain_post=2, psfs_pre=6, stretching_adherence_pct=71.4)
    values.update(changes)
    return SessionEntry(**values)


def test_field_problems_groups_the_importers_messages_by_column():
    problems = [Problem("form", 2, "pain_pre", "out_of_range", "11 is outside 0-10"),
                Problem("form", 2, "pain_pre", "other", "second"),
                Problem("form", 2, "session_date", "not_a_date", "not a date"),
                Problem("form", None, None, "database", "something without a place")]
    assert records.field_problems(problems) == {
        "pain_pre": ["11 is outside 0-10", "second"], "session_date": ["not a date"], "": ["something without a place"]}


def test_next_visit_is_one_more_than_the_highest_stored(con):
    upcoming = records.next_visit(con, "E1")
    assert upcoming["visit_number"] == 4 and upcoming["last_date"] == dt.date(2025, 1, 20)
    assert upcoming["therapist_id"] == "T1" and upcoming["client_id"] == "CE1"
    assert records.next_visit(con, "E404") is None


def test_recording_a_session_stores_it_in_one_write(con):
    version = db.data_version(con)
    session_id = records.record_session(con, "E1", today_entry())
    assert db.data_version(con) == version + 1  # one transaction, so pages see it at once
    progress = metrics.episode_progress(con, "E1").set_index("visit_number")
    assert list(progress.index) == [1, 2, 3, 4]
    fourth = progress.loc[4]
    assert (fourth["pain_pre"], fourth["pain_post"], fourth["psfs_pre"]) == (3, 2, 6)
    assert fourth["stretching_adherence_pct"] == pytest.approx(71.4)
    stored = con.execute("SELECT therapist_id, duration_min, sore_spot_min FROM sessions WHERE session_id = ?",
                         [session_id]).fetchone()
    assert stored == ("T1", 60, 45)  # the episode's therapist; the hour, 45 minutes on the sore spot
    # E1 now: baseline 7, latest 3 -> 4 points, 57% better; first clear change at visit 3 (7 -> 4).
    summary = metrics.episode_summary(con, "E1")
    assert summary["change_points"] == 4 and round(summary["change_pct"]) == 57 and summary["improved_at_visit"] == 3


@pytest.mark.parametrize("entry, field, message", [
    (today_entry(pain_pre=11), "pain_pre", "11 is outside 0-10"),
    (today_entry(pain_pre=None), "pain_pre", "required value is missing"),
    (today_entry(psfs_pre=12.5), "psfs_pre", "12.5 is outside 0-10"),
    (today_entry(dorsiflexion_pre_deg=95), "dorsiflexion_pre_deg", "95 is outside -30 to 80"),
    (today_entry(sore_spot_min=70), "sore_spot_min", "70 is more than duration_min 60"),
    (today_entry(stretching_adherence_pct=120), "stretching_adherence_pct", "120 is outside 0-100"),
    (today_entry(session_date=dt.date(2025, 1, 19)), "session_date", "2025-01-19 is before visit 3 of episode E1"),
    (today_entry(session_date="27/01/2025"), "session_date", "is not a date as YYYY-MM-DD"),
    (today_entry(visit_number=3), "visit_number", "visit 3 of E1 is already recorded (on 2025-01-20)"),
    (today_entry(visit_number=0), "visit_number", "0 is below 1"),
    (today_entry(therapist_id="T" * 65), "therapist_id", "is longer than 64 characters"),
])
def test_an_invalid_session_is_refused_next_to_its_field_and_writes_nothing(con, entry, field, message):
    before = db.table_checksums(con)
    with pytest.raises(RecordRefused) as refused:
        records.record_session(con, "E1", entry)
    assert any(message in text for text in refused.value.problems[field]), refused.value.problems
    assert db.table_checksums(con) == before


def test_every_problem_of_a_session_is_reported_at_once(con):
    with pytest.raises(RecordRefused) as refused:
        records.record_session(con, "E1", today_entry(pain_pre=11, pain_post=-1, psfs_post=20))
    assert set(refused.value.problems) == {"pain_pre", "pain_post", "psfs_post"}


def test_a_duplicate_visit_is_reported_with_the_rows_other_problems(con):
    with pytest.raises(RecordRefused) as refused:
        records.record_session(con, "E1", today_entry(visit_number=2, pain_pre=11))
    assert set(refused.value.problems) == {"visit_number", "pain_pre"}
    assert refused.value.problems["visit_number"] == [
        "visit 2 of E1 is already recorded (on 2025-01-13); to change it, correct the stored visit instead"]


def test_recording_for_an_unknown_episode_is_refused(con):
    before = db.table_checksums(con)
    with pytest.raises(RecordRefused) as refused:
        records.record_session(con, "E404", today_entry())
    assert refused.value.problems == {"episode_id": ["no course of care E404 is stored"]}
    assert db.table_checksums(con) == before


def test_opening_an_episode_for_a_new_client_stores_client_episode_and_first_visit(con):
    # The new client is seen by T2, whose clinic is "north": the client belongs there too.
    entry = EpisodeEntry(client_id="C00100", client_name="Zoë Ødegård", condition="heel_spur",
                         course_type="chronic", therapist_id="T2", severity="severe", prior_injuries=2,
                         onset_date=dt.date(2024, 6, 1))
    episode_id = records.open_episode(con, entry, SessionEntry(session_date=dt.date(2025, 3, 3), pain_pre=8, pain_post=6))
    assert episode_id == "E00003"  # after E1 and E2
    assert con.execute("SELECT display_name, clinic_id FROM clients WHERE client_id = 'C00100'").fetchone() == ("Zoë Ødegård", "north")
    stored = con.execute("SELECT client_id, therapist_id, condition, course_type, severity, prior_injuries, onset_date "
                         "FROM episodes WHERE episode_id = ?", [episode_id]).fetchone()
    assert stored == ("C00100", "T2", "heel_spur", "chronic", "severe", 2, dt.date(2024, 6, 1))
    progress = metrics.episode_progress(con, episode_id)
    assert list(progress["visit_number"]) == [1] and progress["pain_pre"].iloc[0] == 8


def test_a_returning_client_keeps_their_stored_name_and_clinic(con):
    entry = EpisodeEntry(client_id="CE2", client_name="Someone Else", condition="bunion", course_type="acute",
                         therapist_id="T1", is_new_client=False)
    episode_id = records.open_episode(con, entry, SessionEntry(session_date="2025-04-01", pain_pre=5, pain_post=4))
    assert con.execute("SELECT display_name, clinic_id FROM clients WHERE client_id = 'CE2'").fetchone() == ("Ben Stone", "north")
    assert con.execute("SELECT count(*) FROM episodes WHERE client_id = 'CE2'").fetchone()[0] == 2
    assert metrics.episode_summary(con, episode_id)["condition"] == "bunion"


@pytest.mark.parametrize("entry, first, field, message", [
    (EpisodeEntry("CE1", "heel_spur", "acute", "T1", client_name="Ada"), None, "client_id", "CE1 is already a client"),
    (EpisodeEntry("C999", "heel_spur", "acute", "T1", is_new_client=False), None, "client_id", "no client C999 is stored"),
    (EpisodeEntry("C100", "gout", "acute", "T1"), None, "condition", "'gout' is not a known condition"),
    (EpisodeEntry("C100", "heel_spur", "sometimes", "T1"), None, "course_type", "is not a known course type"),
    (EpisodeEntry("C100", "heel_spur", "acute", "T1", prior_injuries=101), None, "prior_injuries", "101 is outside 0-100"),
    (EpisodeEntry("", "heel_spur", "acute", "T1"), None, "client_id", "required value is missing"),
    (EpisodeEntry("C100", "heel_spur", "acute", "T1"), SessionEntry(session_date=None, pain_pre=5, pain_post=4),
     "session_date", "required value is missing"),
])
def test_an_invalid_new_episode_is_refused_and_writes_nothing(con, entry, first, field, message):
    before = db.table_checksums(con)
    with pytest.raises(RecordRefused) as refused:
        records.open_episode(con, entry, first or SessionEntry(session_date="2025-04-01", pain_pre=5, pain_post=4))
    assert any(message in text for text in refused.value.problems[field]), refused.value.problems
    assert db.table_checksums(con) == before


def session_id(con, episode_id: str, visit_number: int) -> int:
    return con.execute("SELECT session_id FROM sessions WHERE episode_id = ? AND visit_number = ?",
                       [episode_id, visit_number]).fetchone()[0]


def test_a_correction_changes_the_value_and_keeps_the_old_one(con):
    version = db.data_version(con)
    records.correct_value(con, session_id(con, "E1", 3), "pain_pre", "5", "typed 4 for 5", by="maria")
    assert db.data_version(con) == version + 1
    assert metrics.episode_progress(con, "E1").set_index("visit_number").loc[3, "pain_pre"] == 5
    history = records.correction_history(con, "E1")
    assert len(history) == 1
    row = history.iloc[0]
    assert (row["corrected_by"], row["visit_number"], row["field"], row["old_value"], row["new_value"], row["reason"]) == (
        "maria", 3, "pain_pre", "4", "5", "typed 4 for 5")
    assert row["corrected_at"] is not None


def test_corrections_are_listed_newest_first_per_episode(con):
    records.correct_value(con, session_id(con, "E1", 1), "session_date", dt.date(2025, 1, 7), "wrong day", by="a")
    records.correct_value(con, session_id(con, "E1", 2), "psfs_pre", None, "not measured", by="b")
    records.correct_value(con, session_id(con, "E2", 1), "pain_post", 5, "misheard", by="c")
    history = records.correction_history(con, "E1")
    assert list(history["field"]) == ["psfs_pre", "session_date"]
    assert list(history["old_value"]) == ["4", "2025-01-06"]
    assert history["new_value"].iloc[0] is None and history["new_value"].iloc[1] == "2025-01-07"


def test_clearing_the_pain_after_a_session_clears_its_other_after_scores_with_history(con):
    # The post assessment exists only with its pain score, so its PSFS and flexibility go too.
    records.correct_value(con, session_id(con, "E1", 2), "pain_post", "", "client left before the end", by="maria")
    history = records.correction_history(con, "E1").set_index("field")
    assert set(history.index) == {"pain_post", "psfs_post", "dorsiflexion_post_deg"}
    assert history.loc["psfs_post", "old_value"] == "5" and history.loc["psfs_post", "new_value"] is None
    second = metrics.episode_progress(con, "E1").set_index("visit_number").loc[2]
    assert second[["pain_post", "psfs_post", "dorsiflexion_post_deg"]].isna().all()


@pytest.mark.parametrize("visit_number, field, value, reason, problem_field, message", [
    (3, "pain_pre", "11", "typo", "pain_pre", "11 is outside 0-10"),
    (3, "pain_pre", "four", "typo", "pain_pre", "'four' is not a number"),
    (3, "pain_pre", "", "typo", "pain_pre", "required value is missing"),
    (2, "session_date", "2025-01-05", "typo", "session_date", "2025-01-05 is before visit 1 of episode E1"),
    (2, "session_date", "2025-01-21", "typo", "session_date", "is after visit 3 of episode E1"),
    (3, "sore_spot_min", "75", "typo", "sore_spot_min", "75 is more than duration_min 60"),
    (3, "pain_pre", "5", "  ", "reason", "give a reason"),
    (3, "pain_pre", "4", "typo", "pain_pre", "4 is already the stored value"),
])
def test_an_invalid_correction_is_refused_and_writes_nothing(con, visit_number, field, value, reason, problem_field, message):
    before = db.table_checksums(con)
    with pytest.raises(RecordRefused) as refused:
        records.correct_value(con, session_id(con, "E1", visit_number), field, value, reason, by="maria")
    assert any(message in text for text in refused.value.problems[problem_field]), refused.value.problems
    assert db.table_checksums(con) == before


def test_only_session_and_assessment_values_can_be_corrected(con):
    with pytest.raises(RecordRefused) as refused:
        records.correct_value(con, session_id(con, "E1", 1), "therapist_id", "T2", "moved", by="maria")
    assert "cannot be corrected here" in refused.value.problems[""][0]
    with pytest.raises(RecordRefused):
        records.correct_value(con, 999_999, "pain_pre", "5", "typo", by="maria")


def test_the_courses_onset_date_is_set_through_any_of_its_visits_with_history(con):
    assert con.execute("SELECT onset_date FROM episodes WHERE episode_id = 'E1'").fetchone() == (None,)
    records.correct_value(con, session_id(con, "E1", 2), "onset_date", "2024-12-01", "asked the client", by="maria")
    assert con.execute("SELECT onset_date FROM episodes WHERE episode_id = 'E1'").fetchone() == (dt.date(2024, 12, 1),)
    # The visits' own values are as they were; one history row, under the visit it was made from.
    assert metrics.episode_progress(con, "E1")["pain_pre"].tolist() == [7, 6, 4]
    history = records.correction_history(con, "E1")
    assert history[["visit_number", "field", "old_value", "new_value"]].values.tolist() == [
        [2, "onset_date", None, "2024-12-01"]]
    assert con.execute("SELECT target_type, target_id FROM audit_log WHERE action = 'correct'").fetchall() == [
        ("episode", "E1")]
    # A later correction of a visit value leaves the onset alone.
    records.correct_value(con, session_id(con, "E1", 3), "pain_pre", "5", "typo", by="maria")
    assert con.execute("SELECT onset_date FROM episodes WHERE episode_id = 'E1'").fetchone() == (dt.date(2024, 12, 1),)


@pytest.mark.parametrize("value, message", [
    ("2025-01-07", "is after the course's first visit on 2025-01-06"),  # the pain began on or before visit 1
    ("", "it can be corrected here but not cleared"),
    ("not a date", "is not a date as YYYY-MM-DD"),
], ids=["after the first visit", "blank", "not a date"])
def test_an_onset_correction_the_importer_would_refuse_writes_nothing(con, value, message):
    before = db.table_checksums(con)
    with pytest.raises(RecordRefused) as refused:
        records.correct_value(con, session_id(con, "E1", 1), "onset_date", value, "asked", by="maria")
    assert any(message in text for text in refused.value.problems.get("onset_date", [])), refused.value.problems
    assert db.table_checksums(con) == before


def test_a_therapist_cannot_set_the_onset_of_a_colleagues_course(con):
    before = db.table_checksums(con)
    with pytest.raises(RecordRefused):
        records.correct_value(con, session_id(con, "E2", 1), "onset_date", "2025-01-01", "asked", by="t1", viewer="T1")
    assert db.table_checksums(con) == before


def test_every_data_quality_check_but_a_missing_visit_names_a_value_a_correction_can_change():
    assert set(metrics.CORRECTED_BY) == set(metrics.DATA_QUALITY_CHECKS) - {"missing_visits"}
    assert set(metrics.CORRECTED_BY.values()) <= set(records.CORRECTABLE + records.COURSE_CORRECTABLE)


def test_next_ids_follow_the_clinics_numbering(clinic_db):
    con = clinic_db([visit("E00041", 1, "2025-01-06", 7, 5, client_id="C00009"), visit("X7", 1, "2025-01-06", 7, 5)])
    assert records.next_id(con, "episodes", "E") == "E00042"
    assert records.next_id(con, "clients", "C") == "C00010"
    assert records.next_id(clinic_db(), "clients", "C") == "C00001"


def test_the_highest_numbers_are_kept_so_next_id_reads_no_ids(clinic_db, tmp_path):
    """Opening a course keeps the highest episode and client numbers in meta; every import then
    raises them, and next_id reads them there instead of every stored id."""
    con = clinic_db([visit("E00041", 1, "2025-01-06", 7, 5, client_id="C00009")])
    kept = "SELECT key, value FROM meta WHERE key LIKE 'highest_%' ORDER BY key"
    assert con.execute(kept).fetchall() == []  # a clinic that never numbered an id reads them all
    assert records.next_id(con, "episodes", "E") == "E00042"
    new_course = EpisodeEntry(client_id="C00010", condition="bunion", course_type="acute", therapist_id="T1")
    assert records.open_episode(con, new_course, today_entry()) == "E00042"
    assert con.execute(kept).fetchall() == [("highest_episode_number", "42")]
    # A therapist's new client is numbered by the clinic (next_id): that keeps the client number.
    assert records.open_episode(con, new_course, today_entry(), viewer="T1") == "E00043"
    assert con.execute("SELECT client_id FROM episodes WHERE episode_id = 'E00043'").fetchone() == ("C00011",)
    assert con.execute(kept).fetchall() == [("highest_client_number", "11"), ("highest_episode_number", "43")]
    # Imported ids raise them; ids of another pattern do not.
    visit_log.import_frames(con, [("visits.csv", pd.DataFrame(
        [visit("E00090", 1, "2025-01-06", 7, 5, client_id="C00077"), visit("E00500x", 1, "2025-01-06", 7, 5, client_id="XC9")],
        dtype=object))])
    assert con.execute(kept).fetchall() == [("highest_client_number", "77"), ("highest_episode_number", "90")]
    assert (records.next_id(con, "episodes", "E"), records.next_id(con, "clients", "C")) == ("E00091", "C00078")
    # The kept number is what is read: no id is looked at.
    con.execute("UPDATE meta SET value = '700' WHERE key = 'highest_episode_number'")
    assert records.next_id(con, "episodes", "E") == "E00701"
    # Another prefix has no kept number and reads the ids.
    assert records.next_id(con, "episodes", "S") == "S00001"
