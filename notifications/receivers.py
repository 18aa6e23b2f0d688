"""Receivers that turn domain events into notification work: they only enqueue tasks (no logic here)."""

import logging

from django.dispatch import receiver

from contacts.signals import import_finished
from stages.signals import stage_changed

logger = logging.getLogger(__name__)


@receiver(stage_changed, dispatch_uid="notifications.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    from notifications.tasks import notify_transitions_task

    try:
        notify_transitions_task.delay(list(transition_ids))
    except Exception:  # the broker is down: the moves are stored; the bell misses these
        logger.exception("Could not enqueue notifications for %d transition(s)", len(transition_ids))


@receiver(import_finished, dispatch_uid="notifications.import_finished")
def on_import_finished(sender, job_id, **kwargs) -> None:
    from notifications.tasks import notify_import_task

    try:
        notify_import_task.delay(job_id)
    except Exception:
        logger.exception("Could not enqueue the notification of import %s", job_id)
