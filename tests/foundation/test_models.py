"""Database constraints and seeded data of the foundation."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from contacts.models import Touchpoint
from stages.models import Stage
from tests.factories import ContactFactory, TagFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def test_seeded_stages_exist_in_path_order():
    slugs = list(Stage.objects.order_by("position").values_list("slug", flat=True))
    assert slugs == [
        "awareness",
        "engagement",
        "consideration",
        "purchase",
        "retention",
        "loyalty",
        "advocacy",
        "at_risk",
        "churned",
    ]
    categories = dict(Stage.objects.values_list("slug", "category"))
    assert categories["awareness"] == "prospect"
    assert categories["purchase"] == "customer"
    assert categories["churned"] == "exit"


def test_contact_email_is_unique_case_insensitively():
    ContactFactory(email="Ann@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(email="ann@example.COM")


def test_contact_external_id_unique_when_set_but_many_may_be_empty():
    ContactFactory(external_id="shop-1")
    ContactFactory(external_id=None)
    ContactFactory(external_id=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(external_id="shop-1")


def test_touchpoint_external_id_unique_per_source_only():
    contact = ContactFactory()
    TouchpointFactory(contact=contact, source="api", external_id="evt-1")
    TouchpointFactory(contact=contact, source="import", external_id="evt-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        TouchpointFactory(contact=contact, source="api", external_id="evt-1")


def test_amount_only_on_purchases_and_refunds():
    contact = ContactFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Touchpoint.objects.create(contact=contact, kind="site_visit", amount=Decimal("5"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Touchpoint.objects.create(contact=contact, kind="purchase", amount=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Touchpoint.objects.create(contact=contact, kind="purchase", amount=Decimal("-1"))
    assert Touchpoint.objects.create(contact=contact, kind="refund", amount=Decimal("5")).pk


def test_score_only_on_surveys_and_within_range():
    contact = ContactFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Touchpoint.objects.create(contact=contact, kind="survey_response", score=11)
    with pytest.raises(IntegrityError), transaction.atomic():
        Touchpoint.objects.create(contact=contact, kind="call", score=5)
    assert Touchpoint.objects.create(contact=contact, kind="survey_response", score=10).pk


def test_tag_names_unique_case_insensitively():
    TagFactory(name="VIP")
    with pytest.raises(IntegrityError), transaction.atomic():
        TagFactory(name="vip")
