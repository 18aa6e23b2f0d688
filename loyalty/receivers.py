"""Receivers that turn domain events into loyalty work. They only enqueue tasks (no logic here)."""

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from stages.signals import stage_changed


@receiver(touchpoints_created, dispatch_uid="loyalty.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids, **kwargs) -> None:
    from loyalty.services import loyalty_enqueue_touchpoints

    loyalty_enqueue_touchpoints(touchpoint_ids=list(touchpoint_ids))


@receiver(stage_changed, dispatch_uid="loyalty.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    from loyalty.services import loyalty_enqueue_transitions

    loyalty_enqueue_transitions(transition_ids=list(transition_ids))
