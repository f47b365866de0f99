"""The command line, run as a user runs it: `python -m analytics ...` in a subprocess."""
import json
import subprocess
import sys

import pytest

from analytics import config, db, metrics
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
# E1: baseline 8, visit-3 pain 4 -> drop 4 (50%)   -> improved after session 2
# E2: baseline 6, visit-3 pain 5 -> drop 1 (17%)   -> not improved
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


def test_summary_json_has_intention_to_treat_by_condition_and_the_rule(tmp_path, hand_log):
    database = tmp_path / "clinic.duckdb"
    assert run_cli("import", hand_log, "--db", database).returncode == 0
    summary = json.loads(run_cli("summary", "--db", database, "--json").stdout)
    assert summary["rule"] == {"name": "points-and-percent", "points": 2.0, "fraction": 0.3, "combine": "and"}
    acute, chronic = summary["by_course"]["acute"], summary["by_course"]["chronic"]
    # E1 and E2 both started and reached visit 3; E1 improved: 1 of 2.
    assert (acute["episodes_eligible_itt"], acute["responder_rate_after_session2_itt"]) == (2, 0.5)
    # E3 had its first visit 13 days before the latest session: active with 1 visit, not judged yet.
    assert (chronic["episodes_eligible_itt"], chronic["responder_rate_after_session2_itt"]) == (0, None)
    assert acute["by_condition"]["plantar_fasciitis"] == {
        "episodes": 1, "episodes_reaching_visit3": 1, "responder_rate_after_session2": 1.0,
        "episodes_eligible_itt": 1, "responder_rate_after_session2_itt": 1.0}
    assert acute["by_condition"]["heel_spur"] == {
        "episodes": 1, "episodes_reaching_visit3": 1, "responder_rate_after_session2": 0.0,
        "episodes_eligible_itt": 1, "responder_rate_after_session2_itt": 0.0}
    assert chronic["by_condition"]["shin_splints"] == {
        "episodes": 1, "episodes_reaching_visit3": 0, "responder_rate_after_session2": None,
        "episodes_eligible_itt": 0, "responder_rate_after_session2_itt": None}
    assert chronic["by_condition"]["bunion"] == {
        "episodes": 0, "episodes_reaching_visit3": 0, "responder_rate_after_session2": None,
        "episodes_eligible_itt": 0, "responder_rate_after_session2_itt": None}

    # E1's drop of 4 (50%) meets even percent-50; E2's 1 (17%) meets none.
    half = json.loads(run_cli("summary", "--db", database, "--json", "--rule", "percent-50").stdout)
    assert half["rule"] == {"name": "percent-50", "points": None, "fraction": 0.5, "combine": "and"}
    assert half["by_course"]["acute"]["responder_rate_after_session2"] == 0.5
    text = run_cli("summary", "--db", database, "--rule", "percent-50")
    assert "at least 50% below the first visit (rule percent-50)" in text.stdout
    assert "50% of 2 reaching visit 3, 50% of 2 who started" in text.stdout


def test_summary_refuses_an_unknown_rule_and_lists_the_names(tmp_path, hand_log):
    database = tmp_path / "clinic.duckdb"
    assert run_cli("import", hand_log, "--db", database).returncode == 0
    refused = run_cli("summary", "--db", database, "--rule", "half")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "points-and-percent, points-or-percent, percent-30, percent-50" in refused.stderr


CONDITION_KEYS = {"episodes", "episodes_reaching_visit3", "responder_rate_after_session2", "episodes_eligible_itt",
                  "responder_rate_after_session2_itt"}


def test_summary_json_contract_on_the_committed_sample(tmp_path):
    database = tmp_path / "clinic.duckdb"
    assert run_cli("import", ROOT / "sample_data" / "visits.csv", "--db", database).returncode == 0
    summary = json.loads(run_cli("summary", "--db", database, "--json").stdout)
    # The keys that were there stay; the new ones are added.
    assert {"episodes", "sessions", "clients", "by_course", "rule"} <= set(summary)
    assert summary["rule"] == {"name": "points-and-percent", "points": 2.0, "fraction": 0.3, "combine": "and"}
    for course in ("acute", "chronic"):
        row = summary["by_course"][course]
        assert {"episodes", "median_visits", "mean_baseline_pain", "episodes_reaching_visit3",
                "responder_rate_after_session2", "responder_rate_after_session2_immediate", "mean_pain_by_visit",
                "episodes_eligible_itt", "responder_rate_after_session2_itt", "by_condition"} == set(row)
        assert set(row["by_condition"]) == set(config.CONDITIONS)
        for figures in row["by_condition"].values():
            assert set(figures) == CONDITION_KEYS
            for rate in ("responder_rate_after_session2", "responder_rate_after_session2_itt"):
                assert figures[rate] is None or 0 <= figures[rate] <= 1
        # The conditions add up to their course type.
        for count in ("episodes", "episodes_reaching_visit3", "episodes_eligible_itt"):
            assert sum(figures[count] for figures in row["by_condition"].values()) == row[count]
        # Everyone reaching visit 3 is eligible, and more are: drop-outs count, as not improved.
        assert row["episodes_reaching_visit3"] < row["episodes_eligible_itt"] <= row["episodes"]
        assert row["responder_rate_after_session2_itt"] < row["responder_rate_after_session2"]
    # The figures issue 13 recomputed independently on this sample: acute 270 of 390 who started
    # (69%) against 77% of those reaching visit 3; the chronic headline 31.5% under the default
    # rule and 47.6% under points-or-percent.
    acute = summary["by_course"]["acute"]
    assert acute["episodes_eligible_itt"] == 390
    assert acute["responder_rate_after_session2_itt"] == pytest.approx(270 / 390)
    assert round(acute["responder_rate_after_session2"], 2) == 0.77
    assert round(summary["by_course"]["chronic"]["responder_rate_after_session2"], 3) == 0.315
    either = json.loads(run_cli("summary", "--db", database, "--json", "--rule", "points-or-percent").stdout)
    assert round(either["by_course"]["chronic"]["responder_rate_after_session2"], 3) == 0.476
