"""Receivers that turn domain events into play work. They only enqueue tasks (no logic here).

The signals are sent inside the write's transaction, so each receiver stores its task as an
outbox row committed with the data (outbox.services): nothing is lost while the broker is down.
"""

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from outbox.services import outbox_enqueue
from stages.signals import stage_changed


@receiver(stage_changed, dispatch_uid="plays.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    outbox_enqueue(task="plays.tasks.handle_transitions_task", args=[list(transition_ids)])


@receiver(touchpoints_created, dispatch_uid="plays.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids, **kwargs) -> None:
    outbox_enqueue(task="plays.tasks.handle_touchpoints_task", args=[list(touchpoint_ids)])
