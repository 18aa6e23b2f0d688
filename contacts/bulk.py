"""Bulk actions of the contact list (assign owner, add tag, move stage), each limited to writable contacts.

Owner and tag changes are one set-based statement each; stage moves go through
`stages.services.contact_move_stage` per contact because every move is a logged
transition with its reason (the dashboard sends at most one page of contacts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.roles import Role, user_role
from contacts.models import Contact, Tag
from contacts.services import _tags_by_name
from stages.models import Stage
from stages.services import contact_move_stage

MAX_BULK = 500


# What marketers may do to any contact in bulk: distribute leads to reps, tag them, export them. Stage moves
# stay with the contact's owner (or an admin), as on the contact page.
MARKETER_ACTIONS = frozenset({"assign_owner", "add_tag", "export"})


def contacts_writable(*, user: Any, contact_ids: Sequence[int], action: str | None = None) -> QuerySet[Contact]:
    """The subset of these contacts the user may act on: admins any, marketers any for MARKETER_ACTIONS,
    sales reps their own, others none."""
    ids = list(contact_ids)[:MAX_BULK]
    role = user_role(user)
    if role == Role.ADMIN or (role == Role.MARKETER and action in MARKETER_ACTIONS):
        return Contact.objects.filter(pk__in=ids)
    if role == Role.SALES_REP:
        return Contact.objects.filter(pk__in=ids, owner_id=user.pk)
    return Contact.objects.none()


@transaction.atomic
def contacts_assign_owner(*, contacts: QuerySet[Contact], owner: Any) -> int:
    """Give these contacts a new owner in one UPDATE; returns how many changed."""
    return contacts.exclude(owner=owner).update(owner=owner, updated_at=timezone.now())


@transaction.atomic
def contacts_add_tag(*, contacts: QuerySet[Contact], tag_name: str) -> int:
    """Add a tag (created if new, matched case-insensitively) to these contacts; returns how many gained it."""
    tags = _tags_by_name([tag_name])
    if not tags:
        raise ValidationError({"tag": "Give the tag a name."})
    tag: Tag = tags[0]
    through = Contact.tags.through
    ids = list(contacts.values_list("pk", flat=True))
    have = set(through.objects.filter(tag=tag, contact_id__in=ids).values_list("contact_id", flat=True))
    through.objects.bulk_create(
        [through(contact_id=pk, tag_id=tag.pk) for pk in ids if pk not in have], ignore_conflicts=True
    )
    return len(ids) - len(have)


def contacts_move_stage(*, contacts: QuerySet[Contact], stage: Stage, reason: str, user: Any) -> int:
    """Move these contacts to a stage with a reason (each a logged manual transition); returns how many moved."""

    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the contacts are moved; the reason is kept in their history."})
    moved = 0
    with transaction.atomic():
        for contact in contacts.exclude(stage=stage).select_related("stage"):
            contact_move_stage(contact=contact, stage=stage, reason=reason, user=user)
            moved += 1
    return moved
