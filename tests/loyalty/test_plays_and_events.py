"""Plays react to loyalty events (tier entered, reward redeemed, referral converted) — only new and current ones."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.codes import referral_code
from loyalty.models import Programme, Reward, Tier, TierChange
from loyalty.services import (
    loyalty_nightly,
    loyalty_process_touchpoints,
    points_adjust,
    referral_sign_up,
    reward_redeem,
)
from plays.models import PlayRun
from tests.factories import ContactFactory, TouchpointFactory
from tests.plays.conftest import make_play

pytestmark = pytest.mark.django_db

NOTE = {"action_type": "create_task", "task_title": "Thank them"}


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run after-commit callbacks (loyalty signals → play tasks) inside the test transaction."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _silver() -> Tier:
    return Tier.objects.get(programme__is_default=True, slug="silver")


def test_entering_a_tier_runs_the_tier_play_once(run_on_commit):
    play = make_play(trigger_type="tier_entered", trigger_tier=_silver(), actions=[NOTE])
    contact = ContactFactory()
    purchase = TouchpointFactory(contact=contact, kind="purchase", amount=Decimal("700.00"), occurred_at=timezone.now())
    with run_on_commit():
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    with run_on_commit():
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    runs = PlayRun.objects.filter(play=play, contact=contact)
    assert runs.count() == 1 and runs.get().occurrence_key.startswith("tier_change:")


def test_imported_history_changes_tiers_silently(run_on_commit):
    play = make_play(trigger_type="tier_entered", trigger_tier=_silver(), actions=[NOTE])
    contact = ContactFactory()
    old = TouchpointFactory(
        contact=contact,
        kind="purchase",
        amount=Decimal("700.00"),
        occurred_at=timezone.now() - dt.timedelta(days=30),
        source="import",
    )
    with run_on_commit():
        loyalty_process_touchpoints(touchpoint_ids=[old.pk])
    assert TierChange.objects.filter(to_tier=_silver(), announced=False).exists()
    assert not PlayRun.objects.filter(play=play).exists()


def test_first_nightly_run_is_a_backfill_and_announces_nothing(run_on_commit):
    play = make_play(trigger_type="tier_entered", trigger_tier=_silver(), actions=[NOTE])
    TouchpointFactory(kind="purchase", amount=Decimal("700.00"), occurred_at=timezone.now() - dt.timedelta(days=3))
    assert Programme.objects.get(is_default=True).touchpoints_through == 0
    with run_on_commit():
        loyalty_nightly()
    assert TierChange.objects.filter(announced=False).exists()
    assert not PlayRun.objects.filter(play=play).exists()


def test_redemption_and_referral_plays(run_on_commit):
    redeemed = make_play(trigger_type="reward_redeemed", actions=[NOTE])
    converted = make_play(trigger_type="referral_converted", actions=[NOTE])
    referrer, friend = ContactFactory(), ContactFactory()
    points_adjust(contact=referrer, points=300, note="Gift")
    with run_on_commit():
        reward_redeem(contact=referrer, reward=Reward.objects.get(name="Free shipping"))
    referral_sign_up(contact=friend, code=referral_code(referrer.pk))
    purchase = TouchpointFactory(contact=friend, kind="purchase", occurred_at=timezone.now())
    with run_on_commit():
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    assert PlayRun.objects.filter(play=redeemed, contact=referrer).count() == 1
    assert PlayRun.objects.filter(play=converted, contact=referrer).count() == 1


def test_a_tier_play_without_a_tier_is_refused_with_a_field_message():
    from django.core.exceptions import ValidationError

    from plays.models import Play
    from plays.services import play_validate

    with pytest.raises(ValidationError) as exc:
        play_validate(play=Play(name="Gold welcome", trigger_type="tier_entered"))
    assert "trigger_tier" in exc.value.message_dict
