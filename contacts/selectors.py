"""Reads of contacts and touchpoints, with the viewer's scope applied first.

Scope (DESIGN.md, issue 5): every role (admin, marketer, sales rep, integration) reads
all contacts; a user with no role reads none. Writes are narrower — admins and
integration keys write any contact, sales reps only the contacts they own, marketers
none — and `contact_can_write` is the one place that says so, for the API and the
dashboard alike.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Lower
from django.http import QueryDict
from django.utils import timezone

from accounts.roles import Role, user_role
from contacts.aliases import alias_normalise, alias_resolve
from contacts.filters import FILTER_PARAMS, ContactFilterSet, contact_order, filters_to_querydict
from contacts.models import (
    AliasKind,
    ConsentEvent,
    Contact,
    Tag,
    Touchpoint,
    TouchpointChange,
    TouchpointChangeAction,
    TouchpointKind,
)
from stages.models import StageTransition
from stages.selectors import transitions_with_exit

READ_ROLES = {Role.ADMIN, Role.MARKETER, Role.SALES_REP, Role.INTEGRATION}
WRITE_ANY_ROLES = {Role.ADMIN, Role.INTEGRATION}


def _scoped_contacts(*, user: Any) -> QuerySet[Contact]:
    return Contact.objects.all() if user_role(user) in READ_ROLES else Contact.objects.none()


def contact_list(
    *, user: Any, filters: Mapping[str, Any] | QueryDict | None = None, for_api: bool = False
) -> QuerySet[Contact]:
    """Contacts the user may see, filtered by `ContactFilterSet` parameters, ready to render.

    `filters` is request query data or a saved segment dict. Raises ValidationError with
    one message list per bad filter (a form shows them, the API answers 400). The result
    carries its stage, owner and metrics (one join) and its tags (one prefetch query), so
    rendering a page of contacts costs a fixed number of queries.

    `for_api`: the API shows the owner's id only, so the owner is not joined, and the tags
    land in a plain list (`prefetched_tags`) instead of a related manager per contact; a
    50-row page costs about a quarter less CPU, which is most of its time at 1M contacts.
    """
    data = filters_to_querydict(filters)
    queryset = _scoped_contacts(user=user)
    if not FILTER_PARAMS.isdisjoint(data.keys()):
        # Building the filter form costs a few ms; an unfiltered page (the common API call) skips it.
        filterset = ContactFilterSet(data, queryset=queryset, user=user)
        if not filterset.is_valid():
            raise ValidationError({name: [str(m) for m in messages] for name, messages in filterset.errors.items()})
        queryset = filterset.qs
    if not data.get("ordering"):
        queryset = contact_order(queryset, ordering=None)
    if for_api:
        return queryset.select_related("stage", "metrics").prefetch_related(
            Prefetch("tags", queryset=Tag.objects.only("id", "name"), to_attr="prefetched_tags")
        )
    return queryset.select_related("stage", "owner", "metrics").prefetch_related(
        Prefetch("tags", queryset=Tag.objects.only("id", "name"))
    )


def contact_get(*, user: Any, pk: int) -> Contact | None:
    """One contact the user may see, with the same related data as the list; None if absent or out of scope."""
    return (
        _scoped_contacts(user=user)
        .select_related("stage", "owner", "metrics")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "name")))
        .filter(pk=pk)
        .first()
    )


def contact_can_write(*, user: Any, contact: Contact) -> bool:
    """Whether the user may change this contact (profile, stage, touchpoints): admins and integrations any,
    sales reps only the contacts they own, everyone else none."""
    role = user_role(user)
    if role in WRITE_ANY_ROLES:
        return True
    if role == Role.SALES_REP:
        return user.pk is not None and contact.owner_id == user.pk
    return False


def contact_can_create(*, user: Any, data: Mapping[str, Any] | None = None) -> bool:
    """Whether the user may create a contact: admins and integrations freely; a sales rep only one
    that they will own (no owner given, which makes them the owner, or themselves as owner)."""
    role = user_role(user)
    if role in WRITE_ANY_ROLES:
        return True
    if role == Role.SALES_REP and user.pk is not None:
        owner = (data or {}).get("owner")
        owner_id = getattr(owner, "pk", owner)
        return owner_id in (None, "", user.pk)
    return False


def contact_touchpoint_list(*, user: Any, contact: Contact) -> QuerySet[Touchpoint]:
    """A contact's touchpoints, newest first (served by the (contact, occurred_at) index)."""
    if user_role(user) not in READ_ROLES:
        return Touchpoint.objects.none()
    return Touchpoint.objects.filter(contact=contact).select_related("campaign").order_by("-occurred_at", "-id")


def contact_transition_list(*, user: Any, contact: Contact) -> QuerySet[StageTransition]:
    """A contact's stage history, oldest first, with stage slugs and the rule that caused each move."""
    if user_role(user) not in READ_ROLES:
        return StageTransition.objects.none()
    return transitions_with_exit(
        StageTransition.objects.filter(contact=contact).select_related("from_stage", "to_stage", "rule", "user")
    ).order_by("effective_at", "id")


def contact_consent_events(*, user: Any, contact: Contact) -> QuerySet[ConsentEvent]:
    """A contact's consent ledger, oldest first (issue 17)."""
    if user_role(user) not in READ_ROLES:
        return ConsentEvent.objects.none()
    return ConsentEvent.objects.filter(contact=contact).order_by("created_at", "id")


def touchpoint_list(*, user: Any) -> QuerySet[Touchpoint]:
    """All touchpoints the user may see, newest id first (the cursor pagination key)."""
    if user_role(user) not in READ_ROLES:
        return Touchpoint.objects.none()
    return Touchpoint.objects.order_by("-id")


def touchpoint_rows_not_writable(*, user: Any, rows: list[Any]) -> dict[int, dict[str, list[str]]]:
    """For a sales rep, the items of a touchpoint batch that name a contact they do not own, with a message each.

    Contacts are looked up with one query per key type, like the ingestion itself; items
    naming no known contact are left to the service, which reports them as unknown.
    """
    if user_role(user) in WRITE_ANY_ROLES:
        return {}
    if user_role(user) != Role.SALES_REP or user.pk is None:
        return {i: {"contact": ["Your role cannot log touchpoints."]} for i in range(len(rows))}
    keys = {"contact": set(), "contact_external_id": set(), "contact_email": set()}
    for row in rows:
        if isinstance(row, dict):
            for key in keys:
                value = row.get(key)
                if value not in (None, "") and isinstance(value, str | int):
                    keys[key].add(str(value).strip())
    others = Contact.objects.exclude(owner_id=user.pk)
    foreign: dict[str, set[str]] = {key: set() for key in keys}
    ids = [int(v) for v in keys["contact"] if v.isdigit() and len(v) < 19]
    if ids:
        foreign["contact"] = {str(pk) for pk in others.filter(pk__in=ids).values_list("pk", flat=True)}
    if keys["contact_external_id"]:
        foreign["contact_external_id"] = set(
            others.filter(external_id__in=keys["contact_external_id"]).values_list("external_id", flat=True)
        )
    if keys["contact_email"]:
        lowered = {v.lower() for v in keys["contact_email"]}
        foreign["contact_email"] = set(
            others.annotate(lemail=Lower("email")).filter(lemail__in=lowered).values_list("lemail", flat=True)
        )
    errors: dict[int, dict[str, list[str]]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        for key in keys:
            value = row.get(key)
            if value in (None, "") or not isinstance(value, str | int):
                continue
            probe = str(value).strip().lower() if key == "contact_email" else str(value).strip()
            if probe in foreign[key]:
                errors[index] = {key: ["You can log touchpoints only on contacts you own."]}
    return errors


def contact_match(*, external_id: str | None = None, email: str | None = None) -> Contact | None:
    """The contact an upsert would update: by external id first, then by email (case-insensitive)."""
    if external_id and str(external_id).strip():
        found = Contact.objects.filter(external_id=str(external_id).strip()).first()
        if found is not None:
            return found
    if email and str(email).strip():
        found = Contact.objects.alias(lemail=Lower("email")).filter(lemail=str(email).strip().lower()).first()
        if found is not None:
            return found
    # A merged-away key names its survivor (issue 17).
    for kind, value in ((AliasKind.EXTERNAL_ID, external_id), (AliasKind.EMAIL, email)):
        if value and str(value).strip():
            contact_id = alias_resolve(kind=kind, values=[str(value)]).get(alias_normalise(kind, str(value)))
            if contact_id is not None:
                return Contact.objects.filter(pk=contact_id).first()
    return None


# Above this many rows (the planner's estimate) an exact COUNT costs more than a page of the list;
# the list then states the estimate as such.
EXACT_COUNT_LIMIT = 100_000


@dataclass(frozen=True)
class ContactTotal:
    """How many contacts a filtered list holds: exact, or the planner's estimate when counting would be slow."""

    value: int
    exact: bool


def contact_list_total(*, queryset: QuerySet[Contact]) -> ContactTotal:
    """The number of contacts in a filtered list, cheaply: the planner's row estimate first (PostgreSQL),
    then an exact COUNT only when that estimate is small enough to count in a few milliseconds.

    Why: a COUNT over a million contacts costs more than the page itself (the list walks an index
    with LIMIT 51); the estimate is free. SQLite has no estimate and the embedded set is small: it counts.
    """
    counted = queryset.order_by().values("pk")
    if connection.vendor == "postgresql":
        sql, params = counted.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        estimate = int(plan[0]["Plan"]["Plan Rows"])
        if estimate > EXACT_COUNT_LIMIT:
            return ContactTotal(value=estimate, exact=False)
    return ContactTotal(value=counted.count(), exact=True)


# How long a hand-made edit or deletion of a touchpoint can be taken back (contacts.touchpoint_changes).
UNDO_WINDOW = dt.timedelta(minutes=10)


def touchpoint_changes_undoable(*, user: Any, contact_id: int) -> list[TouchpointChange]:
    """The user's own edits and deletions of this contact's touchpoints that can still be undone, newest first."""
    since = timezone.now() - UNDO_WINDOW
    changes = list(
        TouchpointChange.objects.filter(
            contact_id=contact_id,
            user_id=user.pk,
            changed_at__gte=since,
            undone_at__isnull=True,
            action__in=[TouchpointChangeAction.EDIT, TouchpointChangeAction.DELETE],
        )[:5]
    )
    kinds = dict(TouchpointKind.choices)
    for change in changes:
        change.kind_label = str(kinds.get(change.before.get("kind"), "touchpoint")).lower()
    return changes


def contact_evaluated_since(*, contact: Contact, touchpoint: Touchpoint) -> bool:
    """Whether the lifecycle engine has looked at the contact since this touchpoint was stored.

    The engine rewrites the contact's metrics row (touch count, last touch) when it evaluates it, and a new
    touchpoint always changes the touch count; so a row computed at or after the touchpoint's storage time
    means the stage shown now is the answer to it.
    """
    return Contact.objects.filter(pk=contact.pk, metrics__computed_at__gte=touchpoint.created_at).exists()
