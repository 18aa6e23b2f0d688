"""Signal receivers: turn domain events into a publish task, only when someone subscribed to that event.

The signals are sent inside the write's transaction: the task is an outbox row committed with
the data (outbox.services), so an event is never lost to a broker outage (docs/API.md: at least once).
"""

from __future__ import annotations

from django.conf import settings
from django.dispatch import receiver

from contacts.signals import contacts_created, touchpoints_created
from loyalty.signals import referral_converted, reward_redeemed, tier_changed
from outbox.services import outbox_enqueue
from stages.signals import stage_changed
from webhooks.models import WebhookEvent
from webhooks.services import webhook_active_events
from webhooks.signals import deliveries_due


def _publish(event: str, ids: list[int] | None) -> None:
    if not ids or not getattr(settings, "WEBHOOKS_DELIVERY_ENABLED", True):
        return
    if event not in webhook_active_events():
        return
    outbox_enqueue(task="webhooks.tasks.webhook_publish_task", args=[event, list(ids)])


@receiver(contacts_created, dispatch_uid="webhooks.contacts_created")
def on_contacts_created(sender, contact_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.CONTACT_CREATED, contact_ids)


@receiver(touchpoints_created, dispatch_uid="webhooks.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids=None, announce: bool = True, **kwargs) -> None:
    if announce:  # imported history publishes no webhook (issue 17)
        _publish(WebhookEvent.TOUCHPOINT_CREATED, touchpoint_ids)


@receiver(stage_changed, dispatch_uid="webhooks.stage_changed")
def on_stage_changed(sender, transition_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.CONTACT_STAGE_CHANGED, transition_ids)


@receiver(deliveries_due, dispatch_uid="webhooks.deliveries_due")
def on_deliveries_due(sender, delivery_ids, **kwargs) -> None:
    """One outbox event per delivery, in the caller's transaction (published after commit)."""
    for delivery_id in delivery_ids:
        outbox_enqueue(task="webhooks.tasks.webhook_deliver_task", args=[delivery_id])


@receiver(tier_changed, dispatch_uid="webhooks.tier_changed")
def on_tier_changed(sender, change_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.LOYALTY_TIER_CHANGED, change_ids)


@receiver(reward_redeemed, dispatch_uid="webhooks.reward_redeemed")
def on_reward_redeemed(sender, redemption_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.LOYALTY_REWARD_REDEEMED, redemption_ids)


@receiver(referral_converted, dispatch_uid="webhooks.referral_converted")
def on_referral_converted(sender, referral_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.LOYALTY_REFERRAL_CONVERTED, referral_ids)
