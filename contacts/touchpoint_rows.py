"""Checking one touchpoint row (API, import, form) into clean service input, with field messages.

Every ingestion path cleans rows here before contacts.touchpoint_services stores them, so a bad
row is refused the same way whichever door it came in by.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.models import (
    AMOUNT_KINDS,
    SCORE_KINDS,
    SCORE_MAX,
    SCORE_MIN,
    Channel,
    TouchpointKind,
    TouchpointSource,
)
from lifecycle_crm.validation import moment_problem, moment_utc, text_problem

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
        elif isinstance(key_value, str) and (problem := text_problem(key_value)):
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
        # In range once in UTC (year 1 at +14:00 is year 0, stored by PostgreSQL, unreadable after)
        # and not beyond tomorrow: lifecycle_crm.validation, the rule of every write path.
        if problem := moment_problem(occurred, now=now):
            errors["occurred_at"] = [problem]
        else:
            occurred = moment_utc(occurred)
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
        elif problem := text_problem(external_id):
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
        elif value and (problem := text_problem(value)):
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
