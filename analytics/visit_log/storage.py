"""Storing a checked and planned visit log: new clinics, people, episodes, sessions and
assessments, and (with replace) the changed values of stored ones. The insert and update SQL is
built from the catalog's storage mapping, so a new catalog column is stored without code here;
only catalog identifiers go into the SQL text, the values travel as a registered Arrow table and
the imported keys as list parameters (planning.for_keys), so a statement reads only their stored
rows."""
from __future__ import annotations

import re
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analytics import catalog, config
from analytics.visit_log.checks import VisitLog
from analytics.visit_log.planning import Plan, for_keys

DEFAULT_CLINIC = str(catalog.column("clinic_id").default)
# Numbered ids like the clinic's own, 'E00706' (a prefix and digits), and the meta row keeping
# the highest number stored of each kind, so that records.next_id does not read every id (a
# regular expression over all episode and client ids grew with the clinic: 40 ms at 1 M
# sessions). The row is made by highest_number(keep=True) from one reading of the table; from
# then on every store raises it to the highest number among the ids it writes, in the same
# transaction. Episodes and clients are never deleted, so the highest stored number never falls.
NUMBERED_ID = "^{}(\\d+)$"
NUMBERED_IDS: dict[tuple[str, str], tuple[str, str]] = {
    ("episodes", "E"): ("episode_id", "highest_episode_number"),
    ("clients", "C"): ("client_id", "highest_client_number"),
}
_HIGHEST_OF_IDS = """
    UPDATE meta SET value = CAST(greatest(CAST(value AS BIGINT), coalesce(
        (SELECT max(TRY_CAST(regexp_extract(id, $pattern, 1) AS BIGINT)) FROM unnest($ids) AS t (id)), 0)) AS VARCHAR)
    WHERE key = $key"""


def to_stored(entry: catalog.Column, value: str) -> str:
    """SQL turning an imported value (text, DOUBLE, day number) into the stored column's type."""
    if entry.kind == "date":
        return f"DATE '1970-01-01' + CAST({value} AS INTEGER)"
    if entry.kind == "number" and entry.is_whole:
        return f"CAST({value} AS INTEGER)"
    return value


def _first_given(entry: catalog.Column) -> str:
    """The episode's value: from its first row; an optional value from the first row that has one."""
    if entry.may_be_blank:
        return to_stored(entry, f"arg_min({entry.name}, _pos) FILTER (WHERE {entry.name} IS NOT NULL)")
    return to_stored(entry, f"arg_min({entry.name}, _pos)")


def _episode_sql() -> dict[str, str]:
    values = catalog.values_of("episodes")
    stored = ", ".join(entry.stored_as for entry in values)
    firsts = ", ".join(_first_given(entry) for entry in values)
    # A blank optional value means "not given": the stored one is kept.
    updates = ", ".join(f"{entry.stored_as} = coalesce(u.{entry.stored_as}, episodes.{entry.stored_as})"
                        if entry.may_be_blank else f"{entry.stored_as} = u.{entry.stored_as}" for entry in values)
    return {
        # The episode's primary therapist is the one who saw the first visit.
        "insert_episodes": f"""
            INSERT INTO episodes (episode_id, client_id, therapist_id, {stored})
            SELECT episode_id, arg_min(client_id, _pos), arg_min(therapist_id, visit_number), {firsts}
            FROM visit_rows WHERE episode_id NOT IN (SELECT episode_id FROM episodes WHERE list_contains($episodes, episode_id))
            GROUP BY episode_id""",
        "update_episodes": f"""
            UPDATE episodes SET {updates}
            FROM (SELECT episode_id, {", ".join(f"{_first_given(entry)} AS {entry.stored_as}" for entry in values)}
                  FROM visit_rows WHERE episode_changed GROUP BY episode_id) u
            WHERE episodes.episode_id = u.episode_id""",
    }


def _session_sql() -> dict[str, str]:
    values = catalog.values_of("sessions")
    return {
        "insert_sessions": f"""
            INSERT INTO sessions (episode_id, visit_number, therapist_id, {", ".join(e.stored_as for e in values)})
            SELECT episode_id, visit_number, therapist_id, {", ".join(to_stored(e, e.name) for e in values)}
            FROM visit_rows WHERE action = 'insert' ORDER BY _pos""",
        # Only non-key columns are updated: DuckDB refuses to update a key or foreign-key column of
        # a table that other tables reference.
        "update_sessions": f"""
            UPDATE sessions SET {", ".join(f"{e.stored_as} = {to_stored(e, 'r.' + e.name)}" for e in values)}
            FROM visit_rows r WHERE r.action = 'replace' AND sessions.session_id = r.session_id""",
    }


def _assessment_sql() -> dict[str, str]:
    entries = catalog.stored_in("assessments")
    stored = list(dict.fromkeys(entry.stored_as for entry in entries))  # pain, psfs, dorsiflexion_deg

    def of_phase(phase: str) -> dict[str, str]:
        return {entry.stored_as: entry.name for entry in entries if entry.phase == phase}

    by_phase = {phase: of_phase(phase) for phase in config.PHASES}
    # A post assessment exists only with its pain score (assessments.pain is NOT NULL).
    cases = ", ".join(
        "CASE p.phase " + " ".join(f"WHEN '{phase}' THEN r.{by_phase[phase][column]}"
                                   for phase in config.PHASES if column in by_phase[phase]) + " END"
        for column in stored)
    sql = {
        # New sessions get their ids from the sequence, so their assessments find them by
        # (episode_id, visit_number); one join serves both phases.
        "insert_assessments": f"""
            INSERT INTO assessments (session_id, phase, {", ".join(stored)})
            SELECT s.session_id, p.phase, {cases}
            FROM visit_rows r
            JOIN sessions s ON s.episode_id = r.episode_id AND s.visit_number = r.visit_number
            CROSS JOIN (VALUES ('pre'), ('post')) p (phase)
            WHERE list_contains($episodes, s.episode_id) AND r.action IN ('insert', 'replace')
              AND CASE p.phase
                      WHEN 'pre' THEN r.action = 'insert' OR NOT r.has_pre
                      ELSE r.pain_post IS NOT NULL AND (r.action = 'insert' OR NOT r.has_post)
                  END""",
        "delete_post_assessments": """
            DELETE FROM assessments WHERE phase = 'post' AND session_id IN (
                SELECT session_id FROM visit_rows WHERE action = 'replace' AND has_post AND pain_post IS NULL)""",
    }
    for phase in config.PHASES:
        sets = ", ".join(f"{column} = r.{name}" for column, name in by_phase[phase].items())
        with_pain = " AND r.pain_post IS NOT NULL" if phase == "post" else ""
        sql[f"update_{phase}_assessments"] = f"""
            UPDATE assessments SET {sets}
            FROM visit_rows r
            WHERE r.action = 'replace' AND r.has_{phase}{with_pain}
              AND assessments.session_id = r.session_id AND assessments.phase = '{phase}'"""
    return sql


# Every statement of a write, by name. Tests may replace one (a failure at the last step).
SQL: dict[str, str] = {
    # New people and places. A therapist's clinic is the first one given on their rows.
    "new_therapists": """
        SELECT therapist_id,
               arg_min(therapist_name, _pos) FILTER (WHERE therapist_name IS NOT NULL) AS name,
               coalesce(arg_min(clinic_id, _pos) FILTER (WHERE clinic_id IS NOT NULL), $default_clinic) AS clinic_id
        FROM visit_rows WHERE therapist_id NOT IN (SELECT therapist_id FROM therapists)
        GROUP BY therapist_id""",
    "new_clients": """
        SELECT client_id,
               arg_min(client_name, _pos) FILTER (WHERE client_name IS NOT NULL) AS display_name,
               coalesce(arg_min(clinic_id, _pos) FILTER (WHERE clinic_id IS NOT NULL), $default_clinic) AS clinic_id
        FROM visit_rows WHERE client_id NOT IN (SELECT client_id FROM clients WHERE list_contains($clients, client_id))
        GROUP BY client_id""",
    "insert_clinics": """
        INSERT INTO clinics (clinic_id, name)
        SELECT DISTINCT clinic_id, clinic_id
        FROM (SELECT clinic_id FROM new_therapists UNION ALL SELECT clinic_id FROM new_clients)
        WHERE clinic_id NOT IN (SELECT clinic_id FROM clinics)""",
    "insert_therapists": "INSERT INTO therapists (therapist_id, name, clinic_id) SELECT therapist_id, name, clinic_id FROM new_therapists",
    "insert_clients": "INSERT INTO clients (client_id, display_name, clinic_id) SELECT client_id, display_name, clinic_id FROM new_clients",
    **_episode_sql(),
    **_session_sql(),
    **_assessment_sql(),
    "update_client_names": """
        UPDATE clients SET display_name = u.name
        FROM (SELECT client_id, arg_min(client_name, _pos) AS name FROM visit_rows
              WHERE client_name_changed GROUP BY client_id) u
        WHERE clients.client_id = u.client_id""",
    "update_therapist_names": """
        UPDATE therapists SET name = u.name
        FROM (SELECT therapist_id, arg_min(therapist_name, _pos) AS name FROM visit_rows
              WHERE therapist_name_changed GROUP BY therapist_id) u
        WHERE therapists.therapist_id = u.therapist_id""",
}


def visit_rows(log: VisitLog, plan: Plan) -> pa.Table:
    """The rows to store with their planned actions, one Arrow column per catalog column.

    Explicit types: DuckDB scans it without converting Python objects, and an all-blank column
    (no severity anywhere) is still text, not a column of untyped NULLs."""
    columns = {
        "_pos": pa.array(np.arange(log.size)),
        "action": pa.array(plan.action, type=pa.string()),
        "session_id": pa.array(plan.session_id, type=pa.float64(), from_pandas=True).cast(pa.int64()),
        "has_pre": pa.array(plan.has_pre),
        "has_post": pa.array(plan.has_post),
        "episode_changed": pa.array(plan.episode_changed),
        "client_name_changed": pa.array(plan.client_name_changed),
        "therapist_name_changed": pa.array(plan.therapist_name_changed),
        "visit_number": pa.array(log.values["visit_number"].astype(np.int64)),
    }
    for entry in catalog.COLUMNS:
        if entry.is_text:
            columns[entry.name] = pa.array(log.values[entry.name], type=pa.string(), from_pandas=True)
        elif entry.name != "visit_number":
            columns[entry.name] = pa.array(log.values[entry.name], type=pa.float64(), from_pandas=True)
    return pa.table(columns)


def highest_number(cursor: duckdb.DuckDBPyConnection, table: str, prefix: str, keep: bool = False) -> int:
    """The highest number of the stored ids of `table` ('episodes' or 'clients') that are
    `prefix` and digits, 0 when there is none. Read from the meta row kept for the clinic's own
    prefixes; when that row does not exist yet, from every id, and with `keep` (inside a write)
    the row is made so the next call does not read them again."""
    column, key = NUMBERED_IDS.get((table, prefix), ({"episodes": "episode_id", "clients": "client_id"}[table], None))
    if key is not None:
        row = cursor.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        if row is not None:
            return int(row[0])
    # Only the two fixed table and column names above go into the text; the pattern is a parameter.
    (highest,) = cursor.execute(f"SELECT coalesce(max(TRY_CAST(regexp_extract({column}, ?, 1) AS BIGINT)), 0) FROM {table}",
                                [NUMBERED_ID.format(re.escape(prefix))]).fetchall()[0]
    if key is not None and keep:
        cursor.execute("INSERT INTO meta VALUES (?, ?)", [key, str(highest)])
    return int(highest)


def _raise_highest_numbers(cursor: duckdb.DuckDBPyConnection, parameters: dict[str, Any]) -> None:
    """Raise each kept highest number (NUMBERED_IDS) to the highest among the written ids."""
    kept = {key for (key,) in cursor.execute(
        "SELECT key FROM meta WHERE list_contains(?, key)", [[key for _, key in NUMBERED_IDS.values()]]).fetchall()}
    for (table, prefix), (_, key) in NUMBERED_IDS.items():
        if key in kept:
            cursor.execute(_HIGHEST_OF_IDS, {"pattern": NUMBERED_ID.format(re.escape(prefix)), "key": key,
                                             "ids": parameters["episodes" if table == "episodes" else "clients"]})


def _distinct(column: pa.ChunkedArray) -> list[str]:
    return [value for value in pc.unique(column).to_pylist() if value is not None]


def store(cursor: duckdb.DuckDBPyConnection, log: VisitLog, plan: Plan) -> None:
    """Store the planned rows of a checked log (no problems left) on the caller's cursor; the
    caller's transaction (db.write) makes it all or nothing."""
    rows = visit_rows(log, plan)
    cursor.register("visit_rows", rows)
    try:
        # The imported keys, for the statements that read a stored table only for them (for_keys()).
        parameters: dict[str, Any] = {"default_clinic": DEFAULT_CLINIC,
                      "episodes": _distinct(rows["episode_id"]), "clients": _distinct(rows["client_id"])}
        new_therapists = cursor.execute(*for_keys(SQL["new_therapists"], parameters)).df()
        new_clients = cursor.execute(*for_keys(SQL["new_clients"], parameters)).df()
        cursor.register("new_therapists", new_therapists)
        cursor.register("new_clients", new_clients)
        statements = ["insert_clinics", "insert_therapists", "insert_clients", "insert_episodes"]
        if plan.episode_changed.any():
            statements.append("update_episodes")
        if plan.client_name_changed.any():
            statements.append("update_client_names")
        if plan.therapist_name_changed.any():
            statements.append("update_therapist_names")
        statements.append("insert_sessions")
        if (plan.action == "replace").any():
            statements += ["update_sessions", "update_pre_assessments", "update_post_assessments",
                           "delete_post_assessments"]
        statements.append("insert_assessments")
        for statement in statements:
            cursor.execute(*for_keys(SQL[statement], parameters))
        _raise_highest_numbers(cursor, parameters)
    finally:
        for view in ("visit_rows", "new_therapists", "new_clients"):
            try:
                cursor.unregister(view)
            except duckdb.Error:
                pass
