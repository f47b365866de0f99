"""The client's check-ins: a course's personal link (a random, unguessable token), what the link
opens (only that course, only while live), the answers a client submits from it, and answers
imported from another survey tool's file.

A link is live while it is not revoked and today is on or before its expiry day: the course's
last visit + config.CHECKIN_LINK_MONTHS months (worked out when used, so a new visit moves it).
A course with no visit has no expiry day, so its link is not live. One live link per course:
making a new one revokes the old.

Everything a link reaches goes through course_for_token(), which answers the same None for an
unknown, a revoked and an expired token, and counts each miss against the asking browser session
and address (INVALID_TOKEN_THROTTLE, in the server's memory like auth.THROTTLE). Tokens, names
and answers are never logged; the audit trail holds the course id only."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import math
import re
import secrets
from collections.abc import Iterable
from typing import Any

import duckdb

from analytics import audit, auth, config, db, text
from analytics.filters import ALL
from analytics.metrics import query

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 random bits
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")  # what token_urlsafe makes; the schema's length CHECK

# What a person holding a bad, expired or revoked link is told: the same words for all three.
INVALID_LINK = "This link has expired or is not valid; ask the clinic for a new one."
# Who submitted a check-in, in the audit trail: no account (username NULL), target_type 'link'.
AUDIT_TARGET = "link"

# Rate limits, in this server process's memory (a restart forgets them). A browser session or
# address that tried this many unknown, revoked or expired tokens within the minutes below is
# told INVALID_LINK for every token, valid or not, until the oldest try is that old; one link
# takes at most CHECKIN_SUBMISSIONS_PER_DAY answers a day (a second answer the same day replaces
# the first, so more would only be someone hammering the link).
CHECKIN_BAD_TOKEN_TRIES = 10
CHECKIN_BAD_TOKEN_MINUTES = 15
CHECKIN_SUBMISSIONS_PER_DAY = 5
INVALID_TOKEN_THROTTLE = auth.Throttle(CHECKIN_BAD_TOKEN_TRIES, CHECKIN_BAD_TOKEN_MINUTES)
SUBMISSION_THROTTLE = auth.Throttle(CHECKIN_SUBMISSIONS_PER_DAY, 24 * 60)


class CheckinRefused(Exception):
    """A submission that was not stored, worded for the client."""


@dataclasses.dataclass(frozen=True)
class Link:
    """A course's unrevoked link: its token, when it was made, and its expiry day (None for a
    course with no visit); `is_live` on the day asked."""

    token: str
    episode_id: str
    created_at: dt.datetime
    expires_on: dt.date | None
    is_live: bool


@dataclasses.dataclass(frozen=True)
class CheckinCourse:
    """What a live link opens: the course it belongs to and what its page may show and ask."""

    episode_id: str
    first_name: str  # the first word of the client's display name, as safe one-line text ("" if none)
    stretching_plan: str | None  # the stored plan (episodes.stretching_plan), None if none saved
    asks_first_steps: bool  # the condition is one of config.FIRST_STEPS_CONDITIONS
    asks_pain_returned: bool  # the course is no longer active (status <> 'active'): after its last visit
    last_visit: dt.date
    expires_on: dt.date


@dataclasses.dataclass(frozen=True)
class Answers:
    """One check-in's answers; None = not answered. pain and first_steps_pain 0-10, stretch_days
    0-7 (days with stretches in the last 7), pgic 1-7 (config.PGIC_ANSWERS, 1 = very much
    improved), pain_returned yes/no."""

    pain: float | None = None
    first_steps_pain: float | None = None
    stretch_days: int | None = None
    pgic: int | None = None
    pain_returned: bool | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in dataclasses.astuple(self))


def public_url(token: str) -> str:
    """The address a client opens: {config.CLINIC_PUBLIC_URL}/?checkin=TOKEN."""
    return f"{config.CLINIC_PUBLIC_URL.rstrip('/')}/?checkin={token}"


def qr_png(url: str, scale: int = 6) -> bytes:
    """A QR code of `url` as PNG bytes (segno, pure Python), for the page and the PDF."""
    import segno  # imported when a code is drawn, not by every page that imports this module

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def _token_key(token: str) -> str:
    """The token as the submission throttle keeps it: a hash, so not even the memory holds it."""
    return "token:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]


def expiry_day(last_visit: dt.date | None) -> dt.date | None:
    """The last day a link works: `last_visit` + config.CHECKIN_LINK_MONTHS months (the month's
    last day when it is shorter); None without a visit."""
    if last_visit is None:
        return None
    month = last_visit.month - 1 + config.CHECKIN_LINK_MONTHS
    year, month = last_visit.year + month // 12, month % 12 + 1
    days_in_month = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(last_visit.day, days_in_month))


def _last_visit(cursor, episode_id: str) -> dt.date | None:
    return db.one(cursor, "SELECT max(session_date) FROM sessions WHERE episode_id = ?", [episode_id])[0]


def _viewer_may(cursor, episode_id: str, viewer: str | None) -> bool:
    """The course exists and, for a therapist `viewer`, is their own (its primary therapist)."""
    row = cursor.execute("SELECT therapist_id FROM episodes WHERE episode_id = ?", [episode_id]).fetchone()
    return row is not None and (viewer is None or row[0] == viewer)


def make_link(con: duckdb.DuckDBPyConnection, episode_id: str, by: str | None, viewer: str | None = None) -> str:
    """A new link for the course (secrets.token_urlsafe(TOKEN_BYTES)); the course's earlier live
    link is revoked in the same transaction, both audited 'checkin_link'. A therapist `viewer`
    makes links for their own courses only: another's is refused like an unknown one
    (ValueError)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with db.write(con, episodes=[episode_id]) as cursor:  # named so a clinic chain sends its rows
        if not _viewer_may(cursor, episode_id, viewer):
            raise ValueError("no such course of care")
        if _revoke_on(cursor, episode_id):
            audit.record_on(cursor, by, "checkin_link", "revoked", episode_id)
        cursor.execute("INSERT INTO checkin_links (token, episode_id) VALUES (?, ?)", [token, episode_id])
        audit.record_on(cursor, by, "checkin_link", "episode", episode_id)
    return token


def _revoke_on(cursor, episode_id: str) -> int:
    return len(cursor.execute("UPDATE checkin_links SET revoked_at = current_timestamp"
                              " WHERE episode_id = ? AND revoked_at IS NULL RETURNING token", [episode_id]).fetchall())


def revoke_link(con: duckdb.DuckDBPyConnection, episode_id: str, by: str | None, viewer: str | None = None) -> bool:
    """Revoke the course's link (audited 'checkin_link', target 'revoked'); False when it had
    none. A therapist `viewer` revokes for their own courses only (ValueError otherwise)."""
    with db.write(con, episodes=[episode_id]) as cursor:
        if not _viewer_may(cursor, episode_id, viewer):
            raise ValueError("no such course of care")
        revoked = _revoke_on(cursor, episode_id)
        if revoked:
            audit.record_on(cursor, by, "checkin_link", "revoked", episode_id)
    return bool(revoked)


def link_for(con: duckdb.DuckDBPyConnection, episode_id: str, today: dt.date | None = None) -> Link | None:
    """The course's unrevoked link (live or expired, see Link.is_live), None when it has none."""
    today = today or config.today()
    cursor = con.cursor()
    try:
        row = cursor.execute("SELECT token, created_at FROM checkin_links WHERE episode_id = ? AND revoked_at IS NULL"
                             " ORDER BY created_at DESC LIMIT 1", [episode_id]).fetchone()
        if row is None:
            return None
        expires_on = expiry_day(_last_visit(cursor, episode_id))
    finally:
        cursor.close()
    return Link(row[0], episode_id, row[1], expires_on, expires_on is not None and today <= expires_on)


def live_links(con: duckdb.DuckDBPyConnection, episode_ids: Iterable[str], today: dt.date | None = None) -> dict[str, str]:
    """episode_id -> token of its live link, for the courses listed that have one."""
    found = {}
    for episode_id in episode_ids:
        link = link_for(con, episode_id, today)
        if link is not None and link.is_live:
            found[episode_id] = link.token
    return found


def _course_on(cursor, token: str, today: dt.date) -> CheckinCourse | None:
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        return None
    row = cursor.execute("SELECT l.episode_id, c.display_name, e.stretching_plan, e.condition FROM checkin_links l"
                         " JOIN episodes e ON e.episode_id = l.episode_id JOIN clients c ON c.client_id = e.client_id"
                         " WHERE l.token = ? AND l.revoked_at IS NULL", [token]).fetchone()
    if row is None:
        return None
    episode_id, display_name, plan, condition = row
    last_visit = _last_visit(cursor, episode_id)
    expires_on = expiry_day(last_visit)
    if last_visit is None or expires_on is None or today > expires_on:
        return None
    episodes, params = query.episodes_cte(ALL, episode_id=episode_id)
    status = query.query(cursor, f"WITH {episodes} SELECT status FROM chosen_episodes", {**params, "today": today})
    after_last_visit = not status.empty and status["status"].iloc[0] != "active"
    words = text.one_line(display_name or "").split()
    return CheckinCourse(episode_id, text.shorten(words[0], 40) if words else "", plan,
                         condition in config.FIRST_STEPS_CONDITIONS, bool(after_last_visit), last_visit, expires_on)


def course_for_token(con: duckdb.DuckDBPyConnection, token: str, today: dt.date | None = None,
                     sources: Iterable[str] = ()) -> CheckinCourse | None:
    """The course a live link belongs to, else None: the same None for an unknown, a malformed,
    a revoked and an expired token, and for any token asked from `sources` (browser session,
    address) that INVALID_TOKEN_THROTTLE refuses; each None counts against those sources."""
    sources = tuple(sources)
    if INVALID_TOKEN_THROTTLE.is_blocked(sources):
        return None
    cursor = con.cursor()
    try:
        course = _course_on(cursor, token, today or config.today())
    finally:
        cursor.close()
    if course is None:
        INVALID_TOKEN_THROTTLE.count_failure(sources)
    return course


def _checked(course: CheckinCourse, answers: Answers) -> dict[str, Any]:
    """The answers to store, or CheckinRefused: each in its range, and only what the page asks."""
    values: dict[str, Any] = {}
    for name, low, high, whole in (("pain", 0, 10, False), ("first_steps_pain", 0, 10, False),
                                   ("stretch_days", 0, 7, True), ("pgic", 1, len(config.PGIC_ANSWERS), True)):
        value = getattr(answers, name)
        if value is None:
            values[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high or (whole and value != int(value)):
            raise CheckinRefused("An answer is outside its range; please check and send again.")
        values[name] = int(value) if whole else float(value)
    if not course.asks_first_steps:
        values["first_steps_pain"] = None
    returned = answers.pain_returned
    if returned is not None and not isinstance(returned, bool):
        raise CheckinRefused("An answer is outside its range; please check and send again.")
    values["pain_returned"] = returned if course.asks_pain_returned else None
    if all(value is None for value in values.values()):
        raise CheckinRefused("Please answer at least one question.")
    return values


def submit(con: duckdb.DuckDBPyConnection, token: str, answers: Answers, today: dt.date | None = None,
           sources: Iterable[str] = ()) -> str:
    """Store one check-in from a client's link, dated `today`, in one db.write transaction that
    checks the token again (so a link revoked or expired meanwhile stores nothing) and audits
    'checkin' with no account (username NULL: submitted by the client) and the course id. One
    answer per course and day: a second from the link the same day replaces that day's link
    answer; a day already holding an imported answer is refused. At most
    CHECKIN_SUBMISSIONS_PER_DAY submissions per link and day. Returns the course id;
    CheckinRefused (with INVALID_LINK for a bad link) when nothing was stored."""
    today = today or config.today()
    sources = tuple(sources)
    if INVALID_TOKEN_THROTTLE.is_blocked(sources):
        raise CheckinRefused(INVALID_LINK)
    key = (_token_key(token if isinstance(token, str) else ""), today.isoformat())
    if SUBMISSION_THROTTLE.is_blocked(["/".join(key)]):
        raise CheckinRefused("This link has been used many times today; please try again tomorrow.")
    reader = con.cursor()
    try:  # the course is named to the write, so a clinic chain sends its rows (checked again inside)
        linked = reader.execute("SELECT episode_id FROM checkin_links WHERE token = ?",
                                [token if isinstance(token, str) else ""]).fetchone()
    finally:
        reader.close()
    with db.write(con, episodes=[linked[0]] if linked else []) as cursor:
        course = _course_on(cursor, token, today)
        if course is None:
            INVALID_TOKEN_THROTTLE.count_failure(sources)
            raise CheckinRefused(INVALID_LINK)
        values = _checked(course, answers)
        stored = cursor.execute("SELECT source FROM checkins WHERE episode_id = ? AND answered_on = ?",
                                [course.episode_id, today]).fetchone()
        if stored is not None and stored[0] != "link":
            raise CheckinRefused("Your answer for today is already recorded by the clinic.")
        cursor.execute("DELETE FROM checkins WHERE episode_id = ? AND answered_on = ? AND source = 'link'",
                       [course.episode_id, today])
        cursor.execute("INSERT INTO checkins (episode_id, answered_on, source, pain, first_steps_pain, stretch_days,"
                       " pgic, pain_returned) VALUES (?, ?, 'link', ?, ?, ?, ?, ?)",
                       [course.episode_id, today, values["pain"], values["first_steps_pain"], values["stretch_days"],
                        values["pgic"], values["pain_returned"]])
        audit.record_on(cursor, None, "checkin", AUDIT_TARGET, course.episode_id)
    SUBMISSION_THROTTLE.count_failure(["/".join(key)])
    return course.episode_id
