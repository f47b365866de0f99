"""One client's course of care in words a client understands: the summary sentence, the peer
group behind the "typical course" band, and how long a clear change typically takes."""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import pandas as pd

from analytics import config, metrics
from analytics.filters import ALL, Filter
from analytics.metrics import rule

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
             "tenth", "eleventh", "twelfth")


@dataclasses.dataclass(frozen=True)
class TypicalImprovement:
    """How many sessions it usually takes before a clear change: `visit` is the visit whose
    pre-session pain first shows it for half of the peers (so `visit - 1` sessions), None when
    fewer than half have improved by the last visit seen. `episodes` is how many courses that
    rests on and `peer_group` says whom: 'condition' (same course type and condition) or
    'course_type' (same course type, when too few courses of the condition exist)."""

    visit: int | None
    episodes: int
    peer_group: str

    @property
    def sessions(self) -> int | None:
        return None if self.visit is None else self.visit - 1


def typical_improvement(con, course_type: str, condition: str) -> TypicalImprovement:
    """The median number of visits to a clear change (metrics.median_visits_to_improvement) for
    courses of this course type and condition; when fewer than config.MIN_TYPICAL_COURSE_PEERS
    such courses have a baseline score, for all courses of the course type, as typical_course
    falls back. The whole clinic is the reference, whoever is looking."""
    for peer_group, f in (("condition", Filter(course_types=(course_type,), conditions=(condition,))),
                          ("course_type", Filter(course_types=(course_type,)))):
        medians = metrics.median_visits_to_improvement(con, f)
        row = medians.loc[medians["course_type"] == course_type]
        episodes = int(row["episodes"].iloc[0]) if len(row) else 0
        if peer_group == "condition" and episodes < config.MIN_TYPICAL_COURSE_PEERS:
            continue
        visit = row["median_visits"].iloc[0] if len(row) else math.nan
        return TypicalImprovement(None if pd.isna(visit) else int(visit), episodes, peer_group)
    raise AssertionError("unreachable: the course-type group always answers")


def condition_words(course_type: str, condition: str) -> str:
    """'acute', 'plantar_fasciitis' -> 'acute plantar fasciitis'."""
    return f"{course_type} {condition.replace('_', ' ')}"


def peer_description(typical: pd.DataFrame, course_type: str, condition: str) -> str:
    """Which clients the typical-course band is drawn from, for a caption under the chart:
    'based on 87 finished acute plantar fasciitis courses', or the course-type fallback with
    the reason. `typical` is metrics.typical_course's frame; empty means no band."""
    if typical.empty:
        return f"no finished {course_type} courses to compare with yet"
    peers = int(typical["peers"].iloc[0])
    courses = "course" if peers == 1 else "courses"
    if typical["peer_group"].iloc[0] == "condition":
        return f"based on {peers:,} finished {condition_words(course_type, condition)} {courses}"
    return (f"based on {peers:,} finished {course_type} {courses} of any condition "
            f"(too few finished {condition.replace('_', ' ')} courses to compare on their own)")


def ordinal(number: int) -> str:
    """1 -> 'first' ... 12 -> 'twelfth', then '13th', '21st', '22nd'."""
    if 1 <= number <= len(_ORDINALS):
        return _ORDINALS[number - 1]
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _score(value: float) -> str:
    """7.0 -> '7', 6.5 -> '6.5'."""
    return f"{value:g}"


def _a_or_an(number: int) -> str:
    """'an' before numbers read with a vowel sound: an 8, an 11, an 18, an 80-89, an 800."""
    return "an" if str(number).startswith("8") or number in (11, 18) else "a"


def _sessions(count: int) -> str:
    return "one session" if count == 1 else f"{count} sessions"


def clear_change_meaning() -> str:
    """What a "clear change" is, in one sentence for the client, from the clinic's rule in config:
    'A clear change means pain at least 2 points and 30% lower than at the first session.'"""
    return f"A clear change means pain at least {rule.pain().words()} lower than at the first session."


def progress_sentence(summary: dict[str, Any], typical: TypicalImprovement | None = None) -> str:
    """A few plain sentences for the client about their pain so far, from metrics.episode_summary
    (`summary`) and, when known, how many sessions a clear change typically takes (`typical`).

    'Your pain before sessions went from 7 to 3, a 57% drop. Typically, people with acute
    plantar fasciitis feel a clear change after their second session; you did after your
    second.' Also covers a first visit only, no clear change yet, no change and pain that went
    up. No clinical jargon: a "clear change" is the clinic's improvement rule (metrics.rule.pain)."""
    baseline, latest = summary.get("baseline"), summary.get("latest_pain")
    change = summary.get("change_points")
    improved_at = summary.get("improved_at_visit")
    scored_visit = summary.get("latest_pain_visit") or 1
    sessions_so_far = max(int(scored_visit) - 1, 0)  # sessions whose lasting effect has been measured
    words = condition_words(summary["course_type"], summary["condition"])

    if baseline is None:
        first = "We have no pain score from your first session, so we cannot show a change yet."
    elif change is None:
        first = (f"So far we have your first session: your pain before it was {_score(baseline)} out of 10. "
                 "Your next visits will show how it changes.")
    else:
        assert latest is not None  # change_points is baseline - latest_pain: known only when both are
        if change > 0:
            drop = summary.get("change_pct")
            share = f", {_a_or_an(round(drop))} {drop:.0f}% drop" if drop is not None else ""
            first = f"Your pain before sessions went from {_score(baseline)} to {_score(latest)}{share}."
        elif change == 0:
            first = f"Your pain before sessions is {_score(latest)} out of 10, the same as at your first session."
        else:
            first = (f"Your pain before sessions went from {_score(baseline)} to {_score(latest)}, "
                     f"{_score(-change)} {'point' if -change == 1 else 'points'} higher than at your first session. "
                     "Please tell your therapist, so you can look at the plan together.")

    if improved_at:
        yours = f"you did after your {ordinal(int(improved_at) - 1)}"
        if not rule.pain().is_met(baseline, latest):
            yours += ", although the pain has come back since"
    elif baseline is None or change is None:
        yours = None
    elif typical is not None and typical.sessions and sessions_so_far < typical.sessions:
        yours = f"you are not there yet, which is usual after {_sessions(sessions_so_far)}"
    elif change < 0:  # the first sentence already asks to tell the therapist: once is enough
        yours = "you have not felt one yet"
    else:
        yours = "you have not felt one yet, so it is worth talking with your therapist about your plan"

    if typical is not None and typical.sessions:
        second = f"Typically, people with {words} feel a clear change after their {ordinal(typical.sessions)} session"
        second += f"; {yours}." if yours else "."
    elif improved_at:
        second = f"You felt a clear change after your {ordinal(int(improved_at) - 1)} session."
    elif yours and change is not None:
        second = "A clear change has not shown yet."
    else:
        second = ""
    return f"{first} {second}".strip()


def followup_words(day: int) -> str:
    """A follow-up as people say it, from its day after the last visit: 28 -> '4 weeks',
    91 -> '3 months', 182 -> '6 months'."""
    if day < 60 and day % 7 == 0:
        return f"{day // 7} weeks"
    months = round(day / 30.4)
    return f"{months} {'month' if months == 1 else 'months'}"


def held_sentence(followups: pd.DataFrame) -> str:
    """How the pain has held since the last visit, in plain words for the client, from
    metrics.episode_followups: the latest follow-up answered with a pain score against the last
    visit's pain before the session. 'At 3 months after your last visit your pain was 2, the
    same as at your last visit.' Also 'N points lower' or 'N points higher', with, when the pain
    is higher, a word to talk with the therapist. Empty when no follow-up has a pain score yet."""
    answered = followups.dropna(subset=["pain"]) if len(followups) else followups
    if answered.empty:
        return ""
    row = answered.iloc[-1]
    pain, last = float(row["pain"]), row["last_visit_pain"]
    start = f"At {followup_words(int(row['followup_day']))} after your last visit your pain was {_score(pain)}"
    if pd.isna(last):
        return start + "."
    difference = pain - float(last)
    if difference == 0:
        return f"{start}, the same as at your last visit."
    points = f"{_score(abs(difference))} {'point' if abs(difference) == 1 else 'points'}"
    if difference < 0:
        return f"{start}, {points} lower than at your last visit ({_score(float(last))})."
    return (f"{start}, {points} higher than at your last visit ({_score(float(last))}). "
            "If it keeps coming back, talk with your therapist about a few more sessions or your stretches.")


@dataclasses.dataclass(frozen=True)
class EpisodeView:
    """Everything the client progress page and the report show for one episode: the metrics'
    summary, progress and typical-course frames, the typical time to a clear change, the
    client's stored name (None when not stored), the summary sentence and the band's peers;
    the follow-ups after the last visit (metrics.episode_followups) and how the pain has held
    (held_sentence; empty before any follow-up is answered)."""

    summary: dict[str, Any]
    progress: pd.DataFrame
    typical: pd.DataFrame
    typical_improvement: TypicalImprovement
    client_name: str | None
    sentence: str
    peers: str
    followups: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    held: str = ""

    @property
    def episode_id(self) -> str:
        return self.summary["episode_id"]

    @property
    def next_appointment(self) -> dt.date | None:
        """The next appointment stored with the latest visit (Record a session's "Next
        appointment"); None when that visit has none. One agreed at an earlier visit is not
        carried forward: the latest visit is where the therapist books the next one."""
        if self.progress.empty or "next_appointment" not in self.progress:
            return None
        value = self.progress["next_appointment"].iloc[-1]
        return None if pd.isna(value) else pd.Timestamp(value).date()


def episode_view(con, episode_id: str, f: Filter = ALL) -> EpisodeView | None:
    """One episode for the therapist pages, or None when it does not exist or the filter (a
    therapist sees only their own clients) hides it. Peers for the typical course and the
    typical time to a clear change come from the whole clinic, leaving this episode out."""
    summary = metrics.episode_summary(con, episode_id, f)
    if not summary:
        return None
    progress = metrics.episode_progress(con, episode_id, f)
    typical = metrics.typical_course(con, summary["course_type"], summary["condition"], summary.get("baseline"),
                                     ALL, exclude_episode=episode_id)
    improvement = typical_improvement(con, summary["course_type"], summary["condition"])
    followups = metrics.episode_followups(con, episode_id, f)
    return EpisodeView(summary=summary, progress=progress, typical=typical, typical_improvement=improvement,
                       client_name=client_name(con, summary["client_id"]),
                       sentence=progress_sentence(summary, improvement),
                       peers=peer_description(typical, summary["course_type"], summary["condition"]),
                       followups=followups, held=held_sentence(followups))


def client_name(con, client_id: str) -> str | None:
    """The client's stored display name, None when none is stored."""
    cursor = con.cursor()
    try:
        rows = cursor.execute("SELECT display_name FROM clients WHERE client_id = ?", [client_id]).fetchall()
    finally:
        cursor.close()
    return rows[0][0] if rows else None
