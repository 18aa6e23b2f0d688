"""Signal receivers: turn domain events into a publish task, only when someone subscribed to that event."""

from __future__ import annotations

import logging

from django.conf import settings
from django.dispatch import receiver

from contacts.signals import contacts_created, touchpoints_created
from stages.signals import stage_changed
from webhooks.models import WebhookEvent
from webhooks.services import webhook_active_events
from webhooks.signals import deliveries_due
from webhooks.tasks import webhook_deliver_task, webhook_publish_task

logger = logging.getLogger(__name__)


def _publish(event: str, ids: list[int] | None) -> None:
    if not ids or not getattr(settings, "WEBHOOKS_DELIVERY_ENABLED", True):
        return
    if event not in webhook_active_events():
        return
    try:
        webhook_publish_task.delay(event, list(ids))
    except Exception:  # a broker outage must not fail the write that already committed
        logger.exception("Could not enqueue webhook event %s for %d object(s)", event, len(ids))


@receiver(contacts_created, dispatch_uid="webhooks.contacts_created")
def on_contacts_created(sender, contact_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.CONTACT_CREATED, contact_ids)


@receiver(touchpoints_created, dispatch_uid="webhooks.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.TOUCHPOINT_CREATED, touchpoint_ids)


@receiver(stage_changed, dispatch_uid="webhooks.stage_changed")
def on_stage_changed(sender, transition_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.CONTACT_STAGE_CHANGED, transition_ids)


@receiver(deliveries_due, dispatch_uid="webhooks.deliveries_due")
def on_deliveries_due(sender, delivery_ids, **kwargs) -> None:
    for delivery_id in delivery_ids:
        try:
            webhook_deliver_task.delay(delivery_id)
        except Exception:  # broker down: the delivery stays `pending` in the log rather than failing the request
            logger.exception("Could not enqueue webhook delivery %s; it stays pending", delivery_id)
