"""A new contact created with a referral code (API field, CSV import column) is linked to its referrer;
bad codes are refused with a field message and nothing is stored."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.services import api_key_create
from contacts.models import Contact
from loyalty.codes import referral_code
from loyalty.models import Referral, ReferralStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    _, raw = api_key_create(name="shop", role="integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_api_contact_created_with_a_code_is_linked(api):
    referrer = ContactFactory()
    response = api.post(
        "/api/v1/contacts/", {"email": "friend@example.com", "referral_code": referral_code(referrer.pk)}, format="json"
    )
    assert response.status_code == 201, response.content
    assert "referral_code" not in response.json()
    referral = Referral.objects.get()
    assert (referral.referrer_id, referral.referred_id, referral.status) == (
        referrer.pk,
        response.json()["id"],
        ReferralStatus.SIGNED_UP,
    )


def test_api_bad_code_is_a_400_and_no_contact_is_stored(api):
    before = Contact.objects.count()
    response = api.post("/api/v1/contacts/", {"email": "x@example.com", "referral_code": "ZZ-AAAAA"}, format="json")
    assert response.status_code == 400
    assert "Unknown referral code" in response.json()["errors"]["referral_code"][0]
    assert Contact.objects.count() == before and not Referral.objects.exists()


def test_api_code_on_update_is_refused(api):
    contact = ContactFactory()
    other = ContactFactory()
    response = api.patch(f"/api/v1/contacts/{contact.pk}/", {"referral_code": referral_code(other.pk)}, format="json")
    assert response.status_code == 400 and "only when the contact is created" in str(response.json()["errors"])
    assert not Referral.objects.exists()


def test_csv_import_links_new_contacts_and_rejects_bad_codes(tmp_path, capsys):
    referrer = ContactFactory(email="ref@example.com")
    path = tmp_path / "c.csv"
    path.write_text(
        f"email,referral_code\nnew1@example.com,{referral_code(referrer.pk)}\nnew2@example.com,NOPE-12345\n"
        f"ref@example.com,{referral_code(referrer.pk)}\n"
    )
    call_command("import_contacts", str(path))
    out = capsys.readouterr().out
    assert "rejected" in out and "referral_code" in out
    assert list(Referral.objects.values_list("referrer__email", "referred__email")) == [
        ("ref@example.com", "new1@example.com")
    ]
    assert not Contact.objects.filter(email="new2@example.com").exists()
