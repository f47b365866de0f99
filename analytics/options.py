"""What the filter sidebar can offer: the clinics, therapists, conditions, course types,
severities and episode start dates that are actually in the database."""
from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb

from analytics import config, db


@dataclasses.dataclass(frozen=True)
class FilterOptions:
    """The choices for every filter, in display order.

    - `clinics`: clinic id -> name (the id when no name is stored).
    - `therapists`: therapist id -> name (the id when no name is stored).
    - `conditions`, `course_types`, `severities`: stored values, in the clinic's order
      (config.CONDITIONS, COURSE_TYPES, SEVERITIES), only those that occur.
    - `first_start`, `last_start`: the earliest and latest episode start date, None when empty.
    - `clinic_therapists`: clinic id -> the therapists who are the primary therapist of one of
      its episodes (for what a therapist viewer may filter by: ui/filters.py).
    """

    clinics: dict[str, str]
    therapists: dict[str, str]
    conditions: tuple[str, ...]
    course_types: tuple[str, ...]
    severities: tuple[str, ...]
    first_start: dt.date | None
    last_start: dt.date | None
    clinic_therapists: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    def clinics_for(self, viewer_therapist: str | None) -> dict[str, str]:
        """The clinics a viewer may filter by: every one for a manager (None); for a therapist,
        those where at least config.MIN_CLINIC_COLLEAGUES other therapists have courses."""
        if viewer_therapist is None:
            return self.clinics
        return {clinic: name for clinic, name in self.clinics.items()
                if len(self.clinic_therapists.get(clinic, frozenset()) - {viewer_therapist}) >= config.MIN_CLINIC_COLLEAGUES}


def filter_options(con: duckdb.DuckDBPyConnection) -> FilterOptions:
    """Distinct filter values present in the stored episodes. Reads on its own cursor."""
    cursor = con.cursor()
    try:
        clinics = dict(cursor.execute(
            "SELECT clinic_id, coalesce(name, clinic_id) FROM clinics ORDER BY coalesce(name, clinic_id), clinic_id"
        ).fetchall())
        # Only therapists who are the primary therapist of an episode: the filter selects episodes.
        therapists = dict(cursor.execute(
            "SELECT t.therapist_id, coalesce(t.name, t.therapist_id) FROM therapists t "
            "WHERE EXISTS (SELECT 1 FROM episodes e WHERE e.therapist_id = t.therapist_id) "
            "ORDER BY coalesce(t.name, t.therapist_id), t.therapist_id"
        ).fetchall())
        present = {
            column: {row[0] for row in cursor.execute(query).fetchall()}
            for column, query in (
                ("condition", "SELECT DISTINCT condition FROM episodes"),
                ("course_type", "SELECT DISTINCT course_type FROM episodes"),
                ("severity", "SELECT DISTINCT severity FROM episodes WHERE severity IS NOT NULL"),
            )
        }
        first_start, last_start = db.one(cursor, "SELECT min(start_date), max(start_date) FROM episode_facts")
        clinic_therapists = {clinic: frozenset(ids) for clinic, ids in cursor.execute(
            "SELECT clinic_id, list(DISTINCT therapist_id) FROM episode_facts WHERE clinic_id IS NOT NULL GROUP BY clinic_id"
        ).fetchall()}
    finally:
        cursor.close()
    return FilterOptions(
        clinics=clinics,
        therapists=therapists,
        conditions=tuple(c for c in config.CONDITIONS if c in present["condition"]),
        course_types=tuple(c for c in config.COURSE_TYPES if c in present["course_type"]),
        severities=tuple(s for s in config.SEVERITIES if s in present["severity"]),
        first_start=first_start,
        last_start=last_start,
        clinic_therapists=clinic_therapists,
    )
