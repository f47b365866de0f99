"""The importer reads only the stored rows of the keys it imports: its statements filter the
stored tables by the imported ids passed as a constant list (planning.for_keys), which DuckDB
pushes into the scan, so a one-row write does not read the whole clinic (issue 14)."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from analytics import db, visit_log
from analytics.visit_log import planning, storage
from conftest import visit
from test_ingest import write_csv

STORED = [visit("E1", 1, "2025-01-06", 8, 6), visit("E1", 2, "2025-01-13", 6, 4), visit("E1", 3, "2025-01-20", 4, 3),
          visit("E2", 1, "2025-01-06", 7, 5, client_name="Ada Brook")]


def scan_filters(cursor, sql: str, parameters: dict) -> dict[str, str]:
    """The filter on each stored table's scan in the statement's plan."""
    plan = json.loads(cursor.execute("EXPLAIN (FORMAT json) " + sql, parameters).fetchone()[1])
    filters: dict[str, list[str]] = {}
    nodes = list(plan)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("children", []))
        info = node.get("extra_info", {})
        if node.get("name") == "SEQ_SCAN":
            filters.setdefault(info["Table"].rsplit(".", 1)[-1], []).append(info.get("Filters", ""))
    return {table: " ".join(found) for table, found in filters.items()}


def test_a_few_imported_keys_filter_every_scan_of_a_large_stored_table(clinic_db):
    con = clinic_db(STORED)
    row = visit("E2", 2, "2025-01-13", 6, 4)
    log = visit_log.check([("visits.csv", pd.DataFrame([row], dtype=object))])
    cursor = con.cursor()
    plan = visit_log.plan(cursor, log, replace=False)
    cursor.register("import_keys", pa.table({"_pos": [0], "episode_id": ["E2"], "visit_number": [2], "session_date": [0.0]}))
    cursor.register("visit_rows", storage.visit_rows(log, plan))
    ids = {"episodes": ["E2", "E9"], "clients": ["CE2", "CE9"], "default_clinic": storage.DEFAULT_CLINIC}
    statements = {
        "stored_sessions": (planning.PLAN_SQL["stored_sessions"], ids, {"sessions": "E2"}),
        "dates_backwards": (planning.PLAN_SQL["dates_backwards"], ids, {"sessions": "E2"}),
        "stored_episodes": (planning.PLAN_SQL["stored_episodes"], {"ids": ["E2", "E9"]}, {"episodes": "E2", "sessions": "E2"}),
        "stored_clients": (planning.PLAN_SQL["stored_clients"], {"ids": ["CE2", "CE9"]}, {"clients": "CE2"}),
        "new_clients": (storage.SQL["new_clients"], ids, {"clients": "CE2"}),
        "insert_episodes": (storage.SQL["insert_episodes"], ids, {"episodes": "E2"}),
        "insert_assessments": (storage.SQL["insert_assessments"], ids, {"sessions": "E2"}),
    }
    for name, (sql, parameters, expected) in statements.items():
        filters = scan_filters(cursor, *planning.for_keys(sql, parameters))
        for table, key in expected.items():
            assert f"'{key}'" in filters.get(table, ""), (name, filters)


def test_for_keys_passes_only_the_lists_a_statement_names_and_joins_a_long_list():
    sql = "SELECT * FROM sessions s WHERE list_contains($episodes, s.episode_id) AND therapist_id = $who"
    few = ["E1", "E2"]
    assert planning.for_keys(sql, {"episodes": few, "clients": ["C1"], "who": "T1"}) == (sql, {"episodes": few, "who": "T1"})
    many = [f"E{number}" for number in range(planning.FEW_IDS + 1)]
    assert planning.for_keys(sql, {"episodes": many, "who": "T1"}) == (
        "SELECT * FROM sessions s WHERE s.episode_id IN (SELECT unnest($episodes)) AND therapist_id = $who",
        {"episodes": many, "who": "T1"})


def _imports(con, tmp_path) -> list:
    """A series of imports touching stored rows: what each gave (its result or its errors)."""
    files = [
        [visit("E1", 4, "2025-01-19", 3, 2)],                                        # before stored visit 3
        [visit("E1", 2, "2025-01-13", 5, 4)],                                        # differs from stored
        [visit("E2", 2, "2025-01-13", 6, 4, client_id="CE1")],                       # episode moves client
        [visit("E2", 2, "2025-01-13", 6, 4, client_name="Ada Brooke")],              # stored name differs
        [visit("E2", 2, "2025-01-13", 6, 4, onset_date="2025-01-10")],               # onset after first visit
        [visit("E1", 4, "2025-01-27", 3, 2), visit("E3", 1, "2025-01-06", 9, 8)],    # new visit, new course
        [visit("E1", 2, "2025-01-13", 5, 4), visit("E2", 1, "2025-01-06", 7, 5)],    # replace: one changed
    ]
    outcomes = []
    for number, rows in enumerate(files):
        path = write_csv(tmp_path / f"visits_{number}.csv", rows)
        try:
            outcomes.append(visit_log.import_files(con, [path], replace=number == len(files) - 1))
        except visit_log.ImportFailed as failure:
            outcomes.append([error.split(":", 1)[1] for error in failure.errors])
    return outcomes


def test_a_long_list_of_keys_gives_what_a_short_one_gives(clinic_db, tmp_path, monkeypatch):
    (tmp_path / "short").mkdir()
    (tmp_path / "long").mkdir()
    short = clinic_db(STORED)
    expected = _imports(short, tmp_path / "short")
    assert isinstance(expected[0], list) and "before visit 3 of episode E1" in expected[0][0]
    assert expected[-2] == visit_log.ImportResult(inserted=2, skipped=0, replaced=0, episodes=2)
    monkeypatch.setattr(planning, "FEW_IDS", 0)  # every list is "long": the join form
    long = clinic_db(STORED)
    assert _imports(long, tmp_path / "long") == expected
    # Every table alike but meta, which holds each database's own random secret.
    assert ({table: sums for table, sums in db.table_checksums(long).items() if table != "meta"}
            == {table: sums for table, sums in db.table_checksums(short).items() if table != "meta"})


@pytest.mark.parametrize("ids", [[], ["E404"]])
def test_keys_that_match_nothing_stored(clinic_db, ids):
    con = clinic_db(STORED)
    assert con.execute(*planning.for_keys(planning.PLAN_SQL["stored_clients"], {"ids": ids})).fetchall() == []
