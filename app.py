"""The server: `streamlit run app.py`. The dashboard itself is dashboard.py; this public st.App
(Streamlit 1.67) adds one middleware, which gives each browser a cookie of its own so a download
is served only to the browser that clicked (ui/downloads.py). Started as `streamlit run
dashboard.py` instead, the dashboard works but refuses every download."""
import streamlit as st
from starlette.middleware import Middleware

from ui.downloads import BrowserCookie

app = st.App("dashboard.py", middleware=[Middleware(BrowserCookie)])
