"""CSV downloads that a spreadsheet opens safely: text that would start a formula is escaped."""
from __future__ import annotations

from typing import Any

import pandas as pd

# A spreadsheet treats a cell starting with one of these as a formula (or, for tab and carriage
# return, strips them and then looks again), so text from the data could run commands when the
# file is opened ("CSV injection", OWASP). A leading single quote makes the cell plain text.
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
# The same signs in their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20), which some
# spreadsheets and input methods turn into the ASCII ones. A trigger after leading spaces or
# line breaks counts too: spreadsheets that trim the cell would see the formula.
FULL_WIDTH_TRIGGERS: tuple[str, ...] = ("\uff1d", "\uff0b", "\uff0d", "\uff20")


def escape_cell(value: Any) -> Any:
    """Text starting with a formula trigger, possibly after whitespace, gets a leading single
    quote; everything else, including negative numbers (which are numbers, not text), is
    returned unchanged."""
    if isinstance(value, str) and (value.startswith(FORMULA_TRIGGERS)
                                   or value.lstrip().startswith(FORMULA_TRIGGERS + FULL_WIDTH_TRIGGERS)):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell and column name escaped. A named or multi-level
    index becomes ordinary columns so it is not lost in the file."""
    table = frame.copy()
    if isinstance(table.index, pd.MultiIndex) or table.index.name is not None:
        table = table.reset_index()
    table.columns = [escape_cell(str(column)) for column in table.columns]
    for position in range(table.shape[1]):
        column = table.iloc[:, position]
        # Only columns that can hold text are touched: numeric columns keep their dtype, so
        # -2.5 is written as -2.5, not '-2.5.
        if column.dtype == object or isinstance(column.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            table.isetitem(position, column.astype(object).map(escape_cell))
    return table


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as a UTF-8 CSV (with a byte-order mark so spreadsheets detect the encoding),
    no index column, formula triggers escaped. Lines end in CRLF (RFC 4180), which also makes
    the writer quote any cell holding a carriage return or line feed."""
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
