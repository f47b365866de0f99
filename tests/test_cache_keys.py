"""The server-wide caches of ui/guard.py: a figure is served again only for the same filter
(viewer included), data version and day; the sidebar's choices once per data version."""
from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterator

import pandas as pd
import pytest

from analytics import config, db, metrics, options
from analytics.filters import Filter
from conftest import store_visits, visit
from ui import guard


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator:
    """The app's connection to a new clinic database (E1: one visit on 6 January; E2: one on
    1 March), with every cache emptied before and after."""
    path = tmp_path / "clinic.duckdb"
    con = db.connect(path)
    store_visits(con, [visit("E1", 1, "2025-01-06", 7, 5), visit("E2", 1, "2025-03-01", 8, 6, therapist_id="T2")])
    con.close()
    monkeypatch.setenv("CLINIC_DB", str(path))
    guard.clear_metric_cache()
    yield guard.open_connection(str(path))
    guard.clear_metric_cache()
    guard.close_connection(str(path))


def counted(monkeypatch, module, name: str) -> list:
    """Replace module.name with a wrapper that records each call's arguments and runs it."""
    calls: list = []
    original = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args[1:])
        return original(*args, **kwargs)

    counting.__name__ = name
    monkeypatch.setattr(module, name, counting)
    return calls


def statuses(frame: pd.DataFrame) -> dict[str, int]:
    return {column: int(frame[column].sum()) for column in ("completed", "active", "lost_to_follow_up") if column in frame}


def test_a_figure_cached_yesterday_is_computed_again_today(served, monkeypatch):
    """Course status counts back from the earlier of the latest session and today: on 10 January
    E1 (seen on the 6th) is active; by June, counted from 1 March, it is lost to follow-up."""
    calls = counted(monkeypatch, metrics, "course_outcomes")
    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 1, 10))
    january = guard.metric(metrics.course_outcomes, Filter())
    assert guard.metric(metrics.course_outcomes, Filter()).equals(january) and len(calls) == 1  # served again
    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 6, 1))
    june = guard.metric(metrics.course_outcomes, Filter())
    assert len(calls) == 2
    assert (statuses(january), statuses(june)) == ({"completed": 0, "active": 2, "lost_to_follow_up": 0},
                                                   {"completed": 0, "active": 1, "lost_to_follow_up": 1})
    assert june.equals(metrics.course_outcomes(served, Filter()))


def test_a_therapists_figure_is_computed_for_that_therapist(served, monkeypatch):
    """Every cached figure counts the courses that are not the viewer's (small-cell
    suppression), so the manager's figure is never handed to a therapist."""
    calls = counted(monkeypatch, metrics, "course_outcomes")
    manager = guard.metric(metrics.course_outcomes, Filter())
    therapist = guard.metric(metrics.course_outcomes, Filter(viewer_therapist="T1"))
    assert [call[0].viewer_therapist for call in calls] == [None, "T1"]
    assert therapist.equals(metrics.course_outcomes(served, Filter(viewer_therapist="T1")))
    assert not therapist.equals(manager)  # one colleague's course is hidden from T1


def test_the_sidebar_choices_are_read_once_per_data_version(served, monkeypatch):
    calls = counted(monkeypatch, options, "filter_options")
    first = guard.filter_options(served)
    assert guard.filter_options(served) == first and len(calls) == 1
    assert first.conditions == ("plantar_fasciitis",)
    store_visits(served, [visit("E3", 1, "2025-03-02", 6, 4, condition="bunion")])
    after = guard.filter_options(served)
    assert len(calls) == 2 and after.conditions == ("plantar_fasciitis", "bunion")


def test_sessions_asking_at_once_share_one_computation(served, monkeypatch):
    """Five sessions open the same page at the same moment: the figure is computed once and the
    others wait for it."""
    import threading
    import time

    calls = []
    original = metrics.course_outcomes

    def slow(con, f):
        calls.append(f)
        time.sleep(0.3)  # long enough for every thread to ask while it runs
        return original(con, f)

    slow.__name__ = "course_outcomes"
    monkeypatch.setattr(metrics, "course_outcomes", slow)
    results: list[pd.DataFrame] = []
    threads = [threading.Thread(target=lambda: results.append(guard.metric(metrics.course_outcomes, Filter())))
               for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 5
    assert all(result.equals(original(served, Filter())) for result in results)


def test_the_overview_a_manager_opens_first_was_computed_before_anyone_signed_in(writable_sample_db, monkeypatch):
    """With the warm-up on, opening the database computes the Overview's default figures in the
    background: the first manager's Overview then computes no figure at all."""
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT, signed_in

    path = str(writable_sample_db)
    monkeypatch.setenv("CLINIC_DB", path)
    monkeypatch.setenv("CLINIC_WARM_UP", "on")
    guard.clear_metric_cache()
    try:
        guard.open_connection(path)
        guard.wait_for_background(timeout=120)
        computed: list[str] = []  # every metrics function called from now on
        for name, function in inspect.getmembers(metrics, inspect.isfunction):
            monkeypatch.setattr(metrics, name, _recording(function, name, computed))
        at = signed_in(AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120))
        at.run()
        assert not at.exception and at.title[0].value == "Foot-pain clinic outcomes"
        assert computed == []  # every figure of the page was ready
    finally:
        guard.clear_metric_cache()
        guard.close_connection(path)


def _recording(function, name: str, computed: list):
    def recording(*args, **kwargs):
        computed.append(name)
        return function(*args, **kwargs)
    recording.__name__ = name
    return recording


def test_the_course_a_search_found_is_computed_before_it_is_picked(writable_sample_db, monkeypatch):
    """A therapist's search that finds one course has its view computed in the background: the
    pick that follows computes nothing, and the view is the one computed directly."""
    from streamlit.testing.v1 import AppTest

    from analytics import client
    from conftest import ROOT, signed_in

    path = str(writable_sample_db)
    monkeypatch.setenv("CLINIC_DB", path)
    monkeypatch.setenv("CLINIC_WARM_UP", "on")
    guard.clear_metric_cache()
    try:
        con = guard.open_connection(path)
        guard.wait_for_background(timeout=120)
        found = con.execute("SELECT client_id, min(episode_id) FROM episodes WHERE therapist_id = 'T01' "
                            "GROUP BY client_id HAVING count(*) = 1 ORDER BY client_id LIMIT 1").fetchone()
        assert found is not None  # a client of T01's with one course
        client_id, episode_id = found
        at = signed_in(AppTest.from_file(str(ROOT / "app_pages" / "client_progress.py"), default_timeout=120),
                       "therapist", "T01")
        at.run()
        at.text_input(key="therapist_client_search").set_value(client_id).run()
        guard.wait_for_background(timeout=120)
        computed: list[str] = []
        monkeypatch.setattr(client, "episode_view", _recording(client.episode_view, "episode_view", computed))
        at.selectbox(key="therapist_episode_pick").set_value(episode_id).run()
        assert not at.exception and computed == []
        assert " · " in at.subheader[0].value  # the course's heading: name · condition · sessions · status
        viewer = Filter(viewer_therapist="T01")
        assert guard.episode_view(episode_id, viewer).summary == client.episode_view(con, episode_id, viewer).summary
    finally:
        guard.clear_metric_cache()
        guard.close_connection(path)
