"""Words on the pages that state a threshold come from analytics.config: change the threshold and
the screen says the new rule (AppTest, the whole dashboard as a signed-in manager)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import config
from conftest import signed_in
from test_pages_manager import PAGE_SECTIONS
from ui import guard

DASHBOARD = str(Path(__file__).resolve().parent.parent / "dashboard.py")


def shown_text(page: str) -> str:
    """Every caption, info box, Markdown text and metric help text `page` shows, as one string
    (every section of a page shown one section at a time)."""
    texts = []
    for section in PAGE_SECTIONS.get(page, [None]):
        at = signed_in(AppTest.from_file(DASHBOARD, default_timeout=120))
        if section:
            at.query_params["section"] = section
        at.run()
        if page != "overview":
            at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        texts += [str(element.value) for kind in ("caption", "info", "markdown") for element in at.get(kind)]
        texts += [tile.help or "" for tile in at.metric]
    return "\n".join(texts)


@pytest.fixture
def fresh_metric_cache():
    """A changed threshold changes the figures too: keep them out of the cache other tests read."""
    guard.clear_metric_cache()
    yield
    guard.clear_metric_cache()


# page, config name, changed value, the words with the default value, the words with the changed one
CHANGES = [
    ("courses", "ACTIVE_WITHIN_DAYS", 28, "within the last 21 days", "within the last 28 days"),
    ("courses", "MCID_PAIN_POINTS", 3.0, "(at least 2 points and 30% below", "(at least 3 points and 30% below"),
    ("conditions", "MCID_PAIN_FRACTION", 0.5, "at least 2 points and 30% below", "at least 2 points and 50% below"),
    ("therapists", "MCID_PAIN_POINTS", 2.5, "at least 2 points and 30% below", "at least 2.5 points and 30% below"),
    ("overview", "RECOMMENDED_SESSIONS", {"acute": (4, 6), "chronic": (8, 12)},
     "minimum (3 acute, 8 chronic)", "minimum (4 acute, 8 chronic)"),
    ("overview", "AFTER_SESSION2_VISIT", 4, "Pain before visit 3 at least", "Pain before visit 4 at least"),
    ("home_program", "ADHERENCE_BANDS", ((0, 50), (50, 100)),
     "banded 0-25, 25-50, 50-75 and 75-100%", "banded 0-50 and 50-100%"),
]


@pytest.mark.parametrize(("page", "name", "value", "default_words", "changed_words"), CHANGES,
                         ids=[f"{page}-{name}" for page, name, *_ in CHANGES])
def test_a_changed_threshold_changes_the_words_on_the_page(app_db, fresh_metric_cache, monkeypatch,
                                                           page, name, value, default_words, changed_words):
    before = shown_text(page)
    assert default_words in before and changed_words not in before
    monkeypatch.setattr(config, name, value)
    guard.clear_metric_cache()
    after = shown_text(page)
    assert changed_words in after and default_words not in after
