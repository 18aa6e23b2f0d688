"""Receivers that turn the contacts' events into stage evaluations. They only enqueue tasks (no logic here).

The signals are sent inside the write's transaction: each task is an outbox row committed with
the data (outbox.services), so a broker outage neither fails the write nor loses the work.
"""

from __future__ import annotations

from django.dispatch import receiver

from contacts.signals import touchpoints_changed, touchpoints_created
from outbox.services import outbox_enqueue
from stages import tasks
from stages.signals import rule_application_queued


@receiver(touchpoints_created, dispatch_uid="stages.touchpoints_created")
def on_touchpoints_created(sender, contact_ids=None, announce: bool = True, **kwargs) -> None:
    """New touchpoints: re-evaluate their contacts' stages in real time (the nightly run catches up a miss).

    Imported ones (`announce=False`) are evaluated quietly: their moves cause no side effects (issue 17).
    """
    if contact_ids:
        if announce:
            tasks.lifecycle_enqueue_evaluation(contact_ids=list(contact_ids))
        else:
            tasks.lifecycle_enqueue_evaluation(contact_ids=list(contact_ids), announce=False)


@receiver(rule_application_queued, dispatch_uid="stages.rule_application_queued")
def on_rule_application_queued(sender, application_id: int, **kwargs) -> None:
    """A saved rule change: apply it to every contact in the background (the nightly run applies it anyway)."""
    outbox_enqueue(task="stages.tasks.rule_application_task", args=[application_id])


@receiver(touchpoints_changed, dispatch_uid="stages.touchpoints_changed")
def on_touchpoints_changed(sender, contact_ids, **kwargs) -> None:
    """Touchpoints edited, deleted or restored by hand: re-evaluate their contacts (stage and metrics)."""
    if contact_ids:
        tasks.lifecycle_enqueue_evaluation(contact_ids=list(contact_ids))
