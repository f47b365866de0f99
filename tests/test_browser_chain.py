"""Two real dashboards (`streamlit run`, two ports, two replica files) on one PostgreSQL: the same
figures on both, and a session recorded in one browser shows in the other without a restart."""
import shutil

import pytest
from playwright.sync_api import expect

from analytics import chain, db
from browser import assert_no_exception, chromium_page, requires_chromium, running_dashboard, screenshot, sign_in
from test_browser_therapist import TIMEOUT, a_client, wait_until_idle

pytestmark = [pytest.mark.browser, requires_chromium]


def sessions_tile(page) -> str:
    # The tile labelled exactly "Sessions" (has_text would also match "Median sessions", which
    # may draw first), read once the run is over.
    tile = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text("Sessions", exact=True)).first
    tile.wait_for(timeout=TIMEOUT)
    wait_until_idle(page)
    return tile.locator('[data-testid="stMetricValue"]').inner_text()


def test_two_dashboards_on_one_postgresql_show_the_same_figures_and_each_others_writes(
        postgres_cluster, sample_db_path, tmp_path, monkeypatch):
    url = postgres_cluster.new_database()
    # The sample clinic joins the empty chain: its file, opened in chain mode, seeds PostgreSQL.
    seed = tmp_path / "seed.duckdb"
    shutil.copy(sample_db_path, seed)
    monkeypatch.setenv("CLINIC_DATABASE_URL", url)
    db.connect(seed).close()
    chain.forget_all()
    client = a_client(sample_db_path)
    episode, next_visit = client["episode_id"], client["visits"] + 1
    chain_env = {"CLINIC_DATABASE_URL": url}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with running_dashboard(tmp_path / "one" / "replica.duckdb", chain_env) as first, \
            running_dashboard(tmp_path / "two" / "replica.duckdb", chain_env) as second, \
            chromium_page() as page_one:
        page_two = page_one.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # a browser of its own
        sign_in(page_one, first)
        sign_in(page_two, second)
        assert sessions_tile(page_one) == sessions_tile(page_two)
        sign_in(page_one, f"{first}/record_session?episode={episode}")
        form = page_one.locator('[data-testid="stForm"]').first
        form.get_by_label("Pain before the session", exact=True).wait_for(timeout=TIMEOUT)
        form.get_by_label("Pain before the session", exact=True).fill("1.5")
        form.get_by_label("Pain after the session", exact=True).fill("0.5")
        form.get_by_role("button", name="Save session").click()
        page_one.get_by_text(f"Visit {next_visit} saved.").wait_for(timeout=TIMEOUT)
        wait_until_idle(page_one)
        # The other dashboard offers the visit after the one just saved there.
        sign_in(page_two, f"{second}/record_session?episode={episode}")
        form = page_two.locator('[data-testid="stForm"]').first
        expect(form.get_by_label("Visit number", exact=True)).to_have_value(str(next_visit + 1), timeout=TIMEOUT)
        assert_no_exception(page_two)
        screenshot(page_two, "chain-second-dashboard")
        sign_in(page_one, first)
        sign_in(page_two, second)
        assert sessions_tile(page_one) == sessions_tile(page_two)
        assert_no_exception(page_one)
