"""Issue 19 findings 1 and 6 on the API: a date out of range or a NUL is a 400 and nothing is stored.

Each refused request is followed by a look at the database (no touchpoint, no contact, no
transition, the contact's stage unchanged) and by the reads that the stored row used to
break (the touchpoint list, the contact, the contact list), which must answer 200.
"""

import pytest

from contacts.models import Contact, Touchpoint
from lifecycle_crm.validation import ATTRIBUTES_MAX_BYTES
from stages.models import StageTransition

pytestmark = pytest.mark.django_db

# Year 1 at +14:00 is year 0 in UTC: PostgreSQL stores it (1 BC), Python cannot read it back.
YEAR_ZERO = "0001-01-01T00:00:00+14:00"
BAD_MOMENTS = [YEAR_ZERO, "9999-12-31T23:59:59-14:00", "1899-12-31T23:00:00Z", "2999-01-01T00:00:00Z"]


def _nothing_stored(client, contact: Contact) -> None:
    assert not Touchpoint.objects.filter(contact=contact).exists()
    assert StageTransition.objects.filter(contact=contact).count() == 1  # its creation only
    stage_before = contact.stage_id
    contact.refresh_from_db()
    assert contact.stage_id == stage_before
    assert client.get("/api/v1/touchpoints/").status_code == 200
    assert client.get(f"/api/v1/contacts/{contact.pk}/").status_code == 200
    assert client.get("/api/v1/contacts/").status_code == 200
    assert client.get(f"/api/v1/contacts/{contact.pk}/touchpoints/").status_code == 200


@pytest.fixture
def contact(db):
    from contacts.services import contact_create

    return contact_create(data={"email": "pat@example.com"}, source="api")


@pytest.mark.parametrize("when", BAD_MOMENTS)
def test_single_touchpoint_with_a_date_out_of_range_is_refused_and_not_stored(admin_client, contact, when):
    body = {"contact": contact.pk, "kind": "purchase", "amount": "5.00", "occurred_at": when}
    response = admin_client.post("/api/v1/touchpoints/", body, format="json")
    assert response.status_code == 400, response.content
    assert "occurred_at" in response.json()["errors"]
    _nothing_stored(admin_client, contact)


@pytest.mark.parametrize("when", BAD_MOMENTS)
def test_bulk_touchpoints_with_a_date_out_of_range_are_refused_whole(admin_client, contact, when):
    good = {"contact": contact.pk, "kind": "site_visit", "occurred_at": "2026-01-02T10:00:00Z"}
    bad = {"contact": contact.pk, "kind": "purchase", "amount": "5.00", "occurred_at": when}
    response = admin_client.post("/api/v1/touchpoints/", [good, bad], format="json")
    assert response.status_code == 400, response.content
    assert "occurred_at" in str(response.json()["errors"])
    _nothing_stored(admin_client, contact)


def test_touchpoint_on_a_contact_with_a_date_out_of_range_is_refused(admin_client, contact):
    response = admin_client.post(
        f"/api/v1/contacts/{contact.pk}/touchpoints/", {"kind": "call", "occurred_at": YEAR_ZERO}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "occurred_at" in response.json()["errors"]
    _nothing_stored(admin_client, contact)


@pytest.mark.parametrize("path", ["/api/v1/contacts/", "/api/v1/contacts/upsert/"])
@pytest.mark.parametrize("when", BAD_MOMENTS)
def test_contact_with_acquired_at_out_of_range_is_refused(admin_client, path, when):
    response = admin_client.post(path, {"email": "new@example.com", "acquired_at": when}, format="json")
    assert response.status_code == 400, response.content
    assert "acquired_at" in response.json()["errors"]
    assert not Contact.objects.filter(email="new@example.com").exists()
    assert not StageTransition.objects.exists()


@pytest.mark.parametrize(
    "attributes",
    [
        {"a\u0000b": "x"},
        {"plan": "gold\u0000"},
        {"nested": {"deep": ["ok", "bad\u0000"]}},
        {"k": "x" * (ATTRIBUTES_MAX_BYTES + 1)},
        {f"k{i}": i for i in range(500)},
        {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}},
    ],
    ids=["nul-key", "nul-value", "nul-nested", "too-big", "too-many-keys", "too-deep"],
)
def test_attributes_with_nul_or_too_big_are_refused_on_create_and_update(admin_client, contact, attributes):
    response = admin_client.post(
        "/api/v1/contacts/", {"email": "new@example.com", "attributes": attributes}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "attributes" in response.json()["errors"]
    assert not Contact.objects.filter(email="new@example.com").exists()

    contact.attributes = {"plan": "silver"}
    contact.save(update_fields=["attributes"])
    response = admin_client.patch(f"/api/v1/contacts/{contact.pk}/", {"attributes": attributes}, format="json")
    assert response.status_code == 400, response.content
    contact.refresh_from_db()
    assert contact.attributes == {"plan": "silver"}
    assert admin_client.get("/api/v1/contacts/").status_code == 200


def test_upsert_of_an_existing_contact_with_nul_attributes_changes_nothing(admin_client, contact):
    body = {"email": contact.email, "first_name": "Changed", "attributes": {"x": "\u0000"}}
    response = admin_client.post("/api/v1/contacts/upsert/", body, format="json")
    assert response.status_code == 400, response.content
    contact.refresh_from_db()
    assert contact.first_name != "Changed"
    assert contact.attributes == {}


def test_a_sane_date_and_plain_attributes_are_still_accepted(admin_client, contact):
    response = admin_client.post(
        "/api/v1/touchpoints/",
        {"contact": contact.pk, "kind": "call", "occurred_at": "1999-12-31T23:30:00-10:00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    response = admin_client.post(
        "/api/v1/contacts/",
        {"email": "ok@example.com", "acquired_at": "1990-05-01T00:00:00+14:00", "attributes": {"plan": "gold", "n": 3}},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_stored_value_from_before_the_rules_does_not_block_an_unrelated_update(admin_client, contact):
    """Only the fields being written are checked: a legacy acquired_at must not stop a name change."""
    import datetime as dt

    Contact.objects.filter(pk=contact.pk).update(acquired_at=dt.datetime(1800, 1, 1, tzinfo=dt.UTC))
    response = admin_client.patch(f"/api/v1/contacts/{contact.pk}/", {"first_name": "Pat"}, format="json")
    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.first_name == "Pat"
    refused = admin_client.patch(
        f"/api/v1/contacts/{contact.pk}/", {"acquired_at": "1800-01-02T00:00:00Z"}, format="json"
    )
    assert refused.status_code == 400
