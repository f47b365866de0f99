"""The command line, run as a user runs it: `python -m analytics ...` in a subprocess."""
import json
import subprocess
import sys

import pytest

from analytics import db, metrics
from conftest import ROOT

HAND_WRITTEN_LOG = """client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post
C1,E1,Plantar fasciitis,Acute,1,2025-03-03,T1,8,6
C1,E1,Plantar fasciitis,Acute,2,2025-03-10,T1,7,5
C1,E1,Plantar fasciitis,Acute,3,2025-03-17,T1,4,3
C2,E2,heel_spur,acute,1,2025-03-04,T1,6,5
C2,E2,heel_spur,acute,2,2025-03-11,T1,6,
C2,E2,heel_spur,acute,3,2025-03-18,T1,5,4
C3,E3,shin_splints,chronic,1,2025-03-05,T2,9,8
"""
# E1: baseline 8, visit-3 pain 4 -> drop 4 (50 %)   -> improved after session 2
# E2: baseline 6, visit-3 pain 5 -> drop 1 (17 %)   -> not improved
# E3: chronic, one visit only                       -> does not reach visit 3
# acute: 2 episodes, median visits 3, mean baseline (8 + 6) / 2 = 7, rate 1/2;
# mean pre pain by visit: v1 (8+6)/2 = 7, v2 (7+6)/2 = 6.5, v3 (4+5)/2 = 4.5
# chronic: 1 episode, median visits 1, baseline 9, none reaching visit 3 -> rate null


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env=env)


@pytest.fixture
def hand_log(tmp_path):
    path = tmp_path / "visits.csv"
    path.write_text(HAND_WRITTEN_LOG)
    return path


def test_help_lists_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("sample", "import", "summary"):
        assert word in result.stdout


def test_import_then_summary_json_on_hand_written_log(tmp_path, hand_log):
    database = tmp_path / "clinic.duckdb"
    imported = run_cli("import", hand_log, "--db", database)
    assert imported.returncode == 0, imported.stderr
    assert "inserted 7" in imported.stdout and "skipped 0" in imported.stdout

    again = run_cli("import", hand_log, "--db", database)
    assert again.returncode == 0 and "inserted 0" in again.stdout and "skipped 7" in again.stdout

    summary = json.loads(run_cli("summary", "--db", database, "--json").stdout)
    assert (summary["episodes"], summary["sessions"], summary["clients"]) == (3, 7, 3)
    acute, chronic = summary["by_course"]["acute"], summary["by_course"]["chronic"]
    assert acute["episodes"] == 2 and acute["median_visits"] == 3
    assert acute["mean_baseline_pain"] == 7
    assert acute["episodes_reaching_visit3"] == 2 and acute["responder_rate_after_session2"] == 0.5
    assert acute["mean_pain_by_visit"] == {"1": 7, "2": 6.5, "3": 4.5}
    assert chronic["episodes"] == 1 and chronic["median_visits"] == 1 and chronic["mean_baseline_pain"] == 9
    assert chronic["episodes_reaching_visit3"] == 0 and chronic["responder_rate_after_session2"] is None


def test_summary_json_equals_the_metric_functions(tmp_path):
    database = tmp_path / "clinic.duckdb"
    assert run_cli("import", ROOT / "sample_data" / "visits.csv", "--db", database).returncode == 0
    printed = json.loads(run_cli("summary", "--db", database, "--json").stdout)
    con = db.connect(database, read_only=True)
    try:
        expected = json.loads(json.dumps(_jsonable(metrics.headline(con))))
        expected["therapists"] = json.loads(json.dumps(_jsonable(metrics.therapist_summary(con))))
    finally:
        con.close()
    assert printed == expected
    # The sample clinic shows what the clinic observes: acute clients improve after session 2
    # far more often than chronic ones.
    by_course = printed["by_course"]
    assert by_course["acute"]["responder_rate_after_session2"] > by_course["chronic"]["responder_rate_after_session2"] + 0.2


def _jsonable(value):
    from analytics.__main__ import json_ready
    return json_ready(value)


def test_invalid_import_exits_nonzero_lists_every_problem_and_changes_nothing(tmp_path, hand_log):
    database = tmp_path / "clinic.duckdb"
    assert run_cli("import", hand_log, "--db", database).returncode == 0
    con = db.connect(database)
    before = db.table_checksums(con)
    con.close()
    bad = tmp_path / "bad.csv"
    bad.write_text(HAND_WRITTEN_LOG.splitlines()[0] + "\n"
                   "C9,E9,plantar_fasciitis,acute,1,2025-04-01,T1,11,5\n"
                   "C9,E9,plantar_fasciitis,acute,2,2025-13-01,T1,5,4\n"
                   "C8,E8,plantar_fasciitis,acute,1,2025-04-01,T1,5,4\n")
    result = run_cli("import", bad, "--db", database)
    assert result.returncode != 0
    assert "bad.csv:2:pain_pre:" in result.stderr
    assert "bad.csv:3:session_date:" in result.stderr
    assert "Traceback" not in result.stderr
    con = db.connect(database)
    assert db.table_checksums(con) == before
    con.close()


def test_sample_builds_a_database(tmp_path):
    database = tmp_path / "sample.duckdb"
    result = run_cli("sample", "--db", database, "--sessions", 2000, "--seed", 7)
    assert result.returncode == 0, result.stderr
    con = db.connect(database, read_only=True)
    sessions = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    con.close()
    assert 1900 <= sessions <= 2100


def test_database_path_from_environment(tmp_path, hand_log):
    import os
    database = tmp_path / "from_env.duckdb"
    env = {**os.environ, "CLINIC_DB": str(database)}
    assert run_cli("import", hand_log, env=env).returncode == 0
    assert database.exists()


@pytest.mark.parametrize("content, message", [
    (b"not a database at all" * 50, "not a readable DuckDB database"),
])
def test_unreadable_database_is_explained(tmp_path, content, message):
    database = tmp_path / "broken.duckdb"
    database.write_bytes(content)
    result = run_cli("summary", "--db", database)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and str(database) in result.stderr


def test_locked_database_is_explained(tmp_path, hand_log):
    database = tmp_path / "clinic.duckdb"
    assert run_cli("import", hand_log, "--db", database).returncode == 0
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
                               str(database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_cli("import", hand_log, "--db", database)
        assert result.returncode == 2
        assert "in use by another program" in result.stderr and "Traceback" not in result.stderr
    finally:
        holder.communicate("")


def test_users_commands_create_list_disable_and_never_print_the_password(tmp_path, hand_log):
    import os
    database = tmp_path / "clinic.duckdb"
    assert run_cli("import", hand_log, "--db", database).returncode == 0
    env = {**os.environ, "CLINIC_PASSWORD": "a long enough secret"}
    empty = run_cli("users", "list", "--db", database, env=env)
    assert "No accounts yet" in empty.stdout  # a real database starts with none
    added = run_cli("users", "add", "boss", "--role", "manager", "--db", database, env=env)
    assert added.returncode == 0, added.stderr
    therapist = run_cli("users", "add", "maria", "--role", "therapist", "--therapist-id", "T1", "--db", database, env=env)
    assert therapist.returncode == 0, therapist.stderr
    assert run_cli("users", "disable", "maria", "--db", database).returncode == 0
    listed = run_cli("users", "list", "--db", database).stdout
    assert "boss" in listed and "manager" in listed and "maria" in listed and "disabled" in listed
    wrong = run_cli("users", "add", "ghost", "--role", "therapist", "--therapist-id", "T9", "--db", database, env=env)
    assert wrong.returncode == 2 and "No therapist with id T9" in wrong.stderr
    for result in (added, therapist, listed and run_cli("users", "list", "--db", database)):
        assert "a long enough secret" not in result.stdout + result.stderr
