"""Reading visit-log files (CSV, Excel .xlsx, Parquet) into frames of text, refusing unreadable,
oversized or mistaken files with a message that says what to do."""
from __future__ import annotations

import collections
import csv
import io
import itertools
import os
import re
import typing
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import catalog, config
from analytics.visit_log import cells
from analytics.visit_log.problems import ImportFailed, Problem

SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".xlsx", ".parquet")
# frame.attrs key: notices about a file that was read (Problems that refuse nothing), which the
# import reports with its result.
NOTICES = "visit_log_notices"


def _refused(name: str, message: str) -> ImportFailed:
    """The whole file is refused: one problem naming the file, no row or column."""
    return ImportFailed([Problem(name, None, None, "file", message)])


def read(path: str | os.PathLike, sheet: str | None = None, name: str | None = None) -> pd.DataFrame:
    """The rows of one visit-log file as text ("" for a blank cell), columns as in the header.

    Row i of the frame is spreadsheet line i + 2. Raises ImportFailed with a readable message for
    a file that is missing, too large, empty, binary, not UTF-8 or of an unsupported type. `sheet`
    names the sheet to read in a workbook (other files have none); without it the workbook's
    visit sheet is found as _read_xlsx says. Notices about the file (it is read, but should be
    checked) are in `frame.attrs[NOTICES]`. Messages name the file `name` (default: the path)."""
    name = os.fspath(path) if name is None else name
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        hint = " (save old .xls workbooks as .xlsx)" if suffix == ".xls" else ""
        raise _refused(name, f"unsupported file type '{suffix or 'no extension'}'; "
                            f"use {', '.join(SUPPORTED_SUFFIXES)}{hint}")
    try:
        if path.is_dir():
            raise _refused(name, "is a folder, not a visit-log file")
        size = path.stat().st_size
    except FileNotFoundError:
        raise _refused(name, "no such file") from None
    except OSError as exc:
        raise _refused(name, f"cannot read the file ({exc.strerror})") from None
    limit = config.MAX_IMPORT_BYTES
    if size > limit:
        raise _refused(name, f"the file is {_size_text(size)}, more than the import limit of "
                            f"{_size_text(limit)}; split it into smaller files or raise CLINIC_MAX_IMPORT_MB")
    if size == 0:
        raise _refused(name, "the file is empty; expected a header line and one row per session")
    try:
        reader = READERS[suffix]
        frame = reader(path, name, sheet=sheet) if sheet is not None and suffix == ".xlsx" else reader(path, name)  # type: ignore[call-arg]
    except OSError as exc:
        raise _refused(name, f"cannot read the file ({exc.strerror or exc})") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    if len(frame.columns) == 0:
        raise _refused(name, "the file has no header line; expected the columns "
                            + ", ".join(catalog.REQUIRED))
    if len(frame) == 0:
        raise _refused(name, "the file has a header but no rows; expected one row per session")
    # A CSV is read as text already; workbooks and Parquet files carry numbers and dates.
    typed = [index for index in range(frame.shape[1])
             if pd.api.types.infer_dtype(frame.iloc[:, index], skipna=False) != "string"]
    if typed:
        frame = frame.copy()
        nested = []
        for index in typed:
            try:
                frame.isetitem(index, cells.column_text(frame.iloc[:, index]).values())
            except TypeError:  # a list, map or record in a cell (nested Parquet types) has no text form
                nested.append(Problem(name, 1, str(frame.columns[index]), "nested_values",
                                      "the column holds lists or records, not one value per cell; "
                                      "save it with plain text, numbers or dates"))
        if nested:
            raise ImportFailed(nested)
    return frame


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise _refused(name, "the file is empty; expected a header line and one row per session")
    if raw.startswith(b"PK\x03\x04"):
        raise _refused(name, "this is a zip file or an Excel workbook, not CSV text; "
                            "name it .xlsx or export it as CSV")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _refused(name, "the file is UTF-16 text; save it as 'CSV UTF-8' and import again")
    if b"\x00" in raw:
        raise _refused(name, "this is a binary file, not CSV text")
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _refused(name, f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
                            "save it as 'CSV UTF-8' and import again") from None
    if raw.count(b'"') % 2 == 0:  # an unclosed quote is left to pandas, which names where it opens
        uneven = _uneven_rows(raw, name)
        if uneven is not None:
            return _with_line_ending_notice(uneven, raw, name)
    try:
        # Every cell as text, nothing guessed: "NA" stays a string and blank lines keep their
        # place, so frame row i is spreadsheet line i + 2. The header is read as a row: with a
        # header line pandas silently turns the first column into the row index when the first
        # row has one value too many ("Brook, Ada" unquoted), shifting every value one column.
        rows = _read_csv_rows(raw)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()  # a blank first line: reported as a file with no header line
    except (pd.errors.ParserError, ValueError) as exc:
        raise _refused(name, f"cannot read as CSV ({cells.first_line(str(exc))})") from None
    _check_separator(rows, name)
    frame = rows.iloc[1:].reset_index(drop=True)
    frame.columns = list(rows.iloc[0])
    return _with_line_ending_notice(frame, raw, name)


def _read_csv_rows(raw: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(raw), header=None, dtype=str, na_filter=False, keep_default_na=False,
                       skip_blank_lines=False, encoding="utf-8-sig")


def _field_counts(raw: bytes) -> np.ndarray:
    """How many values each CSV record holds (0 for an empty line), the header first.

    Without quotes or lone carriage returns a record is a line and its values are its commas
    plus one, counted at C speed; otherwise the csv module parses the quoting."""
    if b'"' not in raw and raw.count(b"\r") == raw.count(b"\r\n"):
        data = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(data == ord("\n"))
        if not raw.endswith(b"\n"):
            ends = np.append(ends, len(raw))
        starts = np.concatenate([[0], ends[:-1] + 1])
        # Where the commas are, and how many come before each line's start and end: a running
        # count over every byte would take 8 bytes per byte of the file.
        commas = np.flatnonzero(data == ord(","))
        per_line = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
        carriage_return = (ends > starts) & (data[np.maximum(ends - 1, 0)] == ord("\r"))
        return np.where(ends - starts - carriage_return > 0, per_line + 1, 0)
    return np.array([len(record) for record in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))])


def _uneven_rows(raw: bytes, name: str) -> pd.DataFrame | None:
    """None when every record has as many values as the header, or none (an empty line). Else
    the file parsed by the csv module: ImportFailed naming each row with fewer or more values
    than the header (a file cut off while it was being written, an unquoted comma in a name),
    or, when the uneven rows are all blank (",,," lines), the rows with those as blank rows."""
    counts = _field_counts(raw)
    if len(counts) < 2 or bool(np.isin(counts[1:], (0, counts[0])).all()):
        return None
    records = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    _check_separator(pd.DataFrame([records[0]]), name)
    header = [column.strip() for column in records[0]]
    width = len(header)
    problems, body = [], []
    for line, record in enumerate(records[1:], start=2):
        if not any(value.strip() for value in record):
            body.append([""] * width)
        elif len(record) > width:
            problems.append(Problem(name, line, f"(column {width + 1})", "row_too_long",
                                    f"the row has {len(record)} values but the header has {width} columns; put "
                                    "quotes around values that contain a comma, or remove the extra values"))
        elif len(record) < width:
            problems.append(Problem(name, line, header[len(record)] or f"(column {len(record) + 1})", "row_too_short",
                                    f"the row has {len(record)} values but the header has {width} columns "
                                    f"({', '.join(header[len(record):])} missing); check that the file is "
                                    "complete (an export cut off while it was written?)"))
        else:
            body.append(record)
    if problems:
        raise ImportFailed(problems)
    return pd.DataFrame(body, columns=records[0], dtype=object)


def _with_line_ending_notice(frame: pd.DataFrame, raw: bytes, name: str) -> pd.DataFrame:
    """A last line without a line ending may be a file cut off at a value's edge ("10" cut to
    "1" still fills every column): the rows are read, and the import says so (NOTICES)."""
    if not raw.endswith((b"\n", b"\r")):
        line = raw.count(b"\n") + 1
        frame.attrs[NOTICES] = [Problem(name, None, None, "no_line_ending",
                                        f"line {line} has no line ending: check that the file is complete")]
    return frame


def _check_separator(rows: pd.DataFrame | None, name: str) -> None:
    """A header read as one column holding ';' or tabs: a sheet exported with another separator
    (its decimal commas, "6,5", would otherwise look like extra values)."""
    if rows is not None and rows.shape[1] == 1 and len(rows) and re.search(r"[;\t]", str(rows.iat[0, 0])):
        raise _refused(name, "the columns are separated by ';' or tabs; export the sheet as CSV "
                            "with commas between columns")


def _read_xlsx(path: Path, name: str, sheet: str | None = None) -> pd.DataFrame:
    """The visit sheet of a workbook, as a person sees it: `sheet` when given; else the visible
    sheet named "visits" (any case); else the only visible sheet with rows below its header.
    Hidden sheets are never read. A number formatted as a percentage is read as shown (60%
    is 60, not 0.6)."""
    import openpyxl  # only needed for workbooks

    def rows_of(title: str, data_only: bool) -> list[tuple]:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
        try:
            worksheet = workbook[title]
            worksheet.reset_dimensions()  # some writers record a wrong sheet size; read every row
            return [tuple(_as_shown(cell) for cell in row) for row in worksheet.iter_rows()]
        finally:
            workbook.close()

    try:
        title = _visit_sheet(openpyxl.load_workbook(path, read_only=True), name, sheet)
        # Formulas are read as their text first. A formula cell keeps the value Excel last
        # computed when there is one (=B2+1 as a visit number); a formula never computed, like
        # =HYPERLINK(...) typed into a name, is kept as the plain text it is.
        rows = rows_of(title, data_only=False)
        if any(isinstance(cell, str) and cell.startswith("=") for row in rows for cell in row):
            computed = rows_of(title, data_only=True)
            rows = [tuple(_computed_or_formula(formula, value)
                          for formula, value in itertools.zip_longest(row, computed_row))
                    for row, computed_row in itertools.zip_longest(rows, computed, fillvalue=())]
    except ImportFailed:
        raise
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise _refused(name, f"not a readable Excel workbook ({type(exc).__name__}: "
                            f"{cells.first_line(str(exc)) or 'no detail'})") from None
    if not rows:
        raise _refused(name, f"the workbook's sheet '{title}' is empty; expected a header line and one row per session")
    width = max(len(row) for row in rows)
    header = [("" if cell is None else str(cell)) for cell in rows[0]] + [""] * (width - len(rows[0]))
    body = [tuple(row) + (None,) * (width - len(row)) for row in rows[1:]]
    header = [column or f"Unnamed: {index}" for index, column in enumerate(header)]
    # Trailing columns with neither a header nor any value are formatting, not data.
    while header and header[-1].startswith("Unnamed: ") and all(row[len(header) - 1] in (None, "") for row in body):
        header.pop()
        body = [row[:len(header)] for row in body]
    return pd.DataFrame(body, columns=header, dtype=object)


def workbook_sheets(path: str | os.PathLike | typing.IO[bytes]) -> list[str]:
    """The visible sheets of a workbook that hold rows below their header, in workbook order:
    the choices offered when a workbook has more than one."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return [worksheet.title for worksheet in workbook.worksheets if _holds_rows(worksheet)]
    finally:
        workbook.close()


def _visit_sheet(workbook, name: str, sheet: str | None) -> str:
    """The title of the sheet to read (see _read_xlsx); ImportFailed naming the sheets when the
    choice is not clear."""
    try:
        visible = [worksheet for worksheet in workbook.worksheets if worksheet.sheet_state == "visible"]
        if sheet is not None:
            for worksheet in workbook.worksheets:
                if worksheet.title.casefold() == sheet.strip().casefold():
                    if worksheet.sheet_state != "visible":
                        raise _refused(name, f"the sheet '{worksheet.title}' is hidden; show it in Excel "
                                            "first if it holds the visits")
                    return worksheet.title
            raise _refused(name, f"the workbook has no sheet named '{sheet}'; its sheets are "
                                + ", ".join(f"'{worksheet.title}'" for worksheet in visible))
        named = [worksheet.title for worksheet in visible if worksheet.title.strip().casefold() == "visits"]
        if named:
            return named[0]
        with_rows = [worksheet.title for worksheet in visible if _holds_rows(worksheet)]
        if len(with_rows) > 1:
            raise ImportFailed([Problem(name, None, None, "several_sheets",
                                        "the workbook has several sheets with rows ("
                                        + ", ".join(f"'{title}'" for title in with_rows)
                                        + "); choose one (import --sheet NAME, or the sheet choice on the Import "
                                        "page), or put the visits on one sheet named 'visits'")])
        if with_rows:
            return with_rows[0]
        if not visible:
            raise _refused(name, "the workbook has no visible sheet")
        return visible[0].title
    finally:
        workbook.close()


def _holds_rows(worksheet) -> bool:
    """A visible sheet with a value somewhere below its first line."""
    if worksheet.sheet_state != "visible":
        return False
    worksheet.reset_dimensions()
    rows = worksheet.iter_rows(min_row=2, values_only=True)
    return any(cell not in (None, "") for row in rows for cell in row)


def _as_shown(cell):
    """A cell's value as the sheet shows it: a number formatted as a percentage times 100."""
    value = cell.value
    if (isinstance(value, (int, float)) and not isinstance(value, bool)
            and "%" in (getattr(cell, "number_format", None) or "")):
        return round(value * 100, 9)  # 0.07 * 100 is 7.000000000000001
    return value


def _computed_or_formula(formula, value):
    """A cell's computed value when it is a formula Excel has computed, else what was typed."""
    if isinstance(formula, str) and formula.startswith("=") and value is not None:
        return value
    return formula


def _read_parquet(path: Path, name: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        columns = pq.read_schema(path).names
        repeated = [column for column, count in collections.Counter(columns).items() if count > 1]
        if repeated:  # pyarrow cannot read the table; say which column, not pyarrow's internals
            raise ImportFailed([Problem(name, 1, column, "repeated_column", "the column appears more than once; keep one")
                                for column in repeated])
        return pq.read_table(path).to_pandas()
    except ImportFailed:
        raise
    except Exception as exc:  # pyarrow raises several types for files that are not Parquet
        raise _refused(name, f"not a readable Parquet file ({cells.first_line(str(exc)) or type(exc).__name__})") from None


# File suffix -> reader(path, name used in messages). The one place a new format is added, and
# the seam tests replace a reader through.
READERS: dict[str, Callable[[Path, str], pd.DataFrame]] = {
    ".csv": _read_csv, ".xlsx": _read_xlsx, ".parquet": _read_parquet,
}



def _size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"
