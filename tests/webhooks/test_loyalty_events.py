"""Webhooks on loyalty events: a redemption, a converted referral and a tier move are delivered; history is not."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from loyalty.codes import referral_code
from loyalty.models import Reward
from loyalty.services import loyalty_process_touchpoints, points_adjust, referral_sign_up, reward_redeem
from tests.factories import ContactFactory, TouchpointFactory
from webhooks.services import webhook_subscription_create

pytestmark = pytest.mark.django_db

LOCAL = override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=True, WEBHOOKS_DELIVERY_ENABLED=True)
EVENTS = ["loyalty.tier_changed", "loyalty.reward_redeemed", "loyalty.referral_converted"]


@LOCAL
def test_loyalty_events_are_delivered(receiver, django_capture_on_commit_callbacks):
    webhook_subscription_create(name="shop", url=receiver.url, events=EVENTS)
    referrer, friend = ContactFactory(), ContactFactory()
    points_adjust(contact=referrer, points=300, note="Gift")
    with django_capture_on_commit_callbacks(execute=True):
        reward_redeem(contact=referrer, reward=Reward.objects.get(name="Free shipping"))
    referral_sign_up(contact=friend, code=referral_code(referrer.pk))
    purchase = TouchpointFactory(contact=friend, kind="purchase", amount=Decimal("900.00"), occurred_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    by_type = {r.json["type"]: r.json["data"] for r in receiver.requests}
    assert by_type["loyalty.reward_redeemed"]["redemptions"][0]["reward"]["name"] == "Free shipping"
    assert by_type["loyalty.referral_converted"]["referrals"][0]["referrer"]["id"] == referrer.pk
    tiers = [
        t for r in receiver.requests if r.json["type"] == "loyalty.tier_changed" for t in r.json["data"]["tier_changes"]
    ]
    assert {(t["contact"]["id"], t["to_tier"]) for t in tiers} == {(friend.pk, "silver"), (referrer.pk, "silver")}


@LOCAL
def test_imported_history_sends_no_tier_event(receiver, django_capture_on_commit_callbacks):
    webhook_subscription_create(name="shop", url=receiver.url, events=EVENTS)
    old = TouchpointFactory(
        kind="purchase", amount=Decimal("900.00"), occurred_at=timezone.now() - dt.timedelta(days=20), source="import"
    )
    with django_capture_on_commit_callbacks(execute=True):
        loyalty_process_touchpoints(touchpoint_ids=[old.pk])
    assert receiver.requests == []
