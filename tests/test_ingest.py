"""The visit-log importer: every validation rule, all-or-nothing writes, re-imports and hostile files."""
from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics import catalog, config, db, visit_log
from conftest import visit

# A stored episode that has nothing to do with the files under test: rejected imports must leave
# it (and everything else) exactly as it was.
BYSTANDER = [visit("S1", 1, "2024-06-03", 6, 4), visit("S1", 2, "2024-06-10", 5, 3)]


def write_csv(path, rows: list[dict], columns: list[str] | None = None):
    """A visit-log CSV as a clinic would save it: None becomes a blank cell."""
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})
    return path


def three_visits(**first_row_changes) -> list[dict]:
    """Episode E1, visits 1-3 a week apart; the first row (spreadsheet line 2) changed as given."""
    rows = [visit("E1", 1, "2025-01-06", 8, 6), visit("E1", 2, "2025-01-13", 6, 4), visit("E1", 3, "2025-01-20", 4, 3)]
    rows[0].update(first_row_changes)
    return rows


def rejected(con, paths, replace=False) -> list[str]:
    """Import that must fail: returns its errors after proving the database did not change."""
    before = db.table_checksums(con)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, paths, replace=replace)
    assert db.table_checksums(con) == before
    return failure.value.errors


def stored_sessions(con) -> pd.DataFrame:
    return con.execute("SELECT * FROM session_facts ORDER BY episode_id, visit_number").df()


# ---------------------------------------------------------------------------------------------
# Happy paths


def test_csv_is_imported_with_defaults(clinic_db, tmp_path):
    con = clinic_db()
    version = db.data_version(con)
    path = write_csv(tmp_path / "visits.csv", three_visits(psfs_pre=4, psfs_post=5, dorsiflexion_pre_deg=-5,
                                                           client_name="Ada Brook", therapist_name="Rosa Lind"))
    result = visit_log.import_files(con, [path])
    assert result == visit_log.ImportResult(inserted=3, skipped=0, replaced=0, episodes=1)
    facts = stored_sessions(con)
    assert list(facts["pain_pre"]) == [8, 6, 4]
    assert list(facts["pain_post"]) == [6, 4, 3]
    assert facts.loc[0, "psfs_pre"] == 4 and facts.loc[0, "psfs_post"] == 5
    assert facts.loc[0, "dorsiflexion_pre_deg"] == -5 and pd.isna(facts.loc[0, "dorsiflexion_post_deg"])
    assert set(facts["clinic_id"]) == {"main"}              # no clinic_id column -> "main"
    assert set(facts["duration_min"]) == {60}                # no duration -> the standard hour
    assert facts.loc[0, "session_date"] == pd.Timestamp("2025-01-06")
    assert con.execute("SELECT display_name FROM clients").fetchall() == [("Ada Brook",)]
    assert con.execute("SELECT name, clinic_id FROM therapists").fetchall() == [("Rosa Lind", "main")]
    assert db.data_version(con) == version + 1


def _write_xlsx(path, frame):
    frame.to_excel(path, index=False, engine="openpyxl")


def _write_parquet(path, frame):
    frame.to_parquet(path, index=False)


@pytest.mark.parametrize("suffix, writer", [(".xlsx", _write_xlsx), (".parquet", _write_parquet)])
def test_typed_files_are_imported(clinic_db, tmp_path, suffix, writer):
    # Workbooks and Parquet carry numbers and real dates, not text.
    frame = pd.DataFrame(three_visits(clinic_id="north", severity="Moderate", prior_injuries=2,
                                      onset_date=dt.date(2024, 12, 1)))
    frame["session_date"] = pd.to_datetime(frame["session_date"])
    frame.loc[2, "pain_post"] = None                        # left before the closing score
    path = tmp_path / f"visits{suffix}"
    writer(path, frame)
    con = clinic_db()
    assert visit_log.import_files(con, [path]).inserted == 3
    facts = stored_sessions(con)
    assert list(facts["session_date"].dt.strftime("%Y-%m-%d")) == ["2025-01-06", "2025-01-13", "2025-01-20"]
    assert list(facts["pain_post"].fillna(-1)) == [6, 4, -1]
    assert con.execute("SELECT count(*) FROM assessments WHERE phase = 'post'").fetchone()[0] == 2
    assert con.execute("SELECT severity, prior_injuries, onset_date FROM episodes").fetchone() == (
        "moderate", 2, dt.date(2024, 12, 1))
    assert con.execute("SELECT clinic_id FROM clients").fetchone() == ("north",)


def test_post_scores_without_pain_post_are_not_stored(clinic_db, tmp_path):
    # A post assessment needs its pain score; the closing PSFS alone has no row to go on.
    con = clinic_db()
    path = write_csv(tmp_path / "visits.csv", three_visits(pain_post=None, psfs_post=6, dorsiflexion_post_deg=12))
    assert visit_log.import_files(con, [path]).inserted == 3
    assert con.execute("SELECT count(*) FROM assessments WHERE phase = 'post'").fetchone()[0] == 2
    assert visit_log.import_files(con, [path]).skipped == 3


def test_import_frames_accepts_typed_values(clinic_db):
    # The "record a session" form hands over Python values, not text.
    frame = pd.DataFrame([{
        "client_id": "C9", "episode_id": "E9", "condition": "heel_spur", "course_type": "chronic",
        "visit_number": np.int64(1), "session_date": dt.date(2025, 2, 3), "therapist_id": "T1",
        "pain_pre": 7.5, "pain_post": np.nan, "duration_min": 45.0, "stretching_adherence_pct": None,
    }])
    con = clinic_db()
    assert visit_log.import_frames(con, [("form", frame)]).inserted == 1
    row = stored_sessions(con).iloc[0]
    assert (row["pain_pre"], row["duration_min"]) == (7.5, 45)
    assert pd.isna(row["pain_post"]) and pd.isna(row["stretching_adherence_pct"])


@pytest.mark.parametrize("condition, course_type, severity", [
    ("Plantar fasciitis", "ACUTE", "Mild"),
    ("plantar-fasciitis", " acute ", "MILD"),
    ("PLANTAR_FASCIITIS", "Acute", " mild"),
])
def test_vocabulary_ignores_case_spaces_and_hyphens(clinic_db, tmp_path, condition, course_type, severity):
    con = clinic_db()
    path = write_csv(tmp_path / "visits.csv", three_visits(condition=condition, course_type=course_type,
                                                           severity=severity))
    visit_log.import_files(con, [path])
    assert con.execute("SELECT condition, course_type, severity FROM episodes").fetchone() == (
        "plantar_fasciitis", "acute", "mild")


def test_blank_lines_keep_spreadsheet_row_numbers(clinic_db, tmp_path):
    path = tmp_path / "visits.csv"
    write_csv(path, three_visits())
    lines = path.read_text().splitlines()
    # line 1 header, 2 visit 1, 3 blank, 4 visit 2 with pain 12, 5 visit 3
    lines[2] = lines[2].replace(",6,4", ",12,4")
    path.write_text("\n".join([lines[0], lines[1], "", lines[2], lines[3]]) + "\n")
    assert rejected(clinic_db(), [path]) == [f"{path}:4:pain_pre: 12 is outside 0-10"]


# ---------------------------------------------------------------------------------------------
# One rule at a time: the message names file, spreadsheet line and column, and nothing is written.

RULES = [
    # (change to line 2, expected error)
    ({"pain_pre": 11}, "2:pain_pre: 11 is outside 0-10"),
    ({"pain_post": -1}, "2:pain_post: -1 is outside 0-10"),
    ({"pain_pre": None}, "2:pain_pre: required value is missing; expected a number 0-10"),
    ({"pain_pre": "seven"}, "2:pain_pre: 'seven' is not a number; expected a number 0-10"),
    ({"client_id": ""}, "2:client_id: required value is missing; expected a client id of 1-64 characters"),
    ({"therapist_id": None}, "2:therapist_id: required value is missing; expected a therapist id of 1-64 characters"),
    ({"episode_id": "E" * 65, "visit_number": 4, "session_date": "2025-01-27"},
     f"2:episode_id: '{'E' * 37}...' is longer than 64 characters"),
    ({"psfs_pre": 10.5}, "2:psfs_pre: 10.5 is outside 0-10"),
    ({"psfs_post": -0.5}, "2:psfs_post: -0.5 is outside 0-10"),
    ({"stretching_adherence_pct": 101}, "2:stretching_adherence_pct: 101 is outside 0-100"),
    ({"prior_injuries": -1}, "2:prior_injuries: -1 is outside 0-100"),
    ({"prior_injuries": 1.5}, "2:prior_injuries: 1.5 is not a whole number; expected a whole number 0-100"),
    ({"duration_min": 0}, "2:duration_min: 0 is outside 1-480"),
    ({"duration_min": 481}, "2:duration_min: 481 is outside 1-480"),
    ({"sore_spot_min": 481}, "2:sore_spot_min: 481 is outside 0-480"),
    ({"sore_spot_min": 70}, "2:sore_spot_min: 70 is more than duration_min 60"),
    ({"sore_spot_min": 50, "duration_min": 45}, "2:sore_spot_min: 50 is more than duration_min 45"),
    ({"dorsiflexion_pre_deg": -31}, "2:dorsiflexion_pre_deg: -31 is outside -30 to 80"),
    ({"dorsiflexion_post_deg": 81}, "2:dorsiflexion_post_deg: 81 is outside -30 to 80"),
    ({"visit_number": 0}, "2:visit_number: 0 is below 1; expected a whole number 1 or more"),
    ({"visit_number": 1.5}, "2:visit_number: 1.5 is not a whole number; expected a whole number 1 or more"),
    ({"visit_number": "first"}, "2:visit_number: 'first' is not a number; expected a whole number 1 or more"),
    ({"session_date": "06/01/2025"}, "2:session_date: '06/01/2025' is not a date as YYYY-MM-DD"),
    ({"session_date": "2025-02-30"}, "2:session_date: '2025-02-30' is not a real date"),
    ({"session_date": ""}, "2:session_date: required value is missing; expected a date as YYYY-MM-DD"),
    ({"onset_date": "yesterday"}, "2:onset_date: 'yesterday' is not a date as YYYY-MM-DD"),
    ({"condition": "gout"}, "2:condition: 'gout' is not a known condition; allowed: " + ", ".join(config.CONDITIONS)),
    ({"course_type": "subacute"}, "2:course_type: 'subacute' is not a known course type; allowed: acute, chronic"),
    ({"severity": "awful"}, "2:severity: 'awful' is not a known severity; allowed: mild, moderate, severe"),
    ({"pain_post": None, "psfs_post": 11}, "2:psfs_post: 11 is outside 0-10"),
    ({"visit_number": 2}, "3:visit_number: episode E1 visit 2 is already given at {file}:2; "
                          "each visit of an episode appears once"),
    # visits now run 2 (01-13), 3 (01-20), 4 (01-06): line 2's visit 4 goes back in time
    ({"visit_number": 4}, "2:session_date: 2025-01-06 is before visit 3 of episode E1 on 2025-01-20; "
                          "visit dates must not go backwards as visit_number rises"),
    ({"client_id": "C2"}, "3:client_id: episode E1 is given client CE1 here but C2 at {file}:2; "
                          "an episode has one client"),
    ({"condition": "bunion"}, "3:condition: episode E1 is given condition plantar_fasciitis here but bunion "
                              "at {file}:2; an episode has one condition"),
    ({"course_type": "chronic"}, "3:course_type: episode E1 is given course type acute here but chronic "
                                 "at {file}:2; an episode has one course type"),
]


@pytest.mark.parametrize("with_stored_data", [False, True], ids=["empty-db", "stored-db"])
@pytest.mark.parametrize("change, expected", RULES, ids=[expected.split(":")[1] + "-" + str(i)
                                                         for i, (_, expected) in enumerate(RULES)])
def test_each_rule_is_reported_and_nothing_is_written(clinic_db, tmp_path, change, expected, with_stored_data):
    con = clinic_db(BYSTANDER if with_stored_data else [])
    path = write_csv(tmp_path / "visits.csv", three_visits(**change), columns=list(catalog.NAMES))
    errors = rejected(con, [path])
    assert f"{path}:{expected.format(file=path)}" in errors


def test_unknown_and_missing_columns(clinic_db, tmp_path):
    rows = three_visits()
    for row in rows:
        row["colour"] = "blue"
        del row["pain_post"]
    path = write_csv(tmp_path / "visits.csv", rows)
    errors = rejected(clinic_db(BYSTANDER), [path])
    assert errors == [
        f"{path}:1:pain_post: required column is missing",
        f"{path}:1:colour: unknown column; allowed columns are " + ", ".join(catalog.NAMES),
    ]


@pytest.mark.parametrize("header, expected", [
    ("Client_ID", "unknown column; did you mean client_id?"),
    ("pain_pre.1", "looks like a second pain_pre column; keep one"),
    ("", "a column with no header has values; name it or delete it"),
])
def test_misspelt_headers_get_a_hint(clinic_db, tmp_path, header, expected):
    rows = [dict(row, **{header: "x"}) for row in three_visits()]
    path = write_csv(tmp_path / "visits.csv", rows)
    errors = rejected(clinic_db(), [path])
    column = header or "(column 10)"                         # nine required columns, then this one
    assert len(errors) == 1 and errors[0].startswith(f"{path}:1:{column}: ") and expected in errors[0]


def test_unknown_extra_column_is_an_error_even_when_rows_are_fine(clinic_db, tmp_path):
    rows = [dict(row, Notes="called back") for row in three_visits()]
    errors = rejected(clinic_db(), [write_csv(tmp_path / "visits.csv", rows)])
    assert len(errors) == 1 and ":1:Notes: unknown column" in errors[0]


def test_every_problem_is_reported_in_file_order(clinic_db, tmp_path):
    rows = three_visits(pain_pre=11, condition="gout")
    rows[1]["pain_post"] = "x"
    rows[2]["session_date"] = "2025-13-01"
    path = write_csv(tmp_path / "visits.csv", rows)
    errors = rejected(clinic_db(BYSTANDER), [path])
    assert [error.split(": ")[0] for error in errors] == [
        f"{path}:2:condition", f"{path}:2:pain_pre", f"{path}:3:pain_post", f"{path}:4:session_date"]


def test_thousands_of_bad_rows_are_all_kept_and_summarised(clinic_db, tmp_path):
    rows = [visit(f"E{i}", 1, "2025-01-06", 11, None) for i in range(10_000)]
    errors = rejected(clinic_db(), [write_csv(tmp_path / "visits.csv", rows)])
    assert len(errors) == 10_000
    summary = visit_log.format_errors(errors, limit=100).splitlines()
    assert len(summary) == 101
    assert summary[0].endswith(":2:pain_pre: 11 is outside 0-10")
    assert summary[-1] == "... and 9900 more problems"
    assert visit_log.format_errors(errors[:3]) == "\n".join(errors[:3])


# ---------------------------------------------------------------------------------------------
# Against what is already stored


def test_reimport_skips_unchanged_rows_and_writes_nothing(clinic_db, tmp_path):
    con = clinic_db()
    path = write_csv(tmp_path / "visits.csv", three_visits(severity="mild", client_name="Ada"))
    visit_log.import_files(con, [path])
    before = db.table_checksums(con)
    assert visit_log.import_files(con, [path]) == visit_log.ImportResult(inserted=0, skipped=3, replaced=0, episodes=0)
    assert db.table_checksums(con) == before                 # not even the data version moved


def test_new_visits_of_a_stored_episode_are_added(clinic_db, tmp_path):
    con = clinic_db()
    rows = three_visits()
    visit_log.import_files(con, [write_csv(tmp_path / "first.csv", rows[:2])])
    result = visit_log.import_files(con, [write_csv(tmp_path / "all.csv", rows)])
    assert (result.inserted, result.skipped, result.episodes) == (1, 2, 1)


def test_changed_row_is_an_error_without_replace(clinic_db, tmp_path):
    con = clinic_db(three_visits())
    path = write_csv(tmp_path / "visits.csv", three_visits(pain_pre=7, session_date="2025-01-05"))
    assert rejected(con, [path]) == [
        f"{path}:2:session_date: stored value 2025-01-06 differs from 2025-01-05; use --replace to overwrite",
        f"{path}:2:pain_pre: stored value 8 differs from 7; use --replace to overwrite",
    ]


def test_replace_overwrites_session_and_assessments(clinic_db, tmp_path):
    stored = three_visits()
    stored[2]["pain_post"] = None                            # visit 3 had no closing score
    con = clinic_db(stored)
    ids_before = list(stored_sessions(con)["session_id"])
    rows = three_visits(pain_pre=7, session_date="2025-01-05", stretching_adherence_pct=50, psfs_pre=3)
    rows[1]["pain_post"] = None                              # visit 2's closing score withdrawn
    rows[2]["pain_post"] = 2                                 # visit 3's closing score found
    path = write_csv(tmp_path / "visits.csv", rows)
    result = visit_log.import_files(con, [path], replace=True)
    assert result == visit_log.ImportResult(inserted=0, skipped=0, replaced=3, episodes=1)
    facts = stored_sessions(con)
    assert list(facts["session_id"]) == ids_before           # corrected in place, ids kept
    assert facts.loc[0, "session_date"] == pd.Timestamp("2025-01-05")
    assert (facts.loc[0, "pain_pre"], facts.loc[0, "psfs_pre"], facts.loc[0, "stretching_adherence_pct"]) == (7, 3, 50)
    assert pd.isna(facts.loc[1, "pain_post"]) and facts.loc[2, "pain_post"] == 2
    assert con.execute("SELECT count(*) FROM assessments WHERE phase = 'post'").fetchone()[0] == 2
    # A second identical import has nothing left to change.
    assert visit_log.import_files(con, [path], replace=True).skipped == 3


def test_replace_keeps_values_of_columns_the_file_does_not_have(clinic_db, tmp_path):
    con = clinic_db(three_visits(psfs_pre=4, duration_min=45))
    rows = three_visits(pain_pre=7)
    path = write_csv(tmp_path / "visits.csv", rows)          # no psfs or duration columns
    assert visit_log.import_files(con, [path], replace=True).replaced == 1
    row = stored_sessions(con).iloc[0]
    assert (row["pain_pre"], row["psfs_pre"], row["duration_min"]) == (7, 4, 45)


@pytest.mark.parametrize("replace", [False, True])
def test_stored_session_therapist_cannot_change(clinic_db, tmp_path, replace):
    # DuckDB cannot update a foreign-key column of a row other tables reference.
    con = clinic_db(three_visits())
    path = write_csv(tmp_path / "visits.csv", three_visits(therapist_id="T2"))
    assert rejected(con, [path], replace=replace) == [
        f"{path}:2:therapist_id: stored value T1 differs from T2; the therapist of a stored session "
        "cannot be changed by an import, even with --replace"]


def test_stored_episode_attributes_differ_unless_replace(clinic_db, tmp_path):
    con = clinic_db(three_visits(severity="mild"))
    rows = [dict(row, condition="heel_spur", severity="severe") for row in three_visits()]
    path = write_csv(tmp_path / "visits.csv", rows)
    errors = rejected(con, [path])
    assert f"{path}:2:condition: stored value plantar_fasciitis differs from heel_spur; use --replace to overwrite" in errors
    assert f"{path}:2:severity: stored value mild differs from severe; use --replace to overwrite" in errors
    assert len(errors) == 6                                  # both columns on each of three rows
    result = visit_log.import_files(con, [path], replace=True)
    assert (result.skipped, result.replaced, result.episodes) == (3, 0, 1)
    assert con.execute("SELECT condition, severity FROM episodes").fetchone() == ("heel_spur", "severe")


@pytest.mark.parametrize("replace", [False, True])
def test_stored_episode_cannot_move_to_another_client(clinic_db, tmp_path, replace):
    con = clinic_db(three_visits())
    rows = [dict(row, client_id="C-other") for row in three_visits()]
    errors = rejected(con, [write_csv(tmp_path / "visits.csv", rows)], replace=replace)
    assert len(errors) == 3
    assert errors[0].endswith(":2:client_id: episode E1 is stored for client CE1, not C-other; "
                              "an episode cannot move to another client")


def test_client_stored_under_another_clinic(clinic_db, tmp_path):
    con = clinic_db(BYSTANDER)                               # client CS1 lives in clinic "main"
    rows = [visit("S2", 1, "2025-01-06", 5, 4, client_id="CS1", clinic_id="north")]
    path = write_csv(tmp_path / "visits.csv", rows)
    assert rejected(con, [path]) == [
        f"{path}:2:clinic_id: client CS1 is stored under clinic main, not north; a client belongs to one clinic"]


def test_client_given_two_clinics_in_one_import(clinic_db, tmp_path):
    rows = [visit("E1", 1, "2025-01-06", 5, 4, clinic_id="north"), visit("E2", 1, "2025-01-07", 5, 4,
                                                                          client_id="CE1", clinic_id="south")]
    path = write_csv(tmp_path / "visits.csv", rows)
    assert rejected(clinic_db(), [path]) == [
        f"{path}:3:clinic_id: client CE1 is given clinic south here but north at {path}:2; a client belongs to one clinic"]


def test_episode_facts_conflicting_with_stored_episode(clinic_db, tmp_path):
    con = clinic_db(three_visits())
    rows = [visit("E1", 4, "2025-01-27", 3, 2, course_type="chronic")]
    path = write_csv(tmp_path / "visits.csv", rows)
    assert rejected(con, [path]) == [
        f"{path}:2:course_type: stored value acute differs from chronic; use --replace to overwrite"]


@pytest.mark.parametrize("new_visit, expected", [
    # stored: visit 1 on 01-06, 2 on 01-13, 3 on 01-20
    (visit("E1", 4, "2025-01-19", 3, 2), "2025-01-19 is before visit 3 of episode E1 on 2025-01-20 (stored)"),
    (visit("E1", 2, "2025-01-21", 6, 4), None),              # changed date: a --replace difference
])
def test_dates_going_backwards_against_stored_visits(clinic_db, tmp_path, new_visit, expected):
    con = clinic_db(three_visits())
    path = write_csv(tmp_path / "visits.csv", [new_visit])
    errors = rejected(con, [path], replace=True)
    if expected is None:
        expected = "2025-01-21 is after visit 3 of episode E1 on 2025-01-20 (stored)"
    assert errors == [f"{path}:2:session_date: {expected}; visit dates must not go backwards as visit_number rises"]


def test_stored_names_are_compared_but_never_shown(clinic_db, tmp_path, capsys):
    con = clinic_db([visit("E1", 1, "2025-01-06", 8, 6, client_name="Ada Brook", therapist_name="Rosa Lind")])
    rows = [visit("E1", 1, "2025-01-06", 8, 6, client_name="Ada Brooke", therapist_name="Rosa Lind")]
    path = write_csv(tmp_path / "visits.csv", rows)
    errors = rejected(con, [path])
    assert errors == [f"{path}:2:client_name: differs from the stored name of client CE1 "
                      "(names are not shown); use --replace to overwrite"]
    assert visit_log.import_files(con, [path], replace=True).skipped == 1
    assert con.execute("SELECT display_name FROM clients").fetchone() == ("Ada Brooke",)
    assert "Ada" not in capsys.readouterr().out


def test_import_prints_nothing(clinic_db, tmp_path, capsys):
    # Health data is private: no pain score or name on stdout or stderr.
    visit_log.import_files(clinic_db(), [write_csv(tmp_path / "v.csv", three_visits(client_name="Ada Brook"))])
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------------------------------------
# Several files at once


def test_several_files_in_one_import(clinic_db, tmp_path):
    rows = three_visits()
    first = write_csv(tmp_path / "january.csv", rows[:2])
    second = write_csv(tmp_path / "february.csv", [rows[2], visit("E2", 1, "2025-02-03", 5, 4)])
    result = visit_log.import_files(clinic_db(), [first, second])
    assert result == visit_log.ImportResult(inserted=4, skipped=0, replaced=0, episodes=2)


def test_duplicate_across_files_names_the_first(clinic_db, tmp_path):
    rows = three_visits()
    first = write_csv(tmp_path / "january.csv", rows)
    second = write_csv(tmp_path / "february.csv", [visit("E2", 1, "2025-02-03", 5, 4), rows[1]])
    assert rejected(clinic_db(BYSTANDER), [first, second]) == [
        f"{second}:3:visit_number: episode E1 visit 2 is already given at {first}:3; each visit of an episode appears once"]


def test_unreadable_and_invalid_files_are_reported_together(clinic_db, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    bad = write_csv(tmp_path / "bad.csv", three_visits(pain_pre=11))
    errors = rejected(clinic_db(), [empty, bad])
    assert errors == [f"{empty}: the file is empty; expected a header line and one row per session",
                      f"{bad}:2:pain_pre: 11 is outside 0-10"]


# ---------------------------------------------------------------------------------------------
# Hostile and mistaken files


@pytest.mark.parametrize("name, content, expected", [
    ("empty.csv", b"", "the file is empty"),
    ("blank.csv", b"  \n\n", "the file is empty"),
    ("header.csv", b"client_id,episode_id\n", "the file has a header but no rows"),
    ("binary.csv", bytes(range(256)) * 4, "this is a binary file, not CSV text"),
    ("latin1.csv", "client_id,episode_id\nC1,Zoë\n".encode("latin-1"), "the file is not UTF-8 text (byte 0xeb on line 2)"),
    ("utf16.csv", "client_id\nC1\n".encode("utf-16"), "the file is UTF-16 text"),
    ("workbook.csv", b"PK\x03\x04rest-of-a-zip", "not CSV text; name it .xlsx"),
    ("semicolons.csv", b"client_id;episode_id\nC1;E1\n", "separated by ';'"),
    ("visits.txt", b"client_id\n", "unsupported file type '.txt'; use .csv, .xlsx, .parquet"),
    ("visits.xls", b"\xd0\xcf\x11\xe0", "save old .xls workbooks as .xlsx"),
    ("fake.xlsx", b"client_id,episode_id\n", "not a readable Excel workbook"),
    ("fake.parquet", b"PAR1 not really", "not a readable Parquet file"),
])
def test_hostile_files_get_a_clear_message(clinic_db, tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    errors = rejected(clinic_db(BYSTANDER), [path])
    assert len(errors) == 1 and errors[0].startswith(f"{path}: ") and expected in errors[0]


def test_missing_file_and_folder(clinic_db, tmp_path):
    (tmp_path / "folder.csv").mkdir()
    errors = rejected(clinic_db(), [tmp_path / "nowhere.csv", tmp_path / "folder.csv"])
    assert errors == [f"{tmp_path / 'nowhere.csv'}: no such file",
                      f"{tmp_path / 'folder.csv'}: is a folder, not a visit-log file"]


def test_oversized_file_is_refused_before_reading(clinic_db, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MAX_IMPORT_BYTES", 100)
    path = write_csv(tmp_path / "visits.csv", three_visits())
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("read an oversized file"))
    errors = rejected(clinic_db(), [path])
    assert len(errors) == 1
    assert f"{path}: the file is {path.stat().st_size:,} bytes, more than the import limit of 100 bytes" in errors[0]


def test_utf8_with_bom_and_accents_is_read(clinic_db, tmp_path):
    path = tmp_path / "excel-export.csv"
    write_csv(path, three_visits(client_name="Zoë Ångström"))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    con = clinic_db()
    visit_log.import_files(con, [path])
    assert con.execute("SELECT display_name FROM clients").fetchone() == ("Zoë Ångström",)


def test_formula_and_sql_text_are_stored_as_plain_text(clinic_db, tmp_path):
    formula = '=HYPERLINK("http://evil.example","click")'
    sql_id = "x'); DROP TABLE sessions;--"
    rows = [dict(row, client_name=formula, episode_id=sql_id, client_id=sql_id) for row in three_visits()]
    con = clinic_db()
    visit_log.import_files(con, [write_csv(tmp_path / "visits.csv", rows)])
    assert con.execute("SELECT client_id, display_name FROM clients").fetchall() == [(sql_id, formula)]
    assert con.execute("SELECT DISTINCT episode_id FROM sessions").fetchall() == [(sql_id,)]


def test_uncomputed_formula_in_a_workbook_is_kept_as_text(clinic_db, tmp_path):
    # openpyxl stores "=..." as a formula; Excel never computed it, so its text is what we have.
    formula = '=HYPERLINK("http://evil.example","click")'
    path = tmp_path / "visits.xlsx"
    _write_xlsx(path, pd.DataFrame(three_visits(client_name=formula)))
    con = clinic_db()
    visit_log.import_files(con, [path])
    assert con.execute("SELECT display_name FROM clients").fetchone() == (formula,)


def test_database_error_rolls_everything_back(clinic_db, tmp_path, monkeypatch):
    con = clinic_db(BYSTANDER)
    # Sessions are written before assessments; a failure at the last step must undo them too.
    monkeypatch.setitem(visit_log.SQL, "insert_assessments",
                        "INSERT INTO assessments SELECT max(session_id), 'pre', 99, NULL, NULL FROM sessions")
    errors = rejected(con, [write_csv(tmp_path / "visits.csv", three_visits())])
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path / 'visits.csv'}: the database refused the import (")
    assert errors[0].endswith("); nothing was written")


def test_read_visit_log_returns_raw_text(tmp_path):
    path = write_csv(tmp_path / "visits.csv", three_visits(pain_post=None))
    frame = visit_log.read(path)
    assert list(frame.columns) == list(three_visits()[0])
    assert frame.loc[0, "pain_pre"] == "8" and frame.loc[0, "pain_post"] == ""


# ---------------------------------------------------------------------------------------------
# Size: column operations, not a loop per row (timing lives in benchmarks/, not here)


def test_twenty_thousand_rows_with_a_few_bad_ones(clinic_db, tmp_path):
    n_episodes, visits = 2_000, 10
    episode = np.repeat(np.arange(n_episodes), visits)
    visit_number = np.tile(np.arange(1, visits + 1), n_episodes)
    dates = pd.Timestamp("2025-01-06") + pd.to_timedelta((episode % 200) + (visit_number - 1) * 7, unit="D")
    frame = pd.DataFrame({
        "client_id": [f"C{e}" for e in episode], "episode_id": [f"E{e}" for e in episode],
        "condition": np.where(episode % 2 == 0, "Plantar fasciitis", "shin_splints"),
        "course_type": np.where(episode % 3 == 0, "chronic", "acute"),
        "visit_number": visit_number, "session_date": dates.strftime("%Y-%m-%d"),
        "therapist_id": [f"T{e % 7}" for e in episode],
        "pain_pre": np.maximum(0, 9 - visit_number), "pain_post": np.maximum(0, 8 - visit_number),
    })
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    con = clinic_db()
    assert visit_log.import_files(con, [path]) == visit_log.ImportResult(inserted=20_000, skipped=0, replaced=0,
                                                                    episodes=2_000)
    frame.loc[[5, 15_000], "pain_pre"] = 12
    frame.to_csv(path, index=False)
    assert rejected(con, [path]) == [f"{path}:7:pain_pre: 12 is outside 0-10",
                                     f"{path}:15002:pain_pre: 12 is outside 0-10"]
