"""Filling a clinic database with the built-in sample clinic (first start, CLI, benchmarks)."""
from __future__ import annotations

import duckdb

from analytics import auth, checkin_import, db, sample, visit_log

SAMPLE_FLAG = "sample_data"

# Demo accounts, created only in a database filled with the invented sample clinic (the README
# lists them). A real clinic database starts with no accounts; `python -m analytics users add`
# creates the first manager.
DEMO_PASSWORD = "sample-clinic-demo"
# A therapist account is linked to the main clinic's n-th therapist (1-based): the generator
# numbers ids by the clinic's size (T01 in the committed sample, T001 in a 100 k-session one).
DEMO_ACCOUNTS: tuple[tuple[str, str, int | None], ...] = (
    ("manager", "manager", None),
    ("therapist1", "therapist", 1),
    ("therapist2", "therapist", 2),
    ("therapist3", "therapist", 3),
)


def build_sample_database(con: duckdb.DuckDBPyConnection, sessions: int = sample.DEFAULT_SESSIONS,
                          seed: int = sample.DEFAULT_SEED) -> visit_log.ImportResult:
    """Generate a sample clinic of about `sessions` sessions and its clients' check-ins and import
    them through the normal, validating importers, then mark the database as holding sample data."""
    rows = sample.generate_visit_log(sessions=sessions, seed=seed)
    result = visit_log.import_frames(con, [(f"sample(seed={seed})", rows)])
    answers = sample.generate_checkins(rows, seed=seed)
    if len(answers):
        checkin_import.import_frames(con, [(f"sample-checkins(seed={seed})", answers.astype("string").fillna(""))],
                                     by="sample")
    _mark_sample(con)
    return result


def load_committed_sample(con: duckdb.DuckDBPyConnection) -> visit_log.ImportResult:
    """Import sample_data/visits.csv (the committed sample clinic) and its clients' check-ins
    (sample_data/checkins.csv), and mark the database."""
    result = visit_log.import_files(con, [sample.SAMPLE_CSV])
    checkin_import.import_files(con, [sample.SAMPLE_CHECKINS_CSV], by="sample")
    _mark_sample(con)
    return result


def _mark_sample(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO meta (key, value) VALUES (?, 'true') ON CONFLICT (key) DO UPDATE SET value = 'true'", [SAMPLE_FLAG])
    main_staff = [row[0] for row in con.execute(
        "SELECT therapist_id FROM therapists WHERE clinic_id = ? ORDER BY therapist_id LIMIT ?",
        [sample.MAIN_CLINIC, len(DEMO_ACCOUNTS)]).fetchall()]
    for username, role, number in DEMO_ACCOUNTS:
        therapist_id = None
        if number is not None:
            if number > len(main_staff):
                continue
            therapist_id = main_staff[number - 1]
        if not db.one(con, "SELECT count(*) FROM users WHERE username = ?", [username])[0]:
            auth.add_user(con, username, DEMO_PASSWORD, role, therapist_id, by="sample")


def holds_sample_data(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the database was filled from the built-in sample, so pages can say so."""
    cursor = con.cursor()
    try:
        return cursor.execute("SELECT value FROM meta WHERE key = ?", [SAMPLE_FLAG]).fetchone() is not None
    finally:
        cursor.close()
