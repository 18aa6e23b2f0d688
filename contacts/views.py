"""Dashboard pages of contacts: list with filters and keyset pages, export, bulk actions, segments, contact page,
quick touchpoint logging, manual moves, duplicates and merge, a rep's "my contacts", and CSV import."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, user_role
from campaigns.models import Segment
from contacts import bulk
from contacts.filters import ORDERING_KEYS, ContactFilterSet
from contacts.forms import (
    DEFAULT_CHANNEL_FOR_KIND,
    QUICK_KINDS,
    BulkActionForm,
    ImportUploadForm,
    MergeForm,
    MoveStageForm,
    QuickTouchpointForm,
    SaveSegmentForm,
    owner_choices_queryset,
)
from contacts.import_rows import FIELDS, ImportFileError, field_choices
from contacts.importing import import_preview, import_start, import_upload, mapping_validate
from contacts.merge import contact_merge, duplicate_groups
from contacts.models import Channel, Contact, ImportJob, ImportStatus, TouchpointKind
from contacts.selectors import (
    contact_can_write,
    contact_get,
    contact_list,
    contact_touchpoint_list,
)
from contacts.touchpoint_services import touchpoint_create
from lifecycle_crm.web_access import EVERYONE, MARKETING, SALES, roles_required
from metrics.models import RfmSegment
from plays.selectors import contact_play_log
from stages.models import Stage, StageCategory

PAGE_SIZE = 50
TIMELINE_SIZE = 100
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


def _list_context(request: HttpRequest) -> dict[str, Any]:
    params = _filter_params(request)
    ordering = params.get("ordering") or "-id"
    errors: dict[str, list[str]] = {}
    rows: list[Contact] = []
    next_cursor = None
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
        rows, next_cursor = keyset_page(queryset, ordering=ordering, cursor=request.GET.get("cursor"))
    except ValidationError as exc:
        errors = exc.message_dict
    role = user_role(request.user)
    return {
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
        "can_bulk": role in (Role.ADMIN, Role.SALES_REP),
        "can_segment": role in MARKETING,
        "can_export": role in MARKETING,
        "segment_form": SaveSegmentForm(initial={"query": params.urlencode()}),
        "bulk_actions": BulkActionForm.ACTIONS,
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


@roles_required(SALES)
@require_POST
def contact_bulk_view(request: HttpRequest) -> HttpResponse:
    """Bulk action on ticked contacts: a confirmation page first, then the change on the writable ones."""
    form = BulkActionForm(request.POST)
    back = _safe_back(request, request.POST.get("back"), reverse("web:contact_list"))
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(
                    request, error if field == "__all__" else f"{form.fields[field].label or field}: {error}"
                )
        return redirect(back)
    data = form.cleaned_data
    contacts = bulk.contacts_writable(user=request.user, contact_ids=data["ids"])
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


# --- contact page -------------------------------------------------------------------------------


def risk_explanation(contact: Contact) -> tuple[str, bool]:
    """One line saying how likely the contact is to slip away and why; (text, is_high_risk)."""
    metrics = getattr(contact, "metrics", None) if hasattr(contact, "metrics") else None
    now = timezone.now()
    if contact.stage.category == StageCategory.EXIT:
        last = metrics.last_purchase_at if metrics else None
        since = f"; last purchase {(now - last).days} days ago" if last else ""
        return f"In {contact.stage.name} since {contact.stage_entered_at:%d %b %Y}{since}.", True
    if metrics is None:
        return "No metrics yet: the nightly recompute fills them in.", False
    if metrics.purchase_count == 0:
        last = metrics.last_touch_at
        touch = f"last touch {(now - last).days} days ago" if last else "no touchpoint yet"
        return f"Not a customer yet; {touch}.", False
    days = (now - metrics.last_purchase_at).days if metrics.last_purchase_at else None
    rhythm = ""
    if metrics.purchase_count > 1 and metrics.first_purchase_at and metrics.last_purchase_at:
        gap = (metrics.last_purchase_at - metrics.first_purchase_at).days / (metrics.purchase_count - 1)
        rhythm = f", usually buys every {gap:.0f} days"
    last_text = f"last purchase {days} days ago{rhythm}" if days is not None else "no purchase date"
    if metrics.p_alive is None:
        return f"Customer with {metrics.purchase_count} purchase(s); {last_text}.", False
    if metrics.p_alive < 0.5:
        return f"High risk: {metrics.p_alive:.0%} chance still active — {last_text}.", True
    return f"Low risk: {metrics.p_alive:.0%} chance still active — {last_text}.", False


def _contact_or_404(request: HttpRequest, pk: int) -> Contact:
    contact = contact_get(user=request.user, pk=pk)
    if contact is None:
        raise Http404("No such contact.")
    return contact


def _history(request: HttpRequest, contact: Contact) -> list:
    """Newest move first, each with `exited_at` (stages.selectors, one LEAD query) for the time spent there."""
    from stages.selectors import contact_stage_history

    return contact_stage_history(contact_id=contact.pk).transitions[::-1]


@roles_required(EVERYONE)
@require_GET
def contact_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Profile, stage and time in it, history, journey timeline, metrics with risk, and the quick log form."""
    contact = _contact_or_404(request, pk)
    touchpoints = list(
        contact_touchpoint_list(user=request.user, contact=contact).select_related("logged_by")[: TIMELINE_SIZE + 1]
    )
    risk_text, risk_high = risk_explanation(contact)
    can_write = contact_can_write(user=request.user, contact=contact)
    return render(
        request,
        "contacts/detail.html",
        {
            "contact": contact,
            "metrics": getattr(contact, "metrics", None) if hasattr(contact, "metrics") else None,
            "history": _history(request, contact),
            "touchpoints": touchpoints[:TIMELINE_SIZE],
            "more_touchpoints": len(touchpoints) > TIMELINE_SIZE,
            "risk_text": risk_text,
            "risk_high": risk_high,
            "can_write": can_write,
            "quick_form": QuickTouchpointForm(),
            "quick_kinds": [(k.value, k.label) for k in QUICK_KINDS],
            "all_kinds": TouchpointKind.choices,
            "channels": Channel.choices,
            "default_channels": {str(k): str(v) for k, v in DEFAULT_CHANNEL_FOR_KIND.items()},
            "move_form": MoveStageForm(),
            "stages": Stage.objects.filter(is_active=True),
            # What automation did (or skipped, and why) for this contact, next to its journey.
            "play_log": contact_play_log(contact_id=contact.pk, limit=20),
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@roles_required(EVERYONE)
@require_POST
def touchpoint_log_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Log a touchpoint from the quick form (fetch → JSON, or a plain form post → redirect back)."""
    contact = _contact_or_404(request, pk)
    if not contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("Only the contact's owner (or an admin) logs touchpoints on it.")
    form = QuickTouchpointForm(request.POST)
    errors: dict[str, list[str]] = {}
    result = None
    if form.is_valid():
        try:
            result = touchpoint_create(
                data=form.service_data(contact_id=contact.pk), source="manual", logged_by=request.user
            )
        except ValidationError as exc:
            errors = exc.message_dict
    else:
        errors = {k: [str(e) for e in v] for k, v in form.errors.items()}
    if _wants_json(request):
        if errors:
            return JsonResponse({"ok": False, "errors": errors}, status=400)
        html = render_to_string("contacts/_timeline_item.html", {"tp": result.touchpoint}, request=request)
        return JsonResponse(
            {"ok": True, "touchpoint_id": result.touchpoint.pk, "stage": contact.stage.slug, "html": html}, status=201
        )
    if errors:
        for field, msgs in errors.items():
            messages.error(request, f"{field}: {' '.join(msgs)}")
    else:
        messages.success(request, f"{result.touchpoint.get_kind_display()} logged.")
    return redirect("web:contact_detail", pk=contact.pk)


@roles_required(EVERYONE)
@require_GET
def contact_stage_view(request: HttpRequest, pk: int) -> JsonResponse:
    """The contact's current stage (polled by the page after logging a touchpoint) and its history as HTML."""
    contact = _contact_or_404(request, pk)
    history_html = render_to_string("contacts/_history.html", {"history": _history(request, contact)}, request=request)
    return JsonResponse(
        {
            "slug": contact.stage.slug,
            "name": contact.stage.name,
            "colour": contact.stage.colour,
            "entered_at": contact.stage_entered_at.isoformat(),
            "history_html": history_html,
        }
    )


@roles_required(EVERYONE)
@require_POST
def contact_move_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the contact to a stage by hand, with the reason kept in its history."""
    from stages.services import contact_move_stage

    contact = _contact_or_404(request, pk)
    if not contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("Only the contact's owner (or an admin) moves it.")
    form = MoveStageForm(request.POST)
    if form.is_valid():
        try:
            contact_move_stage(
                contact=contact, stage=form.cleaned_data["stage"], reason=form.cleaned_data["reason"], user=request.user
            )
            messages.success(request, f"Moved to {form.cleaned_data['stage'].name}.")
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
    else:
        for field, errs in form.errors.items():
            messages.error(request, f"{form.fields[field].label or field}: {' '.join(errs)}")
    return redirect("web:contact_detail", pk=contact.pk)


# --- my contacts --------------------------------------------------------------------------------


def my_contacts_queryset(*, user: Any, now: dt.datetime | None = None, quiet_days: int = 30) -> QuerySet[Contact]:
    """The user's own contacts, most in need of attention first: at risk, then high value, then untouched lately.

    "High value" is the top fifth of this rep's contacts by predicted CLV (one small query
    for the threshold); within each group the most valuable and the longest untouched lead.
    """
    now = now or timezone.now()
    mine = Contact.objects.filter(owner=user)
    valued = mine.filter(metrics__predicted_clv__isnull=False)
    n = valued.count()
    threshold = None
    if n:
        threshold = (
            valued.order_by("-metrics__predicted_clv").values_list("metrics__predicted_clv", flat=True)[n // 5]
            if n > 1
            else None
        )
    at_risk = (
        Q(stage__slug="at_risk")
        | Q(stage__category=StageCategory.EXIT)
        | Q(metrics__purchase_count__gt=0, metrics__p_alive__lt=0.5)
    )
    quiet = (
        Q(metrics__last_touch_at__lt=now - dt.timedelta(days=quiet_days))
        | Q(metrics__isnull=True)
        | Q(metrics__last_touch_at__isnull=True)
    )
    whens = [When(at_risk, then=Value(0))]
    if threshold is not None:
        whens.append(When(metrics__predicted_clv__gte=threshold, then=Value(1)))
    whens.append(When(quiet, then=Value(2)))
    return (
        mine.select_related("stage", "metrics")
        .annotate(attention=Case(*whens, default=Value(3), output_field=IntegerField()))
        .order_by(
            "attention",
            F("metrics__predicted_clv").desc(nulls_last=True),
            F("metrics__last_touch_at").asc(nulls_first=True),
            "id",
        )
    )


ATTENTION_LABELS = {0: ("At risk", "risk"), 1: ("High value", "good"), 2: ("No touch lately", ""), 3: ("", "")}


@roles_required(SALES)
@require_GET
def my_contacts_view(request: HttpRequest) -> HttpResponse:
    """A rep's own contacts ordered by what needs attention."""
    page = Paginator(my_contacts_queryset(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    for contact in page.object_list:
        contact.attention_label, contact.attention_class = ATTENTION_LABELS[contact.attention]
    return render(request, "contacts/my_contacts.html", {"page": page, "now": timezone.now()})


# --- duplicates and merge -----------------------------------------------------------------------


@roles_required(SALES)
@require_GET
def duplicates_view(request: HttpRequest) -> HttpResponse:
    """Likely duplicate contacts, grouped by why they look alike; merge buttons where the user may change both."""
    groups = duplicate_groups(limit=30)
    role = user_role(request.user)
    for group in groups:
        group.can_merge = role == Role.ADMIN or all(c.owner_id == request.user.pk for c in group.contacts)
    return render(request, "contacts/duplicates.html", {"groups": groups})


@roles_required(SALES)
def merge_view(request: HttpRequest) -> HttpResponse:
    """Confirm and run a merge of two contacts (the survivor keeps everything of both)."""
    form = MergeForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        messages.error(request, "Choose two different contacts to merge.")
        return redirect("web:duplicates")
    survivor = _contact_or_404(request, form.cleaned_data["survivor"])
    other = _contact_or_404(request, form.cleaned_data["other"])
    if not (
        contact_can_write(user=request.user, contact=survivor) and contact_can_write(user=request.user, contact=other)
    ):
        raise PermissionDenied("You may merge only contacts you are allowed to change.")
    if request.method == "POST" and "confirm" in request.POST:
        try:
            log = contact_merge(survivor=survivor, other=other, user=request.user)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return redirect("web:duplicates")
        moved = log.moved
        messages.success(
            request,
            f"Merged {log.merged_email} into this contact: {moved['touchpoints']} touchpoint(s), "
            f"{moved['transitions']} transition(s), {moved['tags']} tag(s), "
            f"{moved['campaign_memberships']} campaign membership(s) moved.",
        )
        return redirect("web:contact_detail", pk=survivor.pk)
    pair = []
    for contact in (survivor, other):
        contact.tp_count = contact.touchpoints.count()
        contact.transition_count = contact.transitions.count()
        contact.campaign_count = contact.campaign_memberships.count()
        pair.append(contact)
    return render(request, "contacts/merge_confirm.html", {"survivor": survivor, "other": other, "pair": pair})


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
    return render(request, "contacts/import_list.html", {"form": form, "jobs": jobs, "fields": FIELDS})


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


@roles_required(EVERYONE)
def home_view(request: HttpRequest) -> HttpResponse:
    """Marketers start on the overview, reps on their contacts; a shared link's filters come along."""
    target = reverse("web:my_contacts" if user_role(request.user) == Role.SALES_REP else "web:overview")
    query = request.GET.urlencode()
    return redirect(f"{target}?{query}" if query else target)
