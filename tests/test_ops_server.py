"""Issue 17's "done when" on one machine, with the real server: once a page is open the dashboard
holds DuckDB's lock, and a cron-style `python -m analytics import`, `backup --to`, `summary`,
`check` and `users list` still work (through the dashboard's socket and inbox), and the pages show
the new data without a restart."""
import json
import os
import subprocess
import sys

import duckdb

from analytics import db, ops
from browser import assert_no_exception, chromium_page, requires_chromium, running_dashboard, sign_in
from conftest import ROOT

NEW_LOG = """client_id,episode_id,condition,course_type,visit_number,session_date,therapist_id,pain_pre,pain_post
CX1,EX1,plantar_fasciitis,acute,1,2025-03-03,T01,8,6
CX1,EX1,plantar_fasciitis,acute,2,2025-03-10,T01,7,5
CX2,EX2,heel_spur,acute,1,2025-03-04,T01,6,5
"""


def run_cli(*args, env):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)


@requires_chromium
def test_import_backup_and_reads_while_the_dashboard_runs(tmp_path):
    database = tmp_path / "clinic.duckdb"
    extra = {"CLINIC_BACKUP_DIR": "off", "CLINIC_INBOX_SETTLE_SECONDS": "1"}
    env = {**os.environ, "CLINIC_DB": str(database), **extra}
    log = tmp_path / "nightly.csv"
    log.write_text(NEW_LOG)
    with running_dashboard(database, extra) as url, chromium_page() as page:
        sign_in(page, url)  # the first page opens the database: the dashboard now holds its lock
        page.get_by_role("link", name="Record a session").first.wait_for(timeout=60_000)
        try:
            duckdb.connect(str(database), read_only=True).close()
            raise AssertionError("the dashboard should hold the file's lock")
        except duckdb.IOException as held:
            assert "lock" in str(held).lower()

        before = json.loads(run_cli("summary", "--json", env=env).stdout)
        imported = run_cli("import", log, env=env)
        assert imported.returncode == 0, imported.stderr
        assert "inserted 3" in imported.stdout
        after = run_cli("summary", "--json", env=env)
        assert after.returncode == 0, after.stderr
        assert json.loads(after.stdout)["sessions"] == before["sessions"] + 3  # no restart

        bad = tmp_path / "bad.csv"
        bad.write_text(NEW_LOG + "CX3,EX3,bunion,acute,1,2025-03-05,T01,11,5\n")
        refused = run_cli("import", bad, env=env)
        assert refused.returncode == 1 and "Nothing was imported" in refused.stderr
        assert "bad.csv:5:pain_pre" in refused.stderr

        checked = run_cli("check", env=env)
        assert checked.returncode == 0 and "sound" in checked.stdout, checked.stderr
        users = run_cli("users", "list", env=env)
        assert users.returncode == 0 and "manager" in users.stdout
        made = run_cli("backup", "--to", tmp_path / "backups", "--keep", 2, env=env)
        assert made.returncode == 0, made.stderr
        (backup,) = ops.backups(tmp_path / "backups")
        copy = db.connect(backup, read_only=True)
        try:
            assert db.one(copy, "SELECT count(*) FROM sessions")[0] == before["sessions"] + 3
            assert db.check(copy) == []
        finally:
            copy.close()
        assert run_cli("restore", backup, "--force", env=env).returncode == 2  # never under a running dashboard

        # The Import page shows the inbox results, with the refused file's problems.
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Import visit logs", exact=True).click()
        page.get_by_text("Problems in bad.csv").wait_for(timeout=60_000)
        page.get_by_text("the latest 2 file(s) imported from the inbox").wait_for(timeout=60_000)
        assert_no_exception(page)
    # The dashboard has stopped: nobody answers its socket, and the audit trail holds both inbox files.
    assert ops.ask({"command": "ping"}, tmp_path / "clinic.duckdb.sock", timeout=5) is None
    con = db.connect(database, read_only=True)
    try:
        rows = con.execute("SELECT target_type, target_id FROM audit_log WHERE username = 'inbox' AND action = 'import' "
                           "ORDER BY audit_id").fetchall()
        assert rows == [("sessions", "3"), ("refused", "1 problem(s) in bad.csv")]
        assert db.one(con, "SELECT count(*) FROM sessions")[0] == before["sessions"] + 3
    finally:
        con.close()
    assert sorted(path.name for path in (tmp_path / "inbox" / "done").iterdir()) == ["nightly.csv", "nightly.csv.result.txt"]
