"""Receivers that turn domain events into loyalty work. They only enqueue tasks (no logic here).

The signals are sent inside the write's transaction: each task is an outbox row committed with
the data (outbox.services), so a broker outage neither fails the write nor loses the work.
"""

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from outbox.services import outbox_enqueue
from stages.signals import stage_changed


@receiver(touchpoints_created, dispatch_uid="loyalty.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids, **kwargs) -> None:
    if not touchpoint_ids:
        return
    outbox_enqueue(task="loyalty.tasks.loyalty_touchpoints_task", args=[list(touchpoint_ids)])


@receiver(stage_changed, dispatch_uid="loyalty.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    if not transition_ids:
        return
    outbox_enqueue(task="loyalty.tasks.loyalty_transitions_task", args=[list(transition_ids)])
