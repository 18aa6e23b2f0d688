"""Screenshots of every page at 1366 and 390 px for docs/screenshots (issue 21), taken by a person's request:

    CRM_DOCS_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/browser/test_screenshots.py -p no:cacheprovider

Each page must load (200) for the role that uses it; the images are clipped in height to stay small.
"""

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import DESKTOP, PHONE, log_in
from tests.browser.test_phone import _settle, demo, pages  # noqa: F401 - `demo`: the phone test's data fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TARGET = os.environ.get("CRM_DOCS_SCREENSHOTS", "")
# Height clip per width: enough to show the top of every page and the first rows of its lists.
MAX_HEIGHT = {DESKTOP["width"]: 1100, PHONE["width"]: 2000}


def _name(path: str) -> str:
    """A stable file name for a page: its path with ids as `n` (contacts/12/edit/ → contacts-n-edit)."""
    cleaned = re.sub(r"\d+", "n", path.strip("/"))
    cleaned = cleaned.replace("/", "-").replace("?", "-").replace("&", "-").replace("=", "-")
    return "".join(ch for ch in cleaned if ch.isalnum() or ch == "-") or "home"


@pytest.mark.skipif(not TARGET, reason="set CRM_DOCS_SCREENSHOTS=<folder> to refresh docs/screenshots")
def test_screenshots_of_every_page_at_both_widths(browser_page, demo):  # noqa: F811 - the imported fixture
    contact = demo
    folder = Path(TARGET)
    folder.mkdir(parents=True, exist_ok=True)
    page = browser_page
    taken = []
    current = None
    paths = pages(contact)
    rep_pages = ("/my/", "/tasks/", f"/contacts/{contact.pk}/", "/contacts/new/", "/contacts/duplicates/")
    for path in ["/accounts/login/", *paths]:
        role = "rep" if path.startswith((*rep_pages, "/touchpoints/", "/contacts/merge/")) else "marketer"
        if path == "/accounts/login/":
            role = None
        if role != current:
            page.context.clear_cookies()
            if role:
                log_in(page, role)
            current = role
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            response = page.goto(page.base_url + path)
            assert response.status == 200, (path, role, response.status)
            _settle(page)
            height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT[size["width"]])
            target = folder / f"{_name(path)}-{size['width']}.png"
            page.screenshot(
                path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": size["width"], "height": height}
            )
            taken.append(target)
    assert all(p.stat().st_size > 0 for p in taken)
