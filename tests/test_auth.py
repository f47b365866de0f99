"""Accounts, sign-in and the audit trail."""
import datetime as dt

import pytest

from analytics import audit, auth, db, records
from analytics.records import SessionEntry
from conftest import visit

PASSWORD = "correct horse battery"


@pytest.fixture
def con(clinic_db):
    return clinic_db([visit("E1", 1, "2025-01-06", 7, 5, therapist_id="T1"),
                      visit("E2", 1, "2025-01-07", 6, 4, therapist_id="T2")])


def actions(con):
    return [tuple(r) for r in con.execute("SELECT username, action, target_id FROM audit_log ORDER BY audit_id").fetchall()]


def test_password_is_stored_hashed_and_sign_in_works(con):
    auth.add_user(con, "maria", PASSWORD, "therapist", "T1")
    stored = con.execute("SELECT password_hash FROM users").fetchone()[0]
    assert PASSWORD not in stored and stored.startswith("$argon2")
    user = auth.sign_in(con, "maria", PASSWORD)
    assert user == auth.User("maria", "therapist", "T1")
    assert actions(con)[-1] == ("maria", "sign_in", "maria")


def test_wrong_password_and_unknown_user_are_refused_and_audited(con):
    auth.add_user(con, "boss", PASSWORD, "manager")
    assert auth.sign_in(con, "boss", "wrong password!") is None
    assert auth.sign_in(con, "nobody", PASSWORD) is None
    assert actions(con)[-2:] == [("boss", "failed_sign_in", "boss"), (None, "failed_sign_in", None)]


def test_five_failures_lock_the_account_for_fifteen_minutes(con):
    auth.add_user(con, "boss", PASSWORD, "manager")
    now = dt.datetime(2026, 1, 1, 9, 0)
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        assert auth.sign_in(con, "boss", "wrong password!", now=now) is None
    assert auth.is_locked(con, "boss", now=now)
    # Even the right password is refused while locked ...
    assert auth.sign_in(con, "boss", PASSWORD, now=now + dt.timedelta(minutes=14)) is None
    # ... and accepted once the lock has run out.
    assert auth.sign_in(con, "boss", PASSWORD, now=now + dt.timedelta(minutes=16)) is not None


def test_disabled_account_cannot_sign_in(con):
    auth.add_user(con, "maria", PASSWORD, "therapist", "T1")
    auth.set_disabled(con, "maria")
    assert auth.sign_in(con, "maria", PASSWORD) is None
    auth.set_disabled(con, "maria", disabled=False)
    assert auth.sign_in(con, "maria", PASSWORD) is not None


@pytest.mark.parametrize("username, password, role, therapist_id, message", [
    ("maria", "short", "therapist", "T1", "at least 10"),
    ("maria", PASSWORD, "therapist", None, "needs --therapist-id"),
    ("maria", PASSWORD, "therapist", "T9", "No therapist with id T9"),
    ("maria", PASSWORD, "owner", None, "Role must be"),
    ("  ", PASSWORD, "manager", None, "user name is required"),
])
def test_bad_account_requests_are_explained(con, username, password, role, therapist_id, message):
    with pytest.raises(auth.AccountError, match=message):
        auth.add_user(con, username, password, role, therapist_id)
    assert auth.list_users(con).empty


def test_password_change_and_list_hide_hashes(con):
    auth.add_user(con, "boss", PASSWORD, "manager")
    auth.set_password(con, "boss", "another long password")
    assert auth.sign_in(con, "boss", PASSWORD) is None
    assert auth.sign_in(con, "boss", "another long password") is not None
    listed = auth.list_users(con)
    assert "password_hash" not in listed.columns and list(listed.username) == ["boss"]


def test_audit_entries_filter_by_user_and_action(con):
    audit.record(con, "maria", "view_client", "episode", "E1")
    audit.record(con, "boss", "export", "table", "conditions")
    assert list(audit.entries(con, username="maria").action) == ["view_client"]
    assert list(audit.entries(con, actions=("export",)).username) == ["boss"]
    with pytest.raises(ValueError):
        audit.record(con, "boss", "delete_everything")


def test_account_writes_leave_the_data_version_alone(con):
    """A sign-in must not make every cached figure cold: only clinical writes bump the version."""
    version = db.data_version(con)
    auth.add_user(con, "boss", PASSWORD, "manager")
    auth.add_user(con, "maria", PASSWORD, "therapist", "T1")
    assert auth.sign_in(con, "boss", PASSWORD) is not None
    assert auth.sign_in(con, "boss", "wrong password!") is None
    assert auth.sign_in(con, "nobody", PASSWORD) is None
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        auth.sign_in(con, "maria", "wrong password!")
    assert auth.is_locked(con, "maria")
    auth.set_password(con, "maria", "another long password")
    auth.set_disabled(con, "maria")
    auth.set_disabled(con, "maria", disabled=False)
    assert db.data_version(con) == version
    # The sign-ins are still audited.
    assert ("boss", "sign_in", "boss") in actions(con) and (None, "failed_sign_in", None) in actions(con)
    # A recorded session is clinical data and does bump it.
    records.record_session(con, "E1", SessionEntry(session_date=dt.date(2025, 1, 13), pain_pre=6, pain_post=4))
    assert db.data_version(con) == version + 1


def test_at_most_two_passwords_are_checked_at_once(con, monkeypatch):
    """Eight people signing in together (right password, wrong one, unknown name): every check
    still gives its answer, and never more than CONCURRENT_PASSWORD_CHECKS argon2 checks run at
    the same time (each takes 64 MiB)."""
    import threading

    from argon2 import PasswordHasher

    running, most = [0], [0]
    lock = threading.Lock()

    class Counting(PasswordHasher):
        def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                return super().verify(hash, password)
            finally:
                with lock:
                    running[0] -= 1

    auth.add_user(con, "maria", "correct horse battery", "manager")
    monkeypatch.setattr(auth, "hasher", Counting())
    attempts = [("maria", "correct horse battery"), ("maria", "wrong password here"), ("nobody", "whatever it is")] * 3
    answers: dict[int, object] = {}

    def attempt(number: int, username: str, password: str) -> None:
        answers[number] = auth.sign_in(con, username, password, sources=[f"session {number}"])

    threads = [threading.Thread(target=attempt, args=(number, *pair)) for number, pair in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answers[number] is not None for number in range(len(attempts))] == [True, False, False] * 3
    assert most[0] == auth.CONCURRENT_PASSWORD_CHECKS
