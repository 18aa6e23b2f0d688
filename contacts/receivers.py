"""Receivers of the contacts' own events: they only enqueue the contacts' tasks (no logic here).

The services announce a write with a signal instead of importing contacts.tasks, whose tasks
import the services: the direction stays services <- tasks <- receivers, with no circle.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from contacts.signals import touchpoints_stored
from contacts.tasks import touchpoints_created_task

logger = logging.getLogger(__name__)


@receiver(touchpoints_stored, dispatch_uid="contacts.touchpoints_stored")
def on_touchpoints_stored(sender, touchpoint_ids, contact_ids, **kwargs) -> None:
    """After commit: one publish per write, the follow-up work fans out in a worker (touchpoints_created_task).

    Publishing the evaluation, the plays trigger and the webhook event from the request
    cost two or three broker round trips. If the broker is unreachable the touchpoints are
    already stored: the failure is logged and the nightly recompute catches the stages up
    (plays and webhooks miss these rows, as before).
    """
    try:
        # argsrepr: Celery would otherwise build a safe repr of up to 2,000 ids for the message headers.
        touchpoints_created_task.apply_async(
            (touchpoint_ids, contact_ids),
            argsrepr=f"({len(touchpoint_ids)} touchpoint ids, {len(contact_ids)} contact ids)",
        )
    except Exception:  # kombu raises transport-specific errors when the broker is down
        logger.exception(
            "Could not enqueue the follow-up of %d new touchpoint(s) (stage evaluation, plays, webhooks);"
            " the nightly run will catch up the stages",
            len(touchpoint_ids),
        )
