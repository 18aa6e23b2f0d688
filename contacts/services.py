"""Writes for contacts: every creation path (API, forms, import, admin, seed) comes here.

Touchpoints are written by contacts.touchpoint_services (rows checked by contacts.touchpoint_rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.actor import actor_split
from contacts import signals
from contacts.aliases import alias_normalise, alias_resolve
from contacts.consent import consent_change_check, consent_event_append, consent_options
from contacts.hooks import CREATE_INPUTS
from contacts.models import (
    AliasKind,
    ConsentAction,
    Contact,
    Tag,
)
from stages.models import Stage, StageTransition, TransitionSource

CONTACT_FIELDS = {
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "external_id",
    "owner",
    "acquisition_channel",
    "acquisition_campaign",
    "acquired_at",
    "marketing_consent",
    "attributes",
}


# --- contacts -----------------------------------------------------------------------------


def stage_initial() -> Stage:
    """The stage a new contact starts in: the first active stage of the path."""
    stage = Stage.objects.filter(is_active=True).exclude(category="exit").order_by("position").first()
    if stage is None:
        raise ValidationError("No active lifecycle stage is configured.")
    return stage


def _normalise_email(email: Any) -> str:
    value = (email or "").strip() if isinstance(email, str) or email is None else None
    if not value:
        raise ValidationError({"email": "An email address is required."})
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError({"email": f"{value!r} is not a valid email address."}) from None
    return value


def _tags_by_name(names: Iterable[str]) -> list[Tag]:
    """Existing tags matched case-insensitively, creating the missing ones."""
    wanted: dict[str, str] = {}
    for name in names:
        if isinstance(name, str) and name.strip():
            wanted.setdefault(name.strip().lower(), name.strip())  # the first spelling wins
    if not wanted:
        return []
    existing = {tag.name.lower(): tag for tag in Tag.objects.annotate(lname=Lower("name")).filter(lname__in=wanted)}
    for key, name in wanted.items():
        if key not in existing:
            if len(name) > 64:
                raise ValidationError({"tags": f"Tag {name[:20]!r}… is longer than 64 characters."})
            existing[key], _ = Tag.objects.get_or_create(name=name)
    return list(existing.values())


def _clean_contact_fields(data: dict[str, Any], *, instance: Contact | None = None) -> dict[str, Any]:
    unknown = set(data) - CONTACT_FIELDS - {"tags", "stage"} - set(CREATE_INPUTS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    cleaned = {k: v for k, v in data.items() if k in CONTACT_FIELDS}
    if "email" in cleaned or instance is None:
        cleaned["email"] = _normalise_email(cleaned.get("email"))
    if "external_id" in cleaned:
        cleaned["external_id"] = (str(cleaned["external_id"]).strip() or None) if cleaned["external_id"] else None
    if "attributes" in cleaned and cleaned["attributes"] is None:
        cleaned["attributes"] = {}
    candidate = instance or Contact()
    for key, value in cleaned.items():
        setattr(candidate, key, value)
    if candidate.stage_entered_at is None:
        candidate.stage_entered_at = timezone.now()
    if candidate.stage_id is None:
        candidate.stage = stage_initial()
    # Field validation (lengths, choices, JSON type) without the uniqueness queries,
    # which the explicit checks below answer with clearer messages.
    # On an update only the fields being written are checked: a stored value from before the
    # input rules (lifecycle_crm.validation) must not block an unrelated change such as an unsubscribe.
    exclude = ["stage", "tags"]
    if instance is not None:
        exclude += [f.name for f in Contact._meta.concrete_fields if f.name not in cleaned]
    candidate.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    if not isinstance(candidate.attributes, dict):
        raise ValidationError({"attributes": "Custom attributes must be a JSON object."})
    duplicates = Contact.objects.annotate(lemail=Lower("email")).filter(lemail=candidate.email.lower())
    if instance is not None:
        duplicates = duplicates.exclude(pk=instance.pk)
    if duplicates.exists():
        raise ValidationError({"email": "A contact with this email already exists."})
    if candidate.external_id:
        taken = Contact.objects.filter(external_id=candidate.external_id)
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            raise ValidationError({"external_id": "A contact with this external id already exists."})
    return cleaned


@transaction.atomic
def contact_create(
    *,
    data: dict[str, Any],
    source: str = TransitionSource.MANUAL,
    user: Any = None,
) -> Contact:
    """Create a contact in the first stage (or a given `stage` slug for imports/API), with its first transition."""
    stage_slug = data.get("stage")
    data = dict(data)
    options = consent_options(data)
    cleaned = _clean_contact_fields(data)
    stage = stage_initial()
    if stage_slug:
        stage = Stage.objects.filter(slug=stage_slug, is_active=True).first()
        if stage is None:
            raise ValidationError({"stage": f"Unknown stage {stage_slug!r}."})
    now = timezone.now()
    # The first placement is never dated after now (an acquisition date ahead would hide the contact's
    # first facts from the rules); the contact row is created after it (the engine tells them apart).
    entered = min(cleaned.get("acquired_at") or now, now)
    actor = actor_split(user)
    contact = Contact(**cleaned, stage=stage, stage_entered_at=entered, stage_source=source, created_at=now)
    if cleaned.get("marketing_consent"):
        contact.consent_updated_at = now
    contact.save()
    if contact.marketing_consent:
        consent_event_append(
            contact=contact, action=ConsentAction.GRANTED, granted=True, options=options, user=user, now=now
        )
    if "tags" in data:
        contact.tags.set(_tags_by_name(data.get("tags") or []))
    StageTransition.objects.create(
        contact=contact,
        from_stage=None,
        to_stage=stage,
        effective_at=entered,
        recorded_at=now,
        source=source,
        user=actor.user,
        api_key=actor.api_key,
        actor_name=actor.name,
        note="Created" if source != TransitionSource.MANUAL else "Created by hand",
    )
    for name, apply in CREATE_INPUTS.items():  # inputs of apps above contacts (contacts.hooks)
        if data.get(name):
            apply(contact=contact, value=data[name])
    if source != TransitionSource.IMPORT:  # imported contacts are history: no webhook (issue 17)
        # In the transaction: the receivers' tasks are outbox rows committed with the contact.
        signals.contacts_created.send(sender=Contact, contact_ids=[contact.pk])
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, data: dict[str, Any], user: Any = None) -> Contact:
    """Update profile fields of a contact. The stage is not changed here: use a manual move."""
    if "stage" in data:
        raise ValidationError({"stage": "Change the stage with a move (it needs a reason)."})
    for name in CREATE_INPUTS:
        if data.get(name):
            raise ValidationError({name: "Used only when the contact is created."})
    data = dict(data)
    options = consent_options(data)
    consent_before = contact.marketing_consent
    if contact.pk is not None:
        stored = Contact.objects.filter(pk=contact.pk).values_list("marketing_consent", "unsubscribed_at").first()
        consent_before, unsubscribed_before = stored if stored else (consent_before, None)
    else:
        unsubscribed_before = None
    if data.get("marketing_consent") is True and not consent_before:
        # An unsubscribed contact is re-consented only with an explicit source and reason (409 otherwise).
        consent_change_check(contact=Contact(unsubscribed_at=unsubscribed_before), granted=True, options=options)
    _clean_contact_fields(data, instance=contact)
    if contact.marketing_consent != consent_before:
        now = timezone.now()
        contact.consent_updated_at = now
        if contact.marketing_consent:
            contact.unsubscribed_at = None
            action = ConsentAction.GRANTED
        elif contact.unsubscribed_at is not None and contact.unsubscribed_at != unsubscribed_before:
            action = ConsentAction.UNSUBSCRIBED
        else:
            action = ConsentAction.WITHDRAWN
        default = "email_link" if action == ConsentAction.UNSUBSCRIBED else ""
        consent_event_append(
            contact=contact,
            action=action,
            granted=contact.marketing_consent,
            options=options,
            user=user,
            default_source=default,
            now=now,
        )
    contact.save()
    if "tags" in data:
        contact.tags.set(_tags_by_name(data.get("tags") or []))
    return contact


@transaction.atomic
def contact_upsert(
    *, data: dict[str, Any], source: str = TransitionSource.API, user: Any = None
) -> tuple[Contact, bool]:
    """Create or update the contact matched by `external_id` first, then by email (case-insensitive)."""
    match = None
    if data.get("external_id"):
        match = Contact.objects.select_for_update().filter(external_id=str(data["external_id"]).strip()).first()
    if match is None and data.get("email"):
        email = _normalise_email(data["email"])
        match = Contact.objects.select_for_update().annotate(lemail=Lower("email")).filter(lemail=email.lower()).first()
    # The stage and creation-only inputs (contacts.hooks) are for new contacts: an update ignores them.
    update = {k: v for k, v in data.items() if k != "stage" and k not in CREATE_INPUTS}
    if match is None:
        # A merged-away key names its survivor (issue 17); the alias itself is not written onto the survivor.
        for kind, name in ((AliasKind.EXTERNAL_ID, "external_id"), (AliasKind.EMAIL, "email")):
            if data.get(name):
                contact_id = alias_resolve(kind=kind, values=[str(data[name])]).get(alias_normalise(kind, data[name]))
                if contact_id is not None:
                    match = Contact.objects.select_for_update().get(pk=contact_id)
                    update = {k: v for k, v in update.items() if k not in ("email", "external_id")}
                    break
    if match is None:
        return contact_create(data=data, source=source, user=user), True
    return contact_update(contact=match, data=update, user=user), False


def owner_exists(owner_id: int) -> bool:
    return get_user_model().objects.filter(pk=owner_id, is_active=True).exists()


@transaction.atomic
def contact_delete(*, contact: Contact, user: Any = None) -> None:
    """Delete a contact with its touchpoints, stage history and metrics (an erasure request); admins only.

    Database cascades remove the dependent rows; nothing is announced (no webhook event for deletions).
    """
    Contact.objects.filter(pk=contact.pk).delete()
