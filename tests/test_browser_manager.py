"""The manager pages in headless Chromium: sidebar navigation, charts that really render, the
filter kept in the address across pages, and a CSV download a spreadsheet can open safely."""
import csv
import io

import pytest

from benchmarks import chain as benchmark
from browser import assert_no_exception, chromium_page, requires_chromium, running_dashboard, screenshot, sign_in
from conftest import with_sample_checkins

pytestmark = [pytest.mark.browser, requires_chromium]

# Sidebar link -> (heading on the page, charts it draws): the benchmark's pages (their chart counts held to the pages' own by tests/test_benchmarks.py)
# and the two it does not time.
PAGES = {**benchmark.PAGES, "Lasting results": ("Lasting results", 5), "Trend": ("Trend by month", 3)}
TIMEOUT = 60_000
# Without the file watcher a source edit during the run cannot put "Source file changed" into the
# status widget, which wait_for_page relies on to tell that a run has finished.
SERVER = {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}


def wait_for_page(page, heading: str, charts: int) -> None:
    """The page's heading is shown and all its Plotly charts have drawn their SVG."""
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=TIMEOUT)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)
    if charts:
        page.locator(".js-plotly-plot").nth(charts - 1).locator(".main-svg").first.wait_for(timeout=TIMEOUT)


def test_every_manager_page_through_the_sidebar_draws_its_charts(writable_sample_db):
    with_sample_checkins(writable_sample_db)  # the Lasting results page needs them
    with running_dashboard(writable_sample_db, SERVER) as url, chromium_page() as page:
        page.set_viewport_size({"width": 1400, "height": 2400})  # Streamlit scrolls inside the page
        sign_in(page, url)
        for link, (heading, charts) in PAGES.items():
            page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=link, exact=True).click()
            wait_for_page(page, heading, charts)
            assert page.locator(".js-plotly-plot").count() == charts
            assert_no_exception(page)
            screenshot(page, f"manager-{link.lower().replace(' ', '-')}")


def test_a_bookmarked_filter_survives_navigation_and_downloads_are_escaped(writable_sample_db):
    query = "?course=acute&condition=plantar_fasciitis&from=2025-01-01&to=2025-12-31"
    with running_dashboard(writable_sample_db, SERVER) as url, chromium_page() as page:
        sign_in(page, url + "/" + query)
        wait_for_page(page, "Foot-pain clinic outcomes", 1)
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Courses", exact=True).click()
        wait_for_page(page, "Acute and chronic courses", 1)
        page.wait_for_url("**/courses?*course=acute*", timeout=TIMEOUT)
        for parameter in ("condition=plantar_fasciitis", "from=2025-01-01", "to=2025-12-31"):
            assert parameter in page.url
        # One section at a time, the open one in the address beside the filters.
        page.get_by_role("tab", name="Time to improvement", exact=True).click()
        page.get_by_text("Acute: half improved by visit", exact=True).wait_for(timeout=TIMEOUT)
        assert page.get_by_text("Chronic: half improved by visit", exact=True).count() == 0  # only acute courses
        page.wait_for_url("**section=Time*", timeout=TIMEOUT)
        assert "course=acute" in page.url
        page.get_by_role("tab", name="The figures", exact=True).click()
        with page.expect_download(timeout=TIMEOUT) as download:
            page.get_by_role("button", name="Download course outcomes (CSV)").click()
        rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"), newline="")))
        assert rows[0][:2] == ["course_type", "episodes"] and rows[1][0] == "acute"
        assert_no_exception(page)
        screenshot(page, "manager-courses-filtered")


def test_an_invalid_address_shows_a_warning_not_an_error(writable_sample_db):
    with running_dashboard(writable_sample_db, SERVER) as url, chromium_page() as page:
        sign_in(page, url + "/?condition=gout&from=yesterday")
        page.get_by_text("Ignored condition=").first.wait_for(timeout=TIMEOUT)
        wait_for_page(page, "Foot-pain clinic outcomes", 1)
        assert page.get_by_text("Ignored from=").count() == 1
        assert_no_exception(page)
