"""Receivers that turn domain events into play work. They only enqueue tasks (no logic here)."""

import logging

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from plays.tasks import handle_touchpoints_task, handle_transitions_task
from stages.signals import stage_changed

logger = logging.getLogger(__name__)


@receiver(stage_changed, dispatch_uid="plays.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    try:
        handle_transitions_task.delay(list(transition_ids))
    except Exception:  # the broker is down: the transitions are stored, but these plays miss them
        logger.exception("Could not enqueue plays for %d transition(s)", len(transition_ids))


@receiver(touchpoints_created, dispatch_uid="plays.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids, **kwargs) -> None:
    try:
        handle_touchpoints_task.delay(list(touchpoint_ids))
    except Exception:
        logger.exception("Could not enqueue plays for %d touchpoint(s)", len(touchpoint_ids))
