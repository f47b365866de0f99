"""The filter every metric takes: which episodes a page is looking at."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any


@dataclasses.dataclass(frozen=True)
class Filter:
    """Selects episodes (courses of care). An empty tuple or None means "no restriction".

    - `start`/`end`: the episode's first visit falls in this date range (inclusive), so a
      period's figures describe the courses that began in it and every visit of those courses.
    - `clinics`, `therapists` (the episode's primary therapist), `conditions`, `course_types`,
      `severities`: the episode has one of the listed values.
    - `viewer_therapist`: set when a therapist (not a manager) is looking; client-level rows are
      then limited to that therapist's own episodes, and clinic-wide figures resting on 1-9 other
      therapists' courses are left out (analytics/metrics/suppression.py).
    - `rule`: the name of the pain improvement rule every "improved" figure uses (one of
      config.PAIN_RULES; None is config.DEFAULT_PAIN_RULE, see analytics/metrics/rule.py). It
      selects no episodes; it changes what counts as improved.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    clinics: tuple[str, ...] = ()
    therapists: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    course_types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    viewer_therapist: str | None = None
    rule: str | None = None

    def where(self, alias: str = "e") -> tuple[str, list[Any]]:
        """SQL conditions on an `episode_facts` row called `alias`, and their parameters.

        Returns ("TRUE", []) when nothing is restricted. Values only ever travel as parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.start is not None:
            clauses.append(f"{alias}.start_date >= ?")
            params.append(self.start)
        if self.end is not None:
            clauses.append(f"{alias}.start_date <= ?")
            params.append(self.end)
        for column, values in (
            ("clinic_id", self.clinics),
            ("therapist_id", self.therapists),
            ("condition", self.conditions),
            ("course_type", self.course_types),
            ("severity", self.severities),
        ):
            if values:
                clauses.append(f"{alias}.{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        return (" AND ".join(clauses) or "TRUE"), params

    def restricted_to_viewer(self, alias: str = "e") -> tuple[str, list[Any]]:
        """Like where(), plus the viewer rule: a therapist sees only their own episodes."""
        sql, params = self.where(alias)
        if self.viewer_therapist is not None:
            sql = f"{sql} AND {alias}.therapist_id = ?"
            params = [*params, self.viewer_therapist]
        return sql, params

    def replace(self, **changes: Any) -> Filter:
        return dataclasses.replace(self, **changes)

    def in_whole_months(self) -> Filter:
        """The filter with its dates widened to whole calendar months (the start to the 1st of its
        month, the end to the last day of its). A therapist's filters are, so that two filters a
        few days apart cannot be subtracted to single out one colleague's course."""
        start = self.start.replace(day=1) if self.start is not None else None
        end = None
        if self.end is not None:
            following = (self.end.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            end = following - dt.timedelta(days=1)
        return self.replace(start=start, end=end)

    def previous_period(self) -> Filter | None:
        """The period of equal length just before this one, or None without a full date range."""
        if self.start is None or self.end is None:
            return None
        length = self.end - self.start
        return self.replace(start=self.start - length - dt.timedelta(days=1), end=self.start - dt.timedelta(days=1))


ALL = Filter()
