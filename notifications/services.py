"""Writes of notifications: create them from new facts (idempotent by key), email the opted-in, mark them read.

Why only new, current facts: a notification or an email about an imported history, a replay or a move that
has since been undone would tell people things that are not news (DESIGN.md, "Time").
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from contacts.models import ImportJob, ImportStatus
from notifications.models import Notification, NotificationKind, NotificationPreference
from plays.models import Task, TaskStatus
from stages.models import StageTransition, TransitionSource

logger = logging.getLogger(__name__)

# Moves people are told about: what the rules, a person, an integration or a play did now. Imports, merges
# and system backfills rewrite history and are not news.
NEWS_SOURCES = (TransitionSource.RULE, TransitionSource.MANUAL, TransitionSource.API, TransitionSource.PLAY)
# A move is "new" when it was recorded this recently and "current" when it took effect this recently.
NEW_WITHIN = dt.timedelta(hours=1)
CURRENT_WITHIN = dt.timedelta(days=2)


def _create(rows: list[Notification]) -> list[Notification]:
    """Insert the rows that are not there yet (by user and key) and return those that are new."""
    if not rows:
        return []
    wanted = {(n.user_id, n.key) for n in rows}
    existing = set(
        Notification.objects.filter(user_id__in={u for u, _ in wanted}, key__in={k for _, k in wanted}).values_list(
            "user_id", "key"
        )
    )
    fresh = [n for n in rows if (n.user_id, n.key) not in existing]
    Notification.objects.bulk_create(fresh, batch_size=1000, ignore_conflicts=True)
    created = list(Notification.objects.filter(user_id__in={n.user_id for n in fresh}, key__in={n.key for n in fresh}))
    transaction.on_commit(lambda: notifications_email(notification_ids=[n.pk for n in created if n.pk]))
    return created


@transaction.atomic
def notifications_for_transitions(*, transition_ids: Sequence[int], now: dt.datetime | None = None) -> int:
    """Tell each contact's owner that their contact changed stage, for new and current moves made by others."""
    now = now or timezone.now()
    moves = (
        StageTransition.objects.filter(
            pk__in=list(transition_ids),
            source__in=NEWS_SOURCES,
            recorded_at__gte=now - NEW_WITHIN,
            effective_at__gte=now - CURRENT_WITHIN,
            contact__owner__isnull=False,
            contact__stage_id=F("to_stage_id"),
        )
        .exclude(user_id=F("contact__owner_id"))
        .values("pk", "contact_id", "contact__owner_id", "contact__first_name", "contact__last_name", "contact__email")
        .annotate(to_name=F("to_stage__name"))
    )
    rows = [
        Notification(
            user_id=m["contact__owner_id"],
            kind=NotificationKind.STAGE_CHANGED,
            key=f"transition:{m['pk']}",
            text=(
                f"{(m['contact__first_name'] + ' ' + m['contact__last_name']).strip() or m['contact__email']}"
                f" moved to {m['to_name']}."
            )[:300],
            url=reverse("web:contact_detail", args=[m["contact_id"]]),
            created_at=now,
        )
        for m in moves
    ]
    return len(_create(rows))


@transaction.atomic
def notifications_for_import(*, job_id: int, now: dt.datetime | None = None) -> int:
    """Tell whoever started an import that it finished (or failed), with its counts."""
    job = ImportJob.objects.defer("content").filter(pk=job_id, created_by__isnull=False).first()
    if job is None or job.status not in (ImportStatus.DONE, ImportStatus.FAILED):
        return 0
    if job.status == ImportStatus.DONE:
        text = (
            f"Import of {job.file_name} finished: {job.created_count} new, {job.updated_count} updated,"
            f" {job.rejected_count} rejected."
        )
    else:
        text = f"Import of {job.file_name} stopped: {job.error}"
    row = Notification(
        user_id=job.created_by_id,
        kind=NotificationKind.IMPORT_FINISHED,
        key=f"import:{job.pk}",
        text=text[:300],
        url=reverse("web:import_detail", args=[job.pk]),
        created_at=now or timezone.now(),
    )
    return len(_create([row]))


@transaction.atomic
def notifications_for_due_tasks(*, today: dt.date | None = None, user_id: int | None = None) -> int:
    """Tell each rep about their open tasks due today (once per task): by the daily run, or when they look."""
    today = today or timezone.localdate()
    tasks = Task.objects.filter(status=TaskStatus.OPEN, due_on=today)
    if user_id is not None:
        tasks = tasks.filter(owner_id=user_id)
    rows = [
        Notification(
            user_id=t["owner_id"],
            kind=NotificationKind.TASK_DUE,
            key=f"task:{t['pk']}:{today.isoformat()}",
            text=f"Due today: {t['title']}"[:300],
            url=reverse("web:plays:my_tasks"),
        )
        for t in tasks.values("pk", "owner_id", "title")
    ]
    return len(_create(rows))


def notifications_email(*, notification_ids: Sequence[int]) -> int:
    """Email these notifications to users who opted in, once each (claimed with a conditional UPDATE)."""
    opted = NotificationPreference.objects.filter(email=True).values("user_id")
    sent = 0
    for note in Notification.objects.filter(pk__in=list(notification_ids), emailed_at__isnull=True, user_id__in=opted):
        claimed = Notification.objects.filter(pk=note.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
        if not claimed or not note.user.email:
            continue
        try:
            send_mail(
                subject=f"Lifecycle CRM: {note.get_kind_display().lower()}",
                message=f"{note.text}\n\n{settings.CRM_BASE_URL.rstrip('/')}{note.url}\n\n"
                "You get these emails because you asked for them; turn them off on the notifications page.",
                from_email=None,
                recipient_list=[note.user.email],
            )
            sent += 1
        except Exception:  # the mail server is down: the notification stays in the bell
            logger.exception("Could not email notification %s", note.pk)
    return sent


@transaction.atomic
def notifications_mark_read(*, user: Any, now: dt.datetime | None = None) -> int:
    """Mark all of the user's notifications read."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=now or timezone.now())


@transaction.atomic
def notification_preference_set(*, user: Any, email: bool) -> NotificationPreference:
    """Turn the email copy of the user's notifications on or off."""
    preference, _ = NotificationPreference.objects.update_or_create(user=user, defaults={"email": email})
    return preference
