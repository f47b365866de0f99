"""Sign-in before any page: the form, the signed-in user, sign-out (by the button or after
CLINIC_IDLE_MINUTES without a click), and client view, which only the signed-in user's password
ends.

Everything here lives in the browser session's st.session_state, on the server: a page reload
starts a new session and asks to sign in again. That is a choice, not a limit of Streamlit 1.67:
st.login is for OpenID Connect providers only, but app.py's st.App could set a session cookie the
page reads back (st.context.cookies). It is not built, so that a reload or a closed tab on a
shared tablet signs out (README, Security: "A reload signs out, by choice")."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analytics import audit, auth, config
from ui import text

P = ParamSpec("P")
USER_KEY = "user"
LAST_ACTIVE_KEY = "_signed_in_last_active"  # time.monotonic() of the signed-in user's last rerun
CLIENT_VIEW_KEY = "_client_view"             # True while the screen is turned to a client
CLIENT_VIEW_PARAM = "client_view"            # ?client_view=1 turns client view on (never off)
_SIGNED_OUT_NOTICE = "_signed_out_notice"
# Signed out: no sidebar, not even the empty one a run signed in may leave behind after an idle
# sign-out (a constant, no data in it).
SIGNED_OUT_CSS = ("<style>[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl']"
                  " {display: none;}</style>")


def current_user() -> auth.User | None:
    return st.session_state.get(USER_KEY)


def username() -> str | None:
    user = current_user()
    return user.username if user is not None else None


def viewer_therapist() -> str | None:
    """The therapist whose own clients the signed-in user sees by name: a therapist's own id;
    None for a manager (or nobody signed in), who sees everyone."""
    user = current_user()
    return user.therapist_id if user is not None and not user.is_manager else None


def signed_in_user(con) -> auth.User | None:
    """The signed-in user, after noting this rerun as their latest activity; None when nobody is
    signed in, or when the last rerun was more than config.IDLE_MINUTES ago: that signs out
    (audited as sign_out, target type "idle") and the sign-in form says why."""
    user = current_user()
    if user is None:
        return None
    if _is_idle():
        audit.record(con, user.username, "sign_out", "idle", user.username)
        _forget_user()
        st.session_state[_SIGNED_OUT_NOTICE] = (f"You were signed out after {config.IDLE_MINUTES:g} minutes "
                                                "without activity. Sign in again to go on.")
        return None
    st.session_state[LAST_ACTIVE_KEY] = time.monotonic()
    return user


def while_signed_in(callback: Callable[P, None]) -> Callable[P, None]:
    """A widget callback (a save, a link made) that acts only for a user still signed in and not
    idle. Streamlit runs callbacks before the script, so before signed_in_user can sign an idle
    user out: a save clicked after config.IDLE_MINUTES (before the idle watch has noticed) would
    otherwise be stored under the expired session. Refused, it does nothing, and the run that
    follows signs out and says why."""
    @functools.wraps(callback)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        if current_user() is None or _is_idle():
            return
        callback(*args, **kwargs)
    return guarded


def _is_idle() -> bool:
    last = st.session_state.get(LAST_ACTIVE_KEY)
    return last is not None and time.monotonic() - last > config.IDLE_MINUTES * 60


# How often an open page looks at the idle time by itself: every minute, sooner for a short one.
IDLE_WATCH_SECONDS = max(1.0, min(60.0, config.IDLE_MINUTES * 60 / 4))


@st.fragment(run_every=IDLE_WATCH_SECONDS)
def idle_watch() -> None:
    """Draws nothing; reruns by itself (not counted as activity) and, once the signed-in user has
    been idle too long, reruns the whole app, which signs out (signed_in_user). So a screen left
    open clears itself without waiting for the next click."""
    if current_user() is not None and _is_idle():
        st.rerun(scope="app")


def _forget_user() -> None:
    """Sign out: forget everything this browser session held (the user, client view, the chosen
    client, what was typed), so whoever signs in next starts afresh."""
    st.session_state.clear()


def attempt_sources() -> tuple[str, ...]:
    """Where a sign-in attempt comes from, for auth.THROTTLE: this browser session and, when
    known, the client's address. Behind a reverse proxy on the same machine the address is the
    one the proxy forwards (X-Forwarded-For, trusted from 127.0.0.1 by Streamlit's server); a
    direct connection from this machine has none."""
    context = get_script_run_ctx()
    sources = [f"session:{context.session_id}"] if context is not None else []
    if st.context.ip_address:
        sources.append(f"address:{st.context.ip_address}")
    return tuple(sources)


def refusal_message(asked: str = "user name or password") -> str:
    """Why a sign-in or a password was refused, worded for the person who typed `asked`."""
    if auth.THROTTLE.is_blocked(attempt_sources()):
        return (f"Too many failed sign-ins from this browser or network address: try again in "
                f"{config.SIGN_IN_THROTTLE_MINUTES} minutes.")
    return (f"Wrong {asked}, or the account is locked after repeated failures "
            f"(it unlocks after {auth.LOCK_MINUTES} minutes).")


def sign_in_form(con) -> None:
    """The sign-in page: on success the user is kept in the browser session and the app reruns
    with the pages that user may open."""
    st.title("Foot-pain clinic outcomes")
    st.subheader("Sign in")
    st.markdown(SIGNED_OUT_CSS, unsafe_allow_html=True)
    if not auth.has_users(con):
        st.warning("This database has no accounts yet. Create the first manager on the server with "
                   "`python -m analytics users add NAME --role manager`.")
        return
    notice = st.session_state.pop(_SIGNED_OUT_NOTICE, None)
    if notice:
        st.info(notice, icon=":material/schedule:")
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        user = auth.sign_in(con, name.strip(), password, sources=attempt_sources())
        if user is None:
            st.error(refusal_message())
        else:
            st.session_state[USER_KEY] = user
            st.session_state[LAST_ACTIVE_KEY] = time.monotonic()
            st.rerun()


def sign_out_button(con, user: auth.User) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{text.markdown(user.username)}** ({user.role})")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            audit.record(con, user.username, "sign_out", "user", user.username)
            _forget_user()
            st.rerun()


def is_client_view() -> bool:
    """Whether the screen is turned to a client. ?client_view=1 in the address turns it on; only
    leave_client_view() turns it off, so neither a removed address parameter nor a rewritten
    widget value hands the client the menu or the client list."""
    if st.query_params.get(CLIENT_VIEW_PARAM) == "1":
        st.session_state[CLIENT_VIEW_KEY] = True
    return bool(st.session_state.get(CLIENT_VIEW_KEY))


def enter_client_view() -> None:
    st.session_state[CLIENT_VIEW_KEY] = True
    st.query_params[CLIENT_VIEW_PARAM] = "1"


def leave_client_view(con, password: str) -> bool:
    """End client view when `password` is the signed-in user's: checked like a sign-in (audited;
    a wrong one counts toward the account's lock and the throttle). False when refused."""
    user = current_user()
    if user is None or auth.sign_in(con, user.username, password, sources=attempt_sources()) is None:
        return False
    st.session_state[CLIENT_VIEW_KEY] = False
    if CLIENT_VIEW_PARAM in st.query_params:
        del st.query_params[CLIENT_VIEW_PARAM]
    return True

