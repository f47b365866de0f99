"""Writing from the therapist's forms: record today's session, open a new course of care, correct
a stored value keeping its history, save a stretching plan, close or reopen a course. Each is
one transaction (db.write, which bumps the data version); sessions are checked by the importer's
own rules (the form becomes a one-row visit log)."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import duckdb
import pandas as pd

from analytics import audit, catalog, config, db, report, visit_log
from analytics.visit_log import checks

FORM = "form"  # the "file" named in the importer's messages: "form:2:pain_pre: 11 is outside 0-10"
WHOLE_FORM = ""  # problems that belong to no single field
DEFAULT_SORE_SPOT_MIN = 45  # three quarters of the hour on the sore spot
_DURATION_DEFAULT = catalog.column("duration_min").default
assert isinstance(_DURATION_DEFAULT, (int, float))  # catalog gives duration_min the default 60
DEFAULT_DURATION_MIN = int(_DURATION_DEFAULT)

# What a stored visit may be corrected in: the session's and its assessments' values. Ids,
# the therapist and the episode's other attributes are not corrected here (they are keys, or
# belong to the whole course of care).
CORRECTABLE: tuple[str, ...] = catalog.VISIT_VALUES
# The course's own values a correction may set (Data quality's "No onset date" is fixed here): one
# per course, so correcting them through any of its visits changes the course, checked by the
# importer's rules for the course (the onset on or before the first visit, not after today). Their
# history rows are kept against the visit the correction was made from (Data quality's link opens
# visit 1 for a missing onset).
COURSE_CORRECTABLE: tuple[str, ...] = ("onset_date",)
# Free-text values (the session note): their history keeps no text and no message repeats them.
PRIVATE_TEXT: tuple[str, ...] = tuple(entry.name for entry in catalog.of_kind("text"))
FIELD_LABELS: dict[str, str] = {**catalog.labels(), "reason": "Reason"}
_NUMBERED_ID = visit_log.NUMBERED_ID


class RecordRefused(Exception):
    """Nothing was written. `problems` maps a form field (a visit-log column, 'reason', or ''
    for the form as a whole) to the messages to show next to it."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field or 'form'}: {message}" for field, messages in problems.items()
                                   for message in messages))


@dataclasses.dataclass(frozen=True)
class SessionEntry:
    """One session as the form holds it. None means left blank."""

    session_date: dt.date | str | None
    pain_pre: float | None
    pain_post: float | None
    visit_number: int | None = None  # None: the next visit of the episode
    therapist_id: str | None = None  # None: the episode's primary therapist
    psfs_pre: float | None = None
    psfs_post: float | None = None
    dorsiflexion_pre_deg: float | None = None
    dorsiflexion_post_deg: float | None = None
    sore_spot_min: float | None = DEFAULT_SORE_SPOT_MIN
    duration_min: float | None = DEFAULT_DURATION_MIN
    stretching_adherence_pct: float | None = None
    faam_adl_pct: float | None = None
    lefs: float | None = None
    note: str | None = None  # private: never in a message, log or the audit trail
    next_appointment: dt.date | str | None = None  # agreed at this session; on or after its date


@dataclasses.dataclass(frozen=True)
class EpisodeEntry:
    """A new course of care. `client_name` is used only for a new client (a returning client
    keeps the stored name); `clinic_id` None means the therapist's clinic for a new client."""

    client_id: str
    condition: str
    course_type: str
    therapist_id: str
    client_name: str | None = None
    severity: str | None = None
    prior_injuries: int | None = None
    onset_date: dt.date | str | None = None
    is_new_client: bool = True
    foot_side: str | None = None


def field_problems(problems: list[visit_log.Problem]) -> dict[str, list[str]]:
    """The importer's problems grouped by the form field (visit-log column) they are about,
    message text only; a problem of no single column goes to the whole form ('')."""
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        grouped.setdefault(problem.column or WHOLE_FORM, []).append(problem.message)
    return grouped


# ---------------------------------------------------------------------------------------------
# Reading what the forms need


def next_visit(con: duckdb.DuckDBPyConnection, episode_id: str) -> dict[str, Any] | None:
    """What the form for an episode's next session starts from: visit_number (one more than the
    highest stored), last_date (the latest visit's date), therapist_id (primary), client_id,
    condition, course_type. None when the episode does not exist."""
    cursor = con.cursor()
    try:
        row = _first(cursor, """
            SELECT e.episode_id, e.client_id, e.therapist_id, e.condition, e.course_type,
                   coalesce(max(s.visit_number), 0) + 1 AS visit_number, max(s.session_date) AS last_date
            FROM episodes e LEFT JOIN sessions s ON s.episode_id = e.episode_id
            WHERE e.episode_id = ?
            GROUP BY ALL""", [episode_id])
    finally:
        cursor.close()
    if row is None:
        return None
    keys = ("episode_id", "client_id", "therapist_id", "condition", "course_type", "visit_number", "last_date")
    return dict(zip(keys, row))


def therapists(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """therapist id -> name (the id when no name is stored), for the form's choice."""
    cursor = con.cursor()
    try:
        return dict(cursor.execute(
            "SELECT therapist_id, coalesce(name, therapist_id) FROM therapists ORDER BY 2, 1").fetchall())
    finally:
        cursor.close()


def next_id(con: duckdb.DuckDBPyConnection, table: str, prefix: str) -> str:
    """The next free id like the clinic's own: 'E00707' after 'E00706' (five digits at least).
    `table` is 'episodes' or 'clients'."""
    cursor = con.cursor()
    try:
        return _next_id(cursor, table, prefix)
    finally:
        cursor.close()


def _next_id(cursor, table: str, prefix: str, keep: bool = False) -> str:
    """`keep`: inside a write, so the highest number's meta row may be made (visit_log.highest_number)."""
    return f"{prefix}{visit_log.highest_number(cursor, table, prefix, keep) + 1:05d}"


def stored_visits(con: duckdb.DuckDBPyConnection, episode_id: str) -> pd.DataFrame:
    """The episode's stored visits with every correctable value, for the correction form.
    Columns: session_id, visit_number, then CORRECTABLE and COURSE_CORRECTABLE (the course's
    value, the same on every visit)."""
    cursor = con.cursor()
    try:
        return cursor.execute(f"""
            SELECT session_id, visit_number, {', '.join(CORRECTABLE + COURSE_CORRECTABLE)}
            FROM session_facts WHERE episode_id = ? ORDER BY visit_number""", [episode_id]).df()
    finally:
        cursor.close()


def correction_history(con: duckdb.DuckDBPyConnection, episode_id: str) -> pd.DataFrame:
    """Every correction to the episode's visits, newest first. Columns: corrected_at,
    corrected_by, visit_number, field, old_value, new_value, reason."""
    cursor = con.cursor()
    try:
        return cursor.execute("""
            SELECT c.corrected_at, c.corrected_by, s.visit_number, c.field, c.old_value, c.new_value, c.reason
            FROM corrections c JOIN sessions s ON s.session_id = c.session_id
            WHERE s.episode_id = ?
            ORDER BY c.corrected_at DESC, c.correction_id DESC""", [episode_id]).df()
    finally:
        cursor.close()


# ---------------------------------------------------------------------------------------------
# Writing


def record_session(con: duckdb.DuckDBPyConnection, episode_id: str, entry: SessionEntry,
                   by: str | None = None, viewer: str | None = None) -> int:
    """Store one session of an existing episode; returns its session id. Raises RecordRefused
    (nothing written) for any problem the importer would report, and for a visit number that is
    already stored (a correction, not a second copy, changes a stored visit).

    `viewer` is the therapist id of a signed-in therapist (None for a manager): a therapist
    records only for their own episodes and under their own id. Whatever a browser sends, a
    colleague's episode is "not stored", exactly like an unknown one."""
    with _transaction(con, [episode_id]) as cursor:
        episode = _stored_episode(cursor, episode_id)
        if episode is None or not _is_viewers(episode["therapist_id"], viewer):
            raise RecordRefused({"episode_id": [f"no course of care {episode_id} is stored"]})
        visit_number = entry.visit_number if entry.visit_number is not None else episode["next_visit"]
        therapist = _session_therapist(cursor, entry.therapist_id or episode["therapist_id"], viewer)
        row = _visit_row(entry, visit_number=visit_number, episode_id=episode_id, client_id=episode["client_id"],
                         condition=episode["condition"], course_type=episode["course_type"],
                         therapist_id=therapist)
        _import_row(cursor, row, replace=False, problems=_stored_visit_problem(cursor, episode_id, visit_number))
        audit.record_on(cursor, by, "record", "episode", episode_id)  # commits with the visit, or neither does
        return _session_id(cursor, episode_id, visit_number)


def open_episode(con: duckdb.DuckDBPyConnection, episode: EpisodeEntry, first_visit: SessionEntry,
                 by: str | None = None, viewer: str | None = None) -> str:
    """Open a new course of care with its first session (visit 1, where the baseline is
    measured) for a new or returning client; returns the new episode id (next_id). One
    transaction; RecordRefused when anything is wrong, with nothing written. A new client's
    numbered id (the form's suggestion, like C00633) is checked inside the transaction: when
    someone else took it meanwhile, the next free one is given, so two people opening a course
    for a new client at once get two clients.

    `viewer` is the therapist id of a signed-in therapist (None for a manager). A therapist opens
    courses only under their own id, and only for a returning client who is already theirs (a
    colleague's client and an unknown id get the same answer, so no id is confirmed); a new
    client of a therapist always gets the next free id, whatever was typed, so a typed id
    reveals nothing."""
    touched: list[str] = []  # filled in below; db.write reads it when it refreshes the facts
    with _transaction(con, touched) as cursor:
        episode_id = _next_id(cursor, "episodes", "E", keep=True)
        touched.append(episode_id)
        client_id = (episode.client_id or "").strip()
        if episode.is_new_client and viewer is not None:
            client_id = _next_id(cursor, "clients", "C", keep=True)
        stored_client = _first(cursor, "SELECT clinic_id FROM clients WHERE client_id = ?", [client_id])
        if episode.is_new_client and stored_client is not None:
            if not re.match(_NUMBERED_ID.format("C"), client_id):
                raise RecordRefused({"client_id": [f"{client_id} is already a client; give the new client another id"]})
            client_id, stored_client = _next_id(cursor, "clients", "C", keep=True), None
        if not episode.is_new_client and (stored_client is None or not _is_viewers_client(cursor, client_id, viewer)):
            raise RecordRefused({"client_id": [f"no client {client_id} is stored among "
                                               f"{'your' if viewer else 'the'} clients; add them as a new client"]})
        therapist = _session_therapist(cursor, episode.therapist_id or first_visit.therapist_id, viewer)
        clinic = stored_client[0] if stored_client else _therapist_clinic(cursor, therapist)
        row = _visit_row(first_visit, visit_number=1, episode_id=episode_id, client_id=client_id,
                         condition=episode.condition, course_type=episode.course_type,
                         therapist_id=therapist)
        row.update(clinic_id=as_text(clinic), severity=as_text(episode.severity),
                   prior_injuries=as_text(episode.prior_injuries), onset_date=as_text(episode.onset_date),
                   foot_side=as_text(episode.foot_side),
                   client_name=as_text(episode.client_name) if episode.is_new_client else "")
        _import_row(cursor, row, replace=False)
        audit.record_on(cursor, by, "record", "episode", episode_id)
        return episode_id


def correct_value(con: duckdb.DuckDBPyConnection, session_id: int, field: str, new_value: Any, reason: str,
                  by: str, viewer: str | None = None) -> None:
    """Change one stored value of a visit and keep the old one in `corrections` (who, when, old,
    new, why), in one transaction. `new_value` may be text as typed; None or '' clears an
    optional value. The changed visit must pass the importer's rules as a whole (a date still
    after the previous visit, sore-spot minutes within the session...). Clearing the pain after
    the session also clears the other after-session scores; each value that changes gets its
    own history row. A therapist `viewer` corrects only visits of their own episodes; any other
    session id is "not stored". A COURSE_CORRECTABLE field (the onset date) changes the course
    the visit belongs to; it is set, not cleared, here."""
    if field not in CORRECTABLE + COURSE_CORRECTABLE:
        raise RecordRefused({WHOLE_FORM: [f"{field} cannot be corrected here; correctable: "
                                          f"{', '.join(CORRECTABLE + COURSE_CORRECTABLE)}"]})
    problems: dict[str, list[str]] = {}
    if field in COURSE_CORRECTABLE and not as_text(new_value):
        problems[field] = [f"enter the {catalog.column(field).label.lower()} as YYYY-MM-DD; "
                           "it can be corrected here but not cleared"]
    if not (reason or "").strip():
        problems["reason"] = ["give a reason for the correction (for example: typing error, wrong client)"]
    if not (by or "").strip():
        problems[WHOLE_FORM] = ["the correction needs the name of whoever makes it"]
    touched: list[str] = []
    with _transaction(con, touched) as cursor:
        before = _stored_row(cursor, session_id)
        if before is not None and viewer is not None:
            owner = _first(cursor, "SELECT therapist_id FROM episodes WHERE episode_id = ?", [before["episode_id"]])
            if owner is None or not _is_viewers(owner[0], viewer):
                before = None
        if before is None:
            raise RecordRefused({WHOLE_FORM: [f"no stored visit has session id {session_id}"]})
        touched.append(before["episode_id"])
        row = dict(before)
        for course_value in COURSE_CORRECTABLE:  # not given: the stored course keeps its value
            row[course_value] = ""
        row[field] = as_text(new_value)
        if row[field] == before[field]:
            shown = "this" if field in PRIVATE_TEXT else _shown(before[field])
            problems.setdefault(field, []).append(f"{shown} is already the stored value; nothing to correct")
        if field in ("psfs_post", "dorsiflexion_post_deg") and row[field] and not before["pain_post"]:
            problems.setdefault(field, []).append(
                "an after-session score is kept only with the pain after the session; record that first")
        if problems:
            raise RecordRefused(problems)
        _import_row(cursor, row, replace=True)
        after = _stored_row(cursor, session_id)
        assert after is not None  # the visit was stored above and just replaced, in this transaction
        changed = [column for column in CORRECTABLE + COURSE_CORRECTABLE if after[column] != before[column]]
        for column in changed:
            # A private note's history says that it changed, never what it said.
            private = column in PRIVATE_TEXT
            cursor.execute(
                "INSERT INTO corrections (corrected_by, session_id, field, old_value, new_value, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [by.strip(), session_id, column, None if private else before[column] or None,
                 None if private else after[column] or None, reason.strip()])
        if field in COURSE_CORRECTABLE:
            audit.record_on(cursor, by.strip(), "correct", "episode", before["episode_id"])
        else:
            audit.record_on(cursor, by.strip(), "correct", "session", str(session_id))


def stretching_plan(con: duckdb.DuckDBPyConnection, episode_id: str) -> str | None:
    """The course's saved home-stretching plan; None when none was saved (the page then offers
    report.default_notes for the condition)."""
    cursor = con.cursor()
    try:
        row = _first(cursor, "SELECT stretching_plan FROM episodes WHERE episode_id = ?", [episode_id])
    finally:
        cursor.close()
    return row[0] if row else None


def save_plan(con: duckdb.DuckDBPyConnection, episode_id: str, plan: str, by: str | None,
              viewer: str | None = None) -> None:
    """Store the course's home-stretching plan (at most report.MAX_NOTES_CHARS characters, line
    breaks allowed, no invisible or control characters; blank clears it), with its audit row, in
    one transaction. A therapist `viewer` saves only for their own courses: a colleague's course
    gets the same answer as an unknown one. RecordRefused, nothing written, otherwise."""
    text = unicodedata.normalize("NFC", (plan or "").replace("\r\n", "\n")).strip()
    if (character := checks.invisible_in_note(text)) is not None:
        raise RecordRefused({"stretching_plan": [f"the plan contains an invisible or control character {character} "
                                                 "(line breaks are allowed); retype it"]})
    if len(text) > report.MAX_NOTES_CHARS:
        raise RecordRefused({"stretching_plan": [f"the plan is longer than {report.MAX_NOTES_CHARS} characters"]})
    with _transaction(con, []) as cursor:  # the plan is in no fact table
        owner = _first(cursor, "SELECT therapist_id FROM episodes WHERE episode_id = ?", [episode_id])
        if owner is None or not _is_viewers(owner[0], viewer):
            raise RecordRefused({"episode_id": [f"no course of care {episode_id} is stored"]})
        cursor.execute("UPDATE episodes SET stretching_plan = ? WHERE episode_id = ?", [text or None, episode_id])
        audit.record_on(cursor, by, "record", "stretching_plan", episode_id)


def discharge_reason(con: duckdb.DuckDBPyConnection, episode_id: str) -> str | None:
    """The course's stored discharge reason (one of config.DISCHARGE_REASONS); None when it is
    open (no reason) or not stored."""
    cursor = con.cursor()
    try:
        row = _first(cursor, "SELECT discharge_reason FROM episodes WHERE episode_id = ?", [episode_id])
    finally:
        cursor.close()
    return row[0] if row else None


CLOSE_REASON = "discharge_reason"  # the close form's field, and the visit-log column it writes


def close_course(con: duckdb.DuckDBPyConnection, episode_id: str, reason: str | None, by: str | None,
                 viewer: str | None = None) -> None:
    """Close a course of care with a discharge reason (one of config.DISCHARGE_REASONS), change
    the reason of a closed one, or reopen it (reason None or blank: the reason is cleared), with
    its audit row ('record', target 'course_closed' or 'course_reopened', the episode id) and the
    episode's fact refresh, in one transaction. The course's status follows (metrics.query
    episodes_cte). A therapist `viewer` closes only their own courses: a colleague's course gets
    the same answer as an unknown one. RecordRefused, nothing written, for an unknown reason, a
    course not theirs, or no change (the same reason again, or reopening an open course)."""
    chosen = (reason or "").strip() or None
    if chosen is not None and chosen not in config.DISCHARGE_REASONS:
        raise RecordRefused({CLOSE_REASON: [f"{_shown(chosen)} is not a known discharge reason; allowed: "
                                            + ", ".join(config.DISCHARGE_REASONS)]})
    with _transaction(con, [episode_id]) as cursor:  # session_facts carries the reason
        stored = _first(cursor, "SELECT therapist_id, discharge_reason FROM episodes WHERE episode_id = ?",
                        [episode_id])
        if stored is None or not _is_viewers(stored[0], viewer):
            raise RecordRefused({"episode_id": [f"no course of care {_shown(episode_id)} is stored"]})
        if stored[1] == chosen:
            raise RecordRefused({WHOLE_FORM: ["nothing to store: the course is already open" if chosen is None
                                              else "nothing to store: the course is already closed for this reason"]})
        cursor.execute("UPDATE episodes SET discharge_reason = ? WHERE episode_id = ?", [chosen, episode_id])
        audit.record_on(cursor, by, "record", "course_reopened" if chosen is None else "course_closed", episode_id)


# ---------------------------------------------------------------------------------------------
# The pieces


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, episodes: list[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """db.write for the listed episodes (their facts are refreshed at commit; a list may be
    filled inside the block, before it ends), with a database failure turned into a message for
    the form. Either way nothing is written."""
    try:
        with db.write(con, episodes) as cursor:
            yield cursor
    except (duckdb.Error, db.DatabaseError) as exc:  # DatabaseError: the clinic chain's PostgreSQL refused
        if db.is_damage(exc) or isinstance(exc, db.DamagedDatabase):  # "try again" would not help
            raise
        raise RecordRefused({WHOLE_FORM: [f"the database refused the entry ({str(exc).strip().splitlines()[0]}); "
                                          "nothing was written, please try again"]}) from None


def _import_row(cursor: duckdb.DuckDBPyConnection, row: dict[str, str], replace: bool,
                problems: dict[str, list[str]] | None = None) -> None:
    """Check one visit-log row with the importer and store it, on the caller's transaction.
    `problems` found by the caller are reported together with the importer's own.

    The same steps as visit_log.import_frames, whose public function opens a transaction of its
    own: a form write must share one with its duplicate check and its corrections history."""
    log = visit_log.check([(FORM, pd.DataFrame([row], dtype=object))])
    if problems:
        # The row's own checks only: comparing with the stored visit would repeat the problem.
        found = field_problems(log.problems)
        for field, messages in problems.items():
            found.setdefault(field, []).extend(messages)
        raise RecordRefused(found)
    plan = visit_log.plan(cursor, log, replace)
    if log.problems:
        raise RecordRefused(field_problems(log.problems))
    if not plan.writes_anything():
        raise RecordRefused({WHOLE_FORM: ["nothing to store: these values are already stored"]})
    visit_log.store(cursor, log, plan)


def _is_viewers(primary_therapist: str | None, viewer: str | None) -> bool:
    """A manager (viewer None) may use every episode; a therapist only those they are the primary
    therapist of (the same rule as Filter.viewer_therapist on the pages)."""
    return viewer is None or primary_therapist == viewer


def _is_viewers_client(cursor, client_id: str, viewer: str | None) -> bool:
    return viewer is None or _first(
        cursor, "SELECT 1 FROM episodes WHERE client_id = ? AND therapist_id = ? LIMIT 1", [client_id, viewer]) is not None


def _session_therapist(cursor, therapist_id: str | None, viewer: str | None) -> str:
    """The therapist a form's session is stored under: a signed-in therapist's own id, or for a
    manager a stored therapist. A rewritten widget value (a colleague's id, an unknown 'T99') is
    refused, never stored as a new therapist."""
    therapist_id = (therapist_id or "").strip()
    if viewer is not None:
        if therapist_id and therapist_id != viewer:
            raise RecordRefused({"therapist_id": ["you can record sessions only under your own name"]})
        return viewer
    # An id the importer refuses anyway (too long) gets the importer's message instead.
    if (therapist_id and len(therapist_id) <= catalog.MAX_ID_LENGTH
            and _first(cursor, "SELECT 1 FROM therapists WHERE therapist_id = ?", [therapist_id]) is None):
        raise RecordRefused({"therapist_id": [f"no therapist {_shown(therapist_id)} is stored"]})
    return therapist_id


def _stored_episode(cursor, episode_id: str) -> dict[str, Any] | None:
    row = _first(cursor, """
        SELECT e.client_id, e.therapist_id, e.condition, e.course_type, coalesce(max(s.visit_number), 0) + 1
        FROM episodes e LEFT JOIN sessions s ON s.episode_id = e.episode_id
        WHERE e.episode_id = ? GROUP BY ALL""", [episode_id])
    if row is None:
        return None
    return dict(zip(("client_id", "therapist_id", "condition", "course_type", "next_visit"), row))


def _stored_visit_problem(cursor, episode_id: str, visit_number: Any) -> dict[str, list[str]]:
    """A problem when this visit of the episode is already stored: a form adds visits, and a
    stored one is changed by a correction (which keeps the old values), not by a second entry."""
    try:
        number = int(float(visit_number))
    except (TypeError, ValueError):
        return {}  # not a number: the importer's rules say so
    stored = _first(cursor, "SELECT session_date FROM sessions WHERE episode_id = ? AND visit_number = ?",
                    [episode_id, number])
    if stored is None:
        return {}
    return {"visit_number": [f"visit {number} of {episode_id} is already recorded (on {stored[0]:%Y-%m-%d}); "
                             "to change it, correct the stored visit instead"]}


def _therapist_clinic(cursor, therapist_id: str | None) -> str | None:
    row = _first(cursor, "SELECT clinic_id FROM therapists WHERE therapist_id = ?", [therapist_id])
    return row[0] if row else None


def _session_id(cursor, episode_id: str, visit_number: Any) -> int:
    return int(db.one(cursor, "SELECT session_id FROM sessions WHERE episode_id = ? AND visit_number = ?",
                      [episode_id, int(float(visit_number))])[0])


def _first(cursor, sql: str, params: list[Any]) -> tuple | None:
    """The first row or None. Fetches every row: DuckDB keeps a cursor busy until its result is
    read to the end, and the next statement on it would fail."""
    rows = cursor.execute(sql, params).fetchall()
    return rows[0] if rows else None


def _stored_row(cursor, session_id: int) -> dict[str, str] | None:
    """A stored visit as the visit-log row a person would have typed (all values as text). Reads
    the live view: inside a write the fact tables are refreshed only at commit. The view is asked
    for the visit's episode, a filter DuckDB applies before the view's joins and windows (a
    session id alone would have it compute the view for every session first)."""
    episode = _first(cursor, "SELECT episode_id FROM sessions WHERE session_id = ?", [session_id])
    if episode is None:
        return None
    frame = cursor.execute(f"""
        SELECT client_id, episode_id, condition, course_type, visit_number,
               session_therapist_id AS therapist_id, {', '.join(CORRECTABLE + COURSE_CORRECTABLE)}
        FROM session_facts_live WHERE episode_id = ? AND session_id = ?""", [episode[0], session_id]).df()
    if frame.empty:
        return None
    return {column: as_text(value) for column, value in frame.iloc[0].items()}


def _visit_row(entry: SessionEntry, **given: Any) -> dict[str, str]:
    row = {column: "" for column in catalog.NAMES}
    for field in dataclasses.fields(SessionEntry):
        if field.name in row:
            row[field.name] = as_text(getattr(entry, field.name))
    row.update({column: as_text(value) for column, value in given.items()})
    return row


def as_text(value: Any) -> str:
    """A form value as the text a visit log would hold: '' for blank, 7.0 -> '7', dates ISO."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        number = float(value)
        if math.isnan(number):
            return ""
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    return str(value).strip()


def _shown(text: str) -> str:
    return "blank" if text == "" else text
