"""CSV import of contacts and touchpoints: upload, column mapping, preview, background run, rejected rows.

One code path serves the upload page and the `import_contacts` / `import_touchpoints`
commands. Rows are written by contacts.import_chunks through the services (contact_upsert per
row inside a savepoint, touchpoint_bulk_create per chunk), so an import follows the same rules as the
API: a row is either stored whole or rejected with its reason, never half-written.
Re-importing a file creates no duplicates: contacts match by external id then email, and
touchpoints without an external id get one derived from their content (see `contacts.import_rows._derived_id`).
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contacts.import_rows import (
    ATTRIBUTE,
    FIELDS,
    IGNORE,
    MAX_ROWS,
    ImportFileError,
    _contact_data,
    _decode,
    _mapped,
    _reader,
    _reason,
    _rows,
    _touchpoint_data,
)
from contacts.import_runs import _owner_lookup
from contacts.models import (
    Contact,
    ImportJob,
    ImportKind,
    ImportStatus,
    TouchpointSource,
)
from contacts.touchpoint_rows import touchpoint_row_clean
from outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)


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
    """Fix the mapping and queue the job; the background run starts after commit (outbox). Raises ValidationError.

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
        # An outbox row committed with the status: with the broker down the job waits, queued, for its return.
        outbox_enqueue(task="contacts.tasks.import_run_task", args=[job.pk])
    return job
