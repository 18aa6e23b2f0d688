"""Receivers that turn the contacts' events into stage evaluations. They only enqueue tasks (no logic here)."""

from __future__ import annotations

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from stages import tasks


@receiver(touchpoints_created, dispatch_uid="stages.touchpoints_created")
def on_touchpoints_created(sender, contact_ids=None, **kwargs) -> None:
    """New touchpoints: re-evaluate their contacts' stages in real time (the nightly run catches up a miss)."""
    if contact_ids:
        tasks.lifecycle_enqueue_evaluation(contact_ids=list(contact_ids))
