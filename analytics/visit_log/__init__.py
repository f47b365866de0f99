"""The visit-log importer: reads CSV, Excel and Parquet visit logs, reports every problem at once
as records (file, row, column, code, message), and stores all rows in one transaction or nothing.

The steps, each public, on the caller's cursor where the database is involved::

    frame = visit_log.read(path)                       # one file as text; ImportFailed if unreadable
    log = visit_log.check([(name, frame), ...])        # every cell and row rule; log.problems
    plan = visit_log.plan(cursor, log, replace)        # compare with the stored rows; more problems
    visit_log.store(cursor, log, plan)                 # write, inside the caller's db.write

`import_files` and `import_frames` run them in one db.write transaction. Problems become
"FILE:ROW:COLUMN: message" text only where a person reads them (`format_problems`).

Seams for tests: `READERS` (suffix -> reader) and `SQL` (the write's statements by name) are
dictionaries looked up at call time, and `import_frames` calls the module attribute `store`, so
a test may wrap it to stop mid-transaction.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import duckdb
import pandas as pd

from analytics import audit, catalog, db
from analytics.visit_log import cells
from analytics.visit_log.checks import VisitLog, check
from analytics.visit_log.planning import Plan, plan
from analytics.visit_log.problems import (
    ImportFailed,
    ImportResult,
    Problem,
    audited_files,
    format_errors,
    format_problems,
)
from analytics.visit_log.readers import NOTICES, READERS, SUPPORTED_SUFFIXES, read, workbook_sheets
from analytics.visit_log.storage import NUMBERED_ID, SQL, highest_number, store

__all__ = ["NOTICES", "NUMBERED_ID", "READERS", "SQL", "SUPPORTED_SUFFIXES", "ImportFailed", "ImportResult", "Plan", "Problem", "VisitLog",
           "check", "format_errors", "format_problems", "highest_number", "import_files", "import_frames", "plan", "read",
           "read_visit_log", "store", "workbook_sheets"]

read_visit_log = read  # the name the pages have used


class _NothingToWrite(Exception):
    """Every row is already stored unchanged: roll back so not even the data version moves."""


def import_frames(con: duckdb.DuckDBPyConnection, frames: Sequence[tuple[str, pd.DataFrame]],
                  replace: bool = False, by: str | None = None,
                  file_problems: Iterable[Problem] = ()) -> ImportResult:
    """Validate and store visit-log rows: all of them, or none and ImportFailed listing every problem.

    `frames` are (file name used in messages, rows of that file). Cells may be text, numbers or
    dates; NaN, None and "" are blank. Row i of a frame is reported as line i + 2, as in a
    spreadsheet with its header on line 1. Rows already stored unchanged are skipped; a stored row
    with other values is an error unless `replace`, which overwrites the session's values.

    Blank names, clinic and episode attributes (severity, prior injuries, onset) mean "not given":
    stored values are kept. A column missing from a file keeps stored values under `replace`.
    Post-session PSFS and flexibility are stored only on a row with pain_post. A session's
    therapist, an episode's client and a client's clinic never change through an import: DuckDB
    cannot update those foreign-key columns of referenced rows, so a difference is always an error.

    `file_problems` are the problems of files the caller could not read (`read` raised
    ImportFailed): they refuse the import with the rest, and the refusal's audit row names those
    files too."""
    return _import(con, list(frames), replace, list(file_problems), by)


def import_files(con: duckdb.DuckDBPyConnection, paths: Iterable[str | os.PathLike] | str | os.PathLike,
                 replace: bool = False, by: str | None = None, sheet: str | None = None) -> ImportResult:
    """Read each visit-log file (CSV, .xlsx or Parquet) and import them all in one transaction.
    Problems are reported with the file name as given. `sheet` names the sheet to read in every
    workbook (see `read`)."""
    frames, file_problems = read_files(paths, sheet)
    return _import(con, frames, replace, file_problems, by)


def read_files(paths: Iterable[str | os.PathLike] | str | os.PathLike,
               sheet: str | None = None) -> tuple[list[tuple[str, pd.DataFrame]], list[Problem]]:
    """Read each file with `read` (its name as given), collecting every file's problems instead of
    stopping at the first: the (name, rows) frames read and the problems of those that could not be."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames: list[tuple[str, pd.DataFrame]] = []
    file_problems: list[Problem] = []
    for path in paths:
        try:
            frames.append((os.fspath(path), read(path, sheet)))
        except ImportFailed as failure:
            file_problems.extend(failure.problems)
    return frames, file_problems


def _import(con, frames: list[tuple[str, pd.DataFrame]], replace: bool, file_problems: list[Problem],
            by: str | None) -> ImportResult:
    """The import, audited: a stored import's audit row (`by`, how many sessions came in) commits
    with its rows; a refused one is audited in its own small write (file names and how many
    problems, never a value) that leaves the data version alone."""
    try:
        result = _store(con, frames, replace, file_problems, by)
        result.notices = [notice for _, frame in frames for notice in frame.attrs.get(NOTICES, [])]
        return result
    except ImportFailed as failure:
        files = audited_files(frames, file_problems)
        try:
            with db.account_write(con) as cursor:
                audit.record_on(cursor, by, "import", "refused",
                                f"{len(failure.errors)} problem(s) in {files}")
        except duckdb.Error:
            pass  # a damaged file refuses this too; the import's own message says why
        raise


def _store(con, frames: list[tuple[str, pd.DataFrame]], replace: bool, file_problems: list[Problem],
           by: str | None) -> ImportResult:
    log = check(frames)
    if log.size == 0:
        if file_problems or log.problems:
            raise ImportFailed(file_problems + log.problems)
        return ImportResult(inserted=0, skipped=0, replaced=0, episodes=0)
    decided = None
    touched: list[str] = []  # filled in below; db.write refreshes only these episodes' facts
    try:
        with db.write(con, touched) as cursor:
            decided = plan(cursor, log, replace)
            if file_problems or log.problems:
                raise ImportFailed(file_problems + log.problems)
            if not decided.writes_anything():
                raise _NothingToWrite
            touched.extend(decided.touched_episodes(*log.codes("episode_id")))
            store(cursor, log, decided)  # the module attribute, looked up now: a test seam
            stored = decided.result(log.codes("episode_id")[0])
            audit.record_on(cursor, by, "import", "sessions", str(stored.inserted))  # commits with the rows
    except _NothingToWrite:
        pass
    except (duckdb.Error, db.DatabaseError) as exc:  # DatabaseError: the clinic chain's PostgreSQL refused
        files = ", ".join(dict.fromkeys(log.file_names)) or "import"
        raise ImportFailed([database_problem(files, exc)]) from None
    assert decided is not None  # planned before anything could be written
    return decided.result(log.codes("episode_id")[0])


def database_problem(file: str, exc: duckdb.Error | db.DatabaseError) -> Problem:
    """The database refused a write the checks let through. Nothing was written.

    A CHECK constraint names its table and expression; when that expression is on the stored
    column of exactly one catalog column (a condition config allows but schema.sql does not),
    the problem names that column and says which two must agree."""
    detail = cells.first_line(str(exc))
    if db.is_damage(exc):
        return Problem(file, None, None, "damaged", f"{db.DAMAGED} Nothing was written.")
    entry = constraint_column(detail) if isinstance(exc, duckdb.ConstraintException) else None
    if entry is None:
        return Problem(file, None, None, "database", f"the database refused the import ({detail}); nothing was written")
    allowed = f" (the catalog allows: {', '.join(entry.values)})" if entry.values else ""
    return Problem(file, None, entry.name, "schema_disagrees",
                   f"the database refused a {entry.noun} value ({detail}); the schema's CHECK on "
                   f"{entry.stored_in}.{entry.stored_as} does not accept every value the catalog allows{allowed}: "
                   "make analytics/schema.sql agree with config; nothing was written")


def constraint_column(detail: str) -> catalog.Column | None:
    """The one catalog column whose stored column a DuckDB CHECK-constraint message is about."""
    if "CHECK constraint failed" not in detail:
        return None
    candidates = [entry for entry in catalog.COLUMNS
                  if f'table "{entry.stored_in}"' in detail and f"CHECK(({entry.stored_as} " in detail]
    return candidates[0] if len(candidates) == 1 else None
