"""Writes for contacts and touchpoints: every creation path (API, forms, import, admin, seed) comes here.

Touchpoint ingestion is set-based and idempotent: a batch resolves its contacts and
campaigns with one query per key type and stores its new rows with one INSERT, skipping
rows whose `(source, external_id)` is already stored (on PostgreSQL the INSERT skips them
itself with ON CONFLICT DO NOTHING; elsewhere they are looked up first). After commit it publishes one
Celery task (touchpoints_created_fan_out in a worker), which enqueues the lifecycle
evaluation of the touched contacts and announces the new rows to plays and webhooks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.actor import actor_split
from contacts import signals
from contacts.aliases import alias_normalise, alias_resolve
from contacts.consent import consent_change_check, consent_event_append, consent_options
from contacts.models import (
    AMOUNT_KINDS,
    SCORE_KINDS,
    SCORE_MAX,
    SCORE_MIN,
    AliasKind,
    Channel,
    ConsentAction,
    Contact,
    Tag,
    Touchpoint,
    TouchpointKind,
    TouchpointSource,
)
from stages.models import Stage, StageTransition, TransitionSource

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
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
    unknown = set(data) - CONTACT_FIELDS - {"tags", "stage"}
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
    candidate.full_clean(exclude=["stage", "tags"], validate_unique=False, validate_constraints=False)
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
    transaction.on_commit(lambda: signals.contacts_created.send(sender=Contact, contact_ids=[contact.pk]))
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, data: dict[str, Any], user: Any = None) -> Contact:
    """Update profile fields of a contact. The stage is not changed here: use a manual move."""
    if "stage" in data:
        raise ValidationError({"stage": "Change the stage with a move (it needs a reason)."})
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
    update = {k: v for k, v in data.items() if k != "stage"}
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


# --- touchpoints --------------------------------------------------------------------------


class TouchpointResult:
    """One item of an ingestion: the stored touchpoint's id, contact and external id, and whether this call created it.

    The model instance (`touchpoint`) of a new item is built on first access: a 1,000-item API
    batch answers with ids only, and building 1,000 instances cost ~70 ms of its CPU.
    """

    __slots__ = ("_touchpoint", "_values", "contact_id", "created", "external_id", "pk")

    def __init__(self, *, pk: int, created: bool, values: dict[str, Any] | None = None, touchpoint: Any = None):
        self.pk, self.created = pk, created
        self._touchpoint, self._values = touchpoint, values
        if touchpoint is not None:
            self.contact_id, self.external_id = touchpoint.contact_id, touchpoint.external_id
        else:
            self.contact_id, self.external_id = values["contact_id"], values.get("external_id")

    @property
    def touchpoint(self) -> Touchpoint:
        if self._touchpoint is None:
            touchpoint = Touchpoint(pk=self.pk, **self._values)
            touchpoint._state.adding = False
            touchpoint._state.db = connection.alias
            self._touchpoint = touchpoint
        return self._touchpoint


class BatchValidationError(ValidationError):
    """A batch had invalid items; `errors_by_index` maps item index → {field: [messages]}. Nothing was written."""

    def __init__(self, errors_by_index: dict[int, dict[str, list[str]]]):
        self.errors_by_index = errors_by_index
        super().__init__(f"{len(errors_by_index)} item(s) are invalid; nothing was written.")


_KINDS = set(TouchpointKind.values)
_CHANNELS = set(Channel.values)
_SOURCES = set(TouchpointSource.values)


def _parse_when(value: Any) -> dt.datetime:
    """An aware datetime from an ISO 8601 date-time, or a bare date (its noon UTC, as documented)."""
    if isinstance(value, str):
        text = value.strip()
        when = _parse_when_text(text)
        if when is None:
            raise ValueError(f"{value!r} is not an ISO 8601 date or date-time." if text else _WHEN_REQUIRED)
    elif isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime.combine(value, _NOON)
    else:
        raise ValueError(_WHEN_REQUIRED)
    if when.utcoffset() is None:
        when = when.replace(tzinfo=dt.UTC)
    return when


def _parse_when_text(text: str) -> dt.datetime | None:
    if len(text) <= 10:  # a date alone (every ISO date-time is longer): its noon
        try:
            return dt.datetime.combine(dt.date.fromisoformat(text), _NOON)
        except ValueError:
            pass
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        # Django's parser also takes a few forms fromisoformat refuses (e.g. a comma before the fraction).
        return parse_datetime(text) if text else None


_NOON = dt.time(12, 0)
_WHEN_REQUIRED = "A date-time is required."
_TEXT_FIELDS = (("utm_source", 100), ("utm_medium", 100), ("utm_campaign", 100), ("note", 10000))
_CONTACT_KEYS = ("contact", "contact_external_id", "contact_email")
_CENT = Decimal("0.01")
_AMOUNT_LIMIT = Decimal("1e10")


def _text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store this text (NUL, unpaired surrogates from JSON escapes), or None."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "Must be valid Unicode text (no unpaired surrogates)."
    return None


def touchpoint_row_clean(row: dict[str, Any], *, source: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Validate one touchpoint item and return model field values; raises ValidationError with field messages.

    The contact is given by `contact` (id), `contact_external_id` or `contact_email`;
    resolving it is left to the batch, which does it for all rows in one query per key.
    A batch passes its `now` (the default occurred_at and the future limit) so that a
    1,000-item batch reads the clock once; this runs for every item, so it is kept tight.
    """
    errors: dict[str, list[str]] = {}
    if now is None:
        now = timezone.now()

    keys = [k for k in _CONTACT_KEYS if row.get(k) not in (None, "")]
    contact_key = None
    if len(keys) != 1:
        errors["contact"] = ["Give exactly one of contact, contact_external_id or contact_email."]
    else:
        key_value = row[keys[0]]
        if isinstance(key_value, bool) or not isinstance(key_value, str | int):
            # Lists or objects here would be unhashable when the batch resolves its contacts.
            errors[keys[0]] = ["Must be a string or an integer."]
        elif isinstance(key_value, str) and (problem := _text_problem(key_value)):
            errors[keys[0]] = [problem]
        else:
            # An external id or email sent as a JSON number names the same contact as its text.
            contact_key = (keys[0], key_value if keys[0] == "contact" else str(key_value))

    kind = row.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        errors["kind"] = [f"{kind!r} is not a touchpoint kind."]
    channel = row.get("channel") or Channel.OTHER
    if not isinstance(channel, str) or channel not in _CHANNELS:
        errors["channel"] = [f"{channel!r} is not a channel."]

    occurred = None
    try:
        occurred = _parse_when(row.get("occurred_at") or now)
        if occurred > now + _FUTURE_LIMIT:
            errors["occurred_at"] = ["Cannot be more than a day in the future."]
    except ValueError as exc:
        errors["occurred_at"] = [str(exc)]

    amount = row.get("amount")
    amount_value = None
    if kind in AMOUNT_KINDS:
        try:
            amount_value = Decimal(str(amount)).quantize(_CENT)
            if not amount_value.is_finite() or amount_value < 0 or amount_value >= _AMOUNT_LIMIT:
                raise InvalidOperation
        except (InvalidOperation, ValueError, TypeError):
            errors["amount"] = ["A purchase or refund needs a non-negative amount below 10,000,000,000."]
    elif amount not in (None, ""):
        errors["amount"] = ["Only purchases and refunds carry an amount."]

    score = row.get("score")
    score_value = None
    if score not in (None, ""):
        if kind not in SCORE_KINDS:
            errors["score"] = ["Only survey responses carry a score."]
        else:
            try:
                score_value = int(score)
                if str(score).strip() not in (str(score_value), f"{score_value}.0") or not (
                    SCORE_MIN <= score_value <= SCORE_MAX
                ):
                    raise ValueError
            except (ValueError, TypeError):
                errors["score"] = [f"A score is a whole number from {SCORE_MIN} to {SCORE_MAX}."]

    external_id = row.get("external_id")
    if external_id not in (None, ""):
        external_id = str(external_id).strip()
        if len(external_id) > 100:
            errors["external_id"] = ["At most 100 characters."]
        elif problem := _text_problem(external_id):
            errors["external_id"] = [problem]
        external_id = external_id or None
    else:
        external_id = None

    out: dict[str, Any] = {
        "source": source,
        "kind": kind,
        "channel": channel,
        "occurred_at": occurred,
        "amount": amount_value,
        "score": score_value,
        "external_id": external_id,
    }
    for field, limit in _TEXT_FIELDS:
        value = row.get(field) or ""
        if not isinstance(value, str):
            errors[field] = ["Must be text."]
        elif len(value) > limit:
            errors[field] = [f"At most {limit} characters."]
        elif value and (problem := _text_problem(value)):
            errors[field] = [problem]
        else:
            out[field] = value.strip()

    campaign = row.get("campaign")
    if campaign not in (None, ""):
        try:
            out["campaign_id"] = int(campaign)
        except (TypeError, ValueError):
            errors["campaign"] = ["A campaign is given by its id."]
    if errors:
        raise ValidationError(errors)
    out["_contact_key"] = contact_key
    return out


_FUTURE_LIMIT = dt.timedelta(days=1)


def _resolve_contacts(cleaned: list[dict[str, Any]]) -> dict[tuple[str, Any], int]:
    """Map every (key type, value) to a contact id with one query per key type."""
    wanted: dict[str, set] = {"contact": set(), "contact_external_id": set(), "contact_email": set()}
    for row in cleaned:
        key, value = row["_contact_key"]
        wanted[key].add(value)
    found: dict[tuple[str, Any], int] = {}
    ids = set()
    for value in wanted["contact"]:
        try:
            pk = int(value)
        except (TypeError, ValueError):
            continue
        if 0 < pk < 2**63:
            ids.add(pk)
    if ids:
        for pk, _ in _contacts_matching("id", ids):
            found[("contact", pk)] = pk
            found[("contact", str(pk))] = pk
    if wanted["contact_external_id"]:
        for pk, ext in _contacts_matching("external_id", {str(v) for v in wanted["contact_external_id"]}):
            found[("contact_external_id", ext)] = pk
    if wanted["contact_email"]:
        spellings: dict[str, list[Any]] = {}
        for value in wanted["contact_email"]:
            spellings.setdefault(str(value).strip().lower(), []).append(value)
        for pk, lemail in _contacts_matching("lower_email", set(spellings)):
            for value in spellings[lemail]:  # "Ann@x.com" and "ann@x.com" in one batch are the same contact
                found[("contact_email", value)] = pk
    _resolve_aliases(wanted, found)
    return found


def _resolve_aliases(wanted: dict[str, set], found: dict[tuple[str, Any], int]) -> None:
    """Keys no contact carries may be aliases of a survivor (a merged-away email or external id): one query each."""
    for key, kind in (("contact_external_id", AliasKind.EXTERNAL_ID), ("contact_email", AliasKind.EMAIL)):
        missing = [value for value in wanted[key] if (key, value) not in found]
        if not missing:
            continue
        resolved = alias_resolve(kind=kind, values=[str(v) for v in missing])
        for value in missing:
            contact_id = resolved.get(alias_normalise(kind, str(value)))
            if contact_id is not None:
                found[(key, value)] = contact_id


def _contacts_matching(key: str, values: set[Any]) -> list[tuple[int, Any]]:
    """(id, value) of the contacts whose `id`, `external_id` or `lower_email` is one of `values`.

    On PostgreSQL the values travel as one JSON array (`… IN (SELECT json_array_elements_text(%s))`,
    a nested loop over the unique index): an ORM `IN (%s, %s, …)` of 1,000 values cost ~10 ms
    of CPU per batch in Django's lookup preparation and psycopg2's adaptation of each value.
    """
    if connection.vendor != "postgresql":
        if key == "lower_email":
            query = Contact.objects.annotate(lemail=Lower("email")).filter(lemail__in=values)
            return list(query.values_list("pk", "lemail"))
        return list(Contact.objects.filter(**{f"{key}__in": values}).values_list("pk", key))
    quote = connection.ops.quote_name
    column, cast = {
        "id": (quote("id"), "::bigint"),
        "external_id": (quote("external_id"), ""),
        "lower_email": (f"LOWER({quote('email')})", ""),
    }[key]
    sql = (
        f"SELECT {quote('id')}, {column} FROM {quote(Contact._meta.db_table)}"
        f" WHERE {column} IN (SELECT json_array_elements_text(%s::json){cast})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(list(values))])
        return cursor.fetchall()


def _resolve_campaigns(cleaned: list[dict[str, Any]]) -> tuple[dict[str, int], set[int]]:
    from campaigns.models import Campaign

    codes = {row["utm_campaign"] for row in cleaned if row.get("utm_campaign")}
    ids = {row["campaign_id"] for row in cleaned if row.get("campaign_id")}
    by_code = dict(Campaign.objects.filter(utm_campaign__in=codes).values_list("utm_campaign", "pk")) if codes else {}
    known = set(Campaign.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    return by_code, known


def touchpoint_bulk_create(
    *,
    rows: Sequence[dict[str, Any]],
    source: str = TouchpointSource.API,
    logged_by: Any = None,
    max_batch: int | None = MAX_BATCH,
    enqueue: bool = True,
    announce: bool | None = None,
) -> list[TouchpointResult]:
    """Validate and store a batch of touchpoints: all valid items are written, or none.

    Idempotent by `(source, external_id)`: an item whose key is already stored (or repeated
    earlier in the same batch) returns the stored touchpoint with `created=False`. Raises
    BatchValidationError (per-item field messages) when any item is invalid. `logged_by` may be
    a user or an API-key principal (provenance: both are recorded). `announce` (default: not
    for imports) lets the new facts cause side effects; imported history never emails anyone.
    """
    if announce is None:
        announce = source != TouchpointSource.IMPORT
    if source not in _SOURCES:
        raise ValidationError({"source": f"{source!r} is not a touchpoint source."})
    if max_batch is not None and len(rows) > max_batch:
        raise ValidationError({"non_field_errors": f"At most {max_batch} touchpoints per request."})
    cleaned: list[dict[str, Any]] = []
    errors: dict[int, dict[str, list[str]]] = {}
    now = timezone.now()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors[index] = {"non_field_errors": ["Each item must be a JSON object."]}
            continue
        try:
            cleaned.append(touchpoint_row_clean(row, source=source, now=now))
        except ValidationError as exc:
            errors[index] = exc.message_dict
            cleaned.append({})
    if errors:
        raise BatchValidationError(errors)

    contact_ids = _resolve_contacts(cleaned)
    by_code, known_campaigns = _resolve_campaigns(cleaned)
    for index, row in enumerate(cleaned):
        key = row.pop("_contact_key")
        contact_id = contact_ids.get(key)
        if contact_id is None:
            errors[index] = {key[0]: [f"No contact matches {key[1]!r}."]}
            continue
        row["contact_id"] = contact_id
        if row.get("campaign_id") and row["campaign_id"] not in known_campaigns:
            errors[index] = {"campaign": [f"No campaign with id {row['campaign_id']}."]}
        elif not row.get("campaign_id") and row.get("utm_campaign") in by_code:
            row["campaign_id"] = by_code[row["utm_campaign"]]
    if errors:
        raise BatchValidationError(errors)

    actor = actor_split(logged_by)
    for attempt in range(3):
        try:
            results = _insert_batch(cleaned, source=source, user=actor.user, api_key_id=actor.api_key_id)
            break
        except IntegrityError:
            # A concurrent request inserted one of our external ids between our check and
            # our insert; the whole batch rolled back, so look again and skip it this time.
            if attempt == 2:
                raise
    created_ids = [r.pk for r in results if r.created]
    if created_ids and enqueue:
        touched = sorted({r.contact_id for r in results if r.created})
        transaction.on_commit(lambda: _after_touchpoints_created(created_ids, touched, announce=announce))
    return results


@transaction.atomic
def _insert_batch(
    cleaned: list[dict[str, Any]], *, source: str, user: Any, api_key_id: int | None = None
) -> list[TouchpointResult]:
    """Insert the batch's new items; items whose `(source, external_id)` is stored come back with created=False.

    On PostgreSQL the INSERT itself skips stored keys (`ON CONFLICT … DO NOTHING`; a key
    being inserted by a concurrent transaction waits for it to commit), and only the skipped
    keys are read back: a fresh batch costs one statement instead of a look-up plus the
    INSERT. Elsewhere the stored keys are looked up first.
    """
    skip_conflicts = connection.vendor == "postgresql"
    keys = {row["external_id"] for row in cleaned if row.get("external_id")}
    existing = {} if skip_conflicts or not keys else _stored_by_external_id(source=source, keys=keys)
    to_create: list[dict[str, Any]] = []
    slots: list[tuple[str, Any]] = []  # ("existing", tp) | ("new", index into to_create)
    pending: dict[str, int] = {}
    now = timezone.now()
    user_id = user.pk if user is not None else None
    for row in cleaned:
        ext = row.get("external_id")
        if ext and ext in existing:
            slots.append(("existing", existing[ext]))
        elif ext and ext in pending:
            slots.append(("new", pending[ext]))
        else:
            if ext:
                pending[ext] = len(to_create)
            row["logged_by_id"], row["created_at"], row["received_at"] = user_id, now, now
            row["api_key_id"] = api_key_id
            to_create.append(row)
            slots.append(("new", len(to_create) - 1))
    ids = _touchpoints_insert(to_create, skip_conflicts=skip_conflicts)
    skipped = {to_create[index]["external_id"] for index, pk in enumerate(ids) if pk is None}
    if skipped:
        existing = _stored_by_external_id(source=source, keys=skipped)
        if len(existing) != len(skipped):
            # Deleted between our INSERT and this read: roll back; the caller tries the batch again.
            raise IntegrityError("a stored touchpoint the insert skipped is gone")
    seen_new: set[int] = set()
    results = []
    for kind, value in slots:
        if kind == "existing":
            results.append(TouchpointResult(pk=value.pk, created=False, touchpoint=value))
        elif ids[value] is None:
            stored = existing[to_create[value]["external_id"]]
            results.append(TouchpointResult(pk=stored.pk, created=False, touchpoint=stored))
        else:
            results.append(TouchpointResult(pk=ids[value], created=value not in seen_new, values=to_create[value]))
            seen_new.add(value)
    return results


def _stored_by_external_id(*, source: str, keys: Iterable[str]) -> dict[str, Touchpoint]:
    return {tp.external_id: tp for tp in Touchpoint.objects.filter(source=source, external_id__in=keys)}


_INSERT_FIELDS = (
    "contact",
    "kind",
    "channel",
    "occurred_at",
    "amount",
    "score",
    "campaign",
    "logged_by",
    "source",
    "external_id",
    "note",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "created_at",
    "received_at",
    "api_key",
)


VALUES_INSERT_MAX = 20  # up to this many new touchpoints are inserted with VALUES, more from JSON columns
_ON_CONFLICT = " ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING"


def _json_column(field: Any, values: list[Any]) -> str:
    """One column as a JSON array of text-castable values (datetimes as ISO 8601, decimals as strings)."""
    internal = field.get_internal_type()
    if internal == "DateTimeField":
        iso = {value: value.isoformat() for value in set(values) if value is not None}  # created_at: one value
        values = [None if value is None else iso[value] for value in values]
    elif internal == "DecimalField":
        values = [None if value is None else str(value) for value in values]
    return json.dumps(values)


def _touchpoints_insert(rows: list[dict[str, Any]], *, skip_conflicts: bool = False) -> list[int | None]:
    """Insert new touchpoints (clean field values by attname) and return their ids in order.

    With `skip_conflicts` (PostgreSQL only) a row whose `(source, external_id)` is already
    stored is not inserted and its id is None; the rows' external ids must be distinct.

    On PostgreSQL a few rows go in as VALUES; more as `INSERT … SELECT … FROM ROWS FROM
    (json_array_elements_text(<one JSON array per column>), …) RETURNING id`. JSON because
    psycopg2 adapts a Python list into an ARRAY[…] literal element by element, ~60-90 ms
    of CPU for 1,000 rows (strings and datetimes), where json.dumps takes ~5 ms, and the
    server parses one string per column instead of 15,000 constants. PostgreSQL inserts
    and returns rows in the order of the SELECT. Other databases use bulk_create.
    """
    if not rows:
        return []
    # With skip_conflicts, keyed rows go in sorted by key (a stable sort: unkeyed rows keep
    # their order, after them), so concurrent batches that share keys take the unique index's
    # locks in one order and wait for each other instead of deadlocking (found by the API load
    # test: opposite orders deadlocked, and one batch failed after deadlock_timeout). Ids are
    # matched back to the caller's order by key below.
    ordered = (
        sorted(rows, key=lambda row: (row.get("external_id") is None, row.get("external_id") or ""))
        if skip_conflicts
        else rows
    )
    fields = [Touchpoint._meta.get_field(name) for name in _INSERT_FIELDS]
    if connection.vendor != "postgresql":
        if skip_conflicts:
            raise ValueError("skip_conflicts needs PostgreSQL")
        objs = Touchpoint.objects.bulk_create([Touchpoint(**row) for row in rows], batch_size=1000)
        return [obj.pk for obj in objs]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(Touchpoint._meta.db_table)
    tail = (_ON_CONFLICT if skip_conflicts else "") + " RETURNING id, external_id"
    if len(rows) <= VALUES_INSERT_MAX:
        # A few rows (a single API POST, a form): plain VALUES plans faster (~0.5 ms).
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(ordered))}{tail}"
        params = [row.get(field.attname) for row in ordered for field in fields]
    else:
        # Text columns stay text, so the INSERT's own cast checks their length (an explicit
        # varchar(n) cast would truncate); the others are cast to the column type.
        selected = ", ".join(
            f"c{i}" if field.get_internal_type() in ("CharField", "TextField") else f"c{i}::{field.db_type(connection)}"
            for i, field in enumerate(fields)
        )
        functions = ", ".join(["json_array_elements_text(%s::json)"] * len(fields))
        names = ", ".join(f"c{i}" for i in range(len(fields)))
        sql = f"INSERT INTO {table} ({columns}) SELECT {selected} FROM ROWS FROM ({functions}) AS u({names}){tail}"
        params = [_json_column(field, [row.get(field.attname) for row in ordered]) for field in fields]
    # wrap_database_errors: a concurrent duplicate must surface as Django's IntegrityError (the caller retries).
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.execute(sql, params)
        returned = cursor.cursor.fetchall()
    if not skip_conflicts:
        if len(returned) != len(rows):  # cannot happen: an INSERT either stores every row or raises
            raise RuntimeError("touchpoint insert returned a different number of ids")
        return [pk for pk, _ in returned]
    by_key = {key: pk for pk, key in returned if key is not None}
    unkeyed = [pk for pk, key in returned if key is None]  # never skipped, returned in insert order
    if len(unkeyed) != sum(1 for row in rows if row.get("external_id") is None):
        raise RuntimeError("touchpoint insert returned a different number of ids")
    unkeyed_ids = iter(unkeyed)
    return [next(unkeyed_ids) if row.get("external_id") is None else by_key.get(row["external_id"]) for row in rows]


def touchpoint_create(
    *, data: dict[str, Any], source: str = TouchpointSource.MANUAL, logged_by: Any = None
) -> TouchpointResult:
    """Store one touchpoint (idempotent by `(source, external_id)`); raises ValidationError with field messages."""
    try:
        return touchpoint_bulk_create(rows=[data], source=source, logged_by=logged_by)[0]
    except BatchValidationError as exc:
        raise ValidationError(exc.errors_by_index[0]) from None


def _after_touchpoints_created(touchpoint_ids: list[int], contact_ids: list[int], *, announce: bool = True) -> None:
    """After commit: one publish per write, the follow-up work fans out in a worker (touchpoints_created_fan_out).

    Publishing the evaluation, the plays trigger and the webhook event from the request
    cost two or three broker round trips (~17% of a single POST's CPU). If the broker is
    unreachable the touchpoints are already stored: the failure is logged and the nightly
    recompute catches the stages up (plays and webhooks miss these rows, as before).
    """
    from contacts.tasks import touchpoints_created_task

    try:
        # argsrepr: Celery would otherwise build a safe repr of up to 2,000 ids for the message headers.
        touchpoints_created_task.apply_async(
            (touchpoint_ids, contact_ids) if announce else (touchpoint_ids, contact_ids, False),
            argsrepr=f"({len(touchpoint_ids)} touchpoint ids, {len(contact_ids)} contact ids)",
        )
    except Exception:  # kombu raises transport-specific errors when the broker is down
        logger.exception(
            "Could not enqueue the follow-up of %d new touchpoint(s) (stage evaluation, plays, webhooks);"
            " the nightly run will catch up the stages",
            len(touchpoint_ids),
        )


def touchpoints_created_fan_out(
    *, touchpoint_ids: Sequence[int], contact_ids: Sequence[int], announce: bool = True
) -> None:
    """In a worker: enqueue the real-time evaluation of the touched contacts, then announce the new touchpoints.

    Each consumer keeps its own task (retries, time limits): the evaluation task, and what
    the `touchpoints_created` receivers enqueue (plays, webhooks when subscribed). Both
    enqueue steps log a broker failure instead of raising, so nothing here is retried twice.
    """
    from stages.services import lifecycle_enqueue_evaluation

    if not announce:  # imported history: evaluated quietly, told to no play and no webhook (issue 17)
        lifecycle_enqueue_evaluation(contact_ids=list(contact_ids), announce=False)
        return
    lifecycle_enqueue_evaluation(contact_ids=list(contact_ids))
    signals.touchpoints_created.send(sender=Touchpoint, touchpoint_ids=list(touchpoint_ids))


def owner_exists(owner_id: int) -> bool:
    return get_user_model().objects.filter(pk=owner_id, is_active=True).exists()


@transaction.atomic
def contact_delete(*, contact: Contact, user: Any = None) -> None:
    """Delete a contact with its touchpoints, stage history and metrics (an erasure request); admins only.

    Database cascades remove the dependent rows; nothing is announced (no webhook event for deletions).
    """
    Contact.objects.filter(pk=contact.pk).delete()
