"""Reading visit-log files (CSV, Excel .xlsx, Parquet) into frames of text, refusing unreadable,
oversized or mistaken files with a message that says what to do."""
from __future__ import annotations

import io
import itertools
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from analytics import catalog, config
from analytics.visit_log import cells
from analytics.visit_log.problems import ImportFailed, Problem

SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".xlsx", ".parquet")


def _refused(name: str, message: str) -> ImportFailed:
    """The whole file is refused: one problem naming the file, no row or column."""
    return ImportFailed([Problem(name, None, None, "file", message)])


def read(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of one visit-log file as text ("" for a blank cell), columns as in the header.

    Row i of the frame is spreadsheet line i + 2. Raises ImportFailed with a readable message for
    a file that is missing, too large, empty, binary, not UTF-8 or of an unsupported type."""
    name = os.fspath(path)
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
        frame = READERS[suffix](path, name)
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
        if long_rows:
            raise ImportFailed(long_rows) from None
        raise _refused(name, f"cannot read as CSV ({cells.first_line(str(exc))})") from None
    except ValueError as exc:
        raise _refused(name, f"cannot read as CSV ({cells.first_line(str(exc))})") from None
    _check_separator(rows, name)
    frame = rows.iloc[1:].reset_index(drop=True)
    frame.columns = list(rows.iloc[0])
    return frame


def _read_csv_rows(raw: bytes, on_bad_lines: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(raw), header=None, dtype=str, na_filter=False, keep_default_na=False,
                       skip_blank_lines=False, encoding="utf-8-sig", on_bad_lines=on_bad_lines)


def _rows_longer_than_header(raw: bytes, name: str) -> tuple[pd.DataFrame | None, list[Problem]]:
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
    return rows, [Problem(name, int(line), f"(column {int(header) + 1})", "row_too_long",
                          f"the row has {values} values but the header has {header} columns; put quotes "
                          "around values that contain a comma, or remove the extra values")
                  for line, header, values in skipped]


def _check_separator(rows: pd.DataFrame | None, name: str) -> None:
    """A header read as one column holding ';' or tabs: a sheet exported with another separator
    (its decimal commas, "6,5", would otherwise look like extra values)."""
    if rows is not None and rows.shape[1] == 1 and len(rows) and re.search(r"[;\t]", str(rows.iat[0, 0])):
        raise _refused(name, "the columns are separated by ';' or tabs; export the sheet as CSV "
                            "with commas between columns")


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
        raise _refused(name, f"not a readable Excel workbook ({type(exc).__name__}: "
                            f"{cells.first_line(str(exc)) or 'no detail'})") from None
    if not rows:
        raise _refused(name, "the workbook's first sheet is empty; expected a header line and one row per session")
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
        raise _refused(name, f"not a readable Parquet file ({cells.first_line(str(exc)) or type(exc).__name__})") from None


# File suffix -> reader(path, name used in messages). The one place a new format is added, and
# the seam tests replace a reader through.
READERS: dict[str, Callable[[Path, str], pd.DataFrame]] = {
    ".csv": _read_csv, ".xlsx": _read_xlsx, ".parquet": _read_parquet,
}



def _size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"
