"""Receivers that turn domain events into play work. They only enqueue tasks (no logic here).

The signals are sent inside the write's transaction, so each receiver stores its task as an
outbox row committed with the data (outbox.services): nothing is lost while the broker is down.
"""

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from loyalty.signals import referral_converted, reward_redeemed, tier_changed
from outbox.services import outbox_enqueue
from stages.signals import stage_changed


@receiver(stage_changed, dispatch_uid="plays.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    outbox_enqueue(task="plays.tasks.handle_transitions_task", args=[list(transition_ids)])


@receiver(touchpoints_created, dispatch_uid="plays.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids, announce: bool = True, **kwargs) -> None:
    if not announce:  # imported history triggers no play (issue 17)
        return
    outbox_enqueue(task="plays.tasks.handle_touchpoints_task", args=[list(touchpoint_ids)])


@receiver(tier_changed, dispatch_uid="plays.tier_changed")
def on_tier_changed(sender, change_ids, **kwargs) -> None:
    if change_ids:
        outbox_enqueue(task="plays.tasks.handle_tier_changes_task", args=[list(change_ids)])


@receiver(reward_redeemed, dispatch_uid="plays.reward_redeemed")
def on_reward_redeemed(sender, redemption_ids, **kwargs) -> None:
    if redemption_ids:
        outbox_enqueue(task="plays.tasks.handle_redemptions_task", args=[list(redemption_ids)])


@receiver(referral_converted, dispatch_uid="plays.referral_converted")
def on_referral_converted(sender, referral_ids, **kwargs) -> None:
    if referral_ids:
        outbox_enqueue(task="plays.tasks.handle_referrals_task", args=[list(referral_ids)])
