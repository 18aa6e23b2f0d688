"""Reads of notifications: the bell's unread count and a user's newest notifications."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from notifications.models import Notification, NotificationPreference


def notification_list(*, user: Any, limit: int = 50) -> QuerySet[Notification]:
    """The user's newest notifications."""
    return Notification.objects.filter(user=user)[:limit]


def notification_unread_count(*, user: Any) -> int:
    """How many of the user's notifications are unread (the number on the bell)."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_wants_email(*, user: Any) -> bool:
    """Whether the user asked for notifications by email."""
    return NotificationPreference.objects.filter(user=user, email=True).exists()
