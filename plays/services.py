"""Writes of plays: validating and turning plays on and off, tasks for reps, unsubscribing.

Executing runs lives in plays.execution and their actions in plays.actions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role, user_role
from contacts.models import Contact, TouchpointKind, TouchpointSource
from contacts.services import contact_update
from contacts.touchpoint_services import touchpoint_create
from plays import rendering
from plays.actions import webhook_contact_events
from plays.models import (
    SCANNED_TRIGGERS,
    ActionType,
    Play,
    PlayAction,
    PlayStatus,
    Task,
    TaskStatus,
    TriggerType,
)

# --- plays ------------------------------------------------------------------------------------


def play_validate(*, play: Play) -> None:
    """Check that the play's trigger has the parameters its type needs; raise ValidationError naming fields.

    The database enforces the same rules as CheckConstraints; this gives admins readable messages.
    """
    errors: dict[str, str] = {}
    kind = play.trigger_type
    if kind == TriggerType.STAGE_ENTERED and not play.trigger_stage_id:
        errors["trigger_stage"] = "A stage-entry play needs the stage."
    if kind in (TriggerType.TOUCHPOINT_LOGGED, TriggerType.SILENCE) and not play.trigger_kind:
        errors["trigger_kind"] = "Choose the touchpoint kind."
    elif play.trigger_kind and play.trigger_kind not in TouchpointKind.values:
        errors["trigger_kind"] = f"{play.trigger_kind!r} is not a touchpoint kind."
    if kind == TriggerType.SILENCE and not (play.silence_days or 0) >= 1:
        errors["silence_days"] = "A silence play needs at least 1 day."
    if kind == TriggerType.SILENCE:
        quiet = play.quiet_kinds or []
        valid = set(TouchpointKind.values)
        if not isinstance(quiet, list) or any(k not in valid for k in quiet):
            errors["quiet_kinds"] = f"A list of touchpoint kinds, from: {', '.join(sorted(valid))}."
    if kind == TriggerType.P_ALIVE_BELOW and not (0 < (play.p_alive_threshold or 0) <= 1):
        errors["p_alive_threshold"] = "A probability between 0 and 1."
    if kind == TriggerType.ANNIVERSARY and not (play.anniversary_years or 0) >= 1:
        errors["anniversary_years"] = "At least 1 year."
    if kind == TriggerType.TIER_ENTERED and not play.trigger_tier_id:
        errors["trigger_tier"] = "Choose the loyalty tier."
    if play.score_min is not None and play.score_max is not None and play.score_min > play.score_max:
        errors["score_min"] = "The minimum score is above the maximum."
    if play.delay is not None and play.delay < dt.timedelta(0):
        errors["delay"] = "A delay cannot be negative."
    if play.goal_window is not None and play.goal_window <= dt.timedelta(0):
        errors["goal_window"] = "The goal window must be positive."
    if errors:
        raise ValidationError(errors)


def play_action_validate(*, action: PlayAction) -> None:
    """Check an action's typed fields and compile its templates; raise ValidationError naming fields."""
    errors: dict[str, str] = {}
    kind = action.action_type
    if kind == ActionType.SEND_EMAIL:
        if not action.subject.strip():
            errors["subject"] = "An email needs a subject."
        if not action.body_text.strip():
            errors["body_text"] = "An email needs a plain-text body."
    if kind == ActionType.CREATE_TASK and not action.task_title.strip():
        errors["task_title"] = "A task needs a title."
    if kind in (ActionType.ADD_TAG, ActionType.REMOVE_TAG) and not action.tag_id:
        errors["tag"] = "Choose the tag."
    if kind == ActionType.ENROL_CAMPAIGN and not action.campaign_id:
        errors["campaign"] = "Choose the campaign."
    if kind == ActionType.FIRE_WEBHOOK:
        events = webhook_contact_events()
        if not action.webhook_event.strip():
            errors["webhook_event"] = "Name the event."
        elif events is not None and action.webhook_event not in events:
            errors["webhook_event"] = f"Choose an event about contacts: {', '.join(events) or 'none available'}."
    if kind == ActionType.MOVE_STAGE:
        if not action.stage_id:
            errors["stage"] = "Choose the stage."
        if not action.reason.strip():
            errors["reason"] = "A move needs a reason."
    for name in ("subject", "body_text", "body_html", "task_title"):
        try:
            rendering.template_validate(source=getattr(action, name), field=name)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def play_set_status(*, play: Play, status: str) -> Play:
    """Activate or pause a play.

    Activating restarts the scan watermark, so a play turned back on acts on what becomes
    due from now on (plus the initial look-back), not on everything it missed while paused.
    """
    if status not in PlayStatus.values:
        raise ValidationError({"status": f"{status!r} is not a play status."})
    play = Play.objects.select_for_update().get(pk=play.pk)
    if play.status != status:
        play.status = status
        if status == PlayStatus.ACTIVE and play.trigger_type in SCANNED_TRIGGERS:
            play.scanned_until = None
        play.save(update_fields=["status", "scanned_until", "updated_at"])
    return play


# --- tasks for reps ---------------------------------------------------------------------------


def _may_manage_task(*, task: Task, user: Any) -> bool:
    return task.owner_id == getattr(user, "pk", None) or user_role(user) == Role.ADMIN


@transaction.atomic
def task_complete(*, task: Task, user: Any, outcome: str) -> Task:
    """Mark a task done with its outcome and log a `task_completed` touchpoint on the contact's timeline.

    Only the task's owner (or an admin) may complete it; completing twice is refused.
    """
    outcome = (outcome or "").strip()
    if not outcome:
        raise ValidationError({"outcome": "Say what came of it."})
    if len(outcome) > 2000:
        raise ValidationError({"outcome": "At most 2,000 characters."})
    task = Task.objects.select_for_update().get(pk=task.pk)
    if not _may_manage_task(task=task, user=user):
        raise ValidationError({"task": "Only the task's owner can complete it."})
    if task.status != TaskStatus.OPEN:
        raise ValidationError({"task": "This task is already closed."})
    now = timezone.now()
    task.status = TaskStatus.DONE
    task.outcome = outcome
    task.completed_at = now
    task.save(update_fields=["status", "outcome", "completed_at"])

    touchpoint_create(
        data={
            "contact": task.contact_id,
            "kind": TouchpointKind.TASK_COMPLETED,
            "channel": "other",
            "occurred_at": now,
            "external_id": f"task-{task.pk}",
            "note": f"{task.title}: {outcome}"[:10000],
        },
        source=TouchpointSource.MANUAL,
        logged_by=user,
    )
    return task


@transaction.atomic
def task_create(*, owner: Any, contact: Contact, title: str, due_on: dt.date, description: str = "") -> Task:
    """Create a task by hand for a rep about a contact."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "A task needs a title."})
    return Task.objects.create(owner=owner, contact=contact, title=title[:200], due_on=due_on, description=description)


# --- unsubscribe ------------------------------------------------------------------------------


@transaction.atomic
def contact_unsubscribe(*, contact_id: int) -> Contact:
    """Withdraw a contact's marketing consent from an email link and log an `unsubscribe` touchpoint.

    Idempotent: a second click changes nothing and logs nothing more.
    """

    contact = Contact.objects.select_for_update().get(pk=contact_id)
    if contact.unsubscribed_at is not None and not contact.marketing_consent:
        return contact
    now = timezone.now()
    contact.unsubscribed_at = now  # saved by contact_update together with the consent change
    contact = contact_update(contact=contact, data={"marketing_consent": False})
    touchpoint_create(
        data={
            "contact": contact.pk,
            "kind": TouchpointKind.UNSUBSCRIBE,
            "channel": "email",
            "occurred_at": now,
            "external_id": f"unsubscribe-{contact.pk}-{int(now.timestamp())}",
            "note": "Unsubscribed from a play email link.",
        },
        source=TouchpointSource.SYSTEM,
    )
    return contact
