"""The transactional outbox: one row per task to publish, written in the same transaction as the data.

A write never talks to the broker: it stores an `OutboxEvent` next to its rows, and the
relay (outbox.services) publishes pending events to Celery after commit and from beat,
so nothing is lost while Redis is down and delivery resumes within seconds of its return.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxEvent(models.Model):
    """A Celery task (by name) and its JSON arguments, waiting to be published.

    `available_at` is when the relay may try it next (backoff after a failed publish),
    `claimed_until` a short lease taken by the relay that is publishing it (so two relays
    never publish the same row; an expired lease means that relay died and another may
    retry), `published_at` when the broker accepted it (or, in the embedded mode, when it
    ran in-process). Published rows are pruned after `OUTBOX_KEEP_PUBLISHED_HOURS`.
    """

    task = models.CharField(max_length=200, help_text="Celery task name, e.g. stages.tasks.evaluate_contacts_task")
    payload = models.JSONField(default=dict, help_text='{"args": [...], "kwargs": {...}} — ids, never objects')
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(task=""), name="outbox_event_task_named"),
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | Q(published_at__gte=models.F("created_at")),
                name="outbox_event_published_after_created",
            ),
        ]
        indexes = [
            # The relay's scan: pending rows in the order they became available (a partial
            # index stays as small as the backlog, however many published rows are kept).
            models.Index(
                fields=["available_at", "id"], condition=Q(published_at__isnull=True), name="outbox_pending_idx"
            ),
            # The prune: published rows older than the retention.
            models.Index(fields=["published_at"], condition=Q(published_at__isnull=False), name="outbox_published_idx"),
        ]

    def __str__(self) -> str:
        state = "published" if self.published_at else f"pending ({self.attempts} attempts)"
        return f"{self.task} #{self.pk} {state}"
