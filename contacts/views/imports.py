"""CSV import pages: upload, column mapping with preview, progress, rejected rows."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from accounts.web_access import MARKETING, roles_required
from contacts.forms import (
    ImportUploadForm,
)
from contacts.import_rows import FIELDS, ImportFileError, field_choices
from contacts.importing import import_preview, import_start, import_upload, mapping_validate
from contacts.models import Channel, ImportJob, ImportKind, ImportStatus, TouchpointKind
from contacts.views.lists import _cell

# --- import ------------------------------------------------------------------------------------


@roles_required(MARKETING)
def import_list_view(request: HttpRequest) -> HttpResponse:
    """Upload a CSV (contacts or touchpoints) and see earlier imports."""
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_upload(
                kind=form.cleaned_data["kind"], file_name=upload.name, raw=upload.read(), user=request.user
            )
        except ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("web:import_detail", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by").defer("content")[:20]
    return render(
        request,
        "contacts/import_list.html",
        {
            "form": form,
            "jobs": jobs,
            "fields": FIELDS,
            "touchpoint_kinds": TouchpointKind.choices,
            "channels": Channel.choices,
        },
    )


def _mapping_from_post(request: HttpRequest, job: ImportJob) -> dict[str, str]:
    return {header: request.POST.get(f"map_{i}", "") for i, header in enumerate(job.headers)}


@roles_required(MARKETING)
def import_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Map columns with a preview (before the start), then a live progress bar, then the rejected rows."""
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)
    if job.status == ImportStatus.UPLOADED:
        mapping = dict(job.mapping)
        errors: dict[str, str] = {}
        if request.method == "POST":
            mapping = _mapping_from_post(request, job)
            errors = mapping_validate(kind=job.kind, mapping=mapping, headers=job.headers)
            if not errors and "start" in request.POST:
                try:
                    import_start(job=job, mapping=mapping)
                except ValidationError as exc:
                    messages.error(request, "; ".join(exc.messages))
                return redirect("web:import_detail", pk=job.pk)
        preview = import_preview(job=job, mapping=mapping, limit=10) if not errors else []
        columns = [(i, h, mapping.get(h, ""), errors.get(h, "")) for i, h in enumerate(job.headers)]
        targets = [t for t in mapping.values() if t and t != "attribute"]
        return render(
            request,
            "contacts/import_map.html",
            {
                "job": job,
                "columns": columns,
                "choices": field_choices(job.kind),
                "errors": errors,
                "preview": preview,
                "preview_fields": targets,
                "fields": FIELDS[job.kind],
            },
        )
    rejections = Paginator(job.rejections.all(), 100).get_page(request.GET.get("page"))
    return render(request, "contacts/import_progress.html", {"job": job, "rejections": rejections})


@roles_required(MARKETING)
@require_GET
def import_status_view(request: HttpRequest, pk: int) -> JsonResponse:
    """The progress of an import as JSON, polled by the progress bar."""
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    return JsonResponse(
        {
            "id": job.pk,
            "status": job.status,
            "status_label": job.get_status_display(),
            "total_rows": job.total_rows,
            "processed_rows": job.processed_rows,
            "percent": job.percent,
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "rejected": job.rejected_count,
            "error": job.error,
            "finished": job.status in (ImportStatus.DONE, ImportStatus.FAILED),
        }
    )


@roles_required(MARKETING)
@require_GET
def import_rejections_csv_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The rejected rows of an import as CSV (the original cells plus the reason), to fix and re-upload."""
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    writer_rows = [["row", "reason", *job.headers]]
    for rejection in job.rejections.iterator(chunk_size=2000):
        writer_rows.append(
            [rejection.row_number, rejection.reason, *[rejection.values.get(h, "") for h in job.headers]]
        )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected.csv"'
    writer = csv.writer(response)
    for row in writer_rows:
        writer.writerow([_cell(v) for v in row])
    return response


# Example rows of the sample files: one per common case, so the file imports as it is.
_SAMPLE_ROWS = {
    ImportKind.CONTACTS: [
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Analytical Engines",
            "phone": "+44 20 7946 0001",
            "external_id": "CUST-1001",
            "acquisition_channel": "referral",
            "acquired_at": "2026-03-14",
            "marketing_consent": "yes",
            "tags": "vip;newsletter",
        },
        {
            "email": "grace@example.com",
            "first_name": "Grace",
            "last_name": "Hopper",
            "acquisition_channel": "paid_search",
        },
    ],
    ImportKind.TOUCHPOINTS: [
        {
            "contact_email": "ada@example.com",
            "kind": "purchase",
            "channel": "web",
            "occurred_at": "2026-03-20",
            "amount": "1200.50",
            "external_id": "ORDER-5001",
        },
        {
            "contact_external_id": "CUST-1001",
            "kind": "survey_response",
            "channel": "email",
            "occurred_at": "2026-04-02T10:30:00",
            "score": "9",
        },
        {"contact_email": "grace@example.com", "kind": "quote_request", "channel": "email", "note": "40 seats"},
    ],
}


@roles_required(MARKETING)
@require_GET
def import_sample_csv_view(request: HttpRequest, kind: str) -> HttpResponse:
    """A sample CSV for contacts or touchpoints: every column the import reads, and rows that import as they are."""
    if kind not in FIELDS:
        raise Http404("No such sample.")
    columns = [spec.name for spec in FIELDS[kind]]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sample-{kind}.csv"'
    writer = csv.DictWriter(response, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in _SAMPLE_ROWS[kind]:
        writer.writerow(row)
    return response
