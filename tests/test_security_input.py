"""Hostile input: every file in tests/hostile/ (see its README) and a few generated ones is either
refused with a message a person can act on and nothing written, or, when it is legal text that
only looks like code, stored exactly as typed with everything else intact, or, when it is a legal
file a spreadsheet shows in its own way, stored as the person sees it."""
from __future__ import annotations

import csv
import importlib
from pathlib import Path

import pandas as pd
import pytest

from analytics import catalog, config, db, metrics, records, visit_log
from analytics.__main__ import main as cli
from analytics.records import EpisodeEntry, SessionEntry
from conftest import visit

HOSTILE = Path(__file__).resolve().parent / "hostile"
CORPUS_LIMIT_BYTES = 200 * 1024

# Visits already stored before every hostile import: rejected files must leave them, and every
# other row, exactly as they were; accepted files must not touch them.
BYSTANDER = [visit("S1", 1, "2024-06-03", 6, 4, client_name="Ada Dale"), visit("S1", 2, "2024-06-10", 5, 3),
             visit("S2", 1, "2024-06-04", 7, 5, therapist_id="T2")]

ALLOWED_COLUMNS = ", ".join(catalog.NAMES)
LONG_ROW = ("the row has 11 values but the header has 10 columns; put quotes around values that contain a comma, "
            "or remove the extra values")

# File -> the exact errors ("{path}" is the file as given).
REJECTED: dict[str, list[str]] = {
    "empty.csv": ["{path}: the file is empty; expected a header line and one row per session"],
    "header_only.csv": ["{path}: the file has a header but no rows; expected one row per session"],
    "binary_junk.csv": ["{path}: this is a binary file, not CSV text"],
    "png_renamed.xlsx": ["{path}: not a readable Excel workbook (BadZipFile: File is not a zip file)"],
    "utf16.csv": ["{path}: the file is UTF-16 text; save it as 'CSV UTF-8' and import again"],
    "utf16le_no_bom.csv": ["{path}: this is a binary file, not CSV text"],
    "latin1.csv": ["{path}: the file is not UTF-8 text (byte 0xeb on line 2); save it as 'CSV UTF-8' and import again"],
    "nul_bytes.csv": ["{path}: this is a binary file, not CSV text"],
    "wrong_delimiter.csv": ["{path}: the columns are separated by ';' or tabs; export the sheet as CSV with commas "
                            "between columns"],
    "wrong_delimiter_pipe.csv": [f"{{path}}:1:{column}: required column is missing" for column in catalog.REQUIRED]
    + [f"{{path}}:1:{'|'.join(catalog.REQUIRED)}: unknown column; allowed columns are {ALLOWED_COLUMNS}"],
    "extra_fields.csv": [f"{{path}}:2:(column 11): {LONG_ROW}", f"{{path}}:4:(column 11): {LONG_ROW}"],
    "wrong_types.parquet": [
        "{path}:2:session_date: '20250106' is not a date as YYYY-MM-DD",
        "{path}:2:pain_pre: 'True' is not a number; expected a number 0-10",
        "{path}:3:visit_number: 2.5 is not a whole number; expected a whole number 1 or more",
        "{path}:3:session_date: '20250113' is not a date as YYYY-MM-DD",
        "{path}:3:pain_pre: 'False' is not a number; expected a number 0-10",
        "{path}:3:pain_post: 'six' is not a number; expected a number 0-10",
        "{path}:4:session_date: '20250120' is not a date as YYYY-MM-DD",
        "{path}:4:pain_pre: 'True' is not a number; expected a number 0-10",
    ],
    "nested_column.parquet": ["{path}:1:pain_pre: the column holds lists or records, not one value per cell; "
                              "save it with plain text, numbers or dates"],
    "formula.xlsx": ["{path}:2:visit_number: '=1+1' is not a number; expected a whole number 1 or more",
                     "{path}:4:pain_pre: '=A1' is not a number; expected a number 0-10"],
    # Issue #11: these used to import with exit 0.
    "cut_short_row.csv": ["{path}:4:client_name: the row has 9 values but the header has 10 columns (client_name "
                          "missing); check that the file is complete (an export cut off while it was written?)"],
    "short_row_middle.csv": ["{path}:3:pain_post: the row has 8 values but the header has 10 columns (pain_post, "
                             "client_name missing); check that the file is complete (an export cut off while it "
                             "was written?)"],
    "blank_lines_only.csv": ["{path}: no visits in the file: the header is followed only by blank lines; expected "
                             "one row per session"],
    "future_date.csv": ["{path}:4:session_date: 2205-01-20 is after today ({today}); check the year"],
    "before_1990.csv": ["{path}:2:session_date: 1925-01-06 is before 1990-01-01; check the year"],
    "onset_after_first_visit.csv": [
        f"{{path}}:{row}:onset_date: 2025-01-13 is after the course's first visit on 2025-01-06; the onset is when "
        "the pain began, on or before the first visit" for row in (2, 3, 4)],
    "zero_width_id.csv": [f"{{path}}:{row}:client_id: 'BC0\\u200b1001' contains an invisible or control character "
                          "U+200B; retype the value" for row in (2, 3, 4)],
    "bidi_override_name.csv": [f"{{path}}:{row}:client_name: 'Ada \\u202eevoli' contains an invisible or control "
                               "character U+202E; retype the value" for row in (2, 3, 4)],
    "newline_in_id.csv": [f"{{path}}:{row}:episode_id: 'H\\n1' contains an invisible or control character U+000A; "
                          "retype the value" for row in (2, 3, 4)],
    "tab_in_name.csv": [f"{{path}}:{row}:therapist_name: 'Rosa\\tLind' contains an invisible or control character "
                        "U+0009; retype the value" for row in (2, 3, 4)],
    "name_10000_chars.csv": [f"{{path}}:{row}:client_name: the name is longer than 120 characters" for row in (2, 3, 4)],
    "repeated_column.parquet": ["{path}:1:pain_pre: the column appears more than once; keep one"],
    "repeated_column.csv": ["{path}:1:pain_pre: the column appears more than once; keep one"],
    "repeated_column.xlsx": ["{path}:1:pain_pre: the column appears more than once; keep one"],
    "two_visit_sheets.xlsx": ["{path}: the workbook has several sheets with rows ('Jan', 'Feb'); choose one (import "
                              "--sheet NAME, or the sheet choice on the Import page), or put the visits on one sheet "
                              "named 'visits'"],
}

FORMULAS = ['=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]
SCRIPT, IMAGE = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"
DROP_SESSIONS, ALWAYS_TRUE = "x'); DROP TABLE sessions;--", "1 OR 1=1"
# File -> what it must store, exactly: clients {id: (name, clinic)}, therapists {id: name},
# episodes {id: (client id, visits)}.
STORED_AS_TEXT: dict[str, dict[str, dict]] = {
    "formula_names.csv": {
        "clients": {**{f"CF{i}": (text, "main") for i, text in enumerate(FORMULAS)}, "=1+2": (None, "main")},
        "therapists": {**{f"TF{i}": FORMULAS[(i + 1) % 4] for i in range(4)}, "@SUM(1)": None},
        "episodes": {**{f"F{i}": (f"CF{i}", 1) for i in range(4)}, "F-id": ("=1+2", 1)},
    },
    "html_names.csv": {
        "clients": {"CW1": (SCRIPT, "main"), IMAGE: (IMAGE, "main")},
        "therapists": {"TH1": IMAGE, "TW2": SCRIPT},
        "episodes": {"W1": ("CW1", 3), SCRIPT: (IMAGE, 3)},
    },
    "sql_ids.csv": {
        "clients": {ALWAYS_TRUE: ("Robert'); DROP TABLE clients;--", ALWAYS_TRUE),
                    DROP_SESSIONS: ("1; DELETE FROM assessments", DROP_SESSIONS)},
        "therapists": {DROP_SESSIONS: "' OR ''='", ALWAYS_TRUE: '"; DROP TABLE episodes;--'},
        "episodes": {DROP_SESSIONS: (ALWAYS_TRUE, 3), ALWAYS_TRUE: (DROP_SESSIONS, 3)},
    },
}
STORED_AS_TEXT["formula_names.xlsx"] = STORED_AS_TEXT["formula_names.csv"]

# Legal files that must be read as the person sees them (issue #11). File -> the episodes stored
# {id: visits}, the new clients {id: name}, each course's stretching adherence by visit where
# the file gives it, and the notices ("{path}" is the file as given).
STORED_AS_SHOWN: dict[str, dict] = {
    "no_line_ending.csv": {"episodes": {"L1": 3}, "clients": {"CL1": None},
                           "notices": ["{path}: line 4 has no line ending: check that the file is complete"]},
    "nfd_name.csv": {"episodes": {"U1": 3, "U2": 3}, "clients": {"CU1": "Zo\u00eb \u00c5ngstr\u00f6m"}},  # composed (NFC)
    "hidden_sheet.xlsx": {"episodes": {"V1": 3}, "clients": {"CV1": None}},        # not the hidden sheet's OLD1
    "stale_first_sheet.xlsx": {"episodes": {"V2": 3}, "clients": {"CV2": None}},   # the 'Visits' sheet, not the first
    "percent_cell.xlsx": {"episodes": {"PC1": 3}, "clients": {"CPC1": None},
                          "adherence": {"PC1": [60.0, 85.0, 70.0]}},                # 60%, not 0.6
}


@pytest.fixture
def stored_db(clinic_db):
    """A database that already holds visits."""
    return clinic_db(BYSTANDER)


def rejected(con, paths) -> list[str]:
    """Import that must fail: its errors, after proving that not one row of any table changed."""
    before = db.table_checksums(con)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(con, paths)
    assert db.table_checksums(con) == before
    return failure.value.errors


def catalogue(con) -> list[tuple[str, str]]:
    return con.execute("SELECT table_name, table_type FROM information_schema.tables ORDER BY 1").fetchall()


def facts_of(con, episode_ids) -> pd.DataFrame:
    return con.execute("SELECT * FROM session_facts WHERE episode_id IN (SELECT unnest(?)) ORDER BY session_id",
                       [list(episode_ids)]).df()


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---------------------------------------------------------------------------------------------
# The committed corpus


def test_corpus_is_small_and_every_file_is_tested_and_documented():
    files = sorted(path.name for path in HOSTILE.iterdir() if path.suffix in visit_log.SUPPORTED_SUFFIXES)
    assert files == sorted([*REJECTED, *STORED_AS_TEXT, *STORED_AS_SHOWN])
    readme = (HOSTILE / "README.md").read_text(encoding="utf-8")
    for name in files:
        assert (HOSTILE / name).stat().st_size < CORPUS_LIMIT_BYTES
        assert f"`{name}`" in readme


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_hostile_file_is_rejected_and_nothing_is_written(stored_db, name):
    path = HOSTILE / name
    today = config.today().isoformat()
    assert rejected(stored_db, [path]) == [message.format(path=path, today=today) for message in REJECTED[name]]


@pytest.mark.parametrize("name", sorted(STORED_AS_SHOWN))
def test_a_file_is_stored_as_the_person_sees_it(stored_db, name):
    con, path, expected = stored_db, HOSTILE / name, STORED_AS_SHOWN[name]
    bystander = facts_of(con, ["S1", "S2"])
    result = visit_log.import_files(con, [path])
    assert result.inserted == sum(expected["episodes"].values())
    assert [str(notice) for notice in result.notices] == [notice.format(path=path) for notice in expected.get("notices", [])]
    assert dict(con.execute("SELECT episode_id, count(*) FROM sessions WHERE episode_id NOT IN ('S1', 'S2') "
                            "GROUP BY 1").fetchall()) == expected["episodes"]
    assert dict(con.execute("SELECT client_id, display_name FROM clients WHERE client_id NOT IN ('CS1', 'CS2')"
                            ).fetchall()) == expected["clients"]
    for episode_id, adherence in expected.get("adherence", {}).items():
        assert metrics.episode_progress(con, episode_id)["stretching_adherence_pct"].tolist() == adherence
    pd.testing.assert_frame_equal(facts_of(con, ["S1", "S2"]), bystander)


@pytest.mark.parametrize("name", sorted(STORED_AS_TEXT))
def test_code_like_text_is_stored_exactly_as_plain_text(stored_db, name):
    con = stored_db
    expected = STORED_AS_TEXT[name]
    tables_before = catalogue(con)
    bystander = facts_of(con, ["S1", "S2"])
    sessions_before = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    new_visits = sum(visits for _, visits in expected["episodes"].values())

    result = visit_log.import_files(con, [HOSTILE / name])

    assert result.inserted == new_visits
    # Read back exactly as typed: no quoting, escaping, evaluation or truncation.
    clients = {row[0]: row[1:] for row in con.execute(
        "SELECT client_id, display_name, clinic_id FROM clients WHERE client_id NOT IN ('CS1', 'CS2')").fetchall()}
    assert clients == expected["clients"]
    therapists = dict(con.execute("SELECT therapist_id, name FROM therapists WHERE therapist_id NOT IN ('T1', 'T2')"
                                  ).fetchall())
    assert therapists == expected["therapists"]
    episodes = {row[0]: row[1:] for row in con.execute(
        "SELECT e.episode_id, e.client_id, count(*) FROM episodes e JOIN sessions s USING (episode_id) "
        "WHERE e.episode_id NOT IN ('S1', 'S2') GROUP BY ALL").fetchall()}
    assert episodes == expected["episodes"]
    assert set(con.execute("SELECT clinic_id FROM clinics").fetchall()) == (
        {("main",)} | {(clinic,) for _, clinic in expected["clients"].values()})
    # Nothing dropped, emptied or created; the stored visits untouched; the facts up to date.
    assert catalogue(con) == tables_before
    assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == sessions_before + new_visits
    pd.testing.assert_frame_equal(facts_of(con, ["S1", "S2"]), bystander)
    for table in ("session_facts", "episode_facts"):
        assert con.execute(f"SELECT count(*) FROM (SELECT * FROM {table} EXCEPT SELECT * FROM {table}_live)"
                           ).fetchone()[0] == 0
    # The therapist pages find and show the same text: values travel as parameters.
    for client_id, (client_name, _) in expected["clients"].items():
        found = metrics.client_episodes(con, search=client_name or client_id)
        assert (client_id, client_name) in set(zip(found["client_id"], found["client_name"]))
    for episode_id, (_, visits) in expected["episodes"].items():
        assert len(metrics.episode_progress(con, episode_id)) == visits


@pytest.mark.parametrize("hostile", [FORMULAS[0], FORMULAS[1], SCRIPT, DROP_SESSIONS, ALWAYS_TRUE])
def test_code_like_text_typed_into_the_new_client_form_is_stored_as_text(stored_db, hostile):
    # The same rule on the therapist's form path (analytics.records), which writes without a file.
    con = stored_db
    tables_before = catalogue(con)
    episode_id = records.open_episode(
        con, EpisodeEntry(client_id=hostile, condition="heel_spur", course_type="chronic", therapist_id="T1",
                          client_name=hostile),
        SessionEntry(session_date="2025-02-03", pain_pre=7, pain_post=5))
    assert con.execute("SELECT client_id, display_name FROM clients c JOIN episodes e USING (client_id) "
                       "WHERE e.episode_id = ?", [episode_id]).fetchall() == [(hostile, hostile)]
    assert catalogue(con) == tables_before
    assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == len(BYSTANDER) + 1


# ---------------------------------------------------------------------------------------------
# Generated at test time


def test_ten_thousand_bad_rows_list_the_first_hundred_and_count_the_rest(stored_db, tmp_path, capsys):
    # One bad cell on every row, four different rules in turn, so the list is in file order
    # (line 2 first) rather than grouped by rule.
    breakages = [{"pain_pre": 11}, {"session_date": "2025-13-01"}, {"condition": "gout"}, {"visit_number": 0}]
    rows = [dict(visit(f"B{i}", 1, "2025-01-06", 5, 4), **breakages[i % 4]) for i in range(10_000)]
    path = write_csv(tmp_path / "bad.csv", rows)
    errors = rejected(stored_db, [path])

    assert len(errors) == 10_000
    assert [int(error.split(":")[1]) for error in errors] == list(range(2, 10_002))
    assert errors[:4] == [f"{path}:2:pain_pre: 11 is outside 0-10",
                          f"{path}:3:session_date: '2025-13-01' is not a real date",
                          f"{path}:4:condition: 'gout' is not a known condition; allowed: " + ", ".join(config.CONDITIONS),
                          f"{path}:5:visit_number: 0 is below 1; expected a whole number 1 or more"]
    summary = visit_log.format_errors(errors).splitlines()
    assert summary == errors[:100] + ["... and 9900 more problems"]
    # The exception's own text (a log line, a traceback) stays short too.
    failure = visit_log.ImportFailed(errors)
    assert str(failure).splitlines() == errors[:20] + ["... and 9980 more problems"]
    # The command line prints the same summary and exits non-zero, without a traceback.
    assert cli(["import", "--db", str(tmp_path / "cli.duckdb"), str(path)]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.splitlines() == summary + [
        "Nothing was imported: 10000 problem(s) found. Fix them and import again."]


@pytest.mark.parametrize("suffix", visit_log.SUPPORTED_SUFFIXES)
def test_file_over_the_configured_size_limit_is_refused_unread(stored_db, tmp_path, monkeypatch, suffix):
    # The limit comes from CLINIC_MAX_IMPORT_MB when the program starts; reload config to apply it.
    monkeypatch.setattr(config, "MAX_IMPORT_BYTES", config.MAX_IMPORT_BYTES)  # undone after the test
    monkeypatch.setenv("CLINIC_MAX_IMPORT_MB", "1")
    importlib.reload(config)
    assert config.MAX_IMPORT_BYTES == 1024 * 1024
    monkeypatch.setitem(visit_log.READERS, suffix, lambda *args: pytest.fail("opened a file over the limit"))
    path = tmp_path / f"visits{suffix}"
    path.write_bytes(b"client_id,episode_id\n" + b"C1,E1\n" * 262_144)  # 1.5 MB
    assert rejected(stored_db, [path]) == [
        f"{path}: the file is 1.5 MB, more than the import limit of 1.0 MB; split it into smaller files or raise "
        "CLINIC_MAX_IMPORT_MB"]


LONG = 100_000


def test_a_hundred_thousand_character_name_is_refused_and_a_120_character_one_stored(stored_db, tmp_path):
    # Issue #11 changed this rule: names are at most 120 characters (a pasted paragraph pushed the
    # PDF off its page); before, a name of any length was stored whole.
    name = ("Zoë-Ångström-" * (LONG // 13 + 1))[:LONG]
    path = write_csv(tmp_path / "long.csv", [visit("L1", 1, "2025-01-06", 5, 4, client_name=name)])
    before = db.table_checksums(stored_db)
    with pytest.raises(visit_log.ImportFailed) as failure:
        visit_log.import_files(stored_db, [path])
    assert failure.value.errors == [f"{path}:2:client_name: the name is longer than 120 characters"]
    assert db.table_checksums(stored_db) == before
    path = write_csv(tmp_path / "fits.csv", [visit("L1", 1, "2025-01-06", 5, 4, client_name=name[:120])])
    assert visit_log.import_files(stored_db, [path]).inserted == 1
    found = metrics.client_episodes(stored_db, search=name[:50])
    assert list(found["client_name"]) == [name[:120]]


@pytest.mark.parametrize("column, expected", [
    ("episode_id", f"'{'9' * 37}...' is longer than 64 characters"),
    ("pain_pre", f"'{'9' * 37}...' is not a number; expected a number 0-10"),
])
def test_hundred_thousand_character_value_is_rejected_with_a_short_message(stored_db, tmp_path, column, expected):
    path = write_csv(tmp_path / "long.csv", [dict(visit("L1", 1, "2025-01-06", 5, 4), **{column: "9" * LONG})])
    assert rejected(stored_db, [path]) == [f"{path}:2:{column}: {expected}"]
