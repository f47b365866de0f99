"""Downloads in headless Chromium against the real server: a hostile therapist name is plain text
on the chart and escaped in the CSV, the file is made and audited only when clicked, and what its
download address does for a browser that is not signed in: there is none before the click, right
after the click it is refused to another browser (and to a plain HTTP client) while the clicking
browser's own fetch works, and moments after the clicking browser has fetched the file it is
refused to anyone."""
import csv
import io
import time
import urllib.error
import urllib.request

import pytest

from analytics import audit, db
from browser import assert_no_exception, chromium_page, requires_chromium, running_dashboard, sign_in

pytestmark = [pytest.mark.browser, requires_chromium]
TIMEOUT = 60_000
GRACE_SECONDS = 6  # the server's CLINIC_DOWNLOAD_GRACE_SECONDS here (30 by default)
SERVER = {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", "CLINIC_DOWNLOAD_GRACE_SECONDS": str(GRACE_SECONDS)}
LINK = '<a href="https://evil.example">x</a>'
FORMULA = "=cmd|' /C calc'!A1"


def name_two_therapists(path) -> None:
    """Give the first two therapists of the sample clinic hostile names (older data)."""
    con = db.connect(path)
    try:
        first, second = [row[0] for row in con.execute("SELECT therapist_id FROM therapists ORDER BY 1 LIMIT 2").fetchall()]
        with db.write(con) as cursor:
            cursor.execute("UPDATE therapists SET name = ? WHERE therapist_id = ?", [LINK, first])
            cursor.execute("UPDATE therapists SET name = ? WHERE therapist_id = ?", [FORMULA, second])
    finally:
        con.close()


def fetch(url: str) -> int:
    """The HTTP status a plain client, with no browser session or cookie, gets for `url`."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_hostile_name_is_text_on_the_chart_and_escaped_in_the_audited_csv(writable_sample_db):
    name_two_therapists(writable_sample_db)
    with running_dashboard(writable_sample_db, SERVER) as url, chromium_page() as page:
        sign_in(page, f"{url}/therapists")
        page.get_by_role("heading", name="Therapists, compared fairly", exact=True).wait_for(timeout=TIMEOUT)
        page.locator(".js-plotly-plot").first.locator(".main-svg").first.wait_for(timeout=TIMEOUT)
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)
        # Plotly drew the name as literal text: no link in any chart, the tick reads the markup.
        assert page.locator(".js-plotly-plot a").count() == 0
        assert page.locator(".js-plotly-plot text", has_text=LINK).count() >= 1
        page.get_by_role("tab", name="The figures", exact=True).click()  # the table and its download
        page.get_by_role("heading", name="The figures", exact=True).wait_for(timeout=TIMEOUT)
        # Another browser, not signed in, that has opened the dashboard (so it holds a browser
        # cookie of its own), waiting for the address.
        other = page.context.browser.new_context()
        other_page = other.new_page()
        other_page.goto(url)
        other_page.get_by_role("textbox", name="User name").wait_for(timeout=TIMEOUT)
        assert any(cookie["name"] == "clinic_browser" for cookie in other.cookies())
        # No file and no address to one exists before the click.
        button = page.get_by_role("button", name="Download therapist comparison (CSV)")
        assert button.get_attribute("href") is None and page.locator("a[href*='/media/']").count() == 0

        with page.expect_download(timeout=TIMEOUT) as download:
            button.click()
        rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"), newline="")))
        names = [row[0] for row in rows[1:]]
        assert "'" + FORMULA in names and LINK in names and FORMULA not in names
        media = download.value.url
        assert "/media/" in media
        # Right after the click: the other browser and a plain client get nothing for the address,
        # the clicking browser (its cookie) gets the file again.
        during = [other.request.get(media).status, fetch(media)]
        again = page.context.request.get(media)
        assert again.status == 200 and "'" + FORMULA in again.text()
        other.close()
        time.sleep(GRACE_SECONDS + 0.5)  # the clicking browser's own fetches are over
        statuses = [fetch(media)]
        # Two more runs (here: to another page and back); Streamlit forgets a downloaded file at
        # the end of the second run after the click that no session refers to.
        for link, heading in (("Overview", "Foot-pain clinic outcomes"), ("Therapists", "Therapists, compared fairly"),
                              ("Overview", "Foot-pain clinic outcomes")):
            page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=link, exact=True).click()
            page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=TIMEOUT)
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)
            statuses.append(fetch(media))
        assert_no_exception(page)
    # Streamlit 1.67 serves /media/ without asking for the session; ui/downloads.py serves a
    # download only to the browser whose cookie it was made for, and forgets it moments after that
    # browser fetched it, so no one gets it after that, whatever page runs follow (README, Security).
    print(f"download address {media}: {during} to another browser and a plain client right after the click, "
          f"{statuses} to anyone after the grace and after each later page run")
    assert during == [404, 404]
    assert statuses == [404, 404, 404, 404]

    con = db.connect(writable_sample_db, read_only=True)  # the dashboard has stopped: the file is free
    try:
        exports = audit.entries(con, actions=("export",))
        assert list(exports["target_id"]) == ["therapist-comparison: Therapists, compared fairly (no filter)"]
        assert list(exports["username"]) == ["manager"]
    finally:
        con.close()
