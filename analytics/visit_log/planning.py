"""Comparing a checked visit log with the database: what is stored already, what differs, what
each row will do (insert, skip, replace). The SQL that reads the stored values is built from the
catalog's storage mapping; only catalog identifiers go into its text, values travel as
registered Arrow tables and the imported keys as list parameters (for_keys)."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from analytics import catalog, config, db
from analytics.visit_log import cells
from analytics.visit_log.checks import VisitLog
from analytics.visit_log.problems import ImportResult

_REPLACE_HINT = "use --replace to overwrite"

# A write names its stored rows by key as a constant list, `list_contains($episodes,
# s.episode_id)`: DuckDB pushes that into the scan of the stored table and reads only the rows of
# the imported keys, so a one-row write costs the same in a small clinic and a large one (joining
# a registered table of keys, or `IN (SELECT ...)`, reads every stored row). list_contains is a
# linear search of the list per stored row, so for a list of more than FEW_IDS ids (a large
# import, which reads most stored rows anyway) for_keys() turns each one into the equivalent
# `s.episode_id IN (SELECT unnest($episodes))`, a hash join.
FEW_IDS = 100
_LIST_CONTAINS = re.compile(r"list_contains\((\$\w+), ([\w.]+)\)")


def for_keys(sql: str, parameters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The statement and the parameters it uses, each `list_contains($name, column)` as the join
    form when the list `name` has more than FEW_IDS ids. `parameters` may name lists (and other
    values) the statement does not use; DuckDB refuses unused ones, so they are left out."""
    used = {name: value for name, value in parameters.items() if re.search(rf"\${name}\b", sql)}
    many = {name for name, value in used.items() if isinstance(value, list) and len(value) > FEW_IDS}
    if many:
        sql = _LIST_CONTAINS.sub(lambda m: f"{m[2]} IN (SELECT unnest({m[1]}))" if m[1][1:] in many else m[0], sql)
    return sql, used



def stored_value(entry: catalog.Column, table_alias: str) -> str:
    """SQL for a stored value as the importer holds it: numbers and dates (day numbers) as DOUBLE."""
    stored = f"{table_alias}.{entry.stored_as}"
    if entry.kind == "date":
        return f"CAST({stored} - DATE '1970-01-01' AS DOUBLE)"
    if entry.kind == "number":
        return f"CAST({stored} AS DOUBLE)"
    return stored


def _assessment_joins(session_alias: str) -> str:
    return "\n".join(f"LEFT JOIN assessments {phase} ON {phase}.session_id = {session_alias}.session_id "
                     f"AND {phase}.phase = '{phase}'" for phase in config.PHASES)


def _values(entries, alias_of) -> str:
    return ", ".join(f"{stored_value(entry, alias_of(entry))} AS {entry.name}" for entry in entries)


PLAN_SQL: dict[str, str] = {
    # The stored session (and its assessments) of every imported row that has one.
    "stored_sessions": f"""
        SELECT k._pos, s.session_id, s.therapist_id,
               {_values(catalog.values_of("sessions"), lambda entry: "s")},
               {_values(catalog.stored_in("assessments"), lambda entry: entry.phase)},
               {", ".join(f"{phase}.session_id IS NOT NULL AS has_{phase}" for phase in config.PHASES)}
        FROM import_keys k
        JOIN sessions s ON s.episode_id = k.episode_id AND s.visit_number = k.visit_number
        {_assessment_joins("s")}
        WHERE list_contains($episodes, s.episode_id)
        ORDER BY k._pos""",
    # Consecutive visits (imported and stored together, the imported row winning for the same
    # visit) whose date goes backwards as the visit number rises.
    "dates_backwards": """
        WITH imported AS (
            SELECT episode_id, visit_number, session_date, _pos FROM import_keys WHERE session_date IS NOT NULL
        ), stored AS (
            SELECT s.episode_id, s.visit_number, CAST(s.session_date - DATE '1970-01-01' AS DOUBLE), NULL::BIGINT
            FROM sessions s
            WHERE list_contains($episodes, s.episode_id)
              AND NOT EXISTS (SELECT 1 FROM import_keys k
                              WHERE k.episode_id = s.episode_id AND k.visit_number = s.visit_number)
        ), visits AS (
            SELECT *,
                   lag(session_date) OVER w AS previous_date,
                   lag(visit_number) OVER w AS previous_visit,
                   lag(_pos) OVER w AS previous_pos
            FROM (SELECT * FROM imported UNION ALL SELECT * FROM stored)
            WINDOW w AS (PARTITION BY episode_id ORDER BY visit_number)
        )
        SELECT _pos, previous_pos, episode_id, visit_number, session_date, previous_visit, previous_date
        FROM visits
        WHERE session_date < previous_date AND (_pos IS NOT NULL OR previous_pos IS NOT NULL)""",
    "stored_episodes": f"""
        SELECT episode_id, client_id, {_values(catalog.values_of("episodes"), lambda entry: "episodes")},
            (SELECT datediff('day', DATE '1970-01-01', min(s.session_date)) FROM sessions s
             WHERE s.episode_id = episodes.episode_id AND list_contains($ids, s.episode_id)) AS first_visit_day
        FROM episodes WHERE list_contains($ids, episode_id)""",
    "stored_clients": """
        SELECT client_id, display_name AS client_name, clinic_id
        FROM clients WHERE list_contains($ids, client_id)""",
    "stored_therapists": """
        SELECT therapist_id, name AS therapist_name
        FROM therapists WHERE list_contains($ids, therapist_id)""",
}

@dataclasses.dataclass
class Plan:
    """What the write will do, row by row, once the stored data has been compared."""

    action: np.ndarray                # per row: "insert", "replace" or "skip"
    session_id: np.ndarray            # stored session id, NaN for new sessions
    has_pre: np.ndarray
    has_post: np.ndarray
    episode_changed: np.ndarray       # per row: its episode's stored attributes will be updated
    client_name_changed: np.ndarray
    therapist_name_changed: np.ndarray

    def result(self, episode_codes: np.ndarray) -> ImportResult:
        written = (self.action != "skip") | self.episode_changed
        return ImportResult(
            inserted=int((self.action == "insert").sum()),
            skipped=int((self.action == "skip").sum()),
            replaced=int((self.action == "replace").sum()),
            episodes=int(len(np.unique(episode_codes[written]))),
        )

    def touched_episodes(self, episode_codes: np.ndarray, episode_ids: np.ndarray) -> list[str]:
        """The ids of the episodes this write changes (a session inserted or replaced, or the
        episode's attributes updated): the only fact rows db.write needs to refresh. Names are
        not in the facts, so a changed client or therapist name touches none."""
        written = ((self.action != "skip") | self.episode_changed) & (episode_codes >= 0)
        return [str(episode_ids[code]) for code in np.unique(episode_codes[written])]

    def writes_anything(self) -> bool:
        return bool((self.action != "skip").any() or self.episode_changed.any()
                    or self.client_name_changed.any() or self.therapist_name_changed.any())


def plan(cursor: duckdb.DuckDBPyConnection, log: VisitLog, replace: bool) -> Plan:
    """Check the rows against what is stored (problems are added to `log.problems`) and decide each
    row's action: insert, skip (stored unchanged) or, with `replace`, overwrite. Under `replace`
    the values of columns a file does not have are taken from the stored rows. Runs on the
    caller's cursor, inside the transaction that will store the rows."""
    size = log.size
    keyed = np.flatnonzero(log.keyed())
    import_keys = pa.table({
        "_pos": pa.array(keyed),
        "episode_id": pa.array(log.values["episode_id"][keyed], type=pa.string()),
        "visit_number": pa.array(log.values["visit_number"][keyed].astype(np.int64)),
        "session_date": pa.array(log.values["session_date"][keyed], type=pa.float64(), from_pandas=True),
    })
    episodes = {"episodes": import_keys["episode_id"].unique().drop_null().to_pylist()}
    with db.registered(cursor, "import_keys", import_keys):  # a damaged block's error is the one raised
        stored = cursor.execute(*for_keys(PLAN_SQL["stored_sessions"], episodes)).df()
        backwards = cursor.execute(*for_keys(PLAN_SQL["dates_backwards"], episodes)).df()
    _report_dates_backwards(log, backwards)

    plan = Plan(action=np.full(size, "insert", dtype=object), session_id=np.full(size, np.nan),
                 has_pre=np.zeros(size, bool), has_post=np.zeros(size, bool),
                 episode_changed=np.zeros(size, bool), client_name_changed=np.zeros(size, bool),
                 therapist_name_changed=np.zeros(size, bool))
    positions = stored["_pos"].to_numpy(dtype=np.int64)
    plan.session_id[positions] = stored["session_id"].to_numpy(dtype=float)
    plan.has_pre[positions] = stored["has_pre"].to_numpy(dtype=bool)
    plan.has_post[positions] = stored["has_post"].to_numpy(dtype=bool)
    changed = np.zeros(len(positions), dtype=bool)
    for column in catalog.VISIT_VALUES:
        if catalog.column(column).is_text:  # a session note
            new, old = log.values[column][positions], _texts(stored[column])
            same = new == old
        else:
            new, old = log.values[column][positions], stored[column].to_numpy(dtype=float)
            same = _same_number(new, old)
        differs = ~same & log.given[column][positions] & ~log.bad[column][positions]
        changed |= differs
        if not replace:
            _report_stored_difference(log, positions[differs], column, old[differs], new[differs])
        else:
            # Columns the file does not have keep their stored values.
            keep = ~log.given[column][positions]
            log.values[column][positions[keep]] = old[keep]
    new_therapist = log.values["therapist_id"][positions]
    old_therapist = stored["therapist_id"].to_numpy(dtype=object)
    moved = log.has("therapist_id")[positions] & (new_therapist != old_therapist)
    log.record(positions[moved], "therapist_id",
               [f"stored value {cells.plain(old)} differs from {cells.plain(new)}; the therapist of a stored session "
                "cannot be changed by an import, even with --replace"
                for old, new in zip(old_therapist[moved], new_therapist[moved])], "key_changed")
    plan.action[positions] = np.where(changed, "replace", "skip")

    _compare_stored_episodes(cursor, log, plan, replace)
    _compare_stored_people(cursor, log, plan, replace)
    return plan


def _texts(values: pd.Series) -> np.ndarray:
    """Stored text as the importer holds it: None for NULL."""
    return np.array([None if pd.isna(value) else value for value in values], dtype=object)


def _same_number(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    new, old = new.astype(float), old.astype(float)
    return (new == old) | (np.isnan(new) & np.isnan(old))


def _report_stored_difference(log: VisitLog, positions: np.ndarray, column: str, old, new) -> None:
    log.record(positions, column, [f"stored value {cells.value_text(column, o)} differs from {cells.value_text(column, n)}; "
                                   f"{_REPLACE_HINT}" for o, n in zip(old, new)], "stored_differs")


def _report_dates_backwards(log: VisitLog, backwards: pd.DataFrame) -> None:
    rule = "visit dates must not go backwards as visit_number rises"
    for row in backwards.to_dict("records"):
        episode = cells.plain(row["episode_id"])
        if not pd.isna(row["_pos"]):
            stored = " (stored)" if pd.isna(row["previous_pos"]) else ""
            log.record([int(row["_pos"])], "session_date",
                       f"{cells.date_text(row['session_date'])} is before visit {cells.number_text(row['previous_visit'])} "
                       f"of episode {episode} on {cells.date_text(row['previous_date'])}{stored}; {rule}", "dates_backwards")
        else:
            # The stored later visit is fine on its own; the imported earlier visit is the problem.
            log.record([int(row["previous_pos"])], "session_date",
                       f"{cells.date_text(row['previous_date'])} is after visit {cells.number_text(row['visit_number'])} "
                       f"of episode {episode} on {cells.date_text(row['session_date'])} (stored); {rule}", "dates_backwards")


def _stored_lookup(cursor, log: VisitLog, column: str, sql: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The stored rows for the distinct ids in `column`, aligned to the import rows; and a mask of
    import rows whose id is stored."""
    codes, uniques = log.codes(column)
    ids = [str(value) for value in uniques if value is not None]
    stored = cursor.execute(*for_keys(sql, {"ids": ids})).df().set_index(column)
    aligned = stored.reindex(pd.Index(uniques, dtype=object))
    if len(uniques):
        per_row = aligned.iloc[np.where(codes < 0, 0, codes)].reset_index(drop=True)
    else:  # no usable id on any row (every one refused): nothing stored, one empty row per import row
        per_row = pd.DataFrame(index=pd.RangeIndex(log.size), columns=stored.columns, dtype=object)
    is_stored = np.zeros(log.size, dtype=bool)
    if len(uniques):
        is_stored = aligned.index.isin(stored.index)[np.where(codes < 0, 0, codes)] & (codes >= 0)
    return per_row, is_stored


def _compare_stored_episodes(cursor, log: VisitLog, plan: Plan, replace: bool) -> None:
    stored, is_stored = _stored_lookup(cursor, log, "episode_id", PLAN_SQL["stored_episodes"])
    if not is_stored.any():
        return
    # An onset after the stored course's first visit (the file's own first visit is checked
    # with the file's rows).
    first_visit = stored["first_visit_day"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        late = np.flatnonzero(is_stored & log.has("onset_date") & (log.values["onset_date"] > first_visit))
    log.record(late, "onset_date",
               [f"{cells.value_text('onset_date', log.values['onset_date'][p])} is after the course's first visit on "
                f"{cells.value_text('onset_date', first_visit[p])} (stored); the onset is when the pain began, on or "
                "before the first visit" for p in late], "onset_after_first_visit")
    # The other way round: a visit dated before the stored onset (visit 1 redated by --replace or
    # a correction) would leave the onset after the first visit just as well. A file that gives
    # the episode's onset itself is checked against its own rows above (and against the store).
    episode_codes = log.codes("episode_id")[0]
    gives_onset = np.isin(episode_codes, episode_codes[log.has("onset_date")])
    stored_onset = stored["onset_date"].to_numpy(dtype=float)
    dates = log.values["session_date"]
    with np.errstate(invalid="ignore"):
        early = np.flatnonzero(is_stored & ~gives_onset & log.has("session_date") & (dates < stored_onset))
    log.record(early, "session_date",
               [f"{cells.value_text('session_date', dates[p])} is before the course's onset on "
                f"{cells.value_text('onset_date', stored_onset[p])} (stored); the onset is when the pain began, on or "
                "before the first visit: correct the onset first if it is wrong" for p in early], "onset_after_first_visit")
    client = stored["client_id"].to_numpy(dtype=object)
    moved = is_stored & log.has("client_id") & (client != log.values["client_id"])
    positions = np.flatnonzero(moved)
    log.record(positions, "client_id",
               [f"episode {cells.plain(log.values['episode_id'][p])} is stored for client {cells.plain(client[p])}, "
                f"not {cells.plain(log.values['client_id'][p])}; an episode cannot move to another client"
                for p in positions], "key_changed")
    for entry in catalog.values_of("episodes"):
        column = entry.name
        new = log.values[column]
        old = stored[column].to_numpy(dtype=object if entry.is_text else float)
        if new.dtype == object:
            differs = new != old
        else:
            differs = ~_same_number(new, old)
        differs &= is_stored & log.has(column)
        if replace:
            plan.episode_changed |= differs
        else:
            positions = np.flatnonzero(differs)
            _report_stored_difference(log, positions, column, old[positions], new[positions])
    if replace:
        # Every row of a changed episode carries its attributes into the update.
        episode_codes = log.codes("episode_id")[0]
        plan.episode_changed = np.isin(episode_codes, episode_codes[plan.episode_changed]) & is_stored


def _compare_stored_people(cursor, log: VisitLog, plan: Plan, replace: bool) -> None:
    clients, client_stored = _stored_lookup(cursor, log, "client_id", PLAN_SQL["stored_clients"])
    therapists, therapist_stored = _stored_lookup(cursor, log, "therapist_id", PLAN_SQL["stored_therapists"])
    clinic = clients["clinic_id"].to_numpy(dtype=object)
    moved = np.flatnonzero(client_stored & log.has("clinic_id") & (clinic != log.values["clinic_id"]))
    log.record(moved, "clinic_id",
               [f"client {cells.plain(log.values['client_id'][p])} is stored under clinic {cells.plain(clinic[p])}, "
                f"not {cells.plain(log.values['clinic_id'][p])}; a client belongs to one clinic" for p in moved],
               "key_changed")
    for name_column, owner_column, stored, is_stored, changed in (
        ("client_name", "client_id", clients, client_stored, plan.client_name_changed),
        ("therapist_name", "therapist_id", therapists, therapist_stored, plan.therapist_name_changed),
    ):
        old = stored[name_column].to_numpy(dtype=object)
        differs = is_stored & log.has(name_column) & (old != log.values[name_column])
        if replace:
            changed |= differs
            continue
        positions = np.flatnonzero(differs)
        owner = owner_column.split("_")[0]
        # Names are health-adjacent personal data: never repeated in a message.
        log.record(positions, name_column,
                   [f"differs from the stored name of {owner} {cells.plain(log.values[owner_column][p])} "
                    f"(names are not shown); {_REPLACE_HINT}" for p in positions], "stored_differs")


