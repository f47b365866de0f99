"""The visit-log importer: reads CSV, Excel and Parquet visit logs, reports every problem at once
as FILE:ROW:COLUMN, and stores all rows in one transaction or nothing at all."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import math
import os
import re
import warnings
from pathlib import Path
from typing import Callable, Iterable, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from analytics import config, db

REQUIRED_COLUMNS = config.REQUIRED_COLUMNS
OPTIONAL_COLUMNS = config.OPTIONAL_COLUMNS
VISIT_LOG_COLUMNS = config.VISIT_LOG_COLUMNS
# pain_post is a required column whose cells may be blank: the client left before the closing score.
MAY_BE_BLANK: frozenset[str] = frozenset(OPTIONAL_COLUMNS) | {"pain_post"}

SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".xlsx", ".parquet")
DEFAULT_CLINIC = "main"
DEFAULT_DURATION_MIN = 60  # the clinic's hour-long session
MAX_ID_LENGTH = 64  # the schema's CHECK on every id

ID_COLUMNS = ("client_id", "episode_id", "therapist_id", "clinic_id")
NAME_COLUMNS = ("client_name", "therapist_name")
DATE_COLUMNS = ("session_date", "onset_date")
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "condition": config.CONDITIONS,
    "course_type": config.COURSE_TYPES,
    "severity": config.SEVERITIES,
}


@dataclasses.dataclass(frozen=True)
class NumberRange:
    """What a numeric cell may hold; `high` None means no upper bound but the storage limit."""

    low: float
    high: float | None
    is_whole: bool

    def describe(self) -> str:
        if self.high is None:
            span = f"{self.low:g} or more"
        elif self.low < 0:
            span = f"{self.low:g} to {self.high:g}"
        else:
            span = f"{self.low:g}-{self.high:g}"
        return f"a {'whole ' if self.is_whole else ''}number {span}"


NUMBER_RANGES: dict[str, NumberRange] = {
    "visit_number": NumberRange(1, None, True),
    "pain_pre": NumberRange(0, 10, False),
    "pain_post": NumberRange(0, 10, False),
    "prior_injuries": NumberRange(0, 100, True),  # the schema's upper bound
    "duration_min": NumberRange(1, 480, True),
    "sore_spot_min": NumberRange(0, 480, True),
    "stretching_adherence_pct": NumberRange(0, 100, False),
    "psfs_pre": NumberRange(0, 10, False),
    "psfs_post": NumberRange(0, 10, False),
    "dorsiflexion_pre_deg": NumberRange(-30, 80, False),
    "dorsiflexion_post_deg": NumberRange(-30, 80, False),
}
_LARGEST_INTEGER = 2**31 - 1  # DuckDB INTEGER

EXPECTED: dict[str, str] = {
    "client_id": f"a client id of 1-{MAX_ID_LENGTH} characters",
    "episode_id": f"an episode id of 1-{MAX_ID_LENGTH} characters",
    "therapist_id": f"a therapist id of 1-{MAX_ID_LENGTH} characters",
    "clinic_id": f"a clinic id of 1-{MAX_ID_LENGTH} characters",
    "session_date": "a date as YYYY-MM-DD",
    "onset_date": "a date as YYYY-MM-DD",
    **{column: "one of " + ", ".join(allowed) for column, allowed in VOCABULARIES.items()},
    **{column: rule.describe() for column, rule in NUMBER_RANGES.items()},
}

# Columns of a stored session and its assessments that an import may compare and replace.
SESSION_VALUE_COLUMNS = ("session_date", "duration_min", "sore_spot_min", "stretching_adherence_pct")
ASSESSMENT_VALUE_COLUMNS = ("pain_pre", "pain_post", "psfs_pre", "psfs_post",
                            "dorsiflexion_pre_deg", "dorsiflexion_post_deg")
EPISODE_VALUE_COLUMNS = ("condition", "course_type", "severity", "prior_injuries", "onset_date")
_EPOCH = dt.date(1970, 1, 1)  # dates travel as day numbers so pandas and DuckDB agree exactly
_COLUMN_RANK = {column: rank for rank, column in enumerate(VISIT_LOG_COLUMNS)}
_REPLACE_HINT = "use --replace to overwrite"


class ImportFailed(Exception):
    """Nothing was imported. `errors` holds every problem as "FILE:ROW:COLUMN: message"."""

    def __init__(self, errors: Iterable[str]):
        self.errors: list[str] = list(errors)
        super().__init__(format_errors(self.errors, limit=20))


@dataclasses.dataclass
class ImportResult:
    """Sessions newly stored, already stored unchanged, and overwritten (replace=True); and the
    number of distinct episodes whose sessions or attributes were written."""

    inserted: int
    skipped: int
    replaced: int
    episodes: int


def format_errors(errors: Sequence[str], limit: int = 100) -> str:
    """The first `limit` problems, one a line, and a count of the rest."""
    errors = list(errors)
    shown = errors[:limit]
    if len(errors) > limit:
        shown.append(f"... and {len(errors) - limit} more problems")
    return "\n".join(shown)


# ---------------------------------------------------------------------------------------------
# Reading files


def read_visit_log(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of one visit-log file as text ("" for a blank cell), columns as in the header.

    Row i of the frame is spreadsheet line i + 2. Raises ImportFailed with a readable message for
    a file that is missing, too large, empty, binary, not UTF-8 or of an unsupported type."""
    name = os.fspath(path)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        hint = " (save old .xls workbooks as .xlsx)" if suffix == ".xls" else ""
        raise ImportFailed([f"{name}: unsupported file type '{suffix or 'no extension'}'; "
                            f"use {', '.join(SUPPORTED_SUFFIXES)}{hint}"])
    try:
        if path.is_dir():
            raise ImportFailed([f"{name}: is a folder, not a visit-log file"])
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportFailed([f"{name}: no such file"]) from None
    except OSError as exc:
        raise ImportFailed([f"{name}: cannot read the file ({exc.strerror})"]) from None
    limit = config.MAX_IMPORT_BYTES
    if size > limit:
        raise ImportFailed([f"{name}: the file is {_size_text(size)}, more than the import limit of "
                            f"{_size_text(limit)}; split it into smaller files or raise CLINIC_MAX_IMPORT_MB"])
    if size == 0:
        raise ImportFailed([f"{name}: the file is empty; expected a header line and one row per session"])
    try:
        frame = _READERS[suffix](path, name)
    except OSError as exc:
        raise ImportFailed([f"{name}: cannot read the file ({exc.strerror or exc})"]) from None
    frame.columns = [str(column).strip() for column in frame.columns]
    if len(frame.columns) == 0:
        raise ImportFailed([f"{name}: the file has no header line; expected the columns "
                            + ", ".join(REQUIRED_COLUMNS)])
    if len(frame) == 0:
        raise ImportFailed([f"{name}: the file has a header but no rows; expected one row per session"])
    # A CSV is read as text already; workbooks and Parquet files carry numbers and dates.
    typed = [index for index in range(frame.shape[1])
             if pd.api.types.infer_dtype(frame.iloc[:, index], skipna=False) != "string"]
    if typed:
        frame = frame.copy()
        nested = []
        for index in typed:
            try:
                frame.isetitem(index, _as_text(frame.iloc[:, index]).values())
            except TypeError:  # a list, map or record in a cell (nested Parquet types) has no text form
                nested.append(f"{name}:1:{frame.columns[index]}: the column holds lists or records, not one value "
                              "per cell; save it with plain text, numbers or dates")
        if nested:
            raise ImportFailed(nested)
    return frame


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise ImportFailed([f"{name}: the file is empty; expected a header line and one row per session"])
    if raw.startswith(b"PK\x03\x04"):
        raise ImportFailed([f"{name}: this is a zip file or an Excel workbook, not CSV text; "
                            "name it .xlsx or export it as CSV"])
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFailed([f"{name}: the file is UTF-16 text; save it as 'CSV UTF-8' and import again"])
    if b"\x00" in raw:
        raise ImportFailed([f"{name}: this is a binary file, not CSV text"])
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ImportFailed([f"{name}: the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
                            "save it as 'CSV UTF-8' and import again"]) from None
    try:
        # Every cell as text, nothing guessed: "NA" stays a string and blank lines keep their
        # place, so frame row i is spreadsheet line i + 2. The header is read as a row: with a
        # header line pandas silently turns the first column into the row index when the first
        # row has one value too many ("Brook, Ada" unquoted), shifting every value one column.
        rows = _read_csv_rows(raw, on_bad_lines="error")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()  # a blank first line: reported as a file with no header line
    except pd.errors.ParserError as exc:
        # Known to be malformed: read again skipping the rows longer than the header, to name them all.
        rows, long_rows = _rows_longer_than_header(raw, name)
        _check_separator(rows, name)
        raise ImportFailed(long_rows or [f"{name}: cannot read as CSV ({_first_line(str(exc))})"]) from None
    except ValueError as exc:
        raise ImportFailed([f"{name}: cannot read as CSV ({_first_line(str(exc))})"]) from None
    _check_separator(rows, name)
    frame = rows.iloc[1:].reset_index(drop=True)
    frame.columns = list(rows.iloc[0])
    return frame


def _read_csv_rows(raw: bytes, on_bad_lines: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(raw), header=None, dtype=str, na_filter=False, keep_default_na=False,
                       skip_blank_lines=False, encoding="utf-8-sig", on_bad_lines=on_bad_lines)


def _rows_longer_than_header(raw: bytes, name: str) -> tuple[pd.DataFrame | None, list[str]]:
    """The rows that fit the header, and a FILE:ROW:(column N) problem for every row with more
    values than the header has columns (pandas warns about each one it skips). Catching warnings
    is process-wide, so this runs only for a file already rejected: a warning lost to another
    thread costs detail in the message, never a row."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            rows = _read_csv_rows(raw, on_bad_lines="warn")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
            return None, []
    skipped = re.findall(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)",
                         "\n".join(str(warning.message) for warning in caught))
    return rows, [f"{name}:{line}:(column {int(header) + 1}): the row has {values} values but the header has "
                  f"{header} columns; put quotes around values that contain a comma, or remove the extra values"
                  for line, header, values in skipped]


def _check_separator(rows: pd.DataFrame | None, name: str) -> None:
    """A header read as one column holding ';' or tabs: a sheet exported with another separator
    (its decimal commas, "6,5", would otherwise look like extra values)."""
    if rows is not None and rows.shape[1] == 1 and len(rows) and re.search(r"[;\t]", str(rows.iat[0, 0])):
        raise ImportFailed([f"{name}: the columns are separated by ';' or tabs; export the sheet as CSV "
                            "with commas between columns"])


def _read_xlsx(path: Path, name: str) -> pd.DataFrame:
    import openpyxl  # only needed for workbooks

    def first_sheet_rows(data_only: bool) -> list[tuple]:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
        try:
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers record a wrong sheet size; read every row
            return [tuple(row) for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()

    try:
        # Formulas are read as their text first. A formula cell keeps the value Excel last
        # computed when there is one (=B2+1 as a visit number); a formula never computed, like
        # =HYPERLINK(...) typed into a name, is kept as the plain text it is.
        rows = first_sheet_rows(data_only=False)
        if any(isinstance(cell, str) and cell.startswith("=") for row in rows for cell in row):
            computed = first_sheet_rows(data_only=True)
            rows = [tuple(_computed_or_formula(formula, value)
                          for formula, value in itertools.zip_longest(row, computed_row))
                    for row, computed_row in itertools.zip_longest(rows, computed, fillvalue=())]
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise ImportFailed([f"{name}: not a readable Excel workbook ({type(exc).__name__}: "
                            f"{_first_line(str(exc)) or 'no detail'})"]) from None
    if not rows:
        raise ImportFailed([f"{name}: the workbook's first sheet is empty; expected a header line and one row per session"])
    width = max(len(row) for row in rows)
    header = [("" if cell is None else str(cell)) for cell in rows[0]] + [""] * (width - len(rows[0]))
    body = [tuple(row) + (None,) * (width - len(row)) for row in rows[1:]]
    header = [column or f"Unnamed: {index}" for index, column in enumerate(header)]
    # Trailing columns with neither a header nor any value are formatting, not data.
    while header and header[-1].startswith("Unnamed: ") and all(row[len(header) - 1] in (None, "") for row in body):
        header.pop()
        body = [row[:len(header)] for row in body]
    return pd.DataFrame(body, columns=header, dtype=object)


def _computed_or_formula(formula, value):
    """A cell's computed value when it is a formula Excel has computed, else what was typed."""
    if isinstance(formula, str) and formula.startswith("=") and value is not None:
        return value
    return formula


def _read_parquet(path: Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for files that are not Parquet
        raise ImportFailed([f"{name}: not a readable Parquet file ({_first_line(str(exc)) or type(exc).__name__})"]) from None


_READERS: dict[str, Callable[[Path, str], pd.DataFrame]] = {
    ".csv": _read_csv, ".xlsx": _read_xlsx, ".parquet": _read_parquet,
}


def _size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


# ---------------------------------------------------------------------------------------------
# Cells as text. Work is done once per distinct value, not once per row: a million-row log has
# a few thousand distinct dates and eleven distinct pain scores.


@dataclasses.dataclass
class _Text:
    """A column as stripped text: `uniques[codes]`, "" for a blank cell."""

    codes: np.ndarray
    uniques: np.ndarray

    def values(self) -> np.ndarray:
        return self.uniques[self.codes]

    def per_unique(self, convert: Callable[[pd.Series], Iterable]) -> np.ndarray:
        """convert(distinct texts) for every row, computed once per distinct text."""
        return np.asarray(convert(pd.Series(self.uniques, dtype=object)))[self.codes]

    def blank(self) -> np.ndarray:
        return (self.uniques == "")[self.codes]

    def subset(self, positions: np.ndarray) -> "_Text":
        return _Text(self.codes[positions], self.uniques)


def _as_text(values: pd.Series) -> _Text:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([_cell_text(value) for value in uniques] + [""], dtype=object)
    codes = np.where(codes < 0, len(texts) - 1, codes)
    return _Text(codes, texts)


def _cell_text(value) -> str:
    """One cell as the text a person would have typed: 7.0 -> "7", a date -> "2025-01-06"."""
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(float(value))
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else str(value.astype("datetime64[D]"))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _shown(text: str) -> str:
    """A cell quoted for a message: short, with control characters escaped."""
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _plain(text) -> str:
    """An id or number for a message, unquoted unless it needs escaping."""
    text = str(text)
    if len(text) > 40 or not text.isprintable():
        return _shown(text)
    return text


def _number_text(value: float) -> str:
    if _is_blank(value):
        return "blank"
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _date_text(days: float) -> str:
    if _is_blank(days):
        return "blank"
    return (_EPOCH + dt.timedelta(days=int(days))).isoformat()


def _value_text(column: str, value) -> str:
    if column in DATE_COLUMNS:
        return _date_text(value)
    if column in NUMBER_RANGES:
        return _number_text(value)
    return "blank" if _is_blank(value) else _plain(value)


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only, nothing around them


def _days(text: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 for each distinct YYYY-MM-DD text; NaN when not a real date."""
    result = np.full(len(text), np.nan)
    for index, value in enumerate(text):
        if _ISO_DATE.fullmatch(value):
            try:
                result[index] = (dt.date.fromisoformat(value) - _EPOCH).days
            except ValueError:
                pass
    return result


# ---------------------------------------------------------------------------------------------
# Validation of the rows themselves (no database)


class _VisitLog:
    """All rows of the files being imported, parsed column by column, with every problem found.

    `values[column]` holds parsed values per row: text ids/vocabulary (None when blank or bad),
    floats for numbers and day numbers for dates (NaN when blank or bad)."""

    def __init__(self, frames: Sequence[tuple[str, pd.DataFrame]]):
        self.file_names = [str(name) for name, _ in frames]
        self.entries: list[tuple[int, int, int, str]] = []  # (file, row, column rank, message)
        self._collect(frames)
        self.bad = {column: np.zeros(self.size, dtype=bool) for column in VISIT_LOG_COLUMNS}
        self.values: dict[str, np.ndarray] = {}
        self._present: dict[str, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.size:
            self._parse()
            self._check_across_rows()

    # -- bookkeeping ---------------------------------------------------------------------------

    def record(self, positions: Iterable[int], column: str, messages: Iterable[str] | str) -> None:
        positions = np.asarray(list(positions) if not isinstance(positions, np.ndarray) else positions, dtype=np.int64)
        if not len(positions):
            return
        if isinstance(messages, str):
            messages = [messages] * len(positions)
        rank = _COLUMN_RANK.get(column, len(_COLUMN_RANK))
        files, rows = self.file[positions], self.row[positions]
        for file, row, message in zip(files.tolist(), rows.tolist(), messages):
            self.entries.append((file, row, rank, f"{self.file_names[file]}:{row}:{column}: {message}"))

    def flag(self, mask: np.ndarray, column: str, message: Callable[[str], str] | str) -> None:
        """Mark the cells in `mask` as bad and record a message built from each cell's text."""
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        self.bad[column][positions] = True
        if callable(message):
            cells = self.text[column].subset(positions).values()
            self.record(positions, column, [message(cell) for cell in cells])
        else:
            self.record(positions, column, message)

    def header_problem(self, file: int, column: str, message: str) -> None:
        rank = _COLUMN_RANK.get(column, len(_COLUMN_RANK))
        self.entries.append((file, 1, rank, f"{self.file_names[file]}:1:{column}: {message}"))

    def errors(self) -> list[str]:
        return [entry[3] for entry in sorted(self.entries, key=lambda entry: entry[:3])]

    def where(self, position: int) -> str:
        return f"{self.file_names[self.file[position]]}:{self.row[position]}"

    def has(self, column: str) -> np.ndarray:
        """Rows with a usable (non-blank, valid) value in `column`."""
        if column not in self._present:
            values = self.values[column]
            self._present[column] = ~pd.isna(values) if values.dtype == object else ~np.isnan(values)
        return self._present[column] & ~self.bad[column]

    def codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Integer codes of the parsed values of `column` (-1 for none) and the distinct values."""
        if column not in self._codes:
            self._codes[column] = pd.factorize(self.values[column], use_na_sentinel=True)
        return self._codes[column]

    # -- reading the frames --------------------------------------------------------------------

    def _collect(self, frames: Sequence[tuple[str, pd.DataFrame]]) -> None:
        """One text column per visit-log column across all frames; header problems recorded."""
        pieces: list[tuple[int, np.ndarray, dict[str, _Text]]] = []
        for file, (_, frame) in enumerate(frames):
            columns = self._check_header(file, [str(column).strip() for column in frame.columns])
            if columns is None:
                continue
            texts = {column: _as_text(frame.iloc[:, index]) for column, index in columns.items()}
            blank_row = np.logical_and.reduce([text.blank() for text in texts.values()])
            kept = np.flatnonzero(~blank_row)
            if len(kept) < len(frame):
                texts = {column: text.subset(kept) for column, text in texts.items()}
            pieces.append((file, kept + 2, texts))
        self.size = sum(len(rows) for _, rows, _ in pieces)
        self.file = np.concatenate([np.full(len(rows), file) for file, rows, _ in pieces] or [np.zeros(0, np.int64)])
        self.row = np.concatenate([rows for _, rows, _ in pieces] or [np.zeros(0, np.int64)])
        self.text: dict[str, _Text] = {}
        self.given: dict[str, np.ndarray] = {}
        for column in VISIT_LOG_COLUMNS:
            self.given[column] = np.concatenate(
                [np.full(len(rows), column in texts) for _, rows, texts in pieces] or [np.zeros(0, bool)])
            if len(pieces) == 1 and column in pieces[0][2]:
                self.text[column] = pieces[0][2][column]
                continue
            parts = [texts[column].values() if column in texts else np.full(len(rows), "", dtype=object)
                     for _, rows, texts in pieces]
            combined = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
            codes, uniques = pd.factorize(combined)
            self.text[column] = _Text(codes, np.asarray(uniques, dtype=object))

    def _check_header(self, file: int, columns: list[str]) -> dict[str, int] | None:
        """The known columns and their positions, or None when a required column is missing."""
        positions: dict[str, int] = {}
        for index, column in enumerate(columns):
            if column in positions:
                self.header_problem(file, column, "the column appears more than once; keep one")
            elif column in _COLUMN_RANK:
                positions[column] = index
            else:
                unnamed = not column or column.startswith("Unnamed: ")
                self.header_problem(file, f"(column {index + 1})" if unnamed else column,
                                    _unknown_column_message(column))
        missing = [column for column in REQUIRED_COLUMNS if column not in positions]
        for column in missing:
            self.header_problem(file, column, "required column is missing")
        return None if missing else positions

    # -- one column at a time ------------------------------------------------------------------

    def _parse(self) -> None:
        for column in ID_COLUMNS:
            self._parse_id(column)
        for column in NAME_COLUMNS:
            text = self.text[column]
            self.values[column] = np.where(text.blank(), None, text.values())
        for column, allowed in VOCABULARIES.items():
            self._parse_vocabulary(column, allowed)
        for column in DATE_COLUMNS:
            self._parse_date(column)
        for column, rule in NUMBER_RANGES.items():
            self._parse_number(column, rule)
        # A blank duration means the standard hour.
        duration = self.values["duration_min"]
        self.values["duration_min"] = np.where(self.text["duration_min"].blank(), float(DEFAULT_DURATION_MIN), duration)
        self._check_sore_spot_within_duration()
        self._drop_post_scores_without_pain_post()

    def _missing(self, column: str, blank: np.ndarray) -> None:
        if column not in MAY_BE_BLANK:
            self.flag(blank, column, f"required value is missing; expected {EXPECTED[column]}")

    def _parse_id(self, column: str) -> None:
        text = self.text[column]
        blank = text.blank()
        self._missing(column, blank)
        too_long = text.per_unique(lambda ids: ids.str.len().to_numpy() > MAX_ID_LENGTH)
        self.flag(too_long, column, lambda cell: f"{_shown(cell)} is longer than {MAX_ID_LENGTH} characters")
        self.values[column] = np.where(blank | too_long, None, text.values())

    def _parse_vocabulary(self, column: str, allowed: tuple[str, ...]) -> None:
        text = self.text[column]
        blank = text.blank()
        self._missing(column, blank)
        # "Plantar fasciitis", "plantar-fasciitis" and "PLANTAR_FASCIITIS" are the same condition.
        normalised = text.per_unique(lambda cells: cells.str.lower().str.replace(r"[\s_-]+", "_", regex=True))
        known = np.isin(normalised, np.array(allowed, dtype=object))
        label = column.replace("_", " ")
        self.flag(~blank & ~known, column,
                  lambda cell: f"{_shown(cell)} is not a known {label}; allowed: {', '.join(allowed)}")
        self.values[column] = np.where(known, normalised, None)

    def _parse_date(self, column: str) -> None:
        text = self.text[column]
        blank = text.blank()
        self._missing(column, blank)
        days = text.per_unique(_days)
        looks_like_date = text.per_unique(lambda cells: np.array([bool(_ISO_DATE.fullmatch(cell)) for cell in cells], dtype=bool))
        self.flag(~blank & ~looks_like_date, column, lambda cell: f"{_shown(cell)} is not a date as YYYY-MM-DD")
        self.flag(looks_like_date & np.isnan(days), column, lambda cell: f"{_shown(cell)} is not a real date")
        self.values[column] = days

    def _parse_number(self, column: str, rule: NumberRange) -> None:
        text = self.text[column]
        blank = text.blank()
        self._missing(column, blank)
        numbers = text.per_unique(lambda cells: pd.to_numeric(cells.where(cells != ""), errors="coerce").to_numpy(dtype=float))
        self.flag(~blank & np.isnan(numbers), column,
                  lambda cell: f"{_shown(cell)} is not a number; expected {rule.describe()}")
        bad = self.bad[column]  # one message per cell: each test below skips cells already flagged
        with np.errstate(invalid="ignore"):
            if rule.is_whole:
                self.flag(~bad & np.isfinite(numbers) & (numbers != np.floor(numbers)), column,
                          lambda cell: f"{_plain(cell)} is not a whole number; expected {rule.describe()}")
            if rule.high is None:
                self.flag(~bad & (numbers < rule.low), column,
                          lambda cell: f"{_plain(cell)} is below {rule.low:g}; expected {rule.describe()}")
                self.flag(~bad & (numbers > _LARGEST_INTEGER), column, lambda cell: f"{_plain(cell)} is too large")
            else:
                span = rule.describe().split("number ", 1)[1]
                self.flag(~bad & ((numbers < rule.low) | (numbers > rule.high)), column,
                          lambda cell: f"{_plain(cell)} is outside {span}")
        self.values[column] = np.where(self.bad[column], np.nan, numbers)

    def _check_sore_spot_within_duration(self) -> None:
        sore, duration = self.values["sore_spot_min"], self.values["duration_min"]
        with np.errstate(invalid="ignore"):
            too_long = self.has("sore_spot_min") & ~self.bad["duration_min"] & (sore > duration)
        positions = np.flatnonzero(too_long)
        self.bad["sore_spot_min"][positions] = True
        self.record(positions, "sore_spot_min",
                    [f"{_number_text(sore[p])} is more than duration_min {_number_text(duration[p])}" for p in positions])
        self.values["sore_spot_min"] = np.where(self.bad["sore_spot_min"], np.nan, sore)

    def _drop_post_scores_without_pain_post(self) -> None:
        # A post assessment row exists only with its pain score (assessments.pain is NOT NULL), so
        # post-session PSFS or flexibility without pain_post is checked but cannot be stored.
        no_pain_post = self.text["pain_post"].blank()
        for column in ("psfs_post", "dorsiflexion_post_deg"):
            self.values[column] = np.where(no_pain_post, np.nan, self.values[column])

    # -- across rows -----------------------------------------------------------------------------

    def _check_across_rows(self) -> None:
        self._check_duplicate_visits()
        labels = {"client_id": "client", "condition": "condition", "course_type": "course type",
                  "severity": "severity", "prior_injuries": "prior injury count", "onset_date": "onset date"}
        for column, label in labels.items():
            self._check_one_value_per("episode_id", "episode", column,
                                      lambda owner, new, old, at, label=label, column=column:
                                      f"episode {owner} is given {label} {_value_text(column, new)} here but "
                                      f"{_value_text(column, old)} at {at}; an episode has one {label}")
        self._check_one_value_per("client_id", "client", "clinic_id",
                                  lambda owner, new, old, at: f"client {owner} is given clinic {_plain(new)} here "
                                                              f"but {_plain(old)} at {at}; a client belongs to one clinic")
        for owner_column, name_column in (("client_id", "client_name"), ("therapist_id", "therapist_name")):
            owner_label = owner_column.split("_")[0]
            self._check_one_value_per(owner_column, owner_label, name_column,
                                      lambda owner, new, old, at, owner_label=owner_label:
                                      f"{owner_label} {owner} is given a different name at {at} "
                                      f"(names are not shown); use one name per {owner_label}")

    def _check_duplicate_visits(self) -> None:
        """Each (episode_id, visit_number) once across all files; later copies are reported."""
        self.is_repeat = np.zeros(self.size, dtype=bool)
        keyed = np.flatnonzero(self.has("episode_id") & self.has("visit_number"))
        episode_codes, _ = self.codes("episode_id")
        visit = self.values["visit_number"][keyed].astype(np.int64)
        key = episode_codes[keyed].astype(np.int64) * (_LARGEST_INTEGER + 1) + visit
        repeated = pd.Series(key).duplicated(keep=False).to_numpy()
        if not repeated.any():
            return
        positions, keys = keyed[repeated], key[repeated]
        first = pd.Series(positions).groupby(keys).transform("first").to_numpy()
        later = positions != first
        self.is_repeat[positions[later]] = True
        episodes, visits = self.values["episode_id"], self.values["visit_number"]
        self.record(positions[later], "visit_number",
                    [f"episode {_plain(episodes[p])} visit {_number_text(visits[p])} is already given at "
                     f"{self.where(f)}; each visit of an episode appears once"
                     for p, f in zip(positions[later], first[later])])

    def _check_one_value_per(self, owner_column: str, owner_label: str, column: str,
                             message: Callable[[str, object, object, str], str]) -> None:
        """Rows whose `column` differs from the first row of the same owner (episode, client...)."""
        positions, firsts = _disagreeing(self.codes(owner_column)[0], self.codes(column)[0],
                                         self.has(owner_column) & self.has(column))
        owners, values = self.values[owner_column], self.values[column]
        self.bad[column][positions] = True
        self.record(positions, column, [message(_plain(owners[p]), values[p], values[f], self.where(f))
                                        for p, f in zip(positions, firsts)])

    def keyed(self) -> np.ndarray:
        """Rows that identify one session: valid episode and visit number, first of any copies."""
        return self.has("episode_id") & self.has("visit_number") & ~self.is_repeat


def _disagreeing(owner_codes: np.ndarray, value_codes: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (within `mask`) whose value differs from the first masked row of the same owner,
    and the position of that first row."""
    subset = np.flatnonzero(mask)
    if not len(subset):
        return subset, subset
    owners, values = owner_codes[subset], value_codes[subset]
    # The usual case, no disagreement at all, costs two hash passes instead of a sort.
    pairs = owners.astype(np.int64) * (int(value_codes.max()) + 1) + values
    if len(pd.unique(pairs)) == len(pd.unique(owners)):
        return subset[:0], subset[:0]
    _, first_in_subset = np.unique(owners, return_index=True)
    first_of_owner = np.zeros(owner_codes.max() + 1, dtype=np.int64)
    first_of_owner[owners[first_in_subset]] = first_in_subset
    first = first_of_owner[owners]
    differs = values != values[first]
    return subset[differs], subset[first[differs]]


def _unknown_column_message(column: str) -> str:
    allowed = "allowed columns are " + ", ".join(VISIT_LOG_COLUMNS)
    if not column or column.startswith("Unnamed: "):
        return f"a column with no header has values; name it or delete it ({allowed})"
    repeated = re.fullmatch(r"(.+)\.\d+", column)
    if repeated and repeated.group(1) in _COLUMN_RANK:
        return f"looks like a second {repeated.group(1)} column; keep one"
    spelled = re.sub(r"[\s-]+", "_", column.strip().lower())
    if spelled in _COLUMN_RANK:
        return f"unknown column; did you mean {spelled}? Column names are exactly as listed: {allowed}"
    return f"unknown column; {allowed}"


# ---------------------------------------------------------------------------------------------
# Checks against the stored data, and the write

SQL = {
    # The stored session (and its assessments) of every imported row that has one.
    "stored_sessions": """
        SELECT k._pos, s.session_id, s.therapist_id,
               CAST(s.session_date - DATE '1970-01-01' AS DOUBLE) AS session_date,
               CAST(s.duration_min AS DOUBLE) AS duration_min,
               CAST(s.sore_spot_min AS DOUBLE) AS sore_spot_min,
               s.stretching_adherence_pct,
               pre.pain AS pain_pre, post.pain AS pain_post, pre.psfs AS psfs_pre, post.psfs AS psfs_post,
               pre.dorsiflexion_deg AS dorsiflexion_pre_deg, post.dorsiflexion_deg AS dorsiflexion_post_deg,
               pre.session_id IS NOT NULL AS has_pre, post.session_id IS NOT NULL AS has_post
        FROM import_keys k
        JOIN sessions s ON s.episode_id = k.episode_id AND s.visit_number = k.visit_number
        LEFT JOIN assessments pre ON pre.session_id = s.session_id AND pre.phase = 'pre'
        LEFT JOIN assessments post ON post.session_id = s.session_id AND post.phase = 'post'
        ORDER BY k._pos""",
    # Consecutive visits (imported and stored together, the imported row winning for the same
    # visit) whose date goes backwards as the visit number rises.
    "dates_backwards": """
        WITH imported AS (
            SELECT episode_id, visit_number, session_date, _pos FROM import_keys WHERE session_date IS NOT NULL
        ), stored AS (
            SELECT s.episode_id, s.visit_number, CAST(s.session_date - DATE '1970-01-01' AS DOUBLE), NULL::BIGINT
            FROM sessions s
            WHERE s.episode_id IN (SELECT episode_id FROM import_keys)
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
    "stored_episodes": """
        SELECT episode_id, client_id, condition, course_type, severity,
               CAST(prior_injuries AS DOUBLE) AS prior_injuries,
               CAST(onset_date - DATE '1970-01-01' AS DOUBLE) AS onset_date
        FROM episodes WHERE episode_id IN (SELECT id FROM import_ids)""",
    "stored_clients": """
        SELECT client_id, display_name AS client_name, clinic_id
        FROM clients WHERE client_id IN (SELECT id FROM import_ids)""",
    "stored_therapists": """
        SELECT therapist_id, name AS therapist_name
        FROM therapists WHERE therapist_id IN (SELECT id FROM import_ids)""",
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
        FROM visit_rows WHERE client_id NOT IN (SELECT client_id FROM clients)
        GROUP BY client_id""",
    "insert_clinics": """
        INSERT INTO clinics (clinic_id, name)
        SELECT DISTINCT clinic_id, clinic_id
        FROM (SELECT clinic_id FROM new_therapists UNION ALL SELECT clinic_id FROM new_clients)
        WHERE clinic_id NOT IN (SELECT clinic_id FROM clinics)""",
    "insert_therapists": "INSERT INTO therapists (therapist_id, name, clinic_id) SELECT therapist_id, name, clinic_id FROM new_therapists",
    "insert_clients": "INSERT INTO clients (client_id, display_name, clinic_id) SELECT client_id, display_name, clinic_id FROM new_clients",
    # The episode's primary therapist is the one who saw the first visit.
    "insert_episodes": """
        INSERT INTO episodes (episode_id, client_id, therapist_id, condition, course_type, severity,
                              prior_injuries, onset_date)
        SELECT episode_id, arg_min(client_id, _pos), arg_min(therapist_id, visit_number),
               arg_min(condition, _pos), arg_min(course_type, _pos),
               arg_min(severity, _pos) FILTER (WHERE severity IS NOT NULL),
               CAST(arg_min(prior_injuries, _pos) FILTER (WHERE prior_injuries IS NOT NULL) AS INTEGER),
               DATE '1970-01-01' + CAST(arg_min(onset_date, _pos) FILTER (WHERE onset_date IS NOT NULL) AS INTEGER)
        FROM visit_rows WHERE episode_id NOT IN (SELECT episode_id FROM episodes)
        GROUP BY episode_id""",
    "insert_sessions": """
        INSERT INTO sessions (episode_id, visit_number, session_date, therapist_id, duration_min,
                              sore_spot_min, stretching_adherence_pct)
        SELECT episode_id, visit_number, DATE '1970-01-01' + CAST(session_date AS INTEGER), therapist_id,
               CAST(duration_min AS INTEGER), CAST(sore_spot_min AS INTEGER), stretching_adherence_pct
        FROM visit_rows WHERE action = 'insert' ORDER BY _pos""",
    # New sessions get their ids from the sequence, so their assessments find them by
    # (episode_id, visit_number); one join serves both phases.
    "insert_assessments": """
        INSERT INTO assessments (session_id, phase, pain, psfs, dorsiflexion_deg)
        SELECT s.session_id, p.phase,
               CASE p.phase WHEN 'pre' THEN r.pain_pre ELSE r.pain_post END,
               CASE p.phase WHEN 'pre' THEN r.psfs_pre ELSE r.psfs_post END,
               CASE p.phase WHEN 'pre' THEN r.dorsiflexion_pre_deg ELSE r.dorsiflexion_post_deg END
        FROM visit_rows r
        JOIN sessions s ON s.episode_id = r.episode_id AND s.visit_number = r.visit_number
        CROSS JOIN (VALUES ('pre'), ('post')) p (phase)
        WHERE r.action IN ('insert', 'replace')
          AND CASE p.phase
                  WHEN 'pre' THEN r.action = 'insert' OR NOT r.has_pre
                  ELSE r.pain_post IS NOT NULL AND (r.action = 'insert' OR NOT r.has_post)
              END""",
    # Only non-key columns are updated: DuckDB refuses to update a key or foreign-key column of a
    # table that other tables reference.
    "update_sessions": """
        UPDATE sessions SET session_date = DATE '1970-01-01' + CAST(r.session_date AS INTEGER),
               duration_min = CAST(r.duration_min AS INTEGER), sore_spot_min = CAST(r.sore_spot_min AS INTEGER),
               stretching_adherence_pct = r.stretching_adherence_pct
        FROM visit_rows r WHERE r.action = 'replace' AND sessions.session_id = r.session_id""",
    "update_pre_assessments": """
        UPDATE assessments SET pain = r.pain_pre, psfs = r.psfs_pre, dorsiflexion_deg = r.dorsiflexion_pre_deg
        FROM visit_rows r
        WHERE r.action = 'replace' AND r.has_pre AND assessments.session_id = r.session_id AND assessments.phase = 'pre'""",
    "update_post_assessments": """
        UPDATE assessments SET pain = r.pain_post, psfs = r.psfs_post, dorsiflexion_deg = r.dorsiflexion_post_deg
        FROM visit_rows r
        WHERE r.action = 'replace' AND r.has_post AND r.pain_post IS NOT NULL
          AND assessments.session_id = r.session_id AND assessments.phase = 'post'""",
    "delete_post_assessments": """
        DELETE FROM assessments WHERE phase = 'post' AND session_id IN (
            SELECT session_id FROM visit_rows WHERE action = 'replace' AND has_post AND pain_post IS NULL)""",
    "update_episodes": """
        UPDATE episodes SET condition = u.condition, course_type = u.course_type,
               severity = coalesce(u.severity, episodes.severity),
               prior_injuries = coalesce(u.prior_injuries, episodes.prior_injuries),
               onset_date = coalesce(u.onset_date, episodes.onset_date)
        FROM (SELECT episode_id, arg_min(condition, _pos) AS condition, arg_min(course_type, _pos) AS course_type,
                     arg_min(severity, _pos) FILTER (WHERE severity IS NOT NULL) AS severity,
                     CAST(arg_min(prior_injuries, _pos) FILTER (WHERE prior_injuries IS NOT NULL) AS INTEGER) AS prior_injuries,
                     DATE '1970-01-01' + CAST(arg_min(onset_date, _pos) FILTER (WHERE onset_date IS NOT NULL) AS INTEGER) AS onset_date
              FROM visit_rows WHERE episode_changed GROUP BY episode_id) u
        WHERE episodes.episode_id = u.episode_id""",
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


@dataclasses.dataclass
class _Plan:
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

    def writes_anything(self) -> bool:
        return bool((self.action != "skip").any() or self.episode_changed.any()
                    or self.client_name_changed.any() or self.therapist_name_changed.any())


class _NothingToWrite(Exception):
    """Every row is already stored unchanged: roll back so not even the data version moves."""


def _compare_with_database(cursor: duckdb.DuckDBPyConnection, log: _VisitLog, replace: bool) -> _Plan:
    """Check the rows against what is stored (problems go to `log`) and decide each row's action."""
    size = log.size
    keyed = np.flatnonzero(log.keyed())
    import_keys = pa.table({
        "_pos": pa.array(keyed),
        "episode_id": pa.array(log.values["episode_id"][keyed], type=pa.string()),
        "visit_number": pa.array(log.values["visit_number"][keyed].astype(np.int64)),
        "session_date": pa.array(log.values["session_date"][keyed], type=pa.float64(), from_pandas=True),
    })
    cursor.register("import_keys", import_keys)
    try:
        stored = cursor.execute(SQL["stored_sessions"]).df()
        backwards = cursor.execute(SQL["dates_backwards"]).df()
    finally:
        cursor.unregister("import_keys")
    _report_dates_backwards(log, backwards)

    plan = _Plan(action=np.full(size, "insert", dtype=object), session_id=np.full(size, np.nan),
                 has_pre=np.zeros(size, bool), has_post=np.zeros(size, bool),
                 episode_changed=np.zeros(size, bool), client_name_changed=np.zeros(size, bool),
                 therapist_name_changed=np.zeros(size, bool))
    positions = stored["_pos"].to_numpy(dtype=np.int64)
    plan.session_id[positions] = stored["session_id"].to_numpy(dtype=float)
    plan.has_pre[positions] = stored["has_pre"].to_numpy(dtype=bool)
    plan.has_post[positions] = stored["has_post"].to_numpy(dtype=bool)
    changed = np.zeros(len(positions), dtype=bool)
    for column in SESSION_VALUE_COLUMNS + ASSESSMENT_VALUE_COLUMNS:
        new, old = log.values[column][positions], stored[column].to_numpy(dtype=float)
        differs = ~_same_number(new, old) & log.given[column][positions] & ~log.bad[column][positions]
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
               [f"stored value {_plain(old)} differs from {_plain(new)}; the therapist of a stored session "
                "cannot be changed by an import, even with --replace"
                for old, new in zip(old_therapist[moved], new_therapist[moved])])
    plan.action[positions] = np.where(changed, "replace", "skip")

    _compare_stored_episodes(cursor, log, plan, replace)
    _compare_stored_people(cursor, log, plan, replace)
    return plan


def _same_number(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    new, old = new.astype(float), old.astype(float)
    return (new == old) | (np.isnan(new) & np.isnan(old))


def _report_stored_difference(log: _VisitLog, positions: np.ndarray, column: str, old, new) -> None:
    log.record(positions, column, [f"stored value {_value_text(column, o)} differs from {_value_text(column, n)}; "
                                   f"{_REPLACE_HINT}" for o, n in zip(old, new)])


def _report_dates_backwards(log: _VisitLog, backwards: pd.DataFrame) -> None:
    rule = "visit dates must not go backwards as visit_number rises"
    for row in backwards.to_dict("records"):
        episode = _plain(row["episode_id"])
        if not pd.isna(row["_pos"]):
            stored = " (stored)" if pd.isna(row["previous_pos"]) else ""
            log.record([int(row["_pos"])], "session_date",
                       f"{_date_text(row['session_date'])} is before visit {_number_text(row['previous_visit'])} "
                       f"of episode {episode} on {_date_text(row['previous_date'])}{stored}; {rule}")
        else:
            # The stored later visit is fine on its own; the imported earlier visit is the problem.
            log.record([int(row["previous_pos"])], "session_date",
                       f"{_date_text(row['previous_date'])} is after visit {_number_text(row['visit_number'])} "
                       f"of episode {episode} on {_date_text(row['session_date'])} (stored); {rule}")


def _stored_lookup(cursor, log: _VisitLog, column: str, sql: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The stored rows for the distinct ids in `column`, aligned to the import rows; and a mask of
    import rows whose id is stored."""
    codes, uniques = log.codes(column)
    cursor.register("import_ids", pa.table({"id": pa.array(np.asarray(uniques, dtype=object), type=pa.string())}))
    try:
        stored = cursor.execute(sql).df().set_index(column)
    finally:
        cursor.unregister("import_ids")
    aligned = stored.reindex(pd.Index(uniques, dtype=object))
    per_row = aligned.iloc[np.where(codes < 0, 0, codes)].reset_index(drop=True) if len(uniques) else aligned
    is_stored = np.zeros(log.size, dtype=bool)
    if len(uniques):
        is_stored = aligned.index.isin(stored.index)[np.where(codes < 0, 0, codes)] & (codes >= 0)
    return per_row, is_stored


def _compare_stored_episodes(cursor, log: _VisitLog, plan: _Plan, replace: bool) -> None:
    stored, is_stored = _stored_lookup(cursor, log, "episode_id", SQL["stored_episodes"])
    if not is_stored.any():
        return
    client = stored["client_id"].to_numpy(dtype=object)
    moved = is_stored & log.has("client_id") & (client != log.values["client_id"])
    positions = np.flatnonzero(moved)
    log.record(positions, "client_id",
               [f"episode {_plain(log.values['episode_id'][p])} is stored for client {_plain(client[p])}, "
                f"not {_plain(log.values['client_id'][p])}; an episode cannot move to another client"
                for p in positions])
    for column in EPISODE_VALUE_COLUMNS:
        new = log.values[column]
        old = stored[column].to_numpy(dtype=float if column in ("prior_injuries", "onset_date") else object)
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


def _compare_stored_people(cursor, log: _VisitLog, plan: _Plan, replace: bool) -> None:
    clients, client_stored = _stored_lookup(cursor, log, "client_id", SQL["stored_clients"])
    therapists, therapist_stored = _stored_lookup(cursor, log, "therapist_id", SQL["stored_therapists"])
    clinic = clients["clinic_id"].to_numpy(dtype=object)
    moved = np.flatnonzero(client_stored & log.has("clinic_id") & (clinic != log.values["clinic_id"]))
    log.record(moved, "clinic_id",
               [f"client {_plain(log.values['client_id'][p])} is stored under clinic {_plain(clinic[p])}, "
                f"not {_plain(log.values['clinic_id'][p])}; a client belongs to one clinic" for p in moved])
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
                   [f"differs from the stored name of {owner} {_plain(log.values[owner_column][p])} "
                    f"(names are not shown); {_REPLACE_HINT}" for p in positions])


def _write(cursor: duckdb.DuckDBPyConnection, log: _VisitLog, plan: _Plan) -> None:
    """Store the planned rows; the caller's transaction makes it all or nothing."""
    # An Arrow table with explicit types: DuckDB scans it without converting Python objects, and
    # an all-blank column (no severity anywhere) is still text, not a column of untyped NULLs.
    text_columns = ID_COLUMNS + NAME_COLUMNS + tuple(VOCABULARIES)
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
    for column in VISIT_LOG_COLUMNS:
        if column in text_columns:
            columns[column] = pa.array(log.values[column], type=pa.string(), from_pandas=True)
        elif column != "visit_number":
            columns[column] = pa.array(log.values[column], type=pa.float64(), from_pandas=True)
    cursor.register("visit_rows", pa.table(columns))
    try:
        parameters = {"default_clinic": DEFAULT_CLINIC}
        new_therapists = cursor.execute(SQL["new_therapists"], parameters).df()
        new_clients = cursor.execute(SQL["new_clients"], parameters).df()
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
            cursor.execute(SQL[statement])
    finally:
        for view in ("visit_rows", "new_therapists", "new_clients"):
            try:
                cursor.unregister(view)
            except duckdb.Error:
                pass


# ---------------------------------------------------------------------------------------------
# Public entry points


def import_frames(con: duckdb.DuckDBPyConnection, frames: Sequence[tuple[str, pd.DataFrame]],
                  replace: bool = False) -> ImportResult:
    """Validate and store visit-log rows: all of them, or none and ImportFailed listing every problem.

    `frames` are (file name used in messages, rows of that file). Cells may be text, numbers or
    dates; NaN, None and "" are blank. Row i of a frame is reported as line i + 2, as in a
    spreadsheet with its header on line 1. Rows already stored unchanged are skipped; a stored row
    with other values is an error unless `replace`, which overwrites the session's values.

    Blank names, clinic and episode attributes (severity, prior injuries, onset) mean "not given":
    stored values are kept. A column missing from a file keeps stored values under `replace`.
    Post-session PSFS and flexibility are stored only on a row with pain_post. A session's
    therapist, an episode's client and a client's clinic never change through an import: DuckDB
    cannot update those foreign-key columns of referenced rows, so a difference is always an error."""
    return _import(con, list(frames), replace, file_errors=[])


def import_files(con: duckdb.DuckDBPyConnection, paths: Iterable[str | os.PathLike] | str | os.PathLike,
                 replace: bool = False) -> ImportResult:
    """Read each visit-log file (CSV, .xlsx or Parquet) and import them all in one transaction.
    Problems are reported with the file name as given."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames, file_errors = [], []
    for path in paths:
        try:
            frames.append((os.fspath(path), read_visit_log(path)))
        except ImportFailed as failure:
            file_errors.extend(failure.errors)
    return _import(con, frames, replace, file_errors)


def _import(con, frames: list[tuple[str, pd.DataFrame]], replace: bool, file_errors: list[str]) -> ImportResult:
    log = _VisitLog(frames)
    if log.size == 0:
        if file_errors or log.entries:
            raise ImportFailed(file_errors + log.errors())
        return ImportResult(inserted=0, skipped=0, replaced=0, episodes=0)
    plan = None
    try:
        with db.write(con) as cursor:
            plan = _compare_with_database(cursor, log, replace)
            if file_errors or log.entries:
                raise ImportFailed(file_errors + log.errors())
            if not plan.writes_anything():
                raise _NothingToWrite
            _write(cursor, log, plan)
    except _NothingToWrite:
        pass
    except duckdb.Error as exc:
        files = ", ".join(dict.fromkeys(log.file_names)) or "import"
        raise ImportFailed([f"{files}: the database refused the import ({_first_line(str(exc))}); "
                            "nothing was written"]) from None
    return plan.result(log.codes("episode_id")[0])
