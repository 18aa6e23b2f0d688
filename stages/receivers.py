"""Receivers that turn contact events into stage work: they only enqueue the evaluation (no logic here)."""

from django.dispatch import receiver

from contacts.signals import touchpoints_changed
from stages.services import lifecycle_enqueue_evaluation


@receiver(touchpoints_changed, dispatch_uid="stages.touchpoints_changed")
def on_touchpoints_changed(sender, contact_ids, **kwargs) -> None:
    lifecycle_enqueue_evaluation(contact_ids=list(contact_ids))
