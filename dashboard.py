"""The dashboard: sign-in first; then the pages this user may open. The server is started as
`streamlit run app.py` (which runs this file; see app.py)."""
import streamlit as st

from ui import downloads, guard, signin

st.set_page_config(page_title="Foot-pain clinic outcomes", page_icon="🦶", layout="wide")
downloads.serve_downloads_to_their_browser()  # a download is served only to the browser that clicked (app.py)


def run() -> None:
    """Sign-in, the menu this user may open, and the page asked for."""
    if "checkin" in st.query_params:
        # A client's check-in link: that page only, before and without any sign-in, no menu and
        # no sidebar; the token alone decides what it shows (app_pages/checkin.py).
        st.navigation([st.Page("app_pages/checkin.py", title="Check-in", icon=":material/footprint:")],
                      position="hidden").run()
        return
    con = guard.database()  # a readable error before any page if the database cannot be opened
    user = signin.signed_in_user(con)  # None too after CLINIC_IDLE_MINUTES without a rerun

    client_progress = st.Page("app_pages/client_progress.py", title="Client progress", icon=":material/person_search:")
    pages = {
        "Clinic": [
            st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
            st.Page("app_pages/courses.py", title="Courses", icon=":material/timeline:"),
            st.Page("app_pages/conditions.py", title="Conditions", icon=":material/footprint:"),
            st.Page("app_pages/therapists.py", title="Therapists", icon=":material/balance:"),
            st.Page("app_pages/home_program.py", title="Home program", icon=":material/self_improvement:"),
            st.Page("app_pages/trend.py", title="Trend", icon=":material/monitoring:"),
            st.Page("app_pages/data_quality.py", title="Data quality", icon=":material/rule:"),
        ],
        "Therapist": [
            client_progress,
            st.Page("app_pages/record_session.py", title="Record a session", icon=":material/edit_note:"),
        ],
        "Front desk": [
            st.Page("app_pages/followups_due.py", title="Follow-ups due", icon=":material/event_upcoming:"),
        ],
    }
    if user is None or user.is_manager:
        pages["Clinic"].insert(5, st.Page("app_pages/lasting.py", title="Lasting results", icon=":material/event_repeat:"))
        pages["Manage"] = [
            st.Page("app_pages/import_data.py", title="Import visit logs", icon=":material/upload_file:"),
            st.Page("app_pages/audit_log.py", title="Audit log", icon=":material/policy:"),
        ]

    # Signed out, every page shows the sign-in form instead of itself (ui/guard.py) and the address
    # is left alone, so a bookmark opens where it points once signed in. The pages live in
    # app_pages/, not pages/: a folder named pages/ would switch on Streamlit's legacy multipage
    # mode, which runs a page file without this frame. Client view: the screen is turned to the
    # client, so no menu and no other page (an address or a rewritten message asking for another
    # page gets this one) until the therapist's password ends it (ui/signin.py).
    if user is not None and signin.is_client_view():
        st.navigation([client_progress], position="hidden").run()
    else:
        # expanded: every page in the menu; a manager's fourteen would otherwise hide four behind "View 4 more".
        st.navigation(pages, position="hidden" if user is None else "sidebar", expanded=True).run()


# A damaged database file ends any run, from the sign-in check on, with one message saying what
# to do instead of a traceback (ui/guard.py).
with guard.damage_told_plainly():
    run()
