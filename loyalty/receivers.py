"""Receivers that turn domain events into loyalty work. They only enqueue tasks (no logic here).

A broker failure is logged, not raised: the facts are stored, and the nightly run catches up.
"""

import logging

from django.dispatch import receiver

from contacts.signals import touchpoints_created
from loyalty.tasks import loyalty_touchpoints_task, loyalty_transitions_task
from stages.signals import stage_changed

logger = logging.getLogger(__name__)


@receiver(touchpoints_created, dispatch_uid="loyalty.touchpoints_created")
def on_touchpoints_created(sender, touchpoint_ids, **kwargs) -> None:
    if not touchpoint_ids:
        return
    try:
        loyalty_touchpoints_task.delay(list(touchpoint_ids))
    except Exception:  # kombu raises transport-specific errors when the broker is down
        logger.exception("Could not enqueue loyalty earning for %d touchpoint(s)", len(touchpoint_ids))


@receiver(stage_changed, dispatch_uid="loyalty.stage_changed")
def on_stage_changed(sender, transition_ids, **kwargs) -> None:
    if not transition_ids:
        return
    try:
        loyalty_transitions_task.delay(list(transition_ids))
    except Exception:
        logger.exception("Could not enqueue loyalty bonuses for %d transition(s)", len(transition_ids))
