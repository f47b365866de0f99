"""Checking the rows of a visit log on their own (no database): every cell against its catalog
entry, and the rules across rows (one visit once, one value per episode, client or therapist)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from analytics import catalog, config
from analytics.visit_log import cells
from analytics.visit_log.problems import Problem

_COLUMN_RANK = {column: rank for rank, column in enumerate(catalog.NAMES)}

# Session dates before this are typing errors (no clinic records go back further); after today
# (the importing machine's date) they are too, and one of them would make every unfinished course
# look lost to follow-up, since "active" counts back from the latest session.
EARLIEST_SESSION_DATE = dt.date(1990, 1, 1)



def invisible_character(text: str) -> str | None:
    """The first character of `text` a person cannot see or that changes how text around it is
    shown (zero-width characters, bidirectional overrides, newlines, tabs and other control or
    format characters), as 'U+200B'; None when there is none. Such a character makes
    'BC0\u200b1001' a second, look-alike client."""
    for character in text:
        if unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp"):
            return f"U+{ord(character):04X}"
    return None


def invisible_in_note(text: str) -> str | None:
    """As invisible_character, but a line break (LF, or CR LF as a spreadsheet writes it) is
    allowed: a note may have paragraphs."""
    return invisible_character(text.replace("\r\n", "").replace("\n", ""))


def _note_text(texts: pd.Series) -> np.ndarray:
    """A note as stored: NFC, line breaks as LF, ends trimmed."""
    return np.array([unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip() for text in texts],
                    dtype=object)


def _nfc(texts: pd.Series) -> np.ndarray:
    """Text in Unicode NFC, so a decomposed 'é' and a composed one are the same id or name."""
    return np.array([unicodedata.normalize("NFC", text) for text in texts], dtype=object)


def check(frames: Sequence[tuple[str, pd.DataFrame]]) -> VisitLog:
    """Parse and check visit-log frames, (file name used in messages, rows), without the database.

    The returned log holds every row's parsed values and `problems`, the list of Problem records
    found (empty when every row passes). Row i of a frame is reported as line i + 2."""
    return VisitLog(frames)


class VisitLog:
    """All rows of the files being imported, parsed column by column, with every problem found.

    `values[column]` holds parsed values per row: text ids/vocabulary (None when blank or bad),
    floats for numbers and day numbers for dates (NaN when blank or bad)."""

    def __init__(self, frames: Sequence[tuple[str, pd.DataFrame]]):
        self.file_names = [str(name) for name, _ in frames]
        self._found: list[tuple[int, int, int, Problem]] = []  # (file, row, column rank, problem)
        self._collect(frames)
        self.bad = {column: np.zeros(self.size, dtype=bool) for column in catalog.NAMES}
        self.values: dict[str, np.ndarray] = {}
        self._present: dict[str, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.size:
            self._parse()
            self._check_across_rows()

    # -- bookkeeping ---------------------------------------------------------------------------

    def record(self, positions: Iterable[int], column: str, messages: Iterable[str] | str,
               code: str = "invalid") -> None:
        """A problem with `column` on each row at `positions` (one message each, or one for all)."""
        positions = np.asarray(list(positions) if not isinstance(positions, np.ndarray) else positions, dtype=np.int64)
        if not len(positions):
            return
        if isinstance(messages, str):
            messages = [messages] * len(positions)
        rank = _COLUMN_RANK.get(column, len(_COLUMN_RANK))
        files, rows = self.file[positions], self.row[positions]
        for file, row, message in zip(files.tolist(), rows.tolist(), messages):
            self._found.append((file, row, rank, Problem(self.file_names[file], row, column, code, message)))

    def flag(self, mask: np.ndarray, column: str, message: Callable[[str], str] | str, code: str = "invalid") -> None:
        """Mark the cells in `mask` as bad and record a message built from each cell's text."""
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        self.bad[column][positions] = True
        if callable(message):
            texts = self.text[column].subset(positions).values()
            self.record(positions, column, [message(text) for text in texts], code)
        else:
            self.record(positions, column, message, code)

    def header_problem(self, file: int, column: str, message: str, code: str) -> None:
        rank = _COLUMN_RANK.get(column, len(_COLUMN_RANK))
        self._found.append((file, 1, rank, Problem(self.file_names[file], 1, column, code, message)))

    @property
    def problems(self) -> list[Problem]:
        """Every problem found so far, by file, row and column (import order)."""
        return [entry[3] for entry in sorted(self._found, key=lambda entry: entry[:3])]

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
        pieces: list[tuple[int, np.ndarray, dict[str, cells.Text]]] = []
        for file, (_, frame) in enumerate(frames):
            columns = self._check_header(file, [str(column).strip() for column in frame.columns])
            if columns is None:
                continue
            texts = {column: cells.column_text(frame.iloc[:, index]) for column, index in columns.items()}
            blank_row = np.logical_and.reduce([text.blank() for text in texts.values()])
            kept = np.flatnonzero(~blank_row)
            if not len(kept):  # a header and blank lines (or none) stores nothing: surely not what was meant
                self._found.append((file, 0, 0, Problem(self.file_names[file], None, None, "no_visits",
                                                        "no visits in the file: the header is followed only by "
                                                        "blank lines; expected one row per session")))
            if len(kept) < len(frame):
                texts = {column: text.subset(kept) for column, text in texts.items()}
            pieces.append((file, kept + 2, texts))
        self.size = sum(len(rows) for _, rows, _ in pieces)
        self.file = np.concatenate([np.full(len(rows), file) for file, rows, _ in pieces] or [np.zeros(0, np.int64)])
        self.row = np.concatenate([rows for _, rows, _ in pieces] or [np.zeros(0, np.int64)])
        self.text: dict[str, cells.Text] = {}
        self.given: dict[str, np.ndarray] = {}
        for column in catalog.NAMES:
            self.given[column] = np.concatenate(
                [np.full(len(rows), column in texts) for _, rows, texts in pieces] or [np.zeros(0, bool)])
            if len(pieces) == 1 and column in pieces[0][2]:
                self.text[column] = pieces[0][2][column]
                continue
            parts = [texts[column].values() if column in texts else np.full(len(rows), "", dtype=object)
                     for _, rows, texts in pieces]
            combined = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
            codes, uniques = pd.factorize(combined)
            self.text[column] = cells.Text(codes, np.asarray(uniques, dtype=object))

    def _check_header(self, file: int, columns: list[str]) -> dict[str, int] | None:
        """The known columns and their positions, or None when a required column is missing."""
        positions: dict[str, int] = {}
        for index, column in enumerate(columns):
            if column in positions:
                self.header_problem(file, column, "the column appears more than once; keep one", "repeated_column")
            elif column in _COLUMN_RANK:
                positions[column] = index
            else:
                unnamed = not column or column.startswith("Unnamed: ")
                self.header_problem(file, f"(column {index + 1})" if unnamed else column,
                                    _unknown_column_message(column), "unknown_column")
        missing = [column for column in catalog.REQUIRED if column not in positions]
        for column in missing:
            self.header_problem(file, column, "required column is missing", "missing_column")
        return None if missing else positions

    # -- one column at a time ------------------------------------------------------------------

    def _parse(self) -> None:
        for entry in catalog.COLUMNS:
            parse = {"id": self._parse_id, "name": self._parse_name, "text": self._parse_text,
                     "vocabulary": self._parse_vocabulary,
                     "date": self._parse_date, "number": self._parse_number}[entry.kind]
            parse(entry)
            if entry.default is not None and entry.kind == "number":
                # A blank cell means the clinic's standard (the hour-long session).
                self.values[entry.name] = np.where(self.text[entry.name].blank(), float(entry.default),
                                                   self.values[entry.name])
        self._check_sore_spot_within_duration()
        self._drop_post_scores_without_pain_post()

    def _missing(self, entry: catalog.Column, blank: np.ndarray) -> None:
        if not entry.may_be_blank:
            self.flag(blank, entry.name, f"required value is missing; expected {entry.expected()}", "missing")

    def _flag_invisible(self, entry: catalog.Column) -> np.ndarray:
        text = self.text[entry.name]
        found = text.per_unique(lambda texts: np.array([invisible_character(t) is not None for t in texts], dtype=bool))
        self.flag(found, entry.name, lambda cell: f"{cells.shown(cell)} contains an invisible or control character "
                  f"{invisible_character(cell)}; retype the value", "invisible_character")
        return found

    def _parse_name(self, entry: catalog.Column) -> None:
        text = self.text[entry.name]
        invisible = self._flag_invisible(entry)
        too_long = ~invisible & text.per_unique(lambda names: names.str.len().to_numpy() > catalog.MAX_NAME_LENGTH)
        self.flag(too_long, entry.name, f"the name is longer than {catalog.MAX_NAME_LENGTH} characters", "too_long")
        self.values[entry.name] = np.where(text.blank(), None, text.per_unique(_nfc))  # type: ignore[call-overload]  # numpy stubs reject a None branch

    def _parse_text(self, entry: catalog.Column) -> None:
        # The note itself is never repeated in a message: only the character or the length.
        text = self.text[entry.name]
        invisible = text.per_unique(lambda texts: np.array([invisible_in_note(t) is not None for t in texts],
                                                           dtype=bool))
        self.flag(invisible, entry.name, lambda cell: f"the {entry.noun} contains an invisible or control character "
                  f"{invisible_in_note(cell)} (line breaks are allowed); retype it", "invisible_character")
        stored = text.per_unique(_note_text)
        too_long = ~invisible & np.array([len(note) > entry.max_length for note in stored], dtype=bool)
        self.flag(too_long, entry.name, f"the {entry.noun} is longer than {entry.max_length} characters", "too_long")
        self.values[entry.name] = np.where(text.blank() | (stored == ""), None, stored)  # type: ignore[call-overload]  # numpy stubs reject a None branch

    def _parse_id(self, entry: catalog.Column) -> None:
        column, text = entry.name, self.text[entry.name]
        blank = text.blank()
        self._missing(entry, blank)
        invisible = self._flag_invisible(entry)
        too_long = ~invisible & text.per_unique(lambda ids: ids.str.len().to_numpy() > catalog.MAX_ID_LENGTH)
        self.flag(too_long, column, lambda cell: f"{cells.shown(cell)} is longer than {catalog.MAX_ID_LENGTH} characters",
                  "too_long")
        self.values[column] = np.where(blank | too_long | invisible, None, text.per_unique(_nfc))  # type: ignore[call-overload]  # numpy stubs reject a None branch

    def _parse_vocabulary(self, entry: catalog.Column) -> None:
        column, text, allowed = entry.name, self.text[entry.name], entry.values
        blank = text.blank()
        self._missing(entry, blank)
        # "Plantar fasciitis", "plantar-fasciitis" and "PLANTAR_FASCIITIS" are the same condition.
        normalised = text.per_unique(lambda texts: texts.str.lower().str.replace(r"[\s_-]+", "_", regex=True))
        known = np.isin(normalised, np.array(allowed, dtype=object))
        self.flag(~blank & ~known, column,
                  lambda cell: f"{cells.shown(cell)} is not a known {entry.noun}; allowed: {', '.join(allowed)}",
                  "not_in_vocabulary")
        self.values[column] = np.where(known, normalised, None)  # type: ignore[call-overload]  # numpy stubs reject a None branch

    def _parse_date(self, entry: catalog.Column) -> None:
        column, text = entry.name, self.text[entry.name]
        blank = text.blank()
        self._missing(entry, blank)
        days = text.per_unique(cells.day_numbers)
        looks_like_date = text.per_unique(
            lambda texts: np.array([bool(cells.ISO_DATE.fullmatch(cell)) for cell in texts], dtype=bool))
        self.flag(~blank & ~looks_like_date, column, lambda cell: f"{cells.shown(cell)} is not a date as YYYY-MM-DD",
                  "not_a_date")
        self.flag(looks_like_date & np.isnan(days), column, lambda cell: f"{cells.shown(cell)} is not a real date",
                  "not_a_real_date")
        latest = (config.today() - cells.EPOCH).days
        with np.errstate(invalid="ignore"):
            if column != "next_appointment":  # an appointment is booked ahead
                self.flag(days > latest, column, lambda cell: f"{cell} is after today ({config.today().isoformat()}); "
                          "check the year", "after_today")
            if column == "session_date":
                earliest = (EARLIEST_SESSION_DATE - cells.EPOCH).days
                self.flag(days < earliest, column, lambda cell: f"{cell} is before "
                          f"{EARLIEST_SESSION_DATE.isoformat()}; check the year", "too_early")
        self.values[column] = np.where(self.bad[column], np.nan, days)

    def _parse_number(self, entry: catalog.Column) -> None:
        column, text, expected = entry.name, self.text[entry.name], entry.expected()
        blank = text.blank()
        self._missing(entry, blank)
        numbers = text.per_unique(
            lambda texts: pd.to_numeric(texts.where(texts != ""), errors="coerce").to_numpy(dtype=float))
        self.flag(~blank & np.isnan(numbers), column,
                  lambda cell: f"{cells.shown(cell)} is not a number; expected {expected}", "not_a_number")
        bad = self.bad[column]  # one message per cell: each test below skips cells already flagged
        with np.errstate(invalid="ignore"):
            if entry.is_whole:
                self.flag(~bad & np.isfinite(numbers) & (numbers != np.floor(numbers)), column,
                          lambda cell: f"{cells.plain(cell)} is not a whole number; expected {expected}", "not_whole")
            if entry.high is None:
                self.flag(~bad & (numbers < entry.low), column,
                          lambda cell: f"{cells.plain(cell)} is below {entry.low:g}; expected {expected}", "out_of_range")
                self.flag(~bad & (numbers > cells.LARGEST_INTEGER), column,
                          lambda cell: f"{cells.plain(cell)} is too large", "out_of_range")
            else:
                span = entry.describe_range()
                self.flag(~bad & ((numbers < entry.low) | (numbers > entry.high)), column,
                          lambda cell: f"{cells.plain(cell)} is outside {span}", "out_of_range")
        self.values[column] = np.where(self.bad[column], np.nan, numbers)

    def _check_sore_spot_within_duration(self) -> None:
        sore, duration = self.values["sore_spot_min"], self.values["duration_min"]
        with np.errstate(invalid="ignore"):
            too_long = self.has("sore_spot_min") & ~self.bad["duration_min"] & (sore > duration)
        positions = np.flatnonzero(too_long)
        self.bad["sore_spot_min"][positions] = True
        self.record(positions, "sore_spot_min",
                    [f"{cells.number_text(sore[p])} is more than duration_min {cells.number_text(duration[p])}"
                     for p in positions], "more_than_duration")
        self.values["sore_spot_min"] = np.where(self.bad["sore_spot_min"], np.nan, sore)

    def _drop_post_scores_without_pain_post(self) -> None:
        # A post assessment row exists only with its pain score (assessments.pain is NOT NULL), so
        # post-session PSFS or flexibility without pain_post is checked but cannot be stored.
        no_pain_post = self.text["pain_post"].blank()
        for entry in catalog.stored_in("assessments"):
            if entry.phase == "post" and entry.name != "pain_post":
                self.values[entry.name] = np.where(no_pain_post, np.nan, self.values[entry.name])

    # -- across rows -----------------------------------------------------------------------------

    def _check_across_rows(self) -> None:
        self._check_duplicate_visits()
        # Every row of one episode (client, therapist) must agree on what belongs to it.
        for owner in ("episode", "client", "therapist"):
            owner_column = catalog.OWNER_KEYS[owner]
            for entry in catalog.one_per(owner):
                self._check_one_value_per(owner_column, entry.name, _disagreement_message(owner, entry))
        self._check_onset_before_first_visit()
        self._check_next_appointment_not_before_session()

    def _check_next_appointment_not_before_session(self) -> None:
        """The next appointment is on or after the session it was agreed at."""
        if "next_appointment" not in self.values or "session_date" not in self.values:
            return
        session, after = self.values["session_date"], self.values["next_appointment"]
        with np.errstate(invalid="ignore"):
            early = np.flatnonzero(self.has("next_appointment") & self.has("session_date") & (after < session))
        self.bad["next_appointment"][early] = True
        self.record(early, "next_appointment",
                    [f"{cells.date_text(after[p])} is before the session's date {cells.date_text(session[p])}; the next "
                     "appointment is on or after it" for p in early], "appointment_before_session")

    def _check_onset_before_first_visit(self) -> None:
        """The pain began on or before the course's first visit in the file: a later onset is a
        typing error that would make a chronic course look like a new injury."""
        episodes = self.codes("episode_id")[0]
        dated = self.has("episode_id") & self.has("session_date")
        if not dated.any():
            return
        first_visit = pd.Series(self.values["session_date"][dated]).groupby(episodes[dated]).min()
        first = first_visit.reindex(episodes).to_numpy()
        onset = self.values["onset_date"]
        with np.errstate(invalid="ignore"):
            late = np.flatnonzero(self.has("onset_date") & self.has("episode_id") & (onset > first))
        self.bad["onset_date"][late] = True
        self.record(late, "onset_date",
                    [f"{cells.date_text(onset[p])} is after the course's first visit on {cells.date_text(first[p])}; the onset "
                     "is when the pain began, on or before the first visit" for p in late], "onset_after_first_visit")

    def _check_duplicate_visits(self) -> None:
        """Each (episode_id, visit_number) once across all files; later copies are reported."""
        self.is_repeat = np.zeros(self.size, dtype=bool)
        keyed = np.flatnonzero(self.has("episode_id") & self.has("visit_number"))
        episode_codes, _ = self.codes("episode_id")
        visit = self.values["visit_number"][keyed].astype(np.int64)
        key = episode_codes[keyed].astype(np.int64) * (cells.LARGEST_INTEGER + 1) + visit
        repeated = pd.Series(key).duplicated(keep=False).to_numpy()
        if not repeated.any():
            return
        positions, keys = keyed[repeated], key[repeated]
        first = pd.Series(positions).groupby(keys).transform("first").to_numpy()
        later = positions != first
        self.is_repeat[positions[later]] = True
        episodes, visits = self.values["episode_id"], self.values["visit_number"]
        self.record(positions[later], "visit_number",
                    [f"episode {cells.plain(episodes[p])} visit {cells.number_text(visits[p])} is already given at "
                     f"{self.where(f)}; each visit of an episode appears once"
                     for p, f in zip(positions[later], first[later])], "repeated_visit")

    def _check_one_value_per(self, owner_column: str, column: str,
                             message: Callable[[str, object, object, str], str]) -> None:
        """Rows whose `column` differs from the first row of the same owner (episode, client...)."""
        positions, firsts = _disagreeing(self.codes(owner_column)[0], self.codes(column)[0],
                                         self.has(owner_column) & self.has(column))
        owners, values = self.values[owner_column], self.values[column]
        self.bad[column][positions] = True
        self.record(positions, column, [message(cells.plain(owners[p]), values[p], values[f], self.where(f))
                                        for p, f in zip(positions, firsts)], "one_value_per_" + owner_column[:-3])

    def keyed(self) -> np.ndarray:
        """Rows that identify one session: valid episode and visit number, first of any copies."""
        return self.has("episode_id") & self.has("visit_number") & ~self.is_repeat


def _disagreement_message(owner: str, entry: catalog.Column) -> Callable[[str, object, object, str], str]:
    """The message for a row whose `entry` differs from an earlier row of the same owner."""
    if entry.kind == "name":
        # Names are health-adjacent personal data: never repeated in a message.
        return lambda key, new, old, at: (f"{owner} {key} is given a different name at {at} "
                                          f"(names are not shown); use one name per {owner}")
    article = "an" if owner[0] in "aeiou" else "a"
    rule = entry.rule or f"{article} {owner} has one {entry.noun}"
    return lambda key, new, old, at: (f"{owner} {key} is given {entry.noun} {cells.value_text(entry.name, new)} "
                                      f"here but {cells.value_text(entry.name, old)} at {at}; {rule}")


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
    allowed = "allowed columns are " + ", ".join(catalog.NAMES)
    if not column or column.startswith("Unnamed: "):
        return f"a column with no header has values; name it or delete it ({allowed})"
    repeated = re.fullmatch(r"(.+)\.\d+", column)
    if repeated and repeated.group(1) in _COLUMN_RANK:
        return f"looks like a second {repeated.group(1)} column; keep one"
    spelled = re.sub(r"[\s-]+", "_", column.strip().lower())
    if spelled in _COLUMN_RANK:
        return f"unknown column; did you mean {spelled}? Column names are exactly as listed: {allowed}"
    return f"unknown column; {allowed}"

