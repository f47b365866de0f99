"""One connection shared by many threads, as the Streamlit app shares it: pages read through
analytics.metrics while therapists record sessions through analytics.records, and nothing fails,
nothing is lost and the fact tables never disagree with the visits they are built from."""
from __future__ import annotations

import datetime as dt
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from analytics import db, metrics, records
from analytics.filters import ALL, Filter
from analytics.records import EpisodeEntry, SessionEntry

READERS = 20
WRITERS = 5
# Readers run the whole rotation of page reads at least MIN_ROTATIONS times and go on until every
# writer has finished, so reads overlap the whole write period; MAX_ROTATIONS bounds the loop by
# count, never by time.
MIN_ROTATIONS = 1
MAX_ROTATIONS = 4
# Each writer: 3 new visits on a stored episode of its own, then opens a new episode (visit 1)
# and records visits 2 and 3 on it -> 6 sessions a writer, 30 in all.
VISITS_ON_STORED_EPISODE = 3
VISITS_ON_NEW_EPISODE = 3
SESSIONS_PER_WRITER = VISITS_ON_STORED_EPISODE + VISITS_ON_NEW_EPISODE
# A guard against a deadlocked test run, not a timing assertion: every thread reaches the
# barrier at once unless something is badly wrong.
BARRIER_GUARD_SECONDS = 120

CHRONIC_SINCE_DECEMBER = Filter(course_types=("chronic",), start=dt.date(2024, 12, 1), end=dt.date(2025, 6, 30))


def consistency_probe(con) -> tuple[int, int]:
    """One statement, so one snapshot: the fact tables must hold exactly the stored sessions and
    the episodes that have sessions. A reader never sees a write half-applied."""
    cursor = con.cursor()
    try:
        sessions, session_facts, episodes, episode_facts = cursor.execute("""
            SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM session_facts),
                   (SELECT count(DISTINCT episode_id) FROM sessions), (SELECT count(*) FROM episode_facts)""").fetchone()
        version = int(cursor.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0])
    finally:
        cursor.close()
    assert (session_facts, episode_facts) == (sessions, episodes)
    return sessions, version


def page_reads(episode_id: str) -> list[tuple[str, Callable[..., Any]]]:
    """The read queries behind the manager and therapist pages, one call each."""
    return [
        ("headline", partial(metrics.headline, f=ALL)),
        ("pain_trajectory", partial(metrics.pain_trajectory, f=CHRONIC_SINCE_DECEMBER, by="condition")),
        ("course_outcomes", partial(metrics.course_outcomes, f=ALL)),
        ("condition_comparison", partial(metrics.condition_comparison, f=ALL)),
        ("kpis", partial(metrics.kpis, f=CHRONIC_SINCE_DECEMBER)),
        ("client_episodes", partial(metrics.client_episodes, f=ALL, search="a")),
        ("episode_progress", partial(metrics.episode_progress, episode_id=episode_id)),
        ("episode_summary", partial(metrics.episode_summary, episode_id=episode_id)),
        ("monthly_trend", partial(metrics.monthly_trend, f=ALL)),
        ("time_to_improvement", partial(metrics.time_to_improvement, f=ALL)),
        ("data_quality", partial(metrics.data_quality, f=ALL)),
        ("home_program_effect", partial(metrics.home_program_effect, f=ALL)),
        ("consistency_probe", consistency_probe),
    ]


def test_readers_and_writers_share_one_connection(writable_sample_db):
    con = db.connect(writable_sample_db)
    try:
        # Each writer gets a stored episode of its own: the five most recently seen.
        stored = con.execute("""
            SELECT episode_id, last_date, visits FROM episode_facts ORDER BY last_date DESC, episode_id LIMIT ?""",
                             [WRITERS]).fetchall()
        therapist_id = con.execute("SELECT min(therapist_id) FROM therapists").fetchone()[0]
        sessions_before = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
        version_before = db.data_version(con)
        barrier = threading.Barrier(READERS + WRITERS, timeout=BARRIER_GUARD_SECONDS)
        failures: list[str] = []
        writers_left = [WRITERS]
        writers_done = threading.Event()
        recorded: list[tuple[int, str, int]] = []  # (session id, episode id, visit number)
        recorded_lock = threading.Lock()

        def guarded(work):
            def run(*args):
                try:
                    barrier.wait()
                    work(*args)
                except BaseException:  # noqa: BLE001 - every failure is reported by the main thread
                    failures.append(f"{threading.current_thread().name}: {traceback.format_exc()}")
            return run

        @guarded
        def reader(number: int) -> None:
            calls = page_reads(stored[number % WRITERS][0])
            seen_versions = []
            for rotation in range(1, MAX_ROTATIONS + 1):
                # Start each reader at a different point so all queries run at once.
                for name, call in calls[number % len(calls):] + calls[:number % len(calls)]:
                    result = call(con)
                    if name == "consistency_probe":
                        seen_versions.append(result[1])
                if rotation >= MIN_ROTATIONS and writers_done.is_set():
                    break
            assert seen_versions == sorted(seen_versions), "the data version went backwards"

        def writer(number: int) -> None:
            try:
                record_six_sessions(number)
            finally:
                with recorded_lock:
                    writers_left[0] -= 1
                    if not writers_left[0]:
                        writers_done.set()

        @guarded
        def record_six_sessions(number: int) -> None:
            episode_id, last_date, visits = stored[number]
            for later in range(1, VISITS_ON_STORED_EPISODE + 1):
                entry = SessionEntry(session_date=last_date + dt.timedelta(days=7 * later), pain_pre=6 - later,
                                     pain_post=5 - later)
                session_id = records.record_session(con, episode_id, entry)  # the next visit number
                with recorded_lock:
                    recorded.append((session_id, episode_id, visits + later))
            first_day = dt.date(2026, 11, 2) + dt.timedelta(days=number)
            new_episode = records.open_episode(
                con,
                EpisodeEntry(client_id=f"CW{number}", condition="heel_spur", course_type="acute",
                             therapist_id=therapist_id, client_name=f"Writer {number}"),
                SessionEntry(session_date=first_day, pain_pre=8, pain_post=6))
            session_id = int(records.stored_visits(con, new_episode).loc[0, "session_id"])  # its own cursor
            with recorded_lock:
                recorded.append((session_id, new_episode, 1))
            for visit in range(2, VISITS_ON_NEW_EPISODE + 1):
                entry = SessionEntry(session_date=first_day + dt.timedelta(days=7 * (visit - 1)), pain_pre=8 - visit,
                                     pain_post=6 - visit)
                session_id = records.record_session(con, new_episode, entry)
                with recorded_lock:
                    recorded.append((session_id, new_episode, visit))

        with ThreadPoolExecutor(max_workers=READERS + WRITERS) as pool:
            for number in range(READERS):
                pool.submit(reader, number)
            for number in range(WRITERS):
                pool.submit(writer, number)

        assert failures == []
        written = WRITERS * SESSIONS_PER_WRITER
        assert len(recorded) == written
        assert len({session_id for session_id, _, _ in recorded}) == written
        # Every recorded session is stored, on the episode it was recorded for.
        stored_sessions = {row[0]: row[1:] for row in con.execute(
            "SELECT session_id, episode_id, visit_number FROM sessions WHERE session_id IN (SELECT unnest(?))",
            [[session_id for session_id, _, _ in recorded]]).fetchall()}
        assert stored_sessions == {session_id: (episode_id, visit) for session_id, episode_id, visit in recorded}
        assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == sessions_before + written
        # Visits on each stored episode continue its numbering without gaps or repeats.
        for episode_id, _, _ in stored:
            visits = [v for (v,) in con.execute(
                "SELECT visit_number FROM sessions WHERE episode_id = ? ORDER BY visit_number", [episode_id]).fetchall()]
            assert visits == list(range(1, len(visits) + 1))
        # One write per session: the data version moved exactly once for each.
        assert db.data_version(con) == version_before + written
        for table in ("session_facts", "episode_facts"):
            for first, second in ((table, f"{table}_live"), (f"{table}_live", table)):
                assert con.execute(f"SELECT count(*) FROM (SELECT * FROM {first} EXCEPT SELECT * FROM {second})"
                                   ).fetchone()[0] == 0, f"{first} has rows {second} does not"
    finally:
        con.close()


def test_two_new_client_forms_at_once_get_two_clients(writable_sample_db):
    # Both forms were shown the same suggested id (next_id before either saved), as two people
    # opening a course for a new client at the same moment see it.
    con = db.connect(writable_sample_db)
    try:
        suggested = records.next_id(con, "clients", "C")
        therapist_id = con.execute("SELECT min(therapist_id) FROM therapists").fetchone()[0]
        barrier = threading.Barrier(2, timeout=BARRIER_GUARD_SECONDS)

        def open_course(name: str) -> str:
            barrier.wait()
            return records.open_episode(
                con, EpisodeEntry(suggested, "heel_spur", "acute", therapist_id, client_name=name),
                SessionEntry(session_date="2025-04-01", pain_pre=6, pain_post=4), by="t")

        with ThreadPoolExecutor(max_workers=2) as pool:
            episodes = dict(zip(("Ada New", "Ben New"), pool.map(open_course, ("Ada New", "Ben New")), strict=True))
        owners = {name: con.execute("SELECT c.client_id, c.display_name FROM episodes e JOIN clients c USING (client_id)"
                                    " WHERE e.episode_id = ?", [episode]).fetchone() for name, episode in episodes.items()}
        assert owners["Ada New"][1] == "Ada New" and owners["Ben New"][1] == "Ben New"
        assert owners["Ada New"][0] != owners["Ben New"][0]
        assert {owners["Ada New"][0], owners["Ben New"][0]} >= {suggested}
        audited = con.execute("SELECT count(*) FROM audit_log WHERE action = 'record' AND target_id IN (?, ?)",
                              list(episodes.values())).fetchone()[0]
        assert audited == 2
    finally:
        con.close()
