"""Writing one chunk of an import job: contacts created or updated, touchpoints ingested, rejections kept.

Each chunk goes through the contact and touchpoint services in one transaction, so a failed
chunk leaves nothing half-written and a resumed job starts at the next chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower

from contacts.import_rows import _contact_data, _mapped, _reason, _touchpoint_data
from contacts.models import (
    Contact,
    ImportJob,
    ImportKind,
    ImportRejection,
    TouchpointSource,
)
from contacts.services import contact_upsert
from contacts.touchpoint_services import touchpoint_bulk_create
from lifecycle_crm.errors import BatchValidationError


@dataclass
class ChunkOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[ImportRejection] = field(default_factory=list)


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
