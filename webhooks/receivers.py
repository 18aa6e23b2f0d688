"""Signal receivers: turn domain events into a publish task, only when someone subscribed to that event.

The signals are sent inside the write's transaction: the task is an outbox row committed with
the data (outbox.services), so an event is never lost to a broker outage (docs/API.md: at least once).
"""

from __future__ import annotations

from django.conf import settings
from django.dispatch import receiver

from contacts.signals import contacts_created, touchpoints_created
from outbox.services import outbox_enqueue
from stages.signals import stage_changed
from webhooks.models import WebhookEvent


def _publish(event: str, ids: list[int] | None) -> None:
    if not ids or not getattr(settings, "WEBHOOKS_DELIVERY_ENABLED", True):
        return
    from webhooks.services import webhook_active_events

    if event not in webhook_active_events():
        return
    outbox_enqueue(task="webhooks.tasks.webhook_publish_task", args=[event, list(ids)])


@receiver(contacts_created, dispatch_uid="webhooks.contacts_created")
def on_contacts_created(sender, contact_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.CONTACT_CREATED, contact_ids)


@receiver(touchpoints_created, dispatch_uid="webhooks.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.TOUCHPOINT_CREATED, touchpoint_ids)


@receiver(stage_changed, dispatch_uid="webhooks.stage_changed")
def on_stage_changed(sender, transition_ids=None, **kwargs) -> None:
    _publish(WebhookEvent.CONTACT_STAGE_CHANGED, transition_ids)
