"""Django admin: every registered model's pages answer, lists stay within a query budget, writes use the services.

The page tests are parametrized over `admin.site._registry`, so a model another app
registers later is covered without touching this file. A model this file cannot make a
row for (no row after the fixture, no `<Model>Factory` in tests.factories) gets its list
and add pages tested and a warning instead of a change-page test.
"""

from __future__ import annotations

import datetime as dt
import warnings
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import tests.factories as factories
from analytics.models import CLVModelFit
from campaigns.models import CampaignMember
from contacts.models import Contact, Touchpoint
from metrics.models import ContactMetrics
from stages.models import Stage, StageSnapshot, StageTransition

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODEL_IDS = [model._meta.label for model, _ in REGISTERED]


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def rows(admin_user):
    """At least one row of every model of the foundation (others' models come from their migrations/factories)."""
    contact = factories.ContactFactory(owner=admin_user)
    campaign = factories.CampaignFactory(utm_campaign="spring-2026")
    factories.TouchpointFactory(contact=contact, kind="purchase", campaign=campaign)
    factories.SegmentFactory()
    factories.TagFactory(name="vip")
    CampaignMember.objects.create(campaign=campaign, contact=contact)
    ContactMetrics.objects.create(contact=contact, purchase_count=1, revenue=Decimal("50.00"))
    StageSnapshot.objects.create(date=timezone.localdate(), stage=Stage.objects.get(slug="awareness"), contacts=1)
    CLVModelFit.objects.create(as_of=timezone.localdate(), n_customers=1)
    return contact


def _an_object(model):
    obj = model._default_manager.order_by("pk").first()
    if obj is None:
        factory = getattr(factories, f"{model.__name__}Factory", None)
        if factory is not None:
            obj = factory()
    return obj


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_admin_pages_answer_for_staff(client, admin_user, rows, model, model_admin):
    client.force_login(admin_user)
    assert client.get(_url(model, "changelist")).status_code == 200
    assert client.get(_url(model, "changelist"), {"q": "x"}).status_code == 200  # search (if any) is valid
    request = type("R", (), {"user": admin_user})()
    add_status = client.get(_url(model, "add")).status_code
    assert add_status == (200 if model_admin.has_add_permission(request) else 403)
    obj = _an_object(model)
    if obj is None:
        warnings.warn(f"no {model._meta.label} row to open its change page", stacklevel=1)
        return
    response = client.get(_url(model, "change", quote(obj.pk)))
    assert response.status_code == 200


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_admin_pages_redirect_anonymous_users_to_login(client, rows, model, model_admin):
    for url in (_url(model, "changelist"), _url(model, "add")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_admin_refuses_a_logged_in_user_who_is_not_staff(client, marketer):
    client.force_login(marketer)
    response = client.get(_url(Contact, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- query budgets --------------------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    client.get(url)  # warm per-process caches (content types, sites) so only the page's own queries count
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def _make_contacts(count: int, *, owner, campaign) -> None:
    for _ in range(count):
        contact = factories.ContactFactory(owner=owner)
        factories.TouchpointFactory(contact=contact, kind="purchase", campaign=campaign)
        CampaignMember.objects.create(campaign=campaign, contact=contact)
        ContactMetrics.objects.create(contact=contact)


@pytest.mark.parametrize(
    ("model", "budget"),
    [(Contact, 12), (Touchpoint, 12), (CampaignMember, 12), (ContactMetrics, 12), (StageTransition, 14)],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_changelist_queries_do_not_grow_with_rows(client, admin_user, model, budget):
    client.force_login(admin_user)
    campaign = factories.CampaignFactory()
    _make_contacts(3, owner=admin_user, campaign=campaign)
    few = _count_queries(client, _url(model, "changelist"))
    _make_contacts(20, owner=admin_user, campaign=campaign)
    many = _count_queries(client, _url(model, "changelist"))
    assert many == few, f"{model.__name__} changelist makes per-row queries ({few} → {many})"
    assert many <= budget


def test_contact_change_page_shows_latest_touchpoints_only_with_constant_queries(client, admin_user):
    client.force_login(admin_user)
    campaign = factories.CampaignFactory()
    contact = factories.ContactFactory()
    base = timezone.now() - dt.timedelta(days=400)
    Touchpoint.objects.bulk_create(
        [
            Touchpoint(contact=contact, kind="site_visit", channel="web", occurred_at=base + dt.timedelta(hours=i))
            for i in range(5)
        ]
    )
    few = _count_queries(client, _url(Contact, "change", contact.pk))
    Touchpoint.objects.bulk_create(
        [
            Touchpoint(
                contact=contact,
                kind="email_open",
                channel="email",
                campaign=campaign,
                occurred_at=base + dt.timedelta(days=10, hours=i),
            )
            for i in range(300)
        ]
    )
    many = _count_queries(client, _url(Contact, "change", contact.pk))
    assert many == few
    response = client.get(_url(Contact, "change", contact.pk))
    inline = response.context["inline_admin_formsets"]
    touchpoint_inline = next(formset for formset in inline if formset.formset.model is Touchpoint)
    assert len(touchpoint_inline.formset.forms) == 20
    assert b"305 touchpoint(s)" in response.content


def test_large_table_lists_do_not_count_the_whole_table_twice():
    for model in (Contact, Touchpoint):
        assert admin.site._registry[model].show_full_result_count is False


# --- writes go through the services ---------------------------------------------------------


def _contact_form(**overrides):
    data = {
        "email": "new.person@example.com",
        "first_name": "New",
        "last_name": "Person",
        "phone": "",
        "company": "",
        "external_id": "",
        "acquisition_channel": "organic_search",
        "acquired_at_0": "2026-01-05",
        "acquired_at_1": "10:00:00",
        "attributes": "{}",
        "metrics-TOTAL_FORMS": "0",
        "metrics-INITIAL_FORMS": "0",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
        "touchpoints-TOTAL_FORMS": "0",
        "touchpoints-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_admin_add_contact_goes_through_the_service_and_records_the_first_transition(client, admin_user):
    client.force_login(admin_user)
    response = client.post(_url(Contact, "add"), _contact_form())
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    contact = Contact.objects.get(email="new.person@example.com")
    assert contact.stage.slug == "awareness"
    transition = StageTransition.objects.get(contact=contact)
    assert transition.from_stage is None
    assert transition.to_stage == contact.stage
    assert transition.user == admin_user
    assert transition.source == "manual"


def test_admin_add_contact_shows_the_service_error_on_the_field_and_writes_nothing(client, admin_user):
    factories.ContactFactory(email="Taken@Example.com")
    client.force_login(admin_user)
    response = client.post(_url(Contact, "add"), _contact_form(email="taken@example.COM"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "already exists" in errors["email"][0]
    assert Contact.objects.count() == 1


def test_admin_change_contact_updates_profile_but_not_the_stage(client, admin_user):
    contact = factories.ContactFactory(email="ann@example.com", first_name="Ann")
    client.force_login(admin_user)
    data = _contact_form(
        email="ann@example.com",
        first_name="Annie",
        last_name=contact.last_name,
        company=contact.company,
        acquired_at_0=f"{contact.acquired_at:%Y-%m-%d}",
        acquired_at_1=f"{contact.acquired_at:%H:%M:%S}",
        marketing_consent="on",
        **{"transitions-TOTAL_FORMS": "1", "transitions-INITIAL_FORMS": "1"},
    )
    response = client.post(_url(Contact, "change", contact.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    contact.refresh_from_db()
    assert contact.first_name == "Annie"
    assert contact.marketing_consent is True
    assert contact.consent_updated_at is not None  # set by contacts.services.contact_update
    assert contact.stage.slug == "awareness"


def _touchpoint_form(contact, **overrides):
    data = {
        "contact": str(contact.pk),
        "kind": "purchase",
        "channel": "web",
        "occurred_at_0": f"{timezone.now() - dt.timedelta(days=1):%Y-%m-%d}",
        "occurred_at_1": "12:00:00",
        "amount": "120.50",
        "score": "",
        "campaign": "",
        "external_id": "",
        "utm_source": "",
        "utm_medium": "",
        "utm_campaign": "",
        "note": "",
    }
    data.update(overrides)
    return data


def test_admin_add_touchpoint_goes_through_the_service_and_re_evaluates_the_stage(
    client, admin_user, django_capture_on_commit_callbacks
):
    contact = factories.ContactFactory()
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(_url(Touchpoint, "add"), _touchpoint_form(contact))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    touchpoint = Touchpoint.objects.get(contact=contact)
    assert touchpoint.source == "manual"
    assert touchpoint.logged_by == admin_user
    assert touchpoint.amount == Decimal("120.50")
    assert callbacks, "the service enqueues the lifecycle evaluation after commit"
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase"  # tasks run eagerly in tests: the engine placed the buyer


def test_admin_add_touchpoint_maps_service_errors_to_form_errors(client, admin_user):
    contact = factories.ContactFactory()
    client.force_login(admin_user)
    response = client.post(_url(Touchpoint, "add"), _touchpoint_form(contact, kind="site_visit", amount="10"))
    assert response.status_code == 200
    assert "Only purchases and refunds carry an amount." in response.context["adminform"].form.errors["amount"]
    response = client.post(
        _url(Touchpoint, "add"), _touchpoint_form(contact, kind="survey_response", amount="", score="11")
    )
    assert response.status_code == 200
    assert "score" in response.context["adminform"].form.errors
    assert not Touchpoint.objects.exists()


def test_touchpoint_change_page_is_read_only(client, admin_user):
    touchpoint = factories.TouchpointFactory()
    client.force_login(admin_user)
    response = client.get(_url(Touchpoint, "change", touchpoint.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    response = client.post(_url(Touchpoint, "change", touchpoint.pk), {"kind": "purchase"})
    assert response.status_code == 403


# --- estimated counts on big tables ---------------------------------------------------------


def test_unfiltered_big_table_list_uses_the_planner_estimate_on_postgresql(monkeypatch):
    from tests.services import require_postgres

    require_postgres()
    import lifecycle_crm.admin_utils as admin_utils

    for _ in range(30):
        factories.ContactFactory()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Contact._meta.db_table}")
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [Contact._meta.db_table])
        estimate = cursor.fetchone()[0]
    monkeypatch.setattr(admin_utils, "ESTIMATE_ABOVE", 0)
    with CaptureQueriesContext(connection) as captured:
        count = admin_utils.EstimatedCountPaginator(Contact.objects.all(), 50).count
    assert count == estimate
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)
    # A filtered list is narrow: it is counted exactly.
    filtered = admin_utils.EstimatedCountPaginator(Contact.objects.filter(pk__lte=0), 50)
    assert filtered.count == 0


def test_small_tables_and_sqlite_are_counted_exactly():
    import lifecycle_crm.admin_utils as admin_utils

    for _ in range(3):
        factories.ContactFactory()
    assert admin_utils.EstimatedCountPaginator(Contact.objects.all(), 50).count == 3


def test_admin_re_consent_of_an_unsubscribed_contact_needs_a_reason_and_is_in_the_ledger(client, admin_user):
    from contacts.models import ConsentEvent
    from plays.services import contact_unsubscribe

    contact = factories.ContactFactory(email="ann@example.com", first_name="Ann", marketing_consent=True)
    contact_unsubscribe(contact_id=contact.pk)
    client.force_login(admin_user)
    data = _contact_form(
        email="ann@example.com",
        first_name="Ann",
        last_name=contact.last_name,
        company=contact.company,
        acquired_at_0=f"{contact.acquired_at:%Y-%m-%d}",
        acquired_at_1=f"{contact.acquired_at:%H:%M:%S}",
        marketing_consent="on",
        **{"transitions-TOTAL_FORMS": "1", "transitions-INITIAL_FORMS": "1"},
    )
    refused = client.post(_url(Contact, "change", contact.pk), data)
    assert (
        refused.status_code == 200
        and "unsubscribed on" in refused.context["adminform"].form.errors["consent_reason"][0]
    )
    contact.refresh_from_db()
    assert contact.marketing_consent is False
    data.update(consent_source="phone", consent_reason="Asked on the phone to get offers again")
    response = client.post(_url(Contact, "change", contact.pk), data, REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    event = ConsentEvent.objects.filter(contact=contact).latest("id")
    assert (event.action, event.source, event.user, event.ip_address) == (
        "granted",
        "phone",
        admin_user,
        "198.51.100.4",
    )
