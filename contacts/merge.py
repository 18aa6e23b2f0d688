"""Duplicate contacts: finding likely pairs set-based, and merging one contact into a survivor.

Detection groups contacts by three normalised keys in the database (one GROUP BY each):
the email in another form (case, dots and `+tag` in the local part), the phone's digits,
and first name + last name + company. A merge keeps the survivor and moves to it every
touchpoint, stage transition, tag, campaign membership and any other row that points at
the removed contact, fills the survivor's blank profile fields, keeps the more advanced
stage, re-evaluates the stage after commit, and writes a ContactMerge log with a full
snapshot of the removed contact, so nothing of either contact is lost.

Issue 17: the survivor keeps one coherent history. The removed contact's moves are kept in the
merge log (`merged_history`), not interleaved; the survivor's first placement moves back to the
earlier of the two, and its rule-made history is rebuilt from the removed contact's first fact
(stages.history, quietly), so each move's `from` is the previous `to`. The removed contact's
email and external id become aliases of the survivor (contacts.aliases).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Case, CharField, Count, F, Q, Value, When
from django.db.models.functions import Concat, Length, Lower, Replace, StrIndex, Substr, Trim
from django.utils import timezone

from accounts.actor import actor_split
from campaigns.models import CampaignMember
from contacts.aliases import aliases_add_for_merge
from contacts.hooks import MERGE_HANDLERS
from contacts.models import Contact, ContactMerge, Touchpoint
from stages.announce import transitions_announce
from stages.history import lifecycle_history_restate
from stages.models import StageCategory, StageTransition
from stages.tasks import lifecycle_enqueue_evaluation


class DuplicateReason(models.TextChoices):
    EMAIL = "email", "Same email in another form"
    PHONE = "phone", "Same phone number"
    NAME_COMPANY = "name_company", "Same name and company"


def _email_key() -> models.Func:
    """lower(email) with dots and any `+tag` removed from the local part: a.b+x@y.com → ab@y.com."""
    email = Lower(Trim("email"))
    at = StrIndex(email, Value("@"))
    local = Substr(email, 1, at - 1)
    domain = Substr(email, at + 1)
    plus = StrIndex(local, Value("+"))
    base = Case(When(Q(plus_pos__gt=0), then=Substr(local, 1, F("plus_pos") - 1)), default=local)
    return base, domain, plus


def _annotated_email_key(queryset):
    base, domain, plus = _email_key()
    return queryset.alias(plus_pos=plus).annotate(
        dup_key=Concat(Replace(base, Value("."), Value("")), Value("@"), domain, output_field=CharField())
    )


def _annotated_phone_key(queryset):
    digits: Any = F("phone")
    for char in (" ", "-", "(", ")", ".", "+", "/"):
        digits = Replace(digits, Value(char), Value(""))
    return queryset.exclude(phone="").annotate(dup_key=digits).alias(key_len=Length(digits)).filter(key_len__gte=7)


def _annotated_name_key(queryset):
    return (
        queryset.exclude(first_name="")
        .exclude(last_name="")
        .exclude(company="")
        .annotate(
            dup_key=Concat(
                Lower(Trim("first_name")),
                Value("|"),
                Lower(Trim("last_name")),
                Value("|"),
                Lower(Trim("company")),
                output_field=CharField(),
            )
        )
    )


_KEYS = {
    DuplicateReason.EMAIL: _annotated_email_key,
    DuplicateReason.PHONE: _annotated_phone_key,
    DuplicateReason.NAME_COMPANY: _annotated_name_key,
}


@dataclass
class DuplicateGroup:
    """Contacts sharing one normalised key; the first (oldest) is the suggested survivor.

    `can_merge` is filled in by the page for the viewing user.
    """

    reason: str
    key: str
    contacts: list[Contact]
    can_merge: bool = False

    @property
    def reason_label(self) -> str:
        return DuplicateReason(self.reason).label

    @property
    def shared(self) -> str:
        """What the contacts share, in their own spelling (not the normalised matching key)."""
        first = self.contacts[0] if self.contacts else None
        if first is None:
            return ""
        if self.reason == DuplicateReason.PHONE:
            return first.phone
        if self.reason == DuplicateReason.NAME_COMPANY:
            return f"{first.full_name} at {first.company}"
        return first.email


def duplicate_groups(*, queryset=None, limit: int = 50) -> list[DuplicateGroup]:
    """Likely duplicates, up to `limit` groups per reason, largest groups first.

    One GROUP BY per reason finds the shared keys; one more query per reason loads the
    contacts of those groups only. The email key catches what the case-insensitive unique
    constraint cannot: `Ann.Lee+shop@x.com` and `annlee@x.com`.
    """
    base = queryset if queryset is not None else Contact.objects.all()
    groups: list[DuplicateGroup] = []
    for reason, annotate in _KEYS.items():
        keyed = annotate(base.order_by())
        keys = list(keyed.values("dup_key").annotate(n=Count("*")).filter(n__gt=1).order_by("-n", "dup_key")[:limit])
        wanted = [row["dup_key"] for row in keys]
        if not wanted:
            continue
        members: dict[str, list[Contact]] = {key: [] for key in wanted}
        for contact in keyed.filter(dup_key__in=wanted).select_related("stage", "owner").order_by("created_at", "id"):
            members[contact.dup_key].append(contact)
        groups.extend(DuplicateGroup(reason=reason, key=key, contacts=members[key]) for key in wanted)
    return groups


# --- merge ----------------------------------------------------------------------------------------

_FILL_BLANK = ("first_name", "last_name", "phone", "company")
_FILL_NULL = ("owner_id", "acquisition_campaign_id")


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _snapshot(contact: Contact) -> dict[str, Any]:
    data = {f.attname: _json(getattr(contact, f.attname)) for f in Contact._meta.concrete_fields}
    data["tags"] = sorted(contact.tags.values_list("name", flat=True))
    data["campaigns"] = sorted(contact.campaign_memberships.values_list("campaign_id", flat=True))
    data["stage_slug"] = contact.stage.slug
    return data


def _stage_rank(stage) -> tuple[int, int]:
    # Any path stage beats an exit stage (the other record shows the person active); then the furthest.
    return (0 if stage.category == StageCategory.EXIT else 1, stage.position)


def contact_merge(*, survivor: Contact, other: Contact, user: Any = None) -> ContactMerge:
    """Fold `other` into `survivor` and delete `other`; returns the merge log. Raises ValidationError.

    Everything that points at `other` moves to the survivor in bulk UPDATEs (no per-row
    loop): touchpoints, stage transitions, tags, campaign memberships (once per campaign),
    earlier merge logs and rows of other apps (tasks, deliveries…). The survivor keeps its
    own values and takes the other's where its own are blank; the more advanced stage wins
    (recorded as a `merge` transition), and the lifecycle rules re-evaluate after commit.
    """
    if survivor.pk == other.pk:
        raise ValidationError({"merge_id": "A contact cannot be merged with itself."})
    with transaction.atomic():
        locked = {
            c.pk: c
            # The contact rows alone, in id order: a join to the stage would lose a contact whose
            # stage a concurrent evaluation changed (PostgreSQL re-checks the join), and a fixed
            # order keeps two merges of overlapping pairs from deadlocking.
            for c in Contact.objects.select_for_update(of=("self",))
            .filter(pk__in=[survivor.pk, other.pk])
            .order_by("pk")
        }
        if len(locked) != 2:
            raise ValidationError({"merge_id": "One of the contacts no longer exists (merged already?)."})
        survivor, other = locked[survivor.pk], locked[other.pk]
        snapshot = _snapshot(other)
        history, since = _fold_history(survivor=survivor, other=other)
        moved = _move_related(survivor=survivor, other=other)
        moved["transitions_kept_in_log"] = len(history)
        stage_before = survivor.stage
        other_stage, other_external_id = other.stage, other.external_id
        _merge_profile(survivor=survivor, other=other)
        if since is not None:
            # The other's facts join the survivor's: rebuild its rule-made history from the first of them.
            lifecycle_history_restate(since={survivor.pk: since})
            survivor.refresh_from_db()
        transition = None
        if _stage_rank(other_stage) > _stage_rank(survivor.stage):
            transition = _take_stage(survivor=survivor, stage=other_stage, other=other, user=user)
        other_id, other_email = other.pk, other.email
        other.delete()
        log = ContactMerge.objects.create(
            survivor=survivor,
            survivor_email=survivor.email,
            merged_contact_id=other_id,
            merged_email=other_email,
            merged_snapshot=snapshot,
            merged_history=history,
            moved=moved | {"stage_before": stage_before.slug, "stage_after": survivor.stage.slug},
            user=actor_split(user).user,
        )
        aliases_add_for_merge(survivor=survivor, email=other_email, external_id=other_external_id, merge=log)
        # In the transaction: the announcement and the evaluation are outbox rows committed with the merge.
        _after_merge(survivor.pk, transition.pk if transition else None)
    return log


def _fold_history(*, survivor: Contact, other: Contact) -> tuple[list[dict[str, Any]], dt.datetime | None]:
    """Keep `other`'s moves for the merge log and remove them; the survivor's first placement takes the earlier time.

    Returns the kept moves and the time from which the survivor's history must be rebuilt
    (the other's first fact or placement), or None when the other brings no history.
    """
    moves = list(
        StageTransition.objects.filter(contact=other)
        .order_by("effective_at", "id")
        .values("id", "from_stage__slug", "to_stage__slug", "effective_at", "recorded_at", "source", "rule_id", "note")
    )
    history = [{key: _json(value) for key, value in move.items()} for move in moves]
    StageTransition.objects.filter(contact=other).delete()
    first_touch = Touchpoint.objects.filter(contact=other).order_by("occurred_at").values_list("occurred_at", flat=True)
    times = [when for when in [first_touch.first(), *(m["effective_at"] for m in moves[:1])] if when is not None]
    since = min(times) if times else None
    first = StageTransition.objects.filter(contact=survivor, from_stage__isnull=True).order_by("effective_at").first()
    if first is not None and since is not None and since < first.effective_at:
        StageTransition.objects.filter(pk=first.pk).update(effective_at=since)
        if survivor.stage_entered_at == first.effective_at:
            Contact.objects.filter(pk=survivor.pk).update(stage_entered_at=since)
            survivor.stage_entered_at = since
    return history, since


def _move_related(*, survivor: Contact, other: Contact) -> dict[str, int]:
    """Re-point every row that references `other` at the survivor; returns counts by kind."""

    moved = {
        "touchpoints": Touchpoint.objects.filter(contact=other).update(contact=survivor),
    }
    have_tags = set(survivor.tags.values_list("pk", flat=True))
    new_tags = [pk for pk in other.tags.values_list("pk", flat=True) if pk not in have_tags]
    survivor.tags.add(*new_tags)
    moved["tags"] = len(new_tags)
    in_campaigns = CampaignMember.objects.filter(contact=survivor).values("campaign_id")
    moved["campaign_memberships"] = (
        CampaignMember.objects.filter(contact=other).exclude(campaign_id__in=in_campaigns).update(contact=survivor)
    )
    moved["merge_logs"] = ContactMerge.objects.filter(survivor=other).update(survivor=survivor)
    for handler in MERGE_HANDLERS.values():  # apps above contacts fold their own rows (contacts.hooks)
        moved.update(handler(survivor=survivor, other=other))
    handled = {Touchpoint, StageTransition, CampaignMember, ContactMerge}
    for relation in Contact._meta.related_objects:
        model = relation.related_model
        if model in handled or relation.many_to_many or relation.one_to_one:
            continue  # one-to-one rows (metrics) are recomputed for the survivor; M2M handled above
        if not relation.field.concrete or relation.field.model is not model:
            continue
        try:
            with transaction.atomic():
                count = model._default_manager.filter(**{relation.field.name: other}).update(
                    **{relation.field.name: survivor}
                )
        except IntegrityError:
            raise ValidationError(
                {"merge_id": f"Both contacts have conflicting {model._meta.verbose_name_plural}; resolve them first."}
            ) from None
        if count:
            moved[model._meta.label_lower] = count
    return moved


def _merge_profile(*, survivor: Contact, other: Contact) -> None:
    changes: dict[str, Any] = {}
    for name in _FILL_BLANK:
        if not getattr(survivor, name) and getattr(other, name):
            changes[name] = getattr(other, name)
    for name in _FILL_NULL:
        if getattr(survivor, name) is None and getattr(other, name) is not None:
            changes[name] = getattr(other, name)
    if not survivor.external_id and other.external_id:
        # Free the unique external id before the survivor takes it.
        Contact.objects.filter(pk=other.pk).update(external_id=None)
        changes["external_id"] = other.external_id
    if other.acquired_at < survivor.acquired_at:
        changes["acquired_at"] = other.acquired_at
        changes["acquisition_channel"] = other.acquisition_channel
    if other.created_at < survivor.created_at:
        changes["created_at"] = other.created_at
    # Consent: the most recent decision of either record stands; an unsubscribe is never lost.
    if (other.consent_updated_at or dt.datetime.min.replace(tzinfo=dt.UTC)) > (
        survivor.consent_updated_at or dt.datetime.min.replace(tzinfo=dt.UTC)
    ):
        changes["marketing_consent"] = other.marketing_consent
        changes["consent_updated_at"] = other.consent_updated_at
    if other.unsubscribed_at and (not survivor.unsubscribed_at or other.unsubscribed_at > survivor.unsubscribed_at):
        changes["unsubscribed_at"] = other.unsubscribed_at
    attributes = {**other.attributes, **survivor.attributes}
    merged_emails = list(dict.fromkeys([*survivor.attributes.get("merged_emails", []), other.email]))
    attributes["merged_emails"] = merged_emails
    changes["attributes"] = attributes
    changes["updated_at"] = timezone.now()
    Contact.objects.filter(pk=survivor.pk).update(**changes)
    for name, value in changes.items():
        setattr(survivor, name, value)


def _take_stage(*, survivor: Contact, stage, other: Contact, user: Any) -> StageTransition:
    now = timezone.now()
    transition = StageTransition.objects.create(
        contact=survivor,
        from_stage=survivor.stage,
        to_stage=stage,
        effective_at=now,
        recorded_at=now,
        source="merge",
        user=actor_split(user).user,
        api_key=actor_split(user).api_key,
        actor_name=actor_split(user).name,
        note=f"Merged with {other.email}, which was in {stage.name}.",
    )
    Contact.objects.filter(pk=survivor.pk).update(stage=stage, stage_entered_at=now, stage_source="merge")
    survivor.stage, survivor.stage_entered_at, survivor.stage_source = stage, now, "merge"
    return transition


def _after_merge(survivor_id: int, transition_id: int | None) -> None:
    if transition_id is not None:
        # A merge move is no news to the customer: the decision (stages.announce) keeps it from side effects.
        transitions_announce([transition_id])
    lifecycle_enqueue_evaluation(contact_ids=[survivor_id])
