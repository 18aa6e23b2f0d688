"""CSV import of contacts and touchpoints: upload, column mapping, preview, background run, rejected rows.

One code path serves the upload page and the `import_contacts` / `import_touchpoints`
commands. Rows are written through `contacts.services` (contact_upsert per row inside a
savepoint, touchpoint_bulk_create per chunk), so an import follows the same rules as the
API: a row is either stored whole or rejected with its reason, never half-written.
Re-importing a file creates no duplicates: contacts match by external id then email, and
touchpoints without an external id get one derived from their content (see `_derived_id`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from contacts.models import (
    Channel,
    Contact,
    ImportJob,
    ImportKind,
    ImportRejection,
    ImportStatus,
    TouchpointKind,
    TouchpointSource,
)
from contacts.services import BatchValidationError, contact_upsert, touchpoint_bulk_create, touchpoint_row_clean

logger = logging.getLogger(__name__)

MAX_ROWS = 1_000_000
CONTACT_CHUNK = 500
TOUCHPOINT_CHUNK = 5000
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


# --- upload and mapping ----------------------------------------------------------------------


def _normalise_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def mapping_suggest(*, kind: str, headers: list[str]) -> dict[str, str]:
    """Suggest a field for every CSV column from its name and common synonyms; each field is used at most once.

    Exact field names win over synonyms, so a file with both `email` and `mail` maps `email`.
    """
    fields = FIELDS[kind]
    taken: set[str] = set()
    suggestion = {header: IGNORE for header in headers}
    for pass_synonyms in (False, True):
        for header in headers:
            if suggestion[header]:
                continue
            key = _normalise_header(header)
            for spec in fields:
                names = spec.synonyms if pass_synonyms else (spec.name, _normalise_header(spec.label))
                if spec.name not in taken and key in names:
                    suggestion[header] = spec.name
                    taken.add(spec.name)
                    break
    return suggestion


def mapping_validate(*, kind: str, mapping: dict[str, str], headers: list[str]) -> dict[str, str]:
    """Check a mapping; returns {column or "__all__": message}, empty when it can be used."""
    known = {spec.name for spec in FIELDS[kind]}
    errors: dict[str, str] = {}
    seen: dict[str, str] = {}
    for header, target in mapping.items():
        if header not in headers:
            errors[header] = "This column is not in the file."
        elif target in (IGNORE, ATTRIBUTE):
            continue
        elif target not in known:
            errors[header] = f"{target!r} is not a field of a {kind} import."
        elif target in seen:
            errors[header] = f"{target} is already mapped from column {seen[target]!r}."
        else:
            seen[target] = header
    if kind == ImportKind.CONTACTS and "email" not in seen:
        errors["__all__"] = "Map a column to Email: every contact needs one."
    if kind == ImportKind.TOUCHPOINTS:
        if "kind" not in seen:
            errors["__all__"] = "Map a column to Kind: every touchpoint needs one."
        elif not ({"contact_external_id", "contact_email"} & set(seen)):
            errors["__all__"] = "Map a column to Contact external id or Contact email to name each row's contact."
    if kind == ImportKind.TOUCHPOINTS and ATTRIBUTE in mapping.values():
        errors["__all__"] = "Touchpoints have no custom attributes; ignore those columns instead."
    return errors


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _reader(text: str) -> csv.reader:
    return csv.reader(io.StringIO(text, newline=""), _dialect(text))


@transaction.atomic
def import_upload(*, kind: str, file_name: str, raw: bytes, user: Any = None) -> ImportJob:
    """Store an uploaded CSV as a new import job with a suggested mapping; raises ImportFileError if unusable.

    The rows are counted now so the progress bar has a denominator from the start.
    """
    if kind not in ImportKind.values:
        raise ImportFileError(f"{kind!r} is not an import kind.")
    text = _decode(raw)
    reader = _reader(text)
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    except csv.Error as exc:
        raise ImportFileError(f"The file is not valid CSV: {exc}.") from None
    if not any(headers):
        raise ImportFileError("The first line must name the columns.")
    if "" in headers:
        raise ImportFileError("Every column needs a name in the first line.")
    if len(set(headers)) != len(headers):
        dupes = sorted({h for h in headers if headers.count(h) > 1})
        raise ImportFileError(f"Column names must be unique; repeated: {', '.join(dupes)}.")
    try:
        total = sum(1 for row in reader if any(cell.strip() for cell in row))
    except csv.Error as exc:
        raise ImportFileError(f"The file is not valid CSV: {exc}.") from None
    if total == 0:
        raise ImportFileError("The file has a header but no rows.")
    if total > MAX_ROWS:
        raise ImportFileError(f"At most {MAX_ROWS:,} rows per file; this one has {total:,}. Split it.")
    return ImportJob.objects.create(
        kind=kind,
        file_name=file_name[:255],
        content=text,
        headers=headers,
        mapping=mapping_suggest(kind=kind, headers=headers),
        total_rows=total,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


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


# --- preview ------------------------------------------------------------------------------------


@dataclass
class PreviewRow:
    """One row of the preview: its number, mapped values and the reason it would be rejected (if any)."""

    row_number: int
    values: dict[str, str]
    problem: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


def import_preview(*, job: ImportJob, mapping: dict[str, str], limit: int = 10) -> list[PreviewRow]:
    """Validate the first rows under a mapping without writing anything.

    Checks what can be checked row by row (formats, codes, required values); whether a
    touchpoint's contact exists is checked by the import itself, in one query per chunk.
    """
    owners = _owner_lookup()
    preview = []
    for number, values in _rows(job):
        fields, attributes = _mapped(values, mapping)
        row = PreviewRow(row_number=number, values=fields, attributes=attributes)
        try:
            if job.kind == ImportKind.CONTACTS:
                data = _contact_data(fields, attributes, owners)
                if not data.get("email"):
                    raise ValidationError({"email": "An email address is required."})
                Contact(
                    **{k: v for k, v in data.items() if k not in ("tags", "stage")}, stage_entered_at=timezone.now()
                ).full_clean(exclude=["stage", "tags", "owner"], validate_unique=False, validate_constraints=False)
            else:
                touchpoint_row_clean(_touchpoint_data(fields), source=TouchpointSource.IMPORT)
        except ValidationError as exc:
            row.problem = _reason(exc, mapping)
        preview.append(row)
        if len(preview) >= limit:
            break
    return preview


# --- start and run ------------------------------------------------------------------------------


@transaction.atomic
def import_start(*, job: ImportJob, mapping: dict[str, str], enqueue: bool = True) -> ImportJob:
    """Fix the mapping and queue the job; the background run starts after commit. Raises ValidationError.

    The management commands pass `enqueue=False` and call `import_run` themselves, so they wait for the end.
    """
    errors = mapping_validate(kind=job.kind, mapping=mapping, headers=job.headers)
    if errors:
        raise ValidationError(errors)
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(
        mapping=mapping, status=ImportStatus.QUEUED
    )
    if not updated:
        raise ValidationError({"__all__": "This import has already been started."})
    job.refresh_from_db()
    if enqueue:
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from contacts.tasks import import_run_task

    try:
        import_run_task.delay(job_id)
    except Exception:  # kombu raises transport-specific errors when the broker is down
        logger.exception("Could not enqueue import job %s", job_id)
        ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.FAILED,
            error="The background queue is unreachable; nothing was imported. Try again later.",
            finished_at=timezone.now(),
        )


def _owner_lookup() -> dict[str, int]:
    users = get_user_model().objects.filter(is_active=True).values_list("pk", "username", "email")
    lookup: dict[str, int] = {}
    for pk, username, email in users:
        lookup[username.lower()] = pk
        if email:
            lookup.setdefault(email.lower(), pk)
    return lookup


def _claim(job_id: int) -> bool:
    """Take the job for this worker with a conditional UPDATE, so two workers never run the same job.

    A job left `running` for an hour (its worker died) may be taken again: re-running is
    safe because every row is matched against what the first run stored.
    """
    stale = timezone.now() - dt.timedelta(hours=1)
    return bool(
        ImportJob.objects.filter(
            Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.RUNNING, started_at__lt=stale), pk=job_id
        ).update(
            status=ImportStatus.RUNNING,
            started_at=timezone.now(),
            processed_rows=0,
            created_count=0,
            updated_count=0,
            unchanged_count=0,
            rejected_count=0,
        )
    )


@dataclass
class ChunkOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[ImportRejection] = field(default_factory=list)


def import_run(*, job_id: int, progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Run a queued import to the end, chunk by chunk, advancing the job's counters after each commit.

    Each chunk is one transaction (its rows, its rejections and the progress counters), so
    the progress bar never reports rows that are not stored and a crash loses no row half-way.
    """
    if not _claim(job_id):
        return ImportJob.objects.get(pk=job_id)
    job = ImportJob.objects.get(pk=job_id)
    ImportRejection.objects.filter(job=job).delete()
    chunk_size = CONTACT_CHUNK if job.kind == ImportKind.CONTACTS else TOUCHPOINT_CHUNK
    owners = _owner_lookup() if job.kind == ImportKind.CONTACTS else {}
    try:
        chunk: list[tuple[int, dict[str, str]]] = []
        for item in _rows(job):
            chunk.append(item)
            if len(chunk) >= chunk_size:
                _run_chunk(job, chunk, owners)
                chunk = []
                if progress:
                    job.refresh_from_db()
                    progress(job)
        if chunk:
            _run_chunk(job, chunk, owners)
    except Exception as exc:
        logger.exception("Import job %s failed", job_id)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.FAILED, error=f"Stopped by an unexpected error: {exc}", finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportStatus.DONE, processed_rows=F("total_rows"), finished_at=timezone.now()
    )
    job.refresh_from_db()
    if progress:
        progress(job)
    return job


@transaction.atomic
def _run_chunk(job: ImportJob, chunk: list[tuple[int, dict[str, str]]], owners: dict[str, int]) -> None:
    contacts = job.kind == ImportKind.CONTACTS
    outcome = _contacts_chunk(job, chunk, owners) if contacts else _touchpoints_chunk(job, chunk)
    ImportRejection.objects.bulk_create(outcome.rejections, batch_size=1000)
    ImportJob.objects.filter(pk=job.pk).update(
        processed_rows=F("processed_rows") + len(chunk),
        created_count=F("created_count") + outcome.created,
        updated_count=F("updated_count") + outcome.updated,
        unchanged_count=F("unchanged_count") + outcome.unchanged,
        rejected_count=F("rejected_count") + len(outcome.rejections),
    )


def _reject(job: ImportJob, number: int, values: dict[str, str], reason: str) -> ImportRejection:
    return ImportRejection(job=job, row_number=number, reason=reason, values=values)


_COMPARED = ("first_name", "last_name", "phone", "company", "external_id", "owner_id", "acquisition_channel")


def _contacts_chunk(job: ImportJob, chunk: list[tuple[int, dict[str, str]]], owners: dict[str, int]) -> ChunkOutcome:
    """Upsert each row in its own savepoint; rows that would change nothing are counted, not written."""
    outcome = ChunkOutcome()
    prepared: list[tuple[int, dict[str, str], dict[str, Any]]] = []
    for number, values in chunk:
        fields, attributes = _mapped(values, job.mapping)
        try:
            data = _contact_data(fields, attributes, owners)
            if "__extra__" in values:
                raise ValidationError("The row has more cells than the header has columns.")
        except ValidationError as exc:
            outcome.rejections.append(_reject(job, number, values, _reason(exc, job.mapping)))
            continue
        prepared.append((number, values, data))
    # One query per key type finds the contacts these rows may update.
    emails = {d["email"].strip().lower() for _, _, d in prepared if d.get("email")}
    ext_ids = {d["external_id"].strip() for _, _, d in prepared if d.get("external_id")}
    existing = (
        Contact.objects.annotate(lemail=Lower("email"))
        .filter(Q(lemail__in=emails) | Q(external_id__in=ext_ids))
        .prefetch_related("tags")
    )
    by_email = {c.lemail: c for c in existing}
    by_ext = {c.external_id: c for c in by_email.values() if c.external_id}
    for number, values, data in prepared:
        match = by_ext.get((data.get("external_id") or "").strip()) or by_email.get(
            (data.get("email") or "").strip().lower()
        )
        if match is not None:
            data = _update_data(match, data)
            if data is None:
                outcome.unchanged += 1
                continue
        owner_id = data.pop("owner_id", None)
        if owner_id is not None:
            data["owner"] = get_user_model()(pk=owner_id)
        try:
            contact, created = contact_upsert(data=data, source="import", user=job.created_by)
        except ValidationError as exc:
            outcome.rejections.append(_reject(job, number, values, _reason(exc, job.mapping)))
            continue
        except IntegrityError:
            outcome.rejections.append(
                _reject(job, number, values, "Another row or user stored this contact at the same moment; re-import.")
            )
            continue
        if created:
            outcome.created += 1
            contact.lemail = contact.email.lower()
            by_email[contact.lemail] = contact
            if contact.external_id:
                by_ext[contact.external_id] = contact
        else:
            outcome.updated += 1
    return outcome


def _update_data(contact: Contact, data: dict[str, Any]) -> dict[str, Any] | None:
    """The changes a row makes to an existing contact (attributes and tags merged), or None if none."""
    changes: dict[str, Any] = {}
    for name in _COMPARED:
        if name in data and data[name] != getattr(contact, name):
            changes[name] = data[name]
    if "acquired_at" in data and data["acquired_at"] != contact.acquired_at:
        changes["acquired_at"] = data["acquired_at"]
    if "marketing_consent" in data and data["marketing_consent"] != contact.marketing_consent:
        changes["marketing_consent"] = data["marketing_consent"]
    if data.get("attributes"):
        merged = {**contact.attributes, **data["attributes"]}
        if merged != contact.attributes:
            changes["attributes"] = merged
    if data.get("tags"):
        current = {t.name.lower(): t.name for t in contact.tags.all()}
        wanted = {t.lower(): t for t in data["tags"]}
        if set(wanted) - set(current):
            changes["tags"] = list({**current, **wanted}.values())
    if data.get("email") and data["email"].strip().lower() != contact.email.lower():
        changes["email"] = data["email"]
    if not changes:
        return None
    # Keep the keys contact_upsert matches on, so it finds this same contact.
    changes.setdefault("email", contact.email)
    if contact.external_id and "external_id" not in changes:
        changes["external_id"] = contact.external_id
    return changes


def _touchpoints_chunk(job: ImportJob, chunk: list[tuple[int, dict[str, str]]]) -> ChunkOutcome:
    """Store a chunk with one touchpoint_bulk_create; invalid rows are set aside and the rest retried.

    The service writes all of a batch or nothing, so rows it reports as invalid (bad
    values first, then contacts that do not exist) are rejected and the batch is sent
    again without them; the retry cannot fail on those rows again.
    """
    outcome = ChunkOutcome()
    pending: list[tuple[int, dict[str, str], dict[str, Any]]] = []
    for number, values in chunk:
        fields, _ = _mapped(values, job.mapping)
        if "__extra__" in values:
            outcome.rejections.append(
                _reject(job, number, values, "The row has more cells than the header has columns.")
            )
            continue
        pending.append((number, values, _touchpoint_data(fields)))
    for _attempt in range(4):
        if not pending:
            return outcome
        try:
            with transaction.atomic():
                results = touchpoint_bulk_create(
                    rows=[data for _, _, data in pending],
                    source=TouchpointSource.IMPORT,
                    logged_by=job.created_by,
                    max_batch=None,
                    announce=job.trigger_plays,  # issue 17: off by default, imported history emails nobody
                )
        except BatchValidationError as exc:
            keep = []
            for index, item in enumerate(pending):
                if index in exc.errors_by_index:
                    reason = _reason(ValidationError(exc.errors_by_index[index]), job.mapping)
                    outcome.rejections.append(_reject(job, item[0], item[1], reason))
                else:
                    keep.append(item)
            pending = keep
            continue
        for result in results:
            if result.created:
                outcome.created += 1
            else:
                outcome.unchanged += 1
        return outcome
    raise RuntimeError("touchpoint batch kept failing validation")  # pragma: no cover - bounded by the two stages


def field_choices(kind: str) -> list[tuple[str, str]]:
    """Choices for a mapping select: ignore, each field, or keep as a custom attribute (contacts only)."""
    choices = [(IGNORE, "— ignore this column —")]
    choices += [(spec.name, spec.label) for spec in FIELDS[kind]]
    if kind == ImportKind.CONTACTS:
        choices.append((ATTRIBUTE, "Custom attribute (named after the column)"))
    return choices


KIND_CODES = {"touchpoint kinds": TouchpointKind.values, "channels": Channel.values}
