"""Every page at 390 px for every role: no horizontal scroll, nothing clipped or sticking out of its container,
the navigation reachable through the menu, the overview's filters folded away (issue 21)."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import Contact, ImportJob
from plays.models import Play, Task
from tests.browser.conftest import PASSWORD, PHONE, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Reports elements that stick out of the viewport or of their parent box, and boxes that clip or scroll sideways.
OVERFLOW_JS = """
() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
    ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  const width = document.documentElement.scrollWidth;
  if (width > vw) out.push('page is ' + width + 'px wide');
  for (const el of document.querySelectorAll('body *')) {
    if (['SCRIPT', 'STYLE', 'OPTION', 'NOSCRIPT'].includes(el.tagName)) continue;
    if (el.closest('.sr-only, table.stacks thead')) continue;  // visually hidden, read by screen readers
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 && r.height <= 1) continue;  // visually hidden helpers (screen-reader text)
    if (style.position === 'absolute' && style.clip && style.clip !== 'auto') continue;
    if (r.right > vw + 1 || r.left < -1) { out.push(name(el) + ' sticks out of the screen'); continue; }
    const fixed = ['INPUT', 'SELECT', 'TEXTAREA', 'CANVAS'];
    if (!fixed.includes(el.tagName) && el.scrollWidth > el.clientWidth + 1 && style.overflowX !== 'visible') {
      out.push(name(el) + ' clips or scrolls its content sideways');
    }
    const parent = el.parentElement;
    if (parent && parent !== document.body && style.position !== 'absolute' && style.position !== 'fixed') {
      const p = parent.getBoundingClientRect();
      if (r.right > p.right + 1 || r.left < p.left - 1) out.push(name(el) + ' overflows ' + name(parent));
    }
  }
  return out;
}
"""


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--contacts", "120", "--seed", "11", "--password", PASSWORD, verbosity=0)
    user_model = get_user_model()
    rep = user_model.objects.get(username="rep")
    contact = Contact.objects.filter(owner=rep).order_by("id").first()
    Task.objects.create(
        owner=rep,
        contact=contact,
        title="Call back about the renewal of all forty seats",
        due_on=timezone.localdate() + dt.timedelta(days=2),
    )
    marketer = user_model.objects.get(username="marketer")
    header = "Email,First name,Last name,Company\n"
    ImportJob.objects.create(
        kind="contacts",
        file_name="leads-from-the-spring-fair-2026-final-version.csv",
        created_by=marketer,
        content=header + "a@fair.example,Ann,Lee,Fairco\n",
        headers=["Email", "First name", "Last name", "Company"],
        total_rows=1,
    )
    return contact


def pages(contact: Contact) -> list[str]:
    """Every page of the app a signed-in person can reach with a GET."""
    other = Contact.objects.exclude(pk=contact.pk).filter(owner=contact.owner).order_by("id").first()
    campaign = Campaign.objects.order_by("id").first()
    play = Play.objects.order_by("id").first()
    job = ImportJob.objects.order_by("id").first()
    paths = [
        "/my/",
        "/overview/?period=365d",
        "/contacts/",
        "/contacts/?q=a&stage=purchase",
        f"/contacts/{contact.pk}/",
        "/contacts/duplicates/",
        f"/contacts/merge/?survivor={contact.pk}&other={other.pk}",
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{campaign.pk}/",
        f"/campaigns/{campaign.pk}/edit/",
        "/imports/",
        f"/imports/{job.pk}/",
        "/plays/",
        f"/plays/{play.pk}/",
        "/tasks/",
        "/tasks/?show=done",
    ]
    return paths + EXTRA_PAGES(contact)


def EXTRA_PAGES(contact: Contact) -> list[str]:
    """The pages issue 21 added: forms, notifications, the play and rule editors."""
    from contacts.models import Touchpoint
    from stages.models import StageRule

    touchpoint = Touchpoint.objects.filter(contact=contact).order_by("id").first()
    if touchpoint is None or touchpoint.source != "manual":
        touchpoint = Touchpoint.objects.create(contact=contact, kind="call", channel="phone", note="Called back")
    play = Play.objects.order_by("id").first()
    rule = StageRule.objects.order_by("id").first()
    return [
        "/contacts/new/",
        f"/contacts/{contact.pk}/edit/",
        f"/touchpoints/{touchpoint.pk}/edit/",
        "/notifications/",
        "/plays/new/",
        f"/plays/{play.pk}/edit/",
        "/rules/",
        "/rules/new/",
        f"/rules/{rule.pk}/",
    ]


def _settle(page) -> None:
    page.wait_for_load_state("networkidle")
    if page.locator("[data-charts]").count():
        page.wait_for_selector("[data-charts][data-charts-loaded]")
        page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("username", ["rep", "marketer", "admin"])
def test_every_page_fits_a_phone_for_each_role(browser_page, demo, username):
    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, username)
    problems = {}
    for path in pages(demo):
        response = page.goto(page.base_url + path)
        assert response.status in (200, 403), (path, response.status)
        _settle(page)
        found = page.evaluate(OVERFLOW_JS)
        if found:
            problems[path] = found[:5]
    assert not problems, problems


def test_the_login_page_fits_a_phone(browser_page):
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(page.base_url + "/accounts/login/")
    assert page.evaluate(OVERFLOW_JS) == []


def test_the_menu_opens_every_section_on_a_phone(browser_page, demo):
    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, "marketer")
    page.goto(page.base_url + "/contacts/")
    assert not page.locator("#main-menu a:has-text('Plays')").is_visible()
    page.click("[data-menu-toggle]")
    assert page.get_attribute("[data-menu-toggle]", "aria-expanded") == "true"
    for label in ("Overview", "Contacts", "Campaigns", "Import", "Plays", "My tasks"):
        link = page.locator(f"#main-menu nav a:has-text('{label}')").first
        assert link.is_visible(), label
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], label
    page.click("#main-menu nav a:has-text('My tasks')")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/tasks/")


def test_overview_filters_fold_away_on_a_phone_and_stay_open_on_a_desk(browser_page, demo):
    page = browser_page
    log_in(page, "marketer")
    page.set_viewport_size(PHONE)
    page.goto(page.base_url + "/overview/?period=365d")
    assert not page.locator("#f-channel").is_visible()
    page.click("summary.fold-summary")
    assert page.locator("#f-channel").is_visible()
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(page.base_url + "/overview/?period=365d")
    assert page.locator("#f-channel").is_visible()


def test_tables_turn_into_labelled_cards_on_a_phone(browser_page, demo):
    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, "rep")
    page.goto(page.base_url + "/my/")
    cell = page.locator("main table tbody tr >> nth=0").locator("td >> nth=4")
    assert cell.get_attribute("data-label") == "Pred. CLV"
    assert cell.is_visible()
    last_touch = page.locator("main table tbody tr >> nth=0").locator("td >> nth=3")
    assert last_touch.is_visible()  # was hidden at phone width before


def test_every_control_shows_a_strong_focus_ring(browser_page, demo):
    page = browser_page
    log_in(page, "rep")
    page.goto(page.base_url + "/contacts/")
    for selector in ("#top-q", "#f-stage", "#f-q", "button[type=submit] >> nth=0"):
        page.focus(selector)
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
        ring = page.eval_on_selector(
            selector,
            "e => { const s = getComputedStyle(e); "
            "return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; }",
        )
        assert ring[0] == "solid" and ring[1] >= 2, (selector, ring)
        assert ring[2] in ("rgb(26, 71, 184)", "rgb(255, 255, 255)"), (selector, ring)
