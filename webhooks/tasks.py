"""Celery tasks of webhooks: thin wrappers over webhooks.services and webhooks.delivery."""

from celery import shared_task

from outbox.services import outbox_enqueue
from webhooks.delivery import webhook_backoff, webhook_deliver
from webhooks.services import webhook_event_publish, webhook_requeue_stale


@shared_task(bind=True, acks_late=True, time_limit=120)
def webhook_deliver_task(self, delivery_id: int) -> str | None:
    """Attempt one delivery; on failure queue the next with exponential backoff until WEBHOOKS_MAX_ATTEMPTS."""
    delivery, retry = webhook_deliver(delivery_id=delivery_id)
    # In-process mode (no broker: tasks run eagerly) there is no worker to come back later,
    # so the attempts follow each other at once; with a worker, Celery waits out the backoff.
    while retry and self.request.is_eager:
        delivery, retry = webhook_deliver(delivery_id=delivery_id)
    if retry:
        # The next attempt waits in the outbox, not as a countdown message a worker holds: a
        # backoff longer than the broker's visibility timeout would be handed out twice.
        outbox_enqueue(
            task="webhooks.tasks.webhook_deliver_task",
            args=[delivery_id],
            delay_seconds=webhook_backoff(attempt=delivery.attempts),
        )
    return delivery.status if delivery else None


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=300)
def webhook_publish_task(event: str, object_ids: list[int]) -> int:
    """Fan an event out into deliveries (one per subscriber per 100 objects).

    Idempotent: a delivery is keyed by its event, subscription and objects, so the event
    handed out twice (a redelivered message, a republished outbox row) makes no second one.
    """
    return len(webhook_event_publish(event=event, object_ids=object_ids))


@shared_task(acks_late=True, time_limit=120)
def webhook_requeue_stale_task() -> int:
    """Beat: enqueue again deliveries left pending or whose retry was lost."""
    return webhook_requeue_stale()
