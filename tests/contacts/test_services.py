"""The one write path for contacts and touchpoints: validation, idempotency, attribution, after-commit hooks."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from contacts import services, touchpoint_services
from contacts.models import Contact, Touchpoint
from stages.models import StageTransition
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_contact_create_places_contact_in_first_stage_with_a_first_transition():
    contact = services.contact_create(data={"email": " Ann@Example.com ", "first_name": "Ann", "tags": ["VIP", "vip"]})
    assert contact.email == "Ann@Example.com"
    assert contact.stage.slug == "awareness"
    assert list(contact.tags.values_list("name", flat=True)) == ["VIP"]
    transition = StageTransition.objects.get(contact=contact)
    assert transition.from_stage is None
    assert transition.to_stage.slug == "awareness"


def test_contact_create_refuses_duplicate_email_in_another_case_and_writes_nothing():
    services.contact_create(data={"email": "ann@example.com"})
    with pytest.raises(ValidationError) as exc:
        services.contact_create(data={"email": "ANN@example.com"})
    assert "email" in exc.value.message_dict
    assert Contact.objects.count() == 1
    assert StageTransition.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a@example.com", "acquisition_channel": "carrier-pigeon"}, "acquisition_channel"),
        ({"email": "a@example.com", "attributes": ["not", "an", "object"]}, "attributes"),
        ({"email": "a@example.com", "stage": "nowhere"}, "stage"),
        ({"email": "a@example.com", "shoe_size": 44}, "shoe_size"),
    ],
)
def test_contact_create_names_the_bad_field(data, field):
    with pytest.raises(ValidationError) as exc:
        services.contact_create(data=data)
    assert field in exc.value.message_dict
    assert not Contact.objects.exists()


def test_contact_upsert_matches_external_id_then_email():
    first, created = services.contact_upsert(data={"email": "bo@example.com", "external_id": "shop-7"})
    assert created
    same, created = services.contact_upsert(data={"email": "BO@example.com", "company": "Acme"})
    assert not created and same.pk == first.pk and same.company == "Acme"
    again, created = services.contact_upsert(data={"external_id": "shop-7", "email": "bo.new@example.com"})
    assert not created and again.pk == first.pk and again.email == "bo.new@example.com"


def test_contact_update_refuses_stage_changes_without_a_move():
    contact = ContactFactory()
    with pytest.raises(ValidationError) as exc:
        services.contact_update(contact=contact, data={"stage": "loyalty"})
    assert "stage" in exc.value.message_dict


def test_touchpoint_create_is_idempotent_by_source_and_external_id():
    contact = ContactFactory()
    row = {"contact": contact.pk, "kind": "purchase", "amount": "19.90", "external_id": "order-1"}
    first = touchpoint_services.touchpoint_create(data=row, source="api")
    again = touchpoint_services.touchpoint_create(data=row, source="api")
    assert first.created and not again.created
    assert again.touchpoint.pk == first.touchpoint.pk
    assert Touchpoint.objects.count() == 1
    other_source = touchpoint_services.touchpoint_create(data=row, source="import")
    assert other_source.created


def test_bulk_batch_with_one_bad_item_writes_nothing_and_reports_per_item():
    contact = ContactFactory()
    rows = [
        {"contact": contact.pk, "kind": "site_visit", "external_id": "v1"},
        {"contact": contact.pk, "kind": "purchase"},  # no amount
        {"contact_email": "nobody@example.com", "kind": "call"},
        {"contact": contact.pk, "kind": "survey_response", "score": 11},
    ]
    with pytest.raises(touchpoint_services.BatchValidationError) as exc:
        touchpoint_services.touchpoint_bulk_create(rows=rows, source="api")
    errors = exc.value.errors_by_index
    assert set(errors) == {1, 3}  # contact resolution runs only once every item is well-formed
    assert "amount" in errors[1] and "score" in errors[3]
    assert not Touchpoint.objects.exists()
    rows[1]["amount"], rows[3]["score"] = "10", 9
    with pytest.raises(touchpoint_services.BatchValidationError) as exc:
        touchpoint_services.touchpoint_bulk_create(rows=rows, source="api")
    assert set(exc.value.errors_by_index) == {2}
    assert "contact_email" in exc.value.errors_by_index[2]
    assert not Touchpoint.objects.exists()


def test_bulk_resolves_contacts_by_external_id_and_email_case_insensitively():
    ann = ContactFactory(email="Ann@Example.com", external_id="crm-1")
    results = touchpoint_services.touchpoint_bulk_create(
        rows=[
            {"contact_external_id": "crm-1", "kind": "email_open"},
            {"contact_email": "ann@example.com", "kind": "email_click"},
        ],
        source="api",
    )
    assert [r.touchpoint.contact_id for r in results] == [ann.pk, ann.pk]
    assert all(r.created for r in results)


def test_repeated_external_id_inside_one_batch_is_stored_once():
    contact = ContactFactory()
    row = {"contact": contact.pk, "kind": "site_visit", "external_id": "dup"}
    results = touchpoint_services.touchpoint_bulk_create(rows=[row, dict(row)], source="api")
    assert [r.created for r in results] == [True, False]
    assert results[0].touchpoint.pk == results[1].touchpoint.pk
    assert Touchpoint.objects.count() == 1


def test_utm_campaign_matching_a_campaign_code_attributes_the_touchpoint():
    campaign = CampaignFactory(utm_campaign="spring-sale")
    contact = ContactFactory()
    result = touchpoint_services.touchpoint_create(
        data={"contact": contact.pk, "kind": "ad_click", "utm_campaign": "spring-sale", "utm_source": "google"},
        source="api",
    )
    assert result.touchpoint.campaign_id == campaign.pk
    assert result.touchpoint.utm_source == "google"


def test_batch_size_is_capped():
    with pytest.raises(ValidationError):
        touchpoint_services.touchpoint_bulk_create(rows=[{}] * (touchpoint_services.MAX_BATCH + 1), source="api")


def test_amount_is_rounded_to_cents_and_dates_accept_plain_days():
    contact = ContactFactory()
    result = touchpoint_services.touchpoint_create(
        data={"contact": contact.pk, "kind": "purchase", "amount": "10.005", "occurred_at": "2026-01-31"},
        source="api",
    )
    assert result.touchpoint.amount == Decimal("10.01") or result.touchpoint.amount == Decimal("10.00")
    assert result.touchpoint.occurred_at.date() == dt.date(2026, 1, 31)


def test_future_dates_and_garbage_dates_are_refused():
    contact = ContactFactory()
    for value in ("2999-01-01T00:00:00Z", "yesterday", 12):
        with pytest.raises(ValidationError) as exc:
            touchpoint_services.touchpoint_create(data={"contact": contact.pk, "kind": "call", "occurred_at": value})
        assert "occurred_at" in exc.value.message_dict


def test_evaluation_is_enqueued_after_commit_for_touched_contacts(django_capture_on_commit_callbacks):
    contact = ContactFactory()
    with mock.patch("stages.tasks.lifecycle_enqueue_evaluation") as enqueue:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            touchpoint_services.touchpoint_create(data={"contact": contact.pk, "kind": "call"})
        assert not enqueue.called  # nothing before commit
        for callback in callbacks:
            callback()
    enqueue.assert_called_once_with(contact_ids=[contact.pk])


def test_a_retried_push_enqueues_nothing(django_capture_on_commit_callbacks):
    contact = ContactFactory()
    row = {"contact": contact.pk, "kind": "call", "external_id": "c-1"}
    touchpoint_services.touchpoint_create(data=row, source="api")
    with django_capture_on_commit_callbacks() as callbacks:
        touchpoint_services.touchpoint_create(data=row, source="api")
    assert callbacks == []


def test_broker_down_still_keeps_the_touchpoint(django_capture_on_commit_callbacks):
    contact = ContactFactory()
    with (
        mock.patch("stages.tasks.evaluate_contacts_task.delay", side_effect=ConnectionError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = touchpoint_services.touchpoint_create(data={"contact": contact.pk, "kind": "call"})
    assert Touchpoint.objects.filter(pk=result.touchpoint.pk).exists()
