"""In-app notifications of a user (the bell) and whether they also want them by email."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class NotificationKind(models.TextChoices):
    IMPORT_FINISHED = "import_finished", "Import finished"
    STAGE_CHANGED = "stage_changed", "Contact changed stage"
    TASK_DUE = "task_due", "Task due"


class Notification(models.Model):
    """One thing a user is told about: an import of theirs finished, a contact of theirs changed stage, a task is due.

    `key` names the fact (e.g. `transition:42`), unique per user, so a retried task never tells twice.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    key = models.CharField(max_length=100)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="notification_user_key_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=["import_finished", "stage_changed", "task_due"]), name="notification_kind_valid"
            ),
        ]
        indexes = [
            # The bell: a user's newest notifications and the unread count.
            models.Index(fields=["user", "-created_at"], name="notification_user_idx"),
        ]

    def __str__(self) -> str:
        return self.text


class NotificationPreference(models.Model):
    """Whether a user also gets their notifications by email (off unless they opt in)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user_id}: email {'on' if self.email else 'off'}"
