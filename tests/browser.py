"""Start the real dashboard on a free port and drive it with Debian's headless Chromium."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
# The closed network refuses Chromium's background connections; these flags keep it quiet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

requires_chromium = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("REQUIRE_BROWSER_TESTS"), reason="Debian's chromium package is not installed "
                                       "(apt-get install chromium); .ci/run installs it in CI")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_dashboard(db_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `streamlit run app.py` (the dashboard) against `db_path`; yield its URL; stop it afterwards."""
    port = _free_port()
    env = {**os.environ, "CLINIC_DB": str(db_path), **(extra_env or {})}
    log = open(db_path.parent / "streamlit.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_healthy(url: str, process: subprocess.Popen, attempts: int = 300) -> None:
    for _ in range(attempts):
        if process.poll() is not None:
            raise RuntimeError("streamlit exited before serving")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)  # a bounded pause while the server starts
    raise RuntimeError("streamlit did not become healthy")


@contextlib.contextmanager
def chromium_page() -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            yield page
        finally:
            browser.close()


def sign_in(page, url: str, username: str = "manager", password: str | None = None) -> None:
    """Open `url` (any page or bookmark), sign in with a demo account of the sample clinic, and
    wait until the app has taken the user in. Streamlit keeps the user per browser tab session, so
    later navigation must be by clicking, not by page.goto (a reload signs out)."""
    from analytics import bootstrap

    page.goto(url)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(password or bootstrap.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("textbox", name="User name").wait_for(state="detached", timeout=60_000)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
