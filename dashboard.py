"""Entry point: `streamlit run dashboard.py`. Sign-in first; then the pages this user may open."""
import streamlit as st

from pages import _app, _signin

st.set_page_config(page_title="Foot-pain clinic outcomes", page_icon="🦶", layout="wide")
_app.database()  # a readable error before any page if the database cannot be opened
st.session_state[_app.ENTERED_VIA_DASHBOARD] = True
user = _signin.current_user()

pages = {
    "Clinic": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/courses.py", title="Courses", icon=":material/timeline:"),
        st.Page("pages/conditions.py", title="Conditions", icon=":material/footprint:"),
        st.Page("pages/therapists.py", title="Therapists", icon=":material/balance:"),
        st.Page("pages/home_program.py", title="Home program", icon=":material/self_improvement:"),
        st.Page("pages/data_quality.py", title="Data quality", icon=":material/rule:"),
    ],
    "Therapist": [
        st.Page("pages/client_progress.py", title="Client progress", icon=":material/person_search:"),
        st.Page("pages/record_session.py", title="Record a session", icon=":material/edit_note:"),
    ],
}
if user is None or user.is_manager:
    pages["Manage"] = [
        st.Page("pages/import_data.py", title="Import visit logs", icon=":material/upload_file:"),
        st.Page("pages/audit_log.py", title="Audit log", icon=":material/policy:"),
    ]


# Signed out, every page shows the sign-in form instead of itself (pages/_app.py), so a bookmark
# opens where it points once signed in. Client view: the screen is turned to the client, so no
# menu of other pages.
client_view = st.query_params.get("client_view") == "1"
page = st.navigation(pages, position="hidden" if user is None or client_view else "sidebar")
# After st.navigation, so Streamlit knows this app's pages before any switch.
_signin.go_to_remembered_destination(pages)
page.run()
