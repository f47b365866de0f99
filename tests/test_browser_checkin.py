"""A client's check-in on a phone-size browser (390 px) in headless Chromium: open the personal
link, answer, send, see the thank-you; the answer is in the database and the front desk's
Follow-ups due list shows the follow-up as answered."""
import csv
import datetime as dt
import io

import pytest

from analytics import checkins, db
from browser import assert_no_exception, chromium_page, requires_chromium, running_dashboard, screenshot, sign_in
from conftest import store_visits, visit
from ui import words

pytestmark = [pytest.mark.browser, requires_chromium]
TIMEOUT = 60_000


def a_course_due_today(path) -> tuple[str, str]:
    """A completed acute plantar-fasciitis course added to the sample clinic, last seen 28 days
    ago (its 4-week follow-up is due today), with a live check-in link: (episode id, token)."""
    today = dt.date.today()
    con = db.connect(path)
    try:
        therapist = con.execute("SELECT min(therapist_id) FROM therapists").fetchone()[0]
        clinic = con.execute("SELECT clinic_id FROM therapists WHERE therapist_id = ?", [therapist]).fetchone()[0]
        store_visits(con, [visit("CHK1", number, str(today - dt.timedelta(days=28 + 7 * (3 - number))), 7 - number, 5 - number,
                                 client_id="CCHK1", client_name="Zoe Phone-Test", therapist_id=therapist, clinic_id=clinic)
                           for number in (1, 2, 3)])
        return "CHK1", checkins.make_link(con, "CHK1", by="manager")
    finally:
        con.close()


def answer(page, question: str, choice: str) -> None:
    page.locator('[data-testid="stRadio"]').filter(has_text=question).get_by_text(choice, exact=True).click()


def test_a_client_checks_in_on_a_phone_and_the_front_desk_sees_it_answered(writable_sample_db):
    episode_id, token = a_course_due_today(writable_sample_db)
    with running_dashboard(writable_sample_db) as url, chromium_page() as page:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{url}/?checkin={token}")
        page.get_by_role("heading", name=words.CHECKIN_TITLE).wait_for(timeout=TIMEOUT)
        page.get_by_text("Hello Zoe.").wait_for(timeout=TIMEOUT)
        assert page.get_by_text("Phone-Test").count() == 0  # the first name only
        assert page.locator('[data-testid="stSidebar"]').count() == 0
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert page.get_by_role("textbox", name="Password").count() == 0
        answer(page, words.CHECKIN_PAIN, "2")
        answer(page, words.CHECKIN_FIRST_STEPS, "3")
        answer(page, words.CHECKIN_STRETCH_DAYS, "6")
        answer(page, words.CHECKIN_PGIC, words.pgic_answers()[1])
        answer(page, words.CHECKIN_PAIN_RETURNED, "No")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
        screenshot(page, "checkin-phone")
        page.get_by_role("button", name=words.CHECKIN_SEND).click()
        page.get_by_text(words.CHECKIN_THANKS).wait_for(timeout=TIMEOUT)
        assert_no_exception(page)
        screenshot(page, "checkin-phone-thanks")

        # A bad link on the same server: one plain message, nothing else.
        page.goto(f"{url}/?checkin={token[::-1]}")
        page.get_by_text(checkins.INVALID_LINK).wait_for(timeout=TIMEOUT)
        assert page.get_by_role("radiogroup").count() == 0

        # The front desk (the manager) sees the follow-up answered, in the list's CSV.
        page.set_viewport_size({"width": 1400, "height": 1000})
        sign_in(page, f"{url}/followups_due")
        page.get_by_role("heading", name="Follow-ups due", exact=True).wait_for(timeout=TIMEOUT)
        with page.expect_download(timeout=TIMEOUT) as download:
            page.get_by_role("button", name="Download follow-ups due (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
        mine = [row for row in rows if row["episode_id"] == episode_id]
        assert [(row["followup"], row["state"]) for row in mine] == [("4 weeks", "answered")], mine
        assert_no_exception(page)
    con = db.connect(writable_sample_db, read_only=True)
    try:
        assert con.execute("SELECT source, pain, first_steps_pain, stretch_days, pgic, pain_returned FROM checkins"
                           " WHERE episode_id = ?", [episode_id]).fetchall() == [("link", 2.0, 3.0, 6, 2, False)]
    finally:
        con.close()
