"""Every page at a laptop's, a tablet's and a phone's width (1440, 820 and 390 px) in headless
Chromium: no sideways scrolling, no legend over an axis title, the client-view switch's label
whole and the sidebar gone in client view, no error; every chart title and subtitle inside its
figure and no panel titles overlapping, at every width. One server, one browser, one signed-in
tab per role; at 390 px the key column of each page's main table is in view; a full-length
screenshot of each page at each width goes to test-artifacts/ as page-width.png. With UPDATE_SCREENSHOTS=1 the laptop and phone pictures the README shows are
written to docs/screenshots/ as well."""
import os
import shutil

import pytest

from browser import ROOT, assert_no_exception, chromium_page, requires_chromium, running_dashboard, screenshot, sign_in
from conftest import with_sample_checkins

pytestmark = [pytest.mark.browser, requires_chromium]
TIMEOUT = 60_000
SERVER = {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
WIDTHS = (1440, 820, 390)
HEIGHT = 1600
README_SHOTS = ROOT / "docs" / "screenshots"
# Chart titles are single strings: Plotly never wraps them, and the names-as-text tests forbid
# the <br> that would (no markup in any figure string). So titles are short and what a chart
# rests on goes in its subtitle (ui/charts.py _layout): both must fit a phone.

# Sidebar link -> heading on the page, for the manager.
MANAGER_PAGES = {
    "Overview": "Foot-pain clinic outcomes",
    "Courses": "Acute and chronic courses",
    "Conditions": "Conditions",
    "Therapists": "Therapists, compared fairly",
    "Home program": "Home stretching program",
    "Lasting results": "Lasting results",
    "Trend": "Trend by month",
    "Data quality": "Data quality",
    "Follow-ups due": "Follow-ups due",
    "Import visit logs": "Import visit logs",
    "Audit log": "Audit log",
}

# At 390 px the table a page is for must draw its key column, pinned first or straight after the
# column naming the row (tables are canvases: the headers they draw are listed, in order, in their
# accessibility tree, which holds only the columns in view). Header -> the last place it may take.
KEY_COLUMNS = {
    "data-quality": ("Findings", 1),
    "audit-log": ("What happened", 1),
    "conditions": ("Acute: improved after session 2 (%)", 1),
    "courses-length-and-ending": ("Courses", 2),  # course type (pinned), reason, then the count
}
# Pages in sections (ui.sections): each section after the first, with the header it opens with.
SECTION_HEADERS = {
    "Courses": {"Time to improvement": "How soon clients improve",
                "Length and ending": "How long courses last and how they end",
                "Relief and function": "Relief within a session is not the same as change over the course",
                "The figures": "The figures"},
    "Therapists": {"Funnel plot": "Funnel plot", "The figures": "The figures"},
    "Conditions": {"Both pooled": "Both course types pooled", "Pain by visit": "Pain by visit for each condition"},
}
DRAWN_HEADERS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(
  grid => [...grid.querySelectorAll('th[role=columnheader]')].map(th => th.textContent))"""
# The full page's height: Streamlit scrolls its main area, not the document, so a full-page
# screenshot sees only the viewport unless the viewport is made as tall as the page.
PAGE_HEIGHT = """() => { const main = document.querySelector('[data-testid="stMain"]');
  return Math.ceil(main ? main.scrollHeight : document.documentElement.scrollHeight); }"""

# What the page measures, as one JSON-able object, in the browser.
MEASURE = """() => {
  const main = document.querySelector('[data-testid="stMain"]') || document.documentElement;
  const inside = (inner, outer) => inner.left >= outer.left - 1 && inner.right <= outer.right + 1
                                   && inner.top >= outer.top - 1 && inner.bottom <= outer.bottom + 1;
  const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const charts = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const svg = plot.querySelector('.main-svg');
    if (!svg) continue;
    const box = svg.getBoundingClientRect();
    const texts = [...plot.querySelectorAll('.gtitle, .gtitle-subtitle, .annotation-text')].filter(t => t.textContent.trim());
    const titles = texts.map(t => ({text: t.textContent, inside: inside(t.getBoundingClientRect(), box),
                                   box: [t.getBoundingClientRect(), box].map(r => [r.left, r.top, r.right, r.bottom].map(Math.round))}));
    const legend = plot.querySelector('.legend');
    const axisTitles = [...plot.querySelectorAll('.xtitle, .ytitle')];
    const legendOverAxis = legend ? axisTitles.some(a => overlaps(legend.getBoundingClientRect(),
                                                                  a.getBoundingClientRect())) : false;
    const subplotTitles = [...plot.querySelectorAll('.annotation-text, .gtitle-subtitle')].map(t => t.getBoundingClientRect());
    let titlesOverlap = false;
    for (let i = 0; i < subplotTitles.length; i++)
      for (let j = i + 1; j < subplotTitles.length; j++)
        if (overlaps(subplotTitles[i], subplotTitles[j])) titlesOverlap = true;
    // Point labels (a funnel's names) drawn whole inside the figure, not cut at its edge.
    const pointsCut = [...plot.querySelectorAll('.textpoint')].filter(t => t.textContent.trim())
      .filter(t => !inside(t.getBoundingClientRect(), box)).map(t => t.textContent);
    charts.push({titles, legendOverAxis, titlesOverlap, pointsCut});
  }
  return {
    documentScroll: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    mainScroll: main.scrollWidth, mainWidth: main.clientWidth, charts,
  };
}"""


def wait_until_drawn(page, heading: str) -> None:
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=TIMEOUT)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)
    plots = page.locator(".js-plotly-plot")
    if plots.count():
        plots.last.locator(".main-svg").first.wait_for(timeout=TIMEOUT)


def open_page(page, link: str, heading: str) -> None:
    """Click the page's link in the sidebar, opening the sidebar first where a narrow screen folded
    it (the phone's width the last page ended at shows the button that does), then back to a laptop."""
    nav = page.locator('[data-testid="stSidebarNav"]')
    if not nav.is_visible():
        page.locator('[data-testid="stExpandSidebarButton"]').click()
    nav.get_by_role("link", name=link, exact=True).click()
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    wait_until_drawn(page, heading)


def check_layout(page, name: str, width: int, heading: str) -> None:
    """At `width`: the page fits, its charts' titles are inside their figures, legends clear of
    axis titles, no error; and the screenshot name-width.png."""
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.wait_for_timeout(700)  # Plotly redraws a responsive figure after a resize event
    wait_until_drawn(page, heading)
    seen = page.evaluate(MEASURE)
    where = f"{name} at {width} px"
    assert seen["documentScroll"] <= seen["innerWidth"] + 1, f"{where}: the page scrolls sideways ({seen})"
    assert seen["mainScroll"] <= seen["mainWidth"] + 1, f"{where}: the main area scrolls sideways ({seen})"
    for chart in seen["charts"]:
        cut = [title["text"] for title in chart["titles"] if not title["inside"]]
        problems = [*([f"cut: {cut}"] if cut else []), *(["panel titles overlap"] if chart["titlesOverlap"] else []),
                    *([f"point labels cut: {chart['pointsCut']}"] if chart["pointsCut"] else [])]
        assert not problems, f"{where}: {problems}"
        assert not chart["legendOverAxis"], f"{where}: a legend covers an axis title: {chart['titles']}"
    assert_no_exception(page)
    if width == 390 and name in KEY_COLUMNS:
        key, last_place = KEY_COLUMNS[name]
        drawn = page.evaluate(DRAWN_HEADERS)
        assert any(key in headers[:last_place + 1] for headers in drawn), f"{where}: {key!r} is not in view: {drawn}"
    # The whole page in the picture (not the first HEIGHT px), then the viewport back.
    page.set_viewport_size({"width": width, "height": max(HEIGHT, page.evaluate(PAGE_HEIGHT))})
    page.wait_for_timeout(700)
    path = screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": width, "height": HEIGHT})
    if os.environ.get("UPDATE_SCREENSHOTS") and width in (1440, 390):
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, README_SHOTS / path.name)


def slug(link: str) -> str:
    return link.lower().replace(" ", "-")


def test_every_page_fits_a_laptop_a_tablet_and_a_phone(writable_sample_db):
    with_sample_checkins(writable_sample_db)  # the Lasting results page needs them
    with running_dashboard(writable_sample_db, SERVER) as url, chromium_page() as page:
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
        sign_in(page, url)
        wait_until_drawn(page, MANAGER_PAGES["Overview"])
        for link, heading in MANAGER_PAGES.items():
            open_page(page, link, heading)
            for width in WIDTHS:
                check_layout(page, slug(link), width, heading)
            # A page in sections shows one at a time: each of the others too (its first is above).
            for section, first_header in SECTION_HEADERS.get(link, {}).items():
                page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
                page.get_by_role("tab", name=section, exact=True).click()
                page.get_by_role("heading", name=first_header, exact=True).wait_for(timeout=TIMEOUT)  # run only once open
                for width in WIDTHS:
                    check_layout(page, f"{slug(link)}-{slug(section)}", width, heading)

        # The therapist: record a session, then the client's progress in client view.
        sign_in(page, url, "therapist1")
        open_page(page, "Client progress", "Client progress")
        page.get_by_role("combobox", name="Course of care").click()
        page.get_by_role("option").first.click()
        page.get_by_role("heading", name="Report for the client").wait_for(timeout=TIMEOUT)
        wait_until_drawn(page, "Client progress")
        page.wait_for_url("**/client_progress?*episode=*", timeout=TIMEOUT)
        chosen = page.url
        for width in WIDTHS:
            check_layout(page, "client-progress", width, "Client progress")
        open_page(page, "Record a session", "Record a session")
        for width in WIDTHS:
            check_layout(page, "record-a-session", width, "Record a session")
        # Client view opened from the address, as test_browser_therapist does (a new tab session).
        sign_in(page, f"{chosen}&client_view=1", "therapist1")
        page.get_by_role("heading", name="Report for the client").wait_for(timeout=TIMEOUT)
        heading = page.locator("h1").first.inner_text()
        for width in WIDTHS:
            check_layout(page, "client-view", width, heading)
            label = page.get_by_text("Client view", exact=True)
            assert label.is_visible()
            shown = label.evaluate("e => ({scroll: e.scrollWidth, client: e.clientWidth, text: e.innerText})")
            assert shown["text"] == "Client view" and shown["scroll"] <= shown["client"] + 1, (width, shown)
            assert not page.locator('[data-testid="stSidebar"]').is_visible()
            assert not page.locator('[data-testid="stExpandSidebarButton"]').is_visible()  # nothing opens it
