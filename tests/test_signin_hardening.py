"""Sign-in hardening (issue 12): a `clear_cache` message cannot reopen the database or empty the
figures, refusals take the same work whether the name exists or not, a throttle per browser
session and address, sign-out after idle minutes, client view ended only by the password, and
the client viewed on Record a session audited."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest
import streamlit as st
from streamlit import config as streamlit_config
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.script_data import ScriptData
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import AppTest

from analytics import audit, auth, bootstrap, config, db, metrics
from analytics.filters import Filter
from conftest import signed_in, visit
from test_access import audit_rows, last_audit_id, sign_in
from ui import guard, signin

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD, PROGRESS = str(ROOT / "dashboard.py"), str(ROOT / "app_pages" / "client_progress.py")
RECORD = str(ROOT / "app_pages" / "record_session.py")
PASSWORD = "correct horse battery"


@pytest.fixture
def app(writable_sample_db, monkeypatch):
    """The app on a private copy of the sample clinic, and the test's own connection to it."""
    monkeypatch.setenv("CLINIC_DB", str(writable_sample_db))
    con = db.connect(writable_sample_db)
    yield con
    con.close()


def own_episodes(con, therapist_id: str = "T01", count: int = 2) -> list[str]:
    return [e for (e,) in con.execute("SELECT episode_id FROM episode_facts WHERE therapist_id = ? "
                                      "ORDER BY last_date DESC, episode_id LIMIT ?", [therapist_id, count]).fetchall()]


def click(at: AppTest, label: str) -> AppTest:
    next(button for button in at.button if button.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ---------------------------------------------------------------------------------------------
# clear_cache


@pytest.fixture
def computed(monkeypatch) -> Iterator[list[Filter]]:
    """The filters metrics.kpis was computed for (the cache is emptied first)."""
    calls: list[Filter] = []
    kpis = metrics.kpis

    def counting_kpis(con, f):
        calls.append(f)
        return kpis(con, f)

    counting_kpis.__name__ = "kpis"
    monkeypatch.setattr(metrics, "kpis", counting_kpis)
    guard.clear_metric_cache()
    yield calls
    guard.clear_metric_cache()


def test_clear_cache_from_a_signed_out_session_keeps_the_connection_and_the_figures(app_db, computed):
    """A real AppSession handles a clear_cache BackMsg (what the app menu or a rewritten message
    sends): Streamlit empties st.cache_data and st.cache_resource for everyone, but the clinic's
    connection and figures are not kept there."""
    streamlit_cached: list[int] = []

    @st.cache_data
    def streamlit_figure(x: int) -> int:  # a figure in Streamlit's own cache, to see the message work
        streamlit_cached.append(x)
        return x

    connection = guard.open_connection(str(app_db))
    figure = guard.metric(metrics.kpis, Filter())
    streamlit_figure(1)
    assert len(computed) == 1 and streamlit_cached == [1]

    streamlit_config.set_option("server.fileWatcherType", "none")

    async def send_clear_cache() -> None:
        session = AppSession(ScriptData(DASHBOARD), MemoryUploadedFileManager("/upload"), ScriptCache(), None, {})
        try:  # the session never ran the script: nobody signed in
            session.handle_backmsg(BackMsg(clear_cache=True))
        finally:
            session.shutdown()

    asyncio.run(send_clear_cache())
    streamlit_figure(1)
    assert streamlit_cached == [1, 1]  # the message did clear Streamlit's caches ...
    assert guard.open_connection(str(app_db)) is connection  # ... not the connection
    again = guard.metric(metrics.kpis, Filter())
    assert len(computed) == 1  # ... nor the figure: served, not computed again
    assert again.equals(figure)


def test_a_cached_figure_is_a_copy_and_a_write_makes_it_new(app, computed):
    """The metric cache hands out copies (a page changing its frame cannot change the cache) and
    a clinical write (a new data version) computes the figure again."""
    first = guard.metric(metrics.kpis, Filter())
    first["value"] = -1
    assert -1 not in guard.metric(metrics.kpis, Filter())["value"].tolist()
    assert len(computed) == 1
    with db.write(app) as cursor:
        audit.record_on(cursor, "test", "record", "episode", "none")
    guard.metric(metrics.kpis, Filter())
    assert len(computed) == 2


def test_the_metric_cache_keeps_the_most_recently_used_figures(app, computed, monkeypatch):
    monkeypatch.setattr(guard, "METRIC_CACHE_ENTRIES", 2)
    clinics, severe, acute = Filter(clinics=("main",)), Filter(severities=("severe",)), Filter(course_types=("acute",))
    for f in (clinics, severe, clinics, acute):  # clinics used again: severe is the least recent
        guard.metric(metrics.kpis, f)
    assert computed == [clinics, severe, acute]
    guard.metric(metrics.kpis, clinics)
    guard.metric(metrics.kpis, severe)
    assert computed == [clinics, severe, acute, severe]


# ---------------------------------------------------------------------------------------------
# The same work for every refusal


class CountingHasher(argon2.PasswordHasher):
    """The auth module's hasher, counting how often a password is checked."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    def verify(self, hash, password):  # noqa: A002 (argon2's own parameter name)
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def accounts(clinic_db, monkeypatch):
    """Three therapist accounts (one locked, one disabled) under a hasher that counts checks."""
    hasher = CountingHasher()
    monkeypatch.setattr(auth, "hasher", hasher)
    auth.unknown_user_hash.cache_clear()
    con = clinic_db([visit("E1", 1, "2025-01-06", 7, 5, therapist_id="T1")])
    for name in ("maria", "locked", "disabled"):
        auth.add_user(con, name, PASSWORD, "therapist", "T1")
    auth.set_disabled(con, "disabled")
    now = dt.datetime(2026, 1, 1, 9, 0)
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        auth.sign_in(con, "locked", "wrong password!", now=now)
    auth.THROTTLE.clear()
    yield con, hasher, now
    auth.unknown_user_hash.cache_clear()


@pytest.mark.parametrize("username, password, is_accepted", [
    ("nobody", PASSWORD, False),             # unknown name
    ("maria", "wrong password!", False),     # wrong password
    ("locked", PASSWORD, False),             # right password, locked account
    ("disabled", PASSWORD, False),           # right password, disabled account
    ("maria", PASSWORD, True),
])
def test_every_sign_in_checks_one_password_hash(accounts, username, password, is_accepted):
    """An unknown name is checked against a hash made once with the same parameters, so every
    refusal (and a success) costs one argon2 verification: the time tells nothing."""
    con, hasher, now = accounts
    before = hasher.verified
    user = auth.sign_in(con, username, password, now=now + dt.timedelta(minutes=1))
    assert (user is not None) is is_accepted
    assert hasher.verified - before == 1


def test_the_unknown_user_hash_has_the_stored_hashes_parameters(accounts):
    con, _, _ = accounts
    stored = con.execute("SELECT password_hash FROM users WHERE username = 'maria'").fetchone()[0]
    dummy = auth.unknown_user_hash()
    assert dummy != stored and dummy.startswith("$argon2id$")
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(stored)
    assert auth.unknown_user_hash() is dummy  # made once


# ---------------------------------------------------------------------------------------------
# The throttle per browser session and address


def test_one_address_cannot_lock_every_colleague_out(accounts, monkeypatch):
    """Failures spread over many accounts (fewer than five each, so no account lock) from one
    address: after config.SIGN_IN_THROTTLE_FAILURES that address is refused everything, even
    the right password, audited as throttled; another address is not; it lasts the window."""
    con, hasher, now = accounts
    attacker, colleague = ("address:10.0.0.66", "session:a"), ("address:10.0.0.7", "session:b")
    names = ["maria", "nobody", "disabled", "someone"]
    for attempt in range(config.SIGN_IN_THROTTLE_FAILURES):
        assert auth.sign_in(con, names[attempt % len(names)], "guess-" + str(attempt), now=now, sources=attacker) is None
    assert not auth.is_locked(con, "maria", now=now)  # 3 failures: below the account's lock
    before = last_audit_id(con)
    verified = hasher.verified
    assert auth.sign_in(con, "maria", PASSWORD, now=now, sources=attacker) is None
    assert auth.sign_in(con, "nobody", PASSWORD, now=now, sources=("session:new", "address:10.0.0.66")) is None
    assert hasher.verified == verified  # refused without a check
    assert audit_rows(con, before) == [("maria", "failed_sign_in", "throttled", "maria"),
                                       (None, "failed_sign_in", "throttled", None)]
    assert auth.sign_in(con, "maria", PASSWORD, now=now, sources=colleague) is not None
    later = now + dt.timedelta(minutes=config.SIGN_IN_THROTTLE_MINUTES, seconds=1)
    assert auth.sign_in(con, "maria", PASSWORD, now=later, sources=attacker) is not None
    logged = " ".join(str(cell) for row in con.execute("SELECT * FROM audit_log").fetchall() for cell in row)
    assert "guess-" not in logged and PASSWORD not in logged


def test_one_address_cannot_try_one_password_on_every_account(accounts):
    """One password sprayed over the accounts from one address: after failures on
    config.SIGN_IN_THROTTLE_ACCOUNTS different names (known or not) that address is refused,
    the right password included, long before config.SIGN_IN_THROTTLE_FAILURES tries."""
    con, hasher, now = accounts
    attacker = ("address:10.0.0.66", "session:a")
    sprayed = ["locked", "nobody", "disabled", "someone-else", "maria"][:config.SIGN_IN_THROTTLE_ACCOUNTS]
    assert config.SIGN_IN_THROTTLE_ACCOUNTS < config.SIGN_IN_THROTTLE_FAILURES
    for name in sprayed:
        assert auth.sign_in(con, name, "Summer2026!!", now=now, sources=attacker) is None
    verified = hasher.verified
    assert auth.sign_in(con, "maria", PASSWORD, now=now, sources=attacker) is None  # the next account: refused
    assert hasher.verified == verified  # without a check
    # Many tries on one name count only toward the failures, not the names: a person retrying
    # their own password from the same address is not refused sooner.
    retrying = ("address:10.0.0.7", "session:b")
    for _ in range(config.SIGN_IN_THROTTLE_FAILURES - 1):
        auth.sign_in(con, "Maria ", "wrong password!", now=now, sources=retrying)  # the same name, as typed
    assert not auth.THROTTLE.is_blocked(retrying, now)
    # The names are kept as keyed hashes only, never as typed.
    assert "Summer2026!!" not in repr(auth.THROTTLE.__dict__) and "nobody" not in repr(auth.THROTTLE.__dict__)
    later, verified = now + dt.timedelta(minutes=config.SIGN_IN_THROTTLE_MINUTES, seconds=1), hasher.verified
    assert auth.sign_in(con, "disabled", PASSWORD, now=later, sources=attacker) is None  # checked again (disabled)
    assert hasher.verified == verified + 1


def test_the_throttle_forgets_the_quietest_sources_past_its_size():
    throttle = auth.Throttle(max_failures=2, minutes=15, max_sources=3)
    now = dt.datetime(2026, 1, 1, 9, 0)
    for source in ("a", "b", "c", "d"):
        throttle.count_failure([source], now)
        throttle.count_failure([source], now)
    assert not throttle.is_blocked(["a"], now)  # forgotten, the oldest
    assert all(throttle.is_blocked([source], now) for source in ("b", "c", "d"))
    assert not throttle.is_blocked(["d"], now + dt.timedelta(minutes=15))


def test_one_browser_session_is_throttled_on_the_sign_in_form(app):
    """Failed sign-ins from one browser session: ten on two names (no account behind them, so no
    account lock), or failures on three different names, and the next try is refused even with
    the right password, and the form says why."""
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    for attempt in range(config.SIGN_IN_THROTTLE_FAILURES):
        sign_in(at, ("nobody", "no-one")[attempt % 2], f"guess-{attempt}!")
        is_last = attempt == config.SIGN_IN_THROTTLE_FAILURES - 1  # the tenth already says what follows
        assert [e.value.startswith("Too many" if is_last else "Wrong user name") for e in at.error] == [True]
    assert not auth.is_locked(app, "manager")
    before = last_audit_id(app)
    sign_in(at, "therapist1")
    assert any("Too many failed sign-ins from this browser" in e.value for e in at.error)
    assert at.text_input(key="sign_in_username") and not at.metric
    assert audit_rows(app, before) == [("therapist1", "failed_sign_in", "throttled", "therapist1")]
    assert signin.USER_KEY not in at.session_state
    # Another browser session trying one password on three names is refused at the third.
    auth.THROTTLE.clear()
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    for attempt, name in enumerate(("manager", "therapist2", "nobody")[:config.SIGN_IN_THROTTLE_ACCOUNTS], start=1):
        sign_in(at, name, "Summer2026!!")
        is_last = attempt == config.SIGN_IN_THROTTLE_ACCOUNTS
        assert [e.value.startswith("Too many" if is_last else "Wrong user name") for e in at.error] == [True]
    sign_in(at, "therapist1")
    assert any("Too many failed sign-ins from this browser" in e.value for e in at.error)
    assert signin.USER_KEY not in at.session_state


@pytest.mark.parametrize("remote_ip, sources", [
    ("10.0.0.7", ("session:test session id", "address:10.0.0.7")),
    ("127.0.0.1", ("session:test session id",)),  # this machine (Streamlit reports no address)
])
def test_the_sign_in_sources_are_the_session_and_the_address(monkeypatch, remote_ip, sources):
    """The connection's address as Streamlit reports it (st.context.ip_address; behind a proxy on
    this machine, the address it forwards). AppTest has no real connection: its client is set."""
    from streamlit.runtime import context

    connection = types.SimpleNamespace(remote_ip=remote_ip, headers=[], cookies={})
    monkeypatch.setattr(context, "_get_client_context", lambda: connection)
    at = AppTest.from_string("from ui import signin\nimport streamlit as st\nst.write(repr(signin.attempt_sources()))")
    at.run()
    assert at.markdown[0].value == repr(sources)


# ---------------------------------------------------------------------------------------------
# Idle sign-out


def test_idle_minutes_sign_out_with_a_message(app):
    at = sign_in(AppTest.from_file(DASHBOARD, default_timeout=120), "manager")
    assert at.metric
    before = last_audit_id(app)
    # A rerun within the idle time keeps the user signed in and notes the time again.
    at.session_state[signin.LAST_ACTIVE_KEY] -= (config.IDLE_MINUTES - 1) * 60
    noted = at.session_state[signin.LAST_ACTIVE_KEY]
    at.run()
    assert at.metric and at.session_state[signin.LAST_ACTIVE_KEY] > noted
    # One after more than the idle time signs out.
    at.session_state[signin.LAST_ACTIVE_KEY] -= config.IDLE_MINUTES * 60 + 1
    at.run()
    assert not at.exception
    assert not at.metric and at.text_input(key="sign_in_username")
    assert any(f"signed out after {config.IDLE_MINUTES:g} minutes" in i.value for i in at.info)
    assert signin.USER_KEY not in at.session_state
    assert audit_rows(app, before) == [("manager", "sign_out", "idle", "manager")]


def test_a_save_clicked_after_the_idle_limit_is_refused_and_signs_out(app):
    """Streamlit runs a button's callback before the script, so before the idle sign-out: the
    callback itself looks at the idle time (signin.while_signed_in)."""
    episode = own_episodes(app, count=1)[0]
    at = sign_in(AppTest.from_file(DASHBOARD, default_timeout=120), "therapist1")
    at.query_params["episode"] = episode
    at.switch_page("app_pages/record_session.py").run()
    assert not at.exception, [e.value for e in at.exception]
    visit_number = app.execute("SELECT max(visit_number) + 1 FROM sessions WHERE episode_id = ?", [episode]).fetchone()[0]
    prefix = f"session:{episode}:{visit_number}:"
    at.number_input(key=prefix + "pain_pre").set_value(5)
    at.number_input(key=prefix + "pain_post").set_value(4)
    before, checksums = last_audit_id(app), db.table_checksums(app)
    at.session_state[signin.LAST_ACTIVE_KEY] -= config.IDLE_MINUTES * 60 + 1  # the screen was left, then clicked
    next(button for button in at.button if button.label == "Save session").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert app.execute("SELECT count(*) FROM sessions WHERE episode_id = ? AND visit_number = ?",
                       [episode, visit_number]).fetchone()[0] == 0
    assert not at.success and at.text_input(key="sign_in_username")
    assert any(f"signed out after {config.IDLE_MINUTES:g} minutes" in i.value for i in at.info)
    assert audit_rows(app, before) == [("therapist1", "sign_out", "idle", "therapist1")]
    assert {name: sums for name, sums in db.table_checksums(app).items() if name != "audit_log"} == \
        {name: sums for name, sums in checksums.items() if name != "audit_log"}


# ---------------------------------------------------------------------------------------------
# Client view


def client_view(con, **params) -> AppTest:
    """Client progress turned to the client of therapist1's latest course of care."""
    at = signed_in(AppTest.from_file(PROGRESS, default_timeout=120), "therapist", "T01", username="therapist1")
    at.query_params["episode"] = own_episodes(con)[0]
    at.query_params["client_view"] = "1"
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.selectbox and at.toggle(key="therapist_client_view").value is True
    return at


def test_removing_client_view_from_the_address_does_not_leave_it(app):
    at = client_view(app)
    title = at.title[0].value
    del at.query_params["client_view"]
    at.query_params["episode"] = own_episodes(app)[1]  # and another of the therapist's clients
    at.run()
    assert not at.selectbox and not at.text_input and at.toggle(key="therapist_client_view").value is True
    assert at.title[0].value == title  # the same client, not the one in the address


def test_turning_the_switch_off_asks_for_the_password_and_a_wrong_one_counts(app):
    at = client_view(app)
    before = last_audit_id(app)
    at.toggle(key="therapist_client_view").set_value(False).run()  # or a rewritten widget value
    assert not at.selectbox and at.toggle(key="therapist_client_view").value is True
    assert at.text_input(key="client_view_password")
    at.text_input(key="client_view_password").input("guessed by the client")
    click(at, "Leave client view")
    assert [e.value.startswith("Wrong password") for e in at.error] == [True]
    assert not at.selectbox and "client_view" in at.query_params
    assert audit_rows(app, before) == [("therapist1", "failed_sign_in", "user", "therapist1")]
    assert app.execute("SELECT failed_attempts FROM users WHERE username = 'therapist1'").fetchone()[0] == 1
    # The right password ends it.
    at.text_input(key="client_view_password").input(bootstrap.DEMO_PASSWORD)
    click(at, "Leave client view")
    assert at.selectbox(key="therapist_episode_pick") and "client_view" not in at.query_params
    assert audit_rows(app, before)[-1] == ("therapist1", "sign_in", "user", "therapist1")


def test_staying_in_client_view_puts_the_form_away(app):
    at = client_view(app)
    at.toggle(key="therapist_client_view").set_value(False).run()
    click(at, "Stay in client view")
    assert not at.text_input and not at.selectbox and at.toggle(key="therapist_client_view").value is True


def test_in_client_view_the_dashboard_offers_no_other_page(app):
    at = signed_in(AppTest.from_file(DASHBOARD, default_timeout=120), "therapist", "T01", username="therapist1")
    at.query_params["episode"] = own_episodes(app)[0]
    at.query_params["client_view"] = "1"
    at.run()
    at.switch_page("app_pages/client_progress.py").run()
    assert at.toggle(key="therapist_client_view").value is True
    del at.query_params["client_view"]
    at.run()
    # The navigation holds this page only: any other page asked for (an address, a rewritten
    # message) is not there to open; AppTest refuses to switch and names the only page.
    with pytest.raises(ValueError, match=r"Known pages: \['[^']*client_progress\.py'\]"):
        at.switch_page("app_pages/overview.py")
    assert not at.metric and at.toggle(key="therapist_client_view").value is True


# ---------------------------------------------------------------------------------------------
# Record a session audits the client viewed


def test_choosing_a_client_on_record_a_session_is_audited_once(app):
    episode = own_episodes(app)[0]
    at = signed_in(AppTest.from_file(RECORD, default_timeout=120), "therapist", "T01", username="therapist1")
    at.query_params["episode"] = episode
    before = last_audit_id(app)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.run()  # a rerun of the same client is not a second view
    assert audit_rows(app, before) == [("therapist1", "view_client", "episode", episode)]


def test_the_limits_come_from_the_environment_like_the_other_settings():
    """CLINIC_SIGN_IN_THROTTLE_FAILURES, _MINUTES and CLINIC_IDLE_MINUTES, read when the program
    starts (a fresh interpreter, so this test's own modules stay as they are)."""
    env = {**os.environ, "CLINIC_SIGN_IN_THROTTLE_FAILURES": "3", "CLINIC_SIGN_IN_THROTTLE_MINUTES": "60",
           "CLINIC_IDLE_MINUTES": "5"}
    shown = subprocess.run(
        [sys.executable, "-c", "from analytics import auth, config; from ui import signin; "
         "print(auth.THROTTLE.max_failures, auth.THROTTLE.window, config.IDLE_MINUTES, signin.IDLE_WATCH_SECONDS)"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["3", "1:00:00", "5.0", "60.0"]
    assert (config.SIGN_IN_THROTTLE_FAILURES, config.SIGN_IN_THROTTLE_MINUTES, config.IDLE_MINUTES) == (10, 15, 30)
