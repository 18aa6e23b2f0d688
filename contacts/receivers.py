"""Receivers of the contacts' own events: they only enqueue the contacts' tasks (no logic here).

The services announce a write with a signal instead of importing contacts.tasks, whose tasks
import the services: the direction stays services <- tasks <- receivers, with no circle. The
signals are sent inside the write's transaction, so the task is an outbox row committed with
the data (outbox.services): a broker outage neither fails the write nor loses its follow-up.
"""

from __future__ import annotations

from django.dispatch import receiver

from contacts.signals import touchpoints_stored
from outbox.services import outbox_enqueue


@receiver(touchpoints_stored, dispatch_uid="contacts.touchpoints_stored")
def on_touchpoints_stored(sender, touchpoint_ids, contact_ids, announce: bool = True, **kwargs) -> None:
    """In the write's transaction: one outbox event per write, the follow-up fans out in a worker.

    Publishing the evaluation, the plays trigger and the webhook event from the request cost two
    or three broker round trips, so one task (touchpoints_created_task) does it in a worker.
    """
    args = [list(touchpoint_ids), list(contact_ids)] if announce else [list(touchpoint_ids), list(contact_ids), False]
    outbox_enqueue(task="contacts.tasks.touchpoints_created_task", args=args)
