"""Sign-in before any page: the form, the signed-in user, and sign-out."""
from __future__ import annotations

import streamlit as st

from analytics import audit, auth
from ui import text

USER_KEY = "user"


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


def sign_in_form(con) -> None:
    """The sign-in page: on success the user is kept in the browser session and the app reruns
    with the pages that user may open."""
    st.title("Foot-pain clinic outcomes")
    st.subheader("Sign in")
    if not auth.has_users(con):
        st.warning("This database has no accounts yet. Create the first manager on the server with "
                   "`python -m analytics users add NAME --role manager`.")
        return
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        user = auth.sign_in(con, name.strip(), password)
        if user is None:
            st.error("Wrong user name or password, or the account is locked after repeated failures "
                     f"(it unlocks after {auth.LOCK_MINUTES} minutes).")
        else:
            st.session_state[USER_KEY] = user
            st.rerun()


def sign_out_button(con, user: auth.User) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{text.markdown(user.username)}** ({user.role})")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            audit.record(con, user.username, "sign_out", "user", user.username)
            del st.session_state[USER_KEY]
            st.rerun()

