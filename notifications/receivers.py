"""Receivers that turn domain events into notification work: they only enqueue tasks (no logic here).

The signals are sent inside the write's transaction: each task is an outbox row committed with
the data (outbox.services), published after commit.
"""

from django.dispatch import receiver

from contacts.signals import import_finished
from outbox.services import outbox_enqueue
from stages.signals import stage_changed


@receiver(stage_changed, dispatch_uid="notifications.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    outbox_enqueue(task="notifications.tasks.notify_transitions_task", args=[list(transition_ids)])


@receiver(import_finished, dispatch_uid="notifications.import_finished")
def on_import_finished(sender, job_id, **kwargs) -> None:
    outbox_enqueue(task="notifications.tasks.notify_import_task", args=[job_id])
