"""Receivers that turn domain events into play work. They only enqueue tasks (no logic here)."""

import logging

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from loyalty.signals import referral_converted, reward_redeemed, tier_changed
from plays.tasks import (
    handle_redemptions_task,
    handle_referrals_task,
    handle_tier_changes_task,
    handle_touchpoints_task,
    handle_transitions_task,
)
from stages.signals import stage_changed

logger = logging.getLogger(__name__)


@receiver(stage_changed, dispatch_uid="plays.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    try:
        handle_transitions_task.delay(list(transition_ids))
    except Exception:  # the broker is down: the transitions are stored, but these plays miss them
        logger.exception("Could not enqueue plays for %d transition(s)", len(transition_ids))


@receiver(touchpoints_created, dispatch_uid="plays.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids, announce: bool = True, **kwargs) -> None:
    if not announce:  # imported history triggers no play (issue 17)
        return
    try:
        handle_touchpoints_task.delay(list(touchpoint_ids))
    except Exception:
        logger.exception("Could not enqueue plays for %d touchpoint(s)", len(touchpoint_ids))


def _enqueue(task, ids: list[int]) -> None:
    try:
        task.delay(list(ids))
    except Exception:  # the broker is down: the loyalty facts are stored, but these plays miss them
        logger.exception("Could not enqueue plays (%s) for %d object(s)", task.name, len(ids))


@receiver(tier_changed, dispatch_uid="plays.tier_changed")
def on_tier_changed(sender, change_ids, **kwargs) -> None:
    _enqueue(handle_tier_changes_task, change_ids)


@receiver(reward_redeemed, dispatch_uid="plays.reward_redeemed")
def on_reward_redeemed(sender, redemption_ids, **kwargs) -> None:
    _enqueue(handle_redemptions_task, redemption_ids)


@receiver(referral_converted, dispatch_uid="plays.referral_converted")
def on_referral_converted(sender, referral_ids, **kwargs) -> None:
    _enqueue(handle_referrals_task, referral_ids)
