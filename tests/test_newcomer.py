"""What a newcomer tries first works: a larger sample clinic has its demo accounts, and the
README's example visit log imports into the sample clinic."""
from __future__ import annotations

from analytics import auth, bootstrap, db, sample, visit_log


def test_a_large_sample_clinic_has_demo_accounts_for_its_main_therapists(tmp_path):
    # 100 k sessions need over 99 therapists, so their ids are T001..T104, not T01..T03.
    con = db.connect(tmp_path / "large.duckdb")
    try:
        bootstrap.build_sample_database(con, sessions=100_000)
        users = {user.username: user for user in auth.list_users(con).itertuples()}
        assert set(users) == {"manager", "therapist1", "therapist2", "therapist3"}
        assert [users[f"therapist{n}"].therapist_id for n in (1, 2, 3)] == ["T001", "T002", "T003"]
        main = con.execute("SELECT therapist_id FROM therapists WHERE clinic_id = 'main' ORDER BY 1").fetchall()
        assert [row[0] for row in main] == ["T001", "T002", "T003"]
    finally:
        con.close()


def test_the_readme_example_log_imports_into_the_sample_clinic(tmp_path):
    con = db.connect(tmp_path / "sample.duckdb")
    try:
        bootstrap.load_committed_sample(con)
        example = sample.SAMPLE_CSV.with_name("example_visit_log.csv")
        result = visit_log.import_files(con, [example])
        assert result.inserted == sum(1 for _ in example.open(encoding="utf-8")) - 1
    finally:
        con.close()
