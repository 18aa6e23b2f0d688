"""The import's fields, reading the stored CSV, and turning one mapped row into service input.

Kept apart from the job's life cycle (contacts.importing) so the mapping screens, the preview and
the chunk writers share one definition of every column.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from contacts.models import (
    Channel,
    ImportJob,
    ImportKind,
    TouchpointKind,
)
from lifecycle_crm.validation import upload_text_problem

MAX_ROWS = 1_000_000


ATTRIBUTE = "attribute"  # mapping target: keep the column as a custom attribute named after its header


IGNORE = ""


@dataclass(frozen=True)
class ImportField:
    """A field a CSV column can be mapped to."""

    name: str
    label: str
    help: str
    synonyms: tuple[str, ...] = ()


CONTACT_FIELDS: tuple[ImportField, ...] = (
    ImportField(
        "email",
        "Email",
        "Required. Matches an existing contact case-insensitively.",
        ("e_mail", "mail", "email_address"),
    ),
    ImportField("first_name", "First name", "", ("firstname", "given_name", "forename", "first")),
    ImportField("last_name", "Last name", "", ("lastname", "surname", "family_name", "last")),
    ImportField("phone", "Phone", "", ("telephone", "mobile", "phone_number", "tel")),
    ImportField("company", "Company", "", ("organisation", "organization", "company_name", "account")),
    ImportField(
        "external_id", "External id", "Your system's id; matched before the email.", ("id", "customer_id", "ext_id")
    ),
    ImportField("owner", "Owner", "Username or email of the sales rep.", ("rep", "sales_rep", "owner_email")),
    ImportField(
        "acquisition_channel", "Acquisition channel", "One of the channel codes.", ("channel", "source", "acq_channel")
    ),
    ImportField(
        "acquired_at", "Acquired at", "ISO date or date-time.", ("acquired", "signup_date", "created", "created_at")
    ),
    ImportField(
        "marketing_consent", "Marketing consent", "yes/no, true/false, 1/0.", ("consent", "opt_in", "newsletter")
    ),
    ImportField("tags", "Tags", "Separated by ; or |.", ("tag", "labels")),
    ImportField("stage", "Stage", "Stage slug, used for new contacts only.", ("lifecycle_stage",)),
    ImportField(
        "referral_code",
        "Referral code",
        "The referrer's code (loyalty), new contacts only.",
        ("referred_by", "referral"),
    ),
)


TOUCHPOINT_FIELDS: tuple[ImportField, ...] = (
    ImportField(
        "contact_external_id",
        "Contact external id",
        "Names the contact (or use contact email).",
        ("customer_id", "customer_external_id", "contact_id"),
    ),
    ImportField(
        "contact_email",
        "Contact email",
        "Names the contact (or use contact external id).",
        ("email", "customer_email", "email_address", "contact"),
    ),
    ImportField("kind", "Kind", "Required. One of the touchpoint kind codes.", ("type", "event", "touchpoint")),
    ImportField("channel", "Channel", "One of the channel codes.", ("medium",)),
    ImportField("occurred_at", "Occurred at", "ISO date or date-time; now if empty.", ("date", "time", "timestamp")),
    ImportField("amount", "Amount", "Purchases and refunds only.", ("value", "revenue", "total", "price")),
    ImportField("score", "Score", "Survey responses only, 0-10.", ("nps", "rating")),
    ImportField("external_id", "External id", "Your id for the touchpoint; makes re-imports exact.", ("id",)),
    ImportField("note", "Note", "", ("notes", "comment", "description")),
    ImportField("utm_source", "UTM source", ""),
    ImportField("utm_medium", "UTM medium", ""),
    ImportField("utm_campaign", "UTM campaign", "Attributes the touchpoint to the campaign with this code."),
    ImportField("campaign", "Campaign id", "", ("campaign_id",)),
)


FIELDS: dict[str, tuple[ImportField, ...]] = {
    ImportKind.CONTACTS: CONTACT_FIELDS,
    ImportKind.TOUCHPOINTS: TOUCHPOINT_FIELDS,
}


class ImportFileError(ValueError):
    """The uploaded file cannot be imported at all (not CSV, no rows, duplicate headers…)."""


# --- turning a CSV row into service input -------------------------------------------------------

_TRUE = {"1", "true", "yes", "y", "t", "on", "x"}


_FALSE = {"0", "false", "no", "n", "f", "off", ""}


def _mapped(values: dict[str, str], mapping: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    fields: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for header, target in mapping.items():
        value = values.get(header, "")
        if target == ATTRIBUTE:
            if value:
                attributes[header] = value
        elif target:
            fields[target] = value
    return fields, attributes


def _parse_moment(value: str) -> dt.datetime:
    try:
        moment = parse_datetime(value)
        day = parse_date(value) if moment is None else None
    except ValueError:  # well formed but impossible, e.g. month 13
        moment = day = None
    if moment is None:
        if day is None:
            raise ValidationError({"acquired_at": f"{value!r} is not an ISO date (YYYY-MM-DD) or date-time."})
        moment = dt.datetime.combine(day, dt.time(12, 0))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment


def _contact_data(fields: dict[str, str], attributes: dict[str, str], owners: dict[str, int]) -> dict[str, Any]:
    """Service input for one contact row; raises ValidationError naming the bad field."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("email", "first_name", "last_name", "phone", "company", "external_id"):
        if name in fields and (fields[name] or name == "email"):
            data[name] = fields[name]
    if fields.get("owner"):
        owner_id = owners.get(fields["owner"].lower())
        if owner_id is None:
            errors["owner"] = f"No active user with username or email {fields['owner']!r}."
        else:
            data["owner_id"] = owner_id
    if fields.get("acquisition_channel"):
        channel = fields["acquisition_channel"].strip().lower().replace(" ", "_")
        if channel not in Channel.values:
            errors["acquisition_channel"] = f"{fields['acquisition_channel']!r} is not a channel code."
        data["acquisition_channel"] = channel
    if fields.get("acquired_at"):
        try:
            data["acquired_at"] = _parse_moment(fields["acquired_at"])
        except ValidationError:
            errors["acquired_at"] = f"{fields['acquired_at']!r} is not an ISO date (YYYY-MM-DD) or date-time."
    if "marketing_consent" in fields:
        flag = fields["marketing_consent"].strip().lower()
        if flag in _TRUE:
            data["marketing_consent"] = True
        elif flag in _FALSE:
            if flag:
                data["marketing_consent"] = False
        else:
            errors["marketing_consent"] = f"{fields['marketing_consent']!r} is not yes/no."
    if fields.get("tags"):
        data["tags"] = [t.strip() for t in re.split(r"[;|]", fields["tags"]) if t.strip()]
    if fields.get("stage"):
        data["stage"] = fields["stage"].strip().lower()
    if fields.get("referral_code"):
        data["referral_code"] = fields["referral_code"].strip()
    if attributes:
        data["attributes"] = attributes
    if errors:
        raise ValidationError(errors)
    return data


def _derived_id(fields: dict[str, str]) -> str:
    """A stable external id for a touchpoint row that has none: the hash of its mapped values.

    Re-importing the same file (or an overlapping export) therefore matches the rows stored
    the first time instead of adding them again. Two identical rows in one file are one
    touchpoint, which is what an identical contact, kind, time, amount and note mean.
    """
    canonical = json.dumps(sorted((k, v) for k, v in fields.items() if k != "external_id"), ensure_ascii=False)
    return "csv:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _touchpoint_data(fields: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in fields.items() if v != ""}
    if "kind" in data:
        data["kind"] = data["kind"].strip().lower().replace(" ", "_")
    if "channel" in data:
        data["channel"] = data["channel"].strip().lower().replace(" ", "_")
    if not data.get("external_id"):
        data["external_id"] = _derived_id(fields)
    return data


def _reason(exc: ValidationError, mapping: dict[str, str]) -> str:
    """One readable line from a ValidationError, naming the CSV column behind each field."""
    column_of = {target: header for header, target in mapping.items() if target}
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    parts = []
    for name, messages in exc.message_dict.items():
        label = column_of.get(name, name)
        if name in ("contact", "__all__", "non_field_errors"):
            parts.append(" ".join(messages))
        else:
            parts.append(f"{label}: {' '.join(messages)}")
    return "; ".join(parts)


def field_choices(kind: str) -> list[tuple[str, str]]:
    """Choices for a mapping select: ignore, each field, or keep as a custom attribute (contacts only)."""
    choices = [(IGNORE, "— ignore this column —")]
    choices += [(spec.name, spec.label) for spec in FIELDS[kind]]
    if kind == ImportKind.CONTACTS:
        choices.append((ATTRIBUTE, "Custom attribute (named after the column)"))
    return choices


KIND_CODES = {"touchpoint kinds": TouchpointKind.values, "channels": Channel.values}


# --- reading the stored file ----------------------------------------------------------------


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.") from None
    # A NUL cannot be stored (PostgreSQL text) nor be a cell's content: refuse the file before anything is kept.
    if problem := upload_text_problem(text):
        raise ImportFileError(problem)
    return text


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _reader(text: str) -> csv.reader:
    return csv.reader(io.StringIO(text, newline=""), _dialect(text))


def _rows(job: ImportJob) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (row number, {header: value}) for every non-blank data row; the header is row 1."""
    reader = _reader(job.content)
    headers = next(reader)
    width = len(headers)
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            row = row + [""] * (width - len(row))
        yield (
            number,
            {job.headers[i]: row[i].strip() for i in range(width)}
            | ({"__extra__": ",".join(row[width:])} if len(row) > width else {}),
        )
