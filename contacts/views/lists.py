"""Contact list with filters and keyset pages, CSV export, bulk actions and saved segments."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, user_role
from accounts.web_access import EVERYONE, MARKETING, roles_required
from campaigns.models import Segment
from contacts import bulk
from contacts.filters import ORDERING_KEYS, ContactFilterSet
from contacts.forms import (
    BulkActionForm,
    SaveSegmentForm,
    bulk_actions_for,
    owner_choices_queryset,
)
from contacts.models import Channel, Contact
from contacts.selectors import (
    contact_can_create,
    contact_list,
    contact_list_total,
)
from metrics.models import RfmSegment
from stages.models import Stage

PAGE_SIZE = 50
NON_FILTER_PARAMS = {"cursor", "page"}
_DATE_KEYS = {"created_at", "acquired_at", "stage_entered_at"}
_DECIMAL_KEYS = {"predicted_clv", "historic_clv"}
SORT_LABELS = [
    ("-id", "Newest first"),
    ("id", "Oldest first"),
    ("last_name", "Name A to Z"),
    ("-stage_entered_at", "Entered stage recently"),
    ("stage_entered_at", "Longest in stage"),
    ("-predicted_clv", "Highest predicted CLV"),
    ("-historic_clv", "Highest historic CLV"),
]


# --- list, keyset pages, export -------------------------------------------------------------------


def _filter_params(request: HttpRequest):
    params = request.GET.copy()
    for key in NON_FILTER_PARAMS:
        params.pop(key, None)
    for key in [k for k, v in params.lists() if not any(v)]:
        params.pop(key)
    return params


def _sort_attr(ordering: str) -> tuple[str, bool]:
    key = ordering.lstrip("-")
    if key == "id":
        return "id", ordering.startswith("-")
    expression = ORDERING_KEYS[key]
    return (expression if isinstance(expression, str) else f"sort_{key}"), ordering.startswith("-")


def _encode_cursor(value: Any, pk: int) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    raw = json.dumps([value, pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, key: str) -> tuple[Any, int]:
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        pk = int(pk)
        if key in _DATE_KEYS:
            value = parse_datetime(value)
            if value is None:
                raise ValueError
        elif key in _DECIMAL_KEYS:
            value = Decimal(value)
        elif key == "id":
            value = int(value)
        elif not isinstance(value, str):
            raise ValueError
    except (ValueError, TypeError, InvalidOperation, json.JSONDecodeError, base64.binascii.Error):
        raise ValidationError({"cursor": "This page link is broken; start from the first page."}) from None
    return value, pk


# Sorting by CLV uses the metrics table's own index (walked backwards, contacts joined by
# primary key) instead of the shared filter's COALESCE expression, which no index serves and
# which would sort a million rows per page; contacts without a CLV yet are left out of it.
CLV_SORTS = {"-predicted_clv": "predicted_clv", "-historic_clv": "historic_clv"}


def keyset_page(queryset: QuerySet, *, ordering: str, cursor: str | None, size: int = PAGE_SIZE):
    """One page after `cursor` by seeking on (sort key, id) — no OFFSET, no COUNT, so page 1,000 costs page 1."""
    key = ordering.lstrip("-")
    if ordering in CLV_SORTS:
        attr, descending = f"metrics__{CLV_SORTS[ordering]}", True
    else:
        attr, descending = _sort_attr(ordering)
    if cursor:
        value, pk = _decode_cursor(cursor, key)
        op = "lt" if descending else "gt"
        if attr == "id":
            queryset = queryset.filter(**{f"id__{op}": pk})
        else:
            queryset = queryset.filter(Q(**{f"{attr}__{op}": value}) | Q(**{attr: value, f"id__{op}": pk}))
    rows = list(queryset[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        if attr == "id":
            value = last.pk
        elif attr.startswith("metrics__"):
            value = getattr(last.metrics, attr.removeprefix("metrics__"))
        else:
            value = getattr(last, attr)
        next_cursor = _encode_cursor(value, last.pk)
    return rows, next_cursor


def _page_number(request: HttpRequest) -> int:
    """The page number carried along with the cursor (display only: the cursor decides the rows)."""
    raw = request.GET.get("page", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**7 else 1


def _list_context(request: HttpRequest) -> dict[str, Any]:
    params = _filter_params(request)
    ordering = params.get("ordering") or "-id"
    errors: dict[str, list[str]] = {}
    rows: list[Contact] = []
    next_cursor = None
    total = None
    try:
        if ordering in CLV_SORTS:
            field = CLV_SORTS[ordering]
            filters = params.copy()
            filters.pop("ordering", None)
            queryset = (
                contact_list(user=request.user, filters=filters)
                .filter(**{f"metrics__{field}__isnull": False})
                .order_by(f"-metrics__{field}", "-id")
            )
        else:
            queryset = contact_list(user=request.user, filters=params)
        rows, next_cursor = keyset_page(queryset, ordering=ordering, cursor=request.GET.get("cursor"), size=PAGE_SIZE)
        total = contact_list_total(queryset=queryset)
    except ValidationError as exc:
        errors = exc.message_dict
    role = user_role(request.user)
    page_number = _page_number(request) if request.GET.get("cursor") else 1
    return {
        "total": total,
        "page_number": page_number,
        "next_page_number": page_number + 1,
        "page_count": max(1, -(-total.value // PAGE_SIZE)) if total else None,
        "first_row": (page_number - 1) * PAGE_SIZE + 1,
        "last_row": (page_number - 1) * PAGE_SIZE + len(rows),
        "contacts": rows,
        "contact_url": reverse("web:contact_list"),  # rows link to contact_url + id + "/" (no reverse per row)
        "next_cursor": next_cursor,
        "is_first_page": not request.GET.get("cursor"),
        "filter_errors": errors,
        "params": params,
        "filter_query": params.urlencode(),
        "has_filters": any(k != "ordering" for k in params),
        "ordering": ordering,
        "sort_labels": SORT_LABELS,
        "stages": Stage.objects.filter(is_active=True),
        "channels": Channel.choices,
        "rfm_segments": RfmSegment.choices,
        "owners": owner_choices_queryset(),
        "segments": Segment.objects.only("id", "name"),
        "selected_stages": params.getlist("stage"),
        "selected_channels": params.getlist("channel"),
        "can_bulk": role in (Role.ADMIN, Role.SALES_REP, Role.MARKETER),
        "can_segment": role in MARKETING,
        "can_move_bulk": role in (Role.ADMIN, Role.SALES_REP),
        "can_create_contact": contact_can_create(user=request.user),
        "can_export": role in MARKETING,
        "segment_form": SaveSegmentForm(initial={"query": params.urlencode()}),
        "bulk_actions": bulk_actions_for(role),
    }


@roles_required(EVERYONE)
@require_GET
def contact_list_view(request: HttpRequest) -> HttpResponse:
    """Every contact the user may see, with the API's filters, search, sort and keyset pages."""
    return render(request, "contacts/list.html", _list_context(request))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    """A CSV cell safe to open in a spreadsheet: text starting with = + - @ is not run as a formula."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return str(value)  # numbers (a negative revenue) are not formulas
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


EXPORT_COLUMNS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "external_id",
    "owner",
    "stage",
    "stage_entered_at",
    "acquisition_channel",
    "acquired_at",
    "marketing_consent",
    "tags",
    "purchases",
    "revenue",
    "historic_clv",
    "predicted_clv",
    "p_alive",
    "rfm_segment",
]


def _export_rows(queryset: QuerySet) -> Any:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for c in queryset.iterator(chunk_size=2000):
        m = getattr(c, "metrics", None) if hasattr(c, "metrics") else None
        yield writer.writerow(
            [
                _cell(v)
                for v in (
                    c.pk,
                    c.email,
                    c.first_name,
                    c.last_name,
                    c.phone,
                    c.company,
                    c.external_id,
                    c.owner.username if c.owner else "",
                    c.stage.slug,
                    c.stage_entered_at.isoformat(),
                    c.acquisition_channel,
                    c.acquired_at.isoformat(),
                    "yes" if c.marketing_consent else "no",
                    ";".join(t.name for t in c.tags.all()),
                    m.purchase_count if m else "",
                    m.revenue if m else "",
                    m.historic_clv if m else "",
                    m.predicted_clv if m and m.predicted_clv is not None else "",
                    f"{m.p_alive:.4f}" if m and m.p_alive is not None else "",
                    m.rfm_segment if m else "",
                )
            ]
        )


@roles_required(MARKETING)
@require_GET
def contact_export_view(request: HttpRequest) -> HttpResponse:
    """The filtered contact list as CSV, streamed in chunks so a million rows never sit in memory."""
    try:
        queryset = contact_list(user=request.user, filters=_filter_params(request))
    except ValidationError as exc:
        messages.error(request, "Fix the filters before exporting: " + "; ".join(exc.messages))
        return redirect(reverse("web:contact_list") + "?" + _filter_params(request).urlencode())
    response = StreamingHttpResponse(_export_rows(queryset), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
    return response


def _safe_back(request: HttpRequest, url: str | None, default: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=False):
        return url
    return default


@roles_required(EVERYONE)
@require_POST
def contact_bulk_view(request: HttpRequest) -> HttpResponse:
    """Bulk action on ticked contacts: a confirmation page first, then the change on the writable ones.

    Reps and admins assign, tag and move; marketers assign owners, tag and export (they never move stages).
    """
    form = BulkActionForm(request.POST, role=user_role(request.user))
    back = _safe_back(request, request.POST.get("back"), reverse("web:contact_list"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)  # plain sentences, no field codes
        return redirect(back)
    data = form.cleaned_data
    contacts = bulk.contacts_writable(user=request.user, contact_ids=data["ids"], action=data["action"])
    count = contacts.count()
    skipped = len(set(data["ids"])) - count
    if "confirm" not in request.POST:
        return render(
            request,
            "contacts/bulk_confirm.html",
            {
                "form": form,
                "data": data,
                "contacts": contacts.select_related("stage")[:50],
                "count": count,
                "skipped": skipped,
                "back": back,
            },
        )
    if data["action"] == "export":
        response = StreamingHttpResponse(
            _export_rows(contacts.select_related("stage", "owner", "metrics").prefetch_related("tags").order_by("id")),
            content_type="text/csv; charset=utf-8",
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="contacts-selected-{stamp}.csv"'
        return response
    try:
        if data["action"] == "assign_owner":
            done = bulk.contacts_assign_owner(contacts=contacts, owner=data["owner"])
            messages.success(request, f"{done} contact(s) now owned by {data['owner'].get_username()}.")
        elif data["action"] == "add_tag":
            done = bulk.contacts_add_tag(contacts=contacts, tag_name=data["tag"])
            messages.success(request, f"Tag “{data['tag']}” added to {done} contact(s).")
        else:
            done = bulk.contacts_move_stage(
                contacts=contacts, stage=data["stage"], reason=data["reason"], user=request.user
            )
            messages.success(request, f"{done} contact(s) moved to {data['stage'].name}.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    if skipped:
        messages.warning(request, f"{skipped} ticked contact(s) were left alone: you may not change them.")
    return redirect(back)


@roles_required(MARKETING)
@require_POST
def segment_save_view(request: HttpRequest) -> HttpResponse:
    """Save the current contact-list filters as a segment (the same parameters the API and list use)."""
    form = SaveSegmentForm(request.POST)
    query = QueryDict(request.POST.get("query", ""))
    back = reverse("web:contact_list") + ("?" + query.urlencode() if query else "")
    if not form.is_valid():
        messages.error(request, "Give the segment a name (at most 120 characters).")
        return redirect(back)
    filters = {k: (v if len(v) > 1 else v[0]) for k, v in query.lists() if k not in NON_FILTER_PARAMS | {"ordering"}}
    if not filters:
        messages.error(request, "Choose at least one filter before saving a segment.")
        return redirect(back)
    try:
        with transaction.atomic():
            filters = ContactFilterSet.validate_saved(filters)
            if Segment.objects.filter(name__iexact=form.cleaned_data["name"]).exists():
                raise ValidationError({"name": "A segment with this name exists; choose another name."})
            segment = Segment.objects.create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                filters=filters,
                created_by=request.user,
            )
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect(back)
    messages.success(request, f"Saved as segment “{segment.name}”. Campaigns and the overview can now use it.")
    return redirect(reverse("web:contact_list") + f"?segment={segment.pk}")
