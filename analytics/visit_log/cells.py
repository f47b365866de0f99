"""Cells as text, numbers and dates. Work is done once per distinct value, not once per row: a
million-row log has a few thousand distinct dates and eleven distinct pain scores."""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from analytics import catalog

EPOCH = dt.date(1970, 1, 1)  # dates travel as day numbers so pandas and DuckDB agree exactly
LARGEST_INTEGER = 2**31 - 1  # DuckDB INTEGER

@dataclasses.dataclass
class Text:
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

    def subset(self, positions: np.ndarray) -> Text:
        return Text(self.codes[positions], self.uniques)


def column_text(values: pd.Series) -> Text:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([cell_text(value) for value in uniques] + [""], dtype=object)
    codes = np.where(codes < 0, len(texts) - 1, codes)
    return Text(codes, texts)


def cell_text(value) -> str:
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
        number = float(value)
        if math.isnan(number):
            return ""
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else str(value.astype("datetime64[D]"))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def shown(text: str) -> str:
    """A cell quoted for a message: short, with control characters escaped."""
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def plain(text) -> str:
    """An id or number for a message, unquoted unless it needs escaping."""
    text = str(text)
    if len(text) > 40 or not text.isprintable():
        return shown(text)
    return text


def number_text(value: float) -> str:
    if is_blank(value):
        return "blank"
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def date_text(days: float) -> str:
    if is_blank(days):
        return "blank"
    return (EPOCH + dt.timedelta(days=int(days))).isoformat()


def value_text(column: str, value) -> str:
    """A parsed value of `column` for a message: a date, a number, an id; "blank" for none."""
    kind = catalog.column(column).kind
    if kind == "date":
        return date_text(value)
    if kind == "number":
        return number_text(value)
    if kind == "text":
        return "blank" if is_blank(value) else "a note (not shown)"
    return "blank" if is_blank(value) else plain(value)


def is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only, nothing around them


def day_numbers(text: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 for each distinct YYYY-MM-DD text; NaN when not a real date."""
    result = np.full(len(text), np.nan)
    for index, value in enumerate(text):
        if ISO_DATE.fullmatch(value):
            try:
                result[index] = (dt.date.fromisoformat(value) - EPOCH).days
            except ValueError:
                pass
    return result




def first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""
