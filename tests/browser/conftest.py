"""Headless Chromium (Debian package) driven by Playwright against pytest-django's live server on 127.0.0.1.

Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
there are plain synchronous setup, so Django's async-safety guard is relaxed for them.
Each test gets a fresh browser profile (user-data-dir) and the browser never talks to
anything but the live server (background networking, component updates and sync off).
"""

import os
import tempfile
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

from tests.services import chromium_path

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


class SerialWSGIServer(WSGIServer):
    """The live server answering one request at a time (each response closes its connection).

    On SQLite the test database is one in-memory connection that every thread of Django's
    threaded live server shares; the overview fetches its KPI block and seven charts at
    once, and concurrent queries on that one connection hung the suite (seen in CI). One
    request at a time is what that connection allows. PostgreSQL keeps the threaded server.
    """

    def __init__(self, *args, connections_override=None, **kwargs):
        # LiveServerThread.run() has already put the shared connection in place in its own
        # thread, which is the thread this server answers in.
        super().__init__(*args, **kwargs)


if connection.vendor == "sqlite":
    LiveServerThread.server_class = SerialWSGIServer

SCREENSHOTS = Path(os.environ.get("CRM_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "screenshots"))
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "pw-demo-1234"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page(live_server):
    """A logged-out page in a fresh Chromium profile; closed after the test."""
    from django.core.cache import cache

    cache.clear()  # the overview caches its figures per process
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (requirements-dev.txt)")
    with tempfile.TemporaryDirectory(prefix="crm-chromium-") as profile, sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS, viewport=DESKTOP
        )
        context.set_default_timeout(15000)
        page = context.new_page()
        page.base_url = live_server.url
        try:
            yield page
        finally:
            context.close()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto(page.base_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/accounts/login/" not in page.url, "login failed"


def screenshot(page, name: str) -> None:
    """Save the page at desktop and phone width (full page) for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(800)  # charts resize (and animate) on the window event
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def wait_until(page, condition, what: str, timeout_s: float = 30.0) -> None:
    """Wait for a state seen from the test (e.g. requests a route has held), letting Playwright run its handlers.

    Route handlers run only while Playwright processes events, so the wait yields to it in short
    steps; the deadline is generous because a busy machine is slow, never part of what is tested.
    """
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        page.wait_for_timeout(50)
