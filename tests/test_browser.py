"""The real app in headless Chromium: what only a browser shows."""
import pytest

from browser import assert_no_exception, chromium_page, requires_chromium, running_dashboard, screenshot, sign_in

pytestmark = [pytest.mark.browser, requires_chromium]


def test_home_page_builds_sample_clinic_and_shows_headline_figures(tmp_path):
    with running_dashboard(tmp_path / "clinic.duckdb") as url, chromium_page() as page:
        sign_in(page, url)
        # the tile's label, not the same words in the overview's "Does treatment work?" paragraph
        page.locator('[data-testid="stMetricLabel"]', has_text="Improved after the second session").first.wait_for(timeout=60_000)
        assert page.get_by_text("sample clinic").count() >= 1
        for label in ("Clients", "Courses of care", "Sessions"):
            page.get_by_text(label, exact=True).first.wait_for(timeout=60_000)
        assert_no_exception(page)
        screenshot(page, "home")


def test_a_bookmark_to_a_fresh_server_signs_in_then_opens_where_it_pointed(writable_sample_db):
    # The first run of a fresh server is this deep link. With the pages in app_pages/ (no pages/
    # folder, so no legacy multipage mode) it runs through dashboard.py, whose st.navigation keeps
    # the address; the page shows the sign-in form in its place (ui/guard.py) and then itself.
    with running_dashboard(writable_sample_db) as url, chromium_page() as page:
        sign_in(page, url + "/courses?course=acute")
        page.get_by_role("heading", name="Acute and chronic courses").wait_for(timeout=60_000)
        assert "/courses" in page.url and "course=acute" in page.url
        # The dashboard's own menu, not a pages/ folder listing of a run without dashboard.py
        # (which lists helper modules such as "charts").
        page.get_by_role("link", name="Record a session").first.wait_for(timeout=60_000)
        assert page.get_by_text("charts", exact=True).count() == 0
        screenshot(page, "bookmark-after-sign-in")
        assert_no_exception(page)
