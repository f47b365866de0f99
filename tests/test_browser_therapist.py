"""The therapist pages in headless Chromium: record a session through the real form, see it in
the chart, download the client's PDF report, and turn the screen to the client."""
import io

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from analytics import bootstrap, db, metrics
from browser import assert_no_exception, chromium_page, requires_chromium, running_dashboard, screenshot, sign_in

pytestmark = [pytest.mark.browser, requires_chromium]
TIMEOUT = 60_000


def a_client(path) -> dict:
    """The sample clinic's most recently seen acute course whose client has a name."""
    con = db.connect(path)  # as the app opens it: the in-process pages of other tests may hold it open
    try:
        episodes = metrics.client_episodes(con)
        row = episodes[(episodes["course_type"] == "acute") & episodes["client_name"].notna()].iloc[0]
        visits = int(row["visits"])
        return {"episode_id": row["episode_id"], "name": row["client_name"], "visits": visits}
    finally:
        con.close()


def wait_until_idle(page) -> None:
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)


def test_record_a_session_then_download_the_report_and_show_the_client(writable_sample_db):
    client = a_client(writable_sample_db)
    episode, next_visit = client["episode_id"], client["visits"] + 1
    with running_dashboard(writable_sample_db) as url, chromium_page() as page:
        # Open the dashboard first, as a person does. (A deep link to a fresh server opens in
        # dashboard.py's navigation too; test_browser opens one.)
        sign_in(page, url)
        page.get_by_role("heading", name="Foot-pain clinic outcomes", exact=True).wait_for(timeout=TIMEOUT)
        sign_in(page, f"{url}/record_session?episode={episode}")
        page.get_by_role("heading", name="Record a session", exact=True).wait_for(timeout=TIMEOUT)
        form = page.locator('[data-testid="stForm"]').first
        form.get_by_label("Pain before the session", exact=True).wait_for(timeout=TIMEOUT)
        form.get_by_label("Pain before the session", exact=True).fill("1.5")
        form.get_by_label("Pain after the session", exact=True).fill("0.5")
        form.get_by_role("button", name="Save session").click()
        page.get_by_text(f"Visit {next_visit} saved.").wait_for(timeout=TIMEOUT)
        wait_until_idle(page)
        assert_no_exception(page)
        # The browser shows the next visit's empty form, not the scores just saved.
        # (The success message comes first in the run; wait for the form of the run to be drawn.)
        form = page.locator('[data-testid="stForm"]').first
        expect(form.get_by_label("Visit number", exact=True)).to_have_value(str(next_visit + 1), timeout=TIMEOUT)
        expect(form.get_by_label("Pain before the session", exact=True)).to_have_value("", timeout=TIMEOUT)
        screenshot(page, "therapist-record-session")

        sign_in(page, f"{url}/client_progress?episode={episode}")
        page.get_by_role("heading", name="Report for the client").wait_for(timeout=TIMEOUT)
        page.locator(".js-plotly-plot").first.locator(".main-svg").first.wait_for(timeout=TIMEOUT)
        wait_until_idle(page)
        with page.expect_download(timeout=TIMEOUT) as download:
            page.get_by_role("button", name="Download the report (PDF)").click()
        data = download.value.path().read_bytes()
        assert data.startswith(b"%PDF")
        reader = PdfReader(io.BytesIO(data))
        assert len(reader.pages) == 1 and client["name"] in reader.pages[0].extract_text()
        assert_no_exception(page)
        screenshot(page, "therapist-client-progress")

        # Turned to the client: no menu, no picker, the client's own name in large type.
        sign_in(page, f"{url}/client_progress?episode={episode}&client_view=1")
        page.get_by_role("heading", name=f"{client['name']}: your progress").wait_for(timeout=TIMEOUT)
        page.locator(".js-plotly-plot").first.locator(".main-svg").first.wait_for(timeout=TIMEOUT)
        wait_until_idle(page)
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert page.get_by_label("Find a client").count() == 0
        assert_no_exception(page)
        screenshot(page, "therapist-client-view")

        # Turning the switch off asks for the therapist's password; a wrong one keeps client view.
        page.get_by_text("Client view", exact=True).click()
        password = page.get_by_label("Your password")
        password.wait_for(timeout=TIMEOUT)
        password.fill("guessed by the client")
        page.get_by_role("button", name="Leave client view").click()
        page.get_by_text("Wrong password").wait_for(timeout=TIMEOUT)
        assert page.get_by_label("Find a client").count() == 0
        screenshot(page, "therapist-client-view-password")
        page.get_by_label("Your password").fill(bootstrap.DEMO_PASSWORD)
        page.get_by_role("button", name="Leave client view").click()
        page.get_by_label("Find a client").wait_for(timeout=TIMEOUT)
        assert_no_exception(page)

        # A reload is a new browser session: signed out (README: "A reload signs out, by choice").
        page.reload()
        page.get_by_role("textbox", name="User name").wait_for(timeout=TIMEOUT)
        assert page.get_by_label("Find a client").count() == 0

    con = db.connect(writable_sample_db, read_only=True)  # the dashboard has stopped: the file is free
    try:
        stored = metrics.episode_progress(con, episode).set_index("visit_number")
        assert (stored.loc[next_visit, "pain_pre"], stored.loc[next_visit, "pain_post"]) == (1.5, 0.5)
    finally:
        con.close()
    # Nothing identifying reached the server's log: no password, no client name.
    log = (writable_sample_db.parent / "streamlit.log").read_text(errors="replace")
    assert bootstrap.DEMO_PASSWORD not in log
    assert client["name"] not in log


def test_a_screen_left_in_client_view_signs_out_by_itself(writable_sample_db):
    """With a twelve-second idle time (CLINIC_IDLE_MINUTES=0.2) and no click after the sign-in, the
    open page looks at the idle time by itself and goes back to the sign-in form, saying why; the
    client's name is gone from the screen."""
    client = a_client(writable_sample_db)
    with running_dashboard(writable_sample_db, {"CLINIC_IDLE_MINUTES": "0.2"}) as url, chromium_page() as page:
        sign_in(page, f"{url}/client_progress?episode={client['episode_id']}&client_view=1")
        page.get_by_role("heading", name=f"{client['name']}: your progress").wait_for(timeout=TIMEOUT)
        page.get_by_text("signed out after 0.2 minutes without activity").wait_for(timeout=TIMEOUT)
        page.get_by_role("textbox", name="User name").wait_for(timeout=TIMEOUT)
        assert page.get_by_text(client["name"]).count() == 0
        assert not page.locator('[data-testid="stSidebar"]').is_visible()  # nothing but the sign-in form
        assert_no_exception(page)
        screenshot(page, "therapist-idle-signed-out")
