"""Correcting history by hand: edit or delete a touchpoint logged by mistake, undo within a window, audit kept.

Why a module of its own: these are writes (services) with their own rules — only touchpoints logged by hand,
an undo window, an audit entry per change, and the contact re-evaluated after each — kept apart from the
ingestion services, which never change a stored touchpoint.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.models import Touchpoint, TouchpointChange, TouchpointChangeAction, TouchpointSource
from contacts.selectors import UNDO_WINDOW
from contacts.signals import touchpoints_changed
from contacts.touchpoint_rows import touchpoint_row_clean

EDITABLE_FIELDS = ("kind", "channel", "occurred_at", "amount", "score", "note")
_SNAPSHOT_FIELDS = (
    "id",
    "contact_id",
    "kind",
    "channel",
    "occurred_at",
    "amount",
    "score",
    "campaign_id",
    "logged_by_id",
    "source",
    "external_id",
    "note",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "created_at",
)
_DATETIMES = {"occurred_at", "created_at"}


def _snapshot(touchpoint: Touchpoint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _SNAPSHOT_FIELDS:
        value = getattr(touchpoint, name)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return out


def _from_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    values = dict(snapshot)
    for name in _DATETIMES:
        values[name] = parse_datetime(values[name]) if values.get(name) else None
    if values.get("amount") is not None:
        values["amount"] = Decimal(values["amount"])
    return values


def _check_editable(touchpoint: Touchpoint) -> None:
    if touchpoint.source != TouchpointSource.MANUAL:
        raise ValidationError(
            "Only touchpoints logged by hand can be changed here; this one came from "
            f"{touchpoint.get_source_display().lower()} and would come back with the next sync."
        )


def _reevaluate(contact_id: int) -> None:
    """Announce the change in its transaction: the stages app re-evaluates the contact (an outbox row)."""
    touchpoints_changed.send(sender=Touchpoint, contact_ids=[contact_id])


@transaction.atomic
def touchpoint_update(*, touchpoint: Touchpoint, data: dict[str, Any], user: Any) -> TouchpointChange:
    """Correct a hand-logged touchpoint (kind, channel, time, amount, score, note) and keep the change in the audit.

    Validated by the same rules as a new touchpoint; the contact is re-evaluated after commit.
    """
    _check_editable(touchpoint)
    row = {"contact": touchpoint.contact_id, **{k: getattr(touchpoint, k) for k in EDITABLE_FIELDS}}
    row.update({k: v for k, v in data.items() if k in EDITABLE_FIELDS})
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This cannot be changed on a touchpoint." for name in sorted(unknown)})
    cleaned = touchpoint_row_clean(row, source=touchpoint.source)
    before = _snapshot(touchpoint)
    for name in EDITABLE_FIELDS:
        setattr(touchpoint, name, cleaned[name])
    touchpoint.save(update_fields=list(EDITABLE_FIELDS))
    change = TouchpointChange.objects.create(
        touchpoint_id=touchpoint.pk,
        contact_id=touchpoint.contact_id,
        action=TouchpointChangeAction.EDIT,
        before=before,
        after=_snapshot(touchpoint),
        user=user if getattr(user, "is_authenticated", False) else None,
    )
    _reevaluate(touchpoint.contact_id)
    return change


@transaction.atomic
def touchpoint_delete(*, touchpoint: Touchpoint, user: Any) -> TouchpointChange:
    """Delete a hand-logged touchpoint, keeping the whole row in the audit entry so an undo can put it back."""
    _check_editable(touchpoint)
    change = TouchpointChange.objects.create(
        touchpoint_id=touchpoint.pk,
        contact_id=touchpoint.contact_id,
        action=TouchpointChangeAction.DELETE,
        before=_snapshot(touchpoint),
        user=user if getattr(user, "is_authenticated", False) else None,
    )
    Touchpoint.objects.filter(pk=touchpoint.pk).delete()
    _reevaluate(change.contact_id)
    return change


@transaction.atomic
def touchpoint_change_undo(*, change: TouchpointChange, user: Any, now: dt.datetime | None = None) -> TouchpointChange:
    """Take back an edit or a deletion within UNDO_WINDOW: the touchpoint is as it was (same id), audited too."""
    now = now or timezone.now()
    change = TouchpointChange.objects.select_for_update().get(pk=change.pk)
    if change.action == TouchpointChangeAction.RESTORE:
        raise ValidationError("An undo cannot itself be undone; log the touchpoint again.")
    if change.undone_at is not None:
        raise ValidationError("This change was already undone.")
    if now - change.changed_at > UNDO_WINDOW:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise ValidationError(f"Changes can be undone for {minutes} minutes; this one is older.")
    values = _from_snapshot(change.before)
    if change.action == TouchpointChangeAction.DELETE:
        if Touchpoint.objects.filter(pk=values["id"]).exists():
            raise ValidationError("The touchpoint is already back.")
        touchpoint = Touchpoint.objects.create(**values)
    else:
        touchpoint = Touchpoint.objects.select_for_update().filter(pk=change.touchpoint_id).first()
        if touchpoint is None:
            raise ValidationError("The touchpoint was deleted since; undo the deletion first.")
        for name in EDITABLE_FIELDS:
            setattr(touchpoint, name, values[name])
        touchpoint.save(update_fields=list(EDITABLE_FIELDS))
    change.undone_at = now
    change.save(update_fields=["undone_at"])
    restore = TouchpointChange.objects.create(
        touchpoint_id=touchpoint.pk,
        contact_id=touchpoint.contact_id,
        action=TouchpointChangeAction.RESTORE,
        before=change.after,
        after=_snapshot(touchpoint),
        user=user if getattr(user, "is_authenticated", False) else None,
        changed_at=now,
    )
    _reevaluate(touchpoint.contact_id)
    return restore
