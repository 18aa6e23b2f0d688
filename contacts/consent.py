"""The consent ledger and erasure on request (issue 17).

Every change of marketing consent is appended to ConsentEvent by the contact services (never
edited): who or which key, from where, when, the text shown and a form's IP. A contact who
unsubscribed is re-consented only with an explicit source and reason; anything else is a
ConsentConflict (HTTP 409), so an integration's routine `marketing_consent: true` cannot
silently undo an unsubscribe. Erasure deletes a contact's personal data and keeps the facts
the aggregates are made of (touchpoints' kinds, times and amounts; stage history; metrics),
so every report stays exact; the ledger records the erasure.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.actor import actor_split
from contacts.models import ConsentAction, ConsentEvent, Contact, ContactAlias, ContactMerge, Touchpoint
from lifecycle_crm.errors import ConsentConflict

# Keys a caller may send beside `marketing_consent`; the services take them out of the data.
CONSENT_KEYS = ("consent_source", "consent_reason", "consent_text", "consent_ip")
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never deliverable


REPEAT_CONSENT_MESSAGE = (
    "This contact unsubscribed on {day}. Marketing consent is given back only with an explicit"
    " consent_source (where the person agreed again, e.g. 'preference_centre') and consent_reason."
)


def consent_options(data: dict[str, Any]) -> dict[str, Any]:
    """Take the consent keys out of `data` (the rest is profile fields); strings trimmed."""
    options = {}
    for key in CONSENT_KEYS:
        if key in data:
            value = data.pop(key)
            options[key] = value.strip() if isinstance(value, str) else value
    return options


def consent_change_check(*, contact: Contact, granted: bool, options: dict[str, Any]) -> None:
    """Refuse to re-consent an unsubscribed contact without an explicit source and reason (ConsentConflict)."""
    explicit = bool(options.get("consent_source")) and bool(options.get("consent_reason"))
    if granted and contact.unsubscribed_at is not None and not explicit:
        raise ConsentConflict(REPEAT_CONSENT_MESSAGE.format(day=f"{contact.unsubscribed_at:%Y-%m-%d}"))


def consent_event_append(
    *,
    contact: Contact,
    action: str,
    granted: bool,
    options: dict[str, Any] | None = None,
    user: Any = None,
    default_source: str = "",
    now: dt.datetime | None = None,
) -> ConsentEvent:
    """Append one ledger row for a consent change the caller is writing in the same transaction."""
    options = options or {}
    actor = actor_split(user)
    source = str(options.get("consent_source") or default_source or _source_of(actor))[:40]
    ip = options.get("consent_ip") or None
    event = ConsentEvent(
        contact=contact,
        action=action,
        granted=granted,
        source=source,
        reason=str(options.get("consent_reason") or "")[:2000],
        text_shown=str(options.get("consent_text") or "")[:10000],
        ip_address=ip,
        user=actor.user,
        api_key=actor.api_key,
        actor_name=actor.name,
        created_at=now or timezone.now(),
    )
    try:
        event.full_clean(exclude=["contact", "user", "api_key"])
    except ValidationError as exc:
        renamed = {"ip_address": "consent_ip", "source": "consent_source", "reason": "consent_reason"}
        raise ValidationError({renamed.get(k, k): v for k, v in exc.message_dict.items()}) from None
    event.save()
    return event


def _source_of(actor: Any) -> str:
    if actor.api_key is not None:
        return "api"
    return "manual" if actor.user is not None else "system"


@transaction.atomic
def contact_erase(*, contact: Contact, user: Any = None, reason: str = "") -> Contact:
    """Erase a contact's personal data on request; keep the facts aggregates count; record it in the ledger.

    Kept: the contact row (id, stage, acquisition channel and date, owner), its touchpoints'
    kinds, times, amounts and campaigns, its stage history and metrics — so funnels, cohorts,
    revenue and CLV stay exact. Removed: name, email (replaced by an undeliverable placeholder),
    phone, company, external id, custom attributes, tags, touchpoint notes and UTM texts,
    aliases, its merge snapshots, and the IP addresses and texts in its ledger. Consent is
    withdrawn. Idempotent.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why (e.g. the request's reference); the ledger keeps it."})
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    now = timezone.now()
    Contact.objects.filter(pk=locked.pk).update(
        email=f"erased-{locked.pk}@{ERASED_DOMAIN}",
        first_name="",
        last_name="",
        phone="",
        company="",
        external_id=None,
        attributes={},
        marketing_consent=False,
        consent_updated_at=now,
        unsubscribed_at=locked.unsubscribed_at or now,
        updated_at=now,
    )
    locked.tags.clear()
    Touchpoint.objects.filter(contact=locked).update(note="", utm_source="", utm_medium="", utm_campaign="")
    ContactAlias.objects.filter(contact=locked).delete()
    ContactMerge.objects.filter(survivor=locked).update(
        merged_snapshot={}, merged_email=f"erased@{ERASED_DOMAIN}", survivor_email=f"erased@{ERASED_DOMAIN}"
    )
    ConsentEvent.objects.filter(contact=locked).update(ip_address=None, text_shown="")
    consent_event_append(
        contact=locked,
        action=ConsentAction.ERASED,
        granted=False,
        options={"consent_reason": reason},
        user=user,
        default_source="erasure_request",
        now=now,
    )
    locked.refresh_from_db()
    return locked
