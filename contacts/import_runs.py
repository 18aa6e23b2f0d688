"""Running an import job in the background: claiming it, feeding its rows chunk by chunk, its counters.

Kept apart from starting a job (contacts.importing, which enqueues contacts.tasks.import_run_task)
so the task imports this module and nothing imports the task's module back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.utils import timezone

from contacts.import_chunks import _run_chunk
from contacts.import_rows import _rows
from contacts.models import (
    ImportJob,
    ImportKind,
    ImportRejection,
    ImportStatus,
)

logger = logging.getLogger(__name__)

CONTACT_CHUNK = 500


TOUCHPOINT_CHUNK = 5000


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
