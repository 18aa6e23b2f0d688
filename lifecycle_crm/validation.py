"""Input rules shared by every write path: API serializers, forms, bulk ingestion, CSV import, admin.

Why one module: each rule guards a read, not a write. A datetime PostgreSQL stores but
Python cannot read back (year 0 after conversion to UTC), a NUL in JSON text, or a
megabyte of attributes is accepted by the database and then breaks every page, export
and report that reads the row. So each rule lives here once, as a `*_problem` function
(a message or None, cheap enough for 1,000-item batches) and a Django validator that
raises ValidationError (usable by model fields, forms and DRF fields alike). This module
imports no app, so accounts, contacts, consent and forms code can all use it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from django.core.exceptions import ValidationError

# A moment before this is a typo or a placeholder (0001-01-01, 1900-01-00), never a customer's history.
EARLIEST_MOMENT = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
# Clocks of integrations drift; a touchpoint dated beyond this is a bad time zone or a bad year.
FUTURE_LIMIT = dt.timedelta(days=1)
# Custom attributes are a handful of profile values, not documents; their size bounds every list page.
ATTRIBUTES_MAX_BYTES = 16 * 1024
ATTRIBUTES_MAX_KEYS = 200
ATTRIBUTES_MAX_DEPTH = 5
ATTRIBUTE_KEY_MAX_LENGTH = 100


def moment_utc(value: dt.datetime) -> dt.datetime | None:
    """The aware datetime in UTC (naive ones are taken as UTC), or None when UTC cannot hold it (year 0 / 10000)."""
    if value.utcoffset() is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None


def moment_problem(value: dt.datetime, *, now: dt.datetime | None = None) -> str | None:
    """Why this date-time cannot be stored (out of range once in UTC, or more than a day ahead), or None."""
    utc = moment_utc(value)
    if utc is None or utc < EARLIEST_MOMENT:
        return f"Must be on or after {EARLIEST_MOMENT:%Y-%m-%d} (UTC)."
    if now is None:
        now = dt.datetime.now(dt.UTC)
    if utc > now + FUTURE_LIMIT:
        return "Cannot be more than a day in the future."
    return None


def validate_moment(value: Any) -> None:
    """Validator for date-time fields (models, forms, serializers): see `moment_problem`."""
    if isinstance(value, dt.datetime) and (problem := moment_problem(value)):
        raise ValidationError(problem, code="moment_out_of_range")


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store this text (NUL, unpaired surrogates from JSON escapes), or None."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "Must be valid Unicode text (no unpaired surrogates)."
    return None


def validate_text(value: Any) -> None:
    """Validator for text fields: see `text_problem`."""
    if isinstance(value, str) and (problem := text_problem(value)):
        raise ValidationError(problem, code="bad_text")


def _json_problem(value: Any, depth: int, path: str) -> str | None:
    if depth > ATTRIBUTES_MAX_DEPTH:
        return f"Nested deeper than {ATTRIBUTES_MAX_DEPTH} levels{path}."
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{problem[:-1]}{path}." if problem else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"Numbers must be finite{path}."
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"Keys must be text{path}."
            if problem := text_problem(key):
                return f"Key {key[:20]!r}: {problem}"
            if problem := _json_problem(item, depth + 1, f" (in {key[:40]!r})"):
                return problem
    elif isinstance(value, list):
        for item in value:
            if problem := _json_problem(item, depth + 1, path):
                return problem
    return None


def attributes_problem(value: Any) -> str | None:
    """Why these custom attributes cannot be stored (not an object, NUL, too big, too deep), or None."""
    if not isinstance(value, dict):
        return "Custom attributes must be a JSON object."
    if len(value) > ATTRIBUTES_MAX_KEYS:
        return f"At most {ATTRIBUTES_MAX_KEYS} custom attributes."
    for key in value:
        if isinstance(key, str) and len(key) > ATTRIBUTE_KEY_MAX_LENGTH:
            return f"Attribute names are at most {ATTRIBUTE_KEY_MAX_LENGTH} characters."
    if problem := _json_problem(value, 0, ""):
        return problem
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        return "Custom attributes must be plain JSON values."
    if size > ATTRIBUTES_MAX_BYTES:
        return f"Custom attributes take at most {ATTRIBUTES_MAX_BYTES // 1024} KB as JSON."
    return None


def validate_attributes(value: Any) -> None:
    """Validator for the contact's custom attributes: see `attributes_problem`."""
    if problem := attributes_problem(value):
        raise ValidationError(problem, code="bad_attributes")


def upload_text_problem(text: str) -> str | None:
    """Why a decoded CSV upload cannot be imported (a NUL byte: no cell may hold one), or None."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        return f"The file contains a NUL byte (line {line}); it is not a text CSV. Save it as “CSV UTF-8” and retry."
    return None
