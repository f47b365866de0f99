"""Entry point: `streamlit run dashboard.py`."""
import streamlit as st

st.set_page_config(page_title="Foot-pain clinic outcomes", page_icon="🦶", layout="wide")
st.navigation({
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
}, position="hidden" if st.query_params.get("client_view") == "1" else "sidebar").run()
