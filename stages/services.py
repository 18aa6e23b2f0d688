"""Writes of the lifecycle engine. (The evaluation itself lives in stages.engine.)"""

import logging
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def lifecycle_enqueue_evaluation(*, contact_ids: Sequence[int]) -> None:
    """Ask a worker to re-evaluate these contacts' stages; call it after commit.

    If the broker is unreachable the touchpoints are already stored, so nothing is lost:
    the failure is logged and the nightly recompute catches these contacts up.
    """
    from stages.tasks import evaluate_contacts_task

    if not contact_ids:
        return
    try:
        evaluate_contacts_task.delay(list(contact_ids))
    except Exception:  # kombu raises transport-specific errors when the broker is down
        logger.exception(
            "Could not enqueue evaluation of %d contact(s); the nightly run will catch up", len(contact_ids)
        )
