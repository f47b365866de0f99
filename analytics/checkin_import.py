"""Importing check-in answers from another survey tool's file (CSV, .xlsx or Parquet), with the
visit log's rules: every problem reported at once as a Problem (file, row, column), and all rows
stored in one transaction or none.

The format (README, "Importing check-ins"): one row per answer, columns `episode_id` (required),
`answered_on` (required, YYYY-MM-DD, not after today, not before the course's first visit),
`pain` (0-10), `first_steps_pain` (0-10), `stretch_days` (whole number 0-7), `pgic` (whole
number 1-7, 1 = very much improved), `pain_returned` (yes/no, blank = not asked). At least one
answer per row. A course and day already stored is refused unless the row is identical (then it
is skipped: importing the same file twice changes nothing); two rows for one course and day
are refused."""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pandas as pd

from analytics import audit, config, db
from analytics.visit_log import ImportFailed, Problem, read_files
from analytics.visit_log.cells import ISO_DATE, plain, shown
from analytics.visit_log.problems import audited_files

REQUIRED = ("episode_id", "answered_on")
# Answer columns: (lowest, highest, whole numbers only); pain_returned is yes/no.
NUMBERS: dict[str, tuple[int, int, bool]] = {
    "pain": (0, 10, False),
    "first_steps_pain": (0, 10, False),
    "stretch_days": (0, 7, True),
    "pgic": (1, len(config.PGIC_ANSWERS), True),
}
ANSWERS = (*NUMBERS, "pain_returned")
COLUMNS = (*REQUIRED, *ANSWERS)
YES_NO = {"yes": True, "no": False}


@dataclasses.dataclass
class CheckinImportResult:
    """Check-ins newly stored, rows already stored identically (skipped), and the courses they
    belong to."""

    inserted: int
    skipped: int
    episodes: int


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _check_rows(name: str, frame: pd.DataFrame, today: dt.date, problems: list[Problem]) -> list[dict[str, Any]]:
    """The file's rows as values, adding a Problem for every cell or row that breaks a rule."""
    for column in REQUIRED:
        if column not in frame.columns:
            problems.append(Problem(name, 1, column, "missing_column",
                                    f"the required column {column} is missing; the columns are {', '.join(COLUMNS)}"))
    for column in frame.columns:
        if column not in COLUMNS:
            problems.append(Problem(name, 1, plain(column) or "(blank)", "unknown_column",
                                    f"{shown(str(column))} is not a check-in column; the columns are {', '.join(COLUMNS)}"))
    if any(column not in frame.columns for column in REQUIRED):
        return []
    rows = []
    for index, cells in enumerate(frame.to_dict("records")):
        line = index + 2
        row: dict[str, Any] = {"file": name, "line": line}
        text = {column: str(cells.get(column, "") or "").strip() for column in COLUMNS}
        row["episode_id"] = text["episode_id"]
        if not row["episode_id"]:
            problems.append(Problem(name, line, "episode_id", "required", "episode_id is blank"))
        day = None
        if not ISO_DATE.fullmatch(text["answered_on"]):
            problems.append(Problem(name, line, "answered_on", "date",
                                    f"{shown(text['answered_on'])} is not a date as YYYY-MM-DD"))
        else:
            try:
                day = dt.date.fromisoformat(text["answered_on"])
            except ValueError:
                problems.append(Problem(name, line, "answered_on", "date", f"{text['answered_on']} is not a real date"))
        if day is not None and day > today:
            problems.append(Problem(name, line, "answered_on", "future",
                                    f"{day.isoformat()} is after today ({today.isoformat()})"))
        row["answered_on"] = day
        for column, (low, high, whole) in NUMBERS.items():
            row[column] = None
            if not text[column]:
                continue
            value = _number(text[column])
            if value is None or not low <= value <= high or (whole and not value.is_integer()):
                kind = "a whole number" if whole else "a number"
                problems.append(Problem(name, line, column, "range",
                                        f"{shown(text[column])} is not {kind} from {low} to {high}"))
                continue
            row[column] = int(value) if whole else value
        returned = text["pain_returned"].casefold()
        row["pain_returned"] = YES_NO.get(returned)
        if returned and returned not in YES_NO:
            problems.append(Problem(name, line, "pain_returned", "vocabulary",
                                    f"{shown(text['pain_returned'])} is not yes or no (blank = not asked)"))
        if not any(text[column] for column in ANSWERS):
            problems.append(Problem(name, line, None, "no_answer",
                                    f"the row has no answer; give at least one of {', '.join(ANSWERS)}"))
        rows.append(row)
    return rows


def _same(row: dict[str, Any], stored: tuple) -> bool:
    return all((a is None and b is None) or (a is not None and b is not None and float(a) == float(b))
               for a, b in zip((row[column] for column in ANSWERS), stored))


def import_frames(con: duckdb.DuckDBPyConnection, frames: Sequence[tuple[str, pd.DataFrame]], by: str | None = None,
                  today: dt.date | None = None, file_problems: Iterable[Problem] = ()) -> CheckinImportResult:
    """Check and store check-in rows (source 'import'): all of them, or none and ImportFailed
    listing every problem. `frames` are (file name used in messages, rows as text). A stored
    import is audited 'import' (target checkins, how many) with its rows; a refused one in its
    own small write (file names and how many problems, never a value)."""
    today = today or config.today()
    unread = list(file_problems)
    problems = list(unread)
    rows = [row for name, frame in frames for row in _check_rows(name, frame, today, problems)]
    try:
        return _store(con, rows, problems, by)
    except ImportFailed as failure:
        files = audited_files(frames, unread)
        try:
            with db.account_write(con) as cursor:
                audit.record_on(cursor, by, "import", "refused", f"{len(failure.errors)} problem(s) in {files}")
        except duckdb.Error:
            pass  # a damaged file refuses this too; the import's own message says why
        raise


def _store(con, rows: list[dict[str, Any]], problems: list[Problem], by: str | None) -> CheckinImportResult:
    seen: dict[tuple[str, dt.date], dict[str, Any]] = {}
    for row in rows:
        if not row["episode_id"] or row["answered_on"] is None:
            continue
        key = (row["episode_id"], row["answered_on"])
        if key in seen:
            first = seen[key]
            problems.append(Problem(row["file"], row["line"], "answered_on", "duplicate",
                                    f"course {plain(key[0])} already has a row for {key[1].isoformat()} "
                                    f"({first['file']} line {first['line']}); one answer per course and day"))
        else:
            seen[key] = row
    inserted = skipped = 0
    try:
        # The courses written are named (no fact table holds check-ins, but a clinic chain sends their rows).
        with db.write(con, episodes=sorted({row['episode_id'] for row in rows})) as cursor:
            firsts = dict(cursor.execute(
                "SELECT episode_id, min(session_date) FROM sessions WHERE list_contains(?, episode_id) GROUP BY episode_id",
                [sorted({row["episode_id"] for row in seen.values()})]).fetchall())
            known = {episode for (episode,) in cursor.execute(
                "SELECT episode_id FROM episodes WHERE list_contains(?, episode_id)",
                [sorted({row["episode_id"] for row in seen.values()})]).fetchall()}
            stored = {(episode, day): values for episode, day, *values in cursor.execute(
                "SELECT episode_id, answered_on, pain, first_steps_pain, stretch_days, pgic, pain_returned FROM checkins"
                " WHERE list_contains(?, episode_id)", [sorted(known)]).fetchall()}
            new = []
            for key, row in seen.items():
                episode, day = key
                if episode not in known:
                    problems.append(Problem(row["file"], row["line"], "episode_id", "unknown_episode",
                                            f"no course of care {plain(episode)} is stored; import its visits first"))
                elif episode in firsts and day < firsts[episode]:
                    problems.append(Problem(row["file"], row["line"], "answered_on", "before_course",
                                            f"{day.isoformat()} is before the course's first visit "
                                            f"({firsts[episode].isoformat()})"))
                elif key in stored:
                    if _same(row, tuple(stored[key])):
                        skipped += 1
                    else:
                        problems.append(Problem(row["file"], row["line"], None, "already_stored",
                                                f"course {plain(episode)} already has a check-in on {day.isoformat()} "
                                                "with other answers; an import replaces nothing"))
                else:
                    new.append(row)
            if problems:
                raise ImportFailed(problems)
            for row in new:
                cursor.execute("INSERT INTO checkins (episode_id, answered_on, source, pain, first_steps_pain,"
                               " stretch_days, pgic, pain_returned) VALUES (?, ?, 'import', ?, ?, ?, ?, ?)",
                               [row["episode_id"], row["answered_on"], *(row[column] for column in ANSWERS)])
            inserted = len(new)
            if not inserted:
                raise _NothingNew
            audit.record_on(cursor, by, "import", "checkins", str(inserted))
    except _NothingNew:
        pass
    except duckdb.Error as exc:
        if db.is_damage(exc):
            raise ImportFailed([Problem("", None, None, "damaged", f"{db.DAMAGED} Nothing was written.")]) from None
        raise ImportFailed([Problem("", None, None, "database",
                                    f"the database refused the import ({str(exc).strip().splitlines()[0]}); "
                                    "nothing was written")]) from None
    return CheckinImportResult(inserted, skipped, len({row["episode_id"] for row in seen.values()}))


class _NothingNew(Exception):
    """Every row is already stored identically: roll back so not even the data version moves."""


def import_files(con: duckdb.DuckDBPyConnection, paths: Iterable[str | os.PathLike] | str | os.PathLike,
                 by: str | None = None, today: dt.date | None = None, sheet: str | None = None) -> CheckinImportResult:
    """Read each check-in file (CSV, .xlsx or Parquet, read as the visit log is) and import them
    all in one transaction (import_frames). Problems name the file as given."""
    frames, file_problems = read_files(paths, sheet)
    return import_frames(con, frames, by=by, today=today, file_problems=file_problems)
