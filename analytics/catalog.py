"""Every visit-log column declared once: its kind, range or vocabulary, the label a person reads,
where it is stored and what it belongs to. The importer's checks, the forms' labels and the
stored-row SQL are derived from here; tests hold the README's import table and the schema's
CHECK constraints against it.

Adding an optional column is one `Column(...)` entry here (plus its schema column, and the README
row the catalog test asks for); the importer iterates the catalog and needs no code of its own.
"""
from __future__ import annotations

import dataclasses

from analytics import config

KINDS = ("id", "name", "text", "vocabulary", "number", "date")
OWNERS = ("session", "episode", "client", "therapist", "clinic")
MAX_ID_LENGTH = 64  # the schema's CHECK on every id
MAX_NAME_LENGTH = 120  # a longer display name is a pasted paragraph, and pushes the PDF off its page
MAX_NOTE_LENGTH = 2000  # a session note: a few paragraphs, never a pasted document


@dataclasses.dataclass(frozen=True)
class Column:
    """One visit-log column.

    `required` columns must be in every file's header; `may_be_blank` cells may be empty (every
    optional column, and pain_post: the client left before the closing score). A number's range is
    `low`..`high` (`high` None: no upper bound but the storage limit), whole numbers when
    `is_whole`. `stored_in`.`stored_as` is where the value lives; an assessment value also names
    its `phase`. `one_per` is what the value belongs to: every row of one episode (client,
    therapist) must agree. `is_key` columns identify rows and are never updated by an import.
    `noun` is the column's name inside a sentence ("episode E1 has one course type"). A `text`
    column is free text of at most `max_length` characters that may hold line breaks; it is
    private (a session note): no message, log, audit row or default download repeats it."""

    name: str
    kind: str
    label: str
    stored_in: str
    stored_as: str
    one_per: str
    required: bool = False
    may_be_blank: bool | None = None  # None: blank allowed exactly when the column is optional
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    is_whole: bool = False
    phase: str | None = None
    default: float | str | None = None
    is_key: bool = False
    noun: str = ""  # "": the name with spaces for underscores
    rule: str | None = None  # why rows must agree, when not "an episode has one <noun>"
    max_length: int = 0  # a text column's limit

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.one_per not in OWNERS:
            raise ValueError(f"{self.name}: one_per {self.one_per!r} is not one of {OWNERS}")
        if self.may_be_blank is None:
            object.__setattr__(self, "may_be_blank", not self.required)
        if not self.noun:
            object.__setattr__(self, "noun", self.name.replace("_", " "))
        if self.kind == "vocabulary" and not self.values:
            raise ValueError(f"{self.name}: a vocabulary column needs its values")
        if self.kind == "number" and self.low is None:
            raise ValueError(f"{self.name}: a number column needs its range")
        if self.kind == "text" and self.max_length < 1:
            raise ValueError(f"{self.name}: a text column needs its max_length")

    @property
    def is_text(self) -> bool:
        """Stored as text (ids, names, notes, vocabulary words); numbers and dates travel as floats."""
        return self.kind in ("id", "name", "text", "vocabulary")

    def describe_range(self) -> str:
        """'0-10', '-30 to 80', '1 or more': the span of a number column in a message."""
        assert self.low is not None, f"{self.name} is not a number column"
        if self.high is None:
            return f"{self.low:g} or more"
        if self.low < 0:
            return f"{self.low:g} to {self.high:g}"
        return f"{self.low:g}-{self.high:g}"

    def expected(self) -> str:
        """What a cell should hold, as a message ends: 'expected <this>'."""
        if self.kind == "id":
            return f"{'an' if self.noun[0] in 'aeiou' else 'a'} {self.noun} id of 1-{MAX_ID_LENGTH} characters"
        if self.kind == "date":
            return "a date as YYYY-MM-DD"
        if self.kind == "vocabulary":
            return "one of " + ", ".join(self.values)
        if self.kind == "number":
            return f"a {'whole ' if self.is_whole else ''}number {self.describe_range()}"
        if self.kind == "text":
            return f"text of at most {self.max_length} characters"
        return "a name"


def _score(name: str, label: str, stored_as: str, phase: str, low: float, high: float, **more) -> Column:
    return Column(name, "number", label, "assessments", stored_as, "session", low=low, high=high, phase=phase,
                  **more)


# The import format, in import order: required columns first, in the order the sample CSV is written.
COLUMNS: tuple[Column, ...] = (
    Column("client_id", "id", "Client id", "clients", "client_id", "episode", required=True, is_key=True,
           noun="client"),
    Column("episode_id", "id", "Course of care", "episodes", "episode_id", "episode", required=True, is_key=True,
           noun="episode"),
    Column("condition", "vocabulary", "Condition", "episodes", "condition", "episode", required=True,
           values=config.CONDITIONS),
    Column("course_type", "vocabulary", "Course type", "episodes", "course_type", "episode", required=True,
           values=config.COURSE_TYPES),
    Column("visit_number", "number", "Visit number", "sessions", "visit_number", "session", required=True,
           low=1, is_whole=True, is_key=True),
    Column("session_date", "date", "Date", "sessions", "session_date", "session", required=True),
    Column("therapist_id", "id", "Therapist", "sessions", "therapist_id", "session", required=True, is_key=True,
           noun="therapist"),
    _score("pain_pre", "Pain before the session", "pain", "pre", 0, 10, required=True),
    _score("pain_post", "Pain after the session", "pain", "post", 0, 10, required=True, may_be_blank=True),
    Column("clinic_id", "id", "Clinic", "clients", "clinic_id", "client", is_key=True, noun="clinic",
           default="main", rule="a client belongs to one clinic"),
    Column("client_name", "name", "Client name", "clients", "display_name", "client"),
    Column("therapist_name", "name", "Therapist name", "therapists", "name", "therapist"),
    Column("severity", "vocabulary", "Severity", "episodes", "severity", "episode", values=config.SEVERITIES),
    Column("prior_injuries", "number", "Prior injuries", "episodes", "prior_injuries", "episode",
           low=0, high=100, is_whole=True, noun="prior injury count"),
    Column("onset_date", "date", "Onset date", "episodes", "onset_date", "episode"),
    Column("duration_min", "number", "Session length (minutes)", "sessions", "duration_min", "session",
           low=1, high=480, is_whole=True, default=60),  # the clinic's hour-long session
    Column("sore_spot_min", "number", "Minutes on the sore spot", "sessions", "sore_spot_min", "session",
           low=0, high=480, is_whole=True),
    Column("stretching_adherence_pct", "number", "Stretching since the last visit (% of days)", "sessions",
           "stretching_adherence_pct", "session", low=0, high=100),
    _score("psfs_pre", "Function (PSFS) before", "psfs", "pre", 0, 10),
    _score("psfs_post", "Function (PSFS) after", "psfs", "post", 0, 10),
    _score("dorsiflexion_pre_deg", "Ankle dorsiflexion before (degrees)", "dorsiflexion_deg", "pre", -30, 80),
    _score("dorsiflexion_post_deg", "Ankle dorsiflexion after (degrees)", "dorsiflexion_deg", "post", -30, 80),
    Column("discharge_reason", "vocabulary", "Why the course ended", "episodes", "discharge_reason", "episode",
           values=config.DISCHARGE_REASONS),
    Column("foot_side", "vocabulary", "Which foot", "episodes", "foot_side", "episode", values=config.FOOT_SIDES),
    # Foot-specific function as scored on the clinic's own forms (the product stores scores, not items):
    # FAAM activities of daily living, 0-100%, higher is better (Martin et al. 2005, Foot Ankle Int
    # 26:968-983); LEFS 0-80, higher is better (Binkley et al. 1999, Phys Ther 79:371-383).
    Column("faam_adl_pct", "number", "Foot function (FAAM ADL, %)", "sessions", "faam_adl_pct", "session",
           low=0, high=100, noun="FAAM ADL score"),
    Column("lefs", "number", "Lower-limb function (LEFS, 0-80)", "sessions", "lefs", "session",
           low=0, high=80, is_whole=True, noun="LEFS score"),
    Column("note", "text", "Session note", "sessions", "note", "session", max_length=MAX_NOTE_LENGTH),
    # Schema v7: the next appointment agreed at this session (printed on the take-home page); on or
    # after the session's date, and the one date column that may lie after today.
    Column("next_appointment", "date", "Next appointment", "sessions", "next_appointment", "session"),
)

_BY_NAME: dict[str, Column] = {entry.name: entry for entry in COLUMNS}
if len(_BY_NAME) != len(COLUMNS):
    raise ValueError("a visit-log column is declared twice in the catalog")

NAMES: tuple[str, ...] = tuple(_BY_NAME)
REQUIRED: tuple[str, ...] = tuple(entry.name for entry in COLUMNS if entry.required)
OPTIONAL: tuple[str, ...] = tuple(entry.name for entry in COLUMNS if not entry.required)
MAY_BE_BLANK: frozenset[str] = frozenset(entry.name for entry in COLUMNS if entry.may_be_blank)
# The values of a stored visit (its session and both assessments) that an import compares and may
# replace, and that a correction may change.
VISIT_VALUES: tuple[str, ...] = tuple(
    entry.name for entry in COLUMNS if entry.stored_in in ("sessions", "assessments") and not entry.is_key)
# Which column identifies the owner a value belongs to (one_per).
OWNER_KEYS: dict[str, str] = {"episode": "episode_id", "client": "client_id", "therapist": "therapist_id",
                              "clinic": "clinic_id"}


def column(name: str) -> Column:
    """The catalog entry of a visit-log column; KeyError for a name that is not one."""
    return _BY_NAME[name]


def label(name: str) -> str:
    """The words a person reads for a column (form fields, table headings)."""
    return _BY_NAME[name].label


def labels() -> dict[str, str]:
    """Column name -> label, in import order."""
    return {entry.name: entry.label for entry in COLUMNS}


def of_kind(kind: str) -> tuple[Column, ...]:
    return tuple(entry for entry in COLUMNS if entry.kind == kind)


def stored_in(table: str) -> tuple[Column, ...]:
    """The columns whose values live in `table`, in import order."""
    return tuple(entry for entry in COLUMNS if entry.stored_in == table)


def values_of(table: str) -> tuple[Column, ...]:
    """The non-key columns of `table`: what an import compares with the stored row and may replace."""
    return tuple(entry for entry in stored_in(table) if not entry.is_key)


def one_per(owner: str) -> tuple[Column, ...]:
    """The columns every row of one owner (episode, client, therapist) must agree on, the owner's
    own key excluded."""
    key = OWNER_KEYS.get(owner)
    return tuple(entry for entry in COLUMNS if entry.one_per == owner and entry.name != key)
