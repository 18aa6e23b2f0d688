"""Issue 17: the consent ledger, the 409 on a silent re-consent, and erasure on request."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from accounts.models import ApiKey
from contacts.consent import contact_erase
from contacts.models import ConsentEvent, Contact, ContactAlias, Touchpoint
from contacts.services import contact_update
from plays.services import contact_unsubscribe
from stages.engine import lifecycle_evaluate
from tests.factories import ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def test_an_integrations_patch_does_not_silently_re_consent_an_unsubscribed_contact(integration_client):
    contact = ContactFactory(marketing_consent=True)
    contact_unsubscribe(contact_id=contact.pk)
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None and not contact.marketing_consent
    response = integration_client.patch(f"/api/v1/contacts/{contact.pk}/", {"marketing_consent": True}, format="json")
    assert response.status_code == 409, response.content
    assert "unsubscribed" in response.json()["detail"] and "consent_reason" in response.json()["detail"]
    contact.refresh_from_db()
    assert not contact.marketing_consent and contact.unsubscribed_at is not None  # nothing changed
    assert list(ConsentEvent.objects.filter(contact=contact).values_list("action", flat=True)) == ["unsubscribed"]


def test_an_explicit_source_and_reason_re_consent_and_the_ledger_keeps_who_and_why(integration_client):
    contact = ContactFactory(marketing_consent=True)
    contact_unsubscribe(contact_id=contact.pk)
    response = integration_client.patch(
        f"/api/v1/contacts/{contact.pk}/",
        {
            "marketing_consent": True,
            "consent_source": "preference_centre",
            "consent_reason": "Ticked the newsletter box again on 2026-12-01",
            "consent_text": "Yes, send me offers by email.",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.marketing_consent and contact.unsubscribed_at is None
    ledger = integration_client.get(f"/api/v1/contacts/{contact.pk}/consent/").json()["results"]
    assert [(e["action"], e["granted"], e["source"]) for e in ledger] == [
        ("unsubscribed", False, "email_link"),
        ("granted", True, "preference_centre"),
    ]
    key = ApiKey.objects.get(name="web shop")
    assert ledger[1]["api_key"] == key.pk and "web shop" in ledger[1]["actor_name"]
    assert ledger[1]["text_shown"] == "Yes, send me offers by email."


def test_every_consent_change_is_appended_with_the_form_ip(admin_user):
    contact = ContactFactory(marketing_consent=False)
    contact_update(
        contact=contact,
        data={"marketing_consent": True, "consent_source": "signup_form", "consent_ip": "203.0.113.7"},
        user=admin_user,
    )
    contact_update(contact=contact, data={"marketing_consent": False}, user=admin_user)
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("id"))
    assert [(e.action, e.source, e.ip_address) for e in events] == [
        ("granted", "signup_form", "203.0.113.7"),
        ("withdrawn", "manual", None),
    ]
    assert all(e.user == admin_user for e in events)


def test_the_contact_page_shows_the_ledger(client, admin_user):
    contact = ContactFactory(marketing_consent=True)
    contact_unsubscribe(contact_id=contact.pk)
    client.force_login(admin_user)
    page = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert 'id="consent-ledger"' in page and "Unsubscribed" in page and "email_link" in page


def test_erasure_deletes_personal_data_keeps_aggregates_and_is_in_the_ledger(admin_client):
    contact = ContactFactory(
        email="ann@example.com", first_name="Ann", phone="555-1", external_id="SHOP-1", marketing_consent=True
    )
    other = ContactFactory()
    TouchpointFactory(contact=contact, kind="purchase", amount=Decimal("30.00"), note="called about her order")
    TouchpointFactory(contact=other, kind="purchase", amount=Decimal("20.00"))
    lifecycle_evaluate(contact_ids=[contact.pk, other.pk])
    ContactAlias.objects.create(contact=contact, kind="email", value="ann.old@example.com")
    revenue = Touchpoint.objects.filter(kind="purchase").aggregate(s=Sum("amount"))["s"]
    stages = sorted(Contact.objects.values_list("stage__slug", flat=True))
    refused = admin_client.post(f"/api/v1/contacts/{contact.pk}/erase/", {}, format="json")
    assert refused.status_code == 400 and ConsentEvent.objects.filter(action="erased").count() == 0
    response = admin_client.post(f"/api/v1/contacts/{contact.pk}/erase/", {"reason": "GDPR request #42"}, format="json")
    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.email == f"erased-{contact.pk}@erased.invalid"
    assert (contact.first_name, contact.phone, contact.external_id, contact.marketing_consent) == ("", "", None, False)
    assert not ContactAlias.objects.filter(contact=contact).exists()
    assert Touchpoint.objects.get(contact=contact).note == ""
    # Aggregates stay exact.
    assert Touchpoint.objects.filter(kind="purchase").aggregate(s=Sum("amount"))["s"] == revenue
    assert sorted(Contact.objects.values_list("stage__slug", flat=True)) == stages
    erased = ConsentEvent.objects.get(contact=contact, action="erased")
    assert erased.reason == "GDPR request #42" and erased.source == "erasure_request"


def test_only_admins_erase(marketer_client):
    contact = ContactFactory(first_name="Ann")
    response = marketer_client.post(f"/api/v1/contacts/{contact.pk}/erase/", {"reason": "x"}, format="json")
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.first_name == "Ann"


def test_erasure_service_needs_a_reason():
    from django.core.exceptions import ValidationError

    contact = ContactFactory(first_name="Ann")
    with pytest.raises(ValidationError):
        contact_erase(contact=contact, reason=" ")
    contact.refresh_from_db()
    assert contact.first_name == "Ann"


def test_admin_action_erases_and_records_it(client, admin_user):
    contact = ContactFactory(first_name="Ann", email="ann@example.com")
    client.force_login(admin_user)
    response = client.post(
        "/admin/contacts/contact/",
        {"action": "erase_personal_data", "_selected_action": [contact.pk]},
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.first_name == "" and contact.email.endswith("@erased.invalid")
    assert ConsentEvent.objects.filter(contact=contact, action="erased", user=admin_user).exists()
