"""The contact page: profile, stage, history, journey timeline, quick touchpoint log, manual moves."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, user_role
from accounts.web_access import EVERYONE, roles_required
from contacts.amounts import decimal_mark, request_language
from contacts.forms import (
    DEFAULT_CHANNEL_FOR_KIND,
    QUICK_KINDS,
    MoveStageForm,
    QuickTouchpointForm,
)
from contacts.models import Channel, Contact, TouchpointKind
from contacts.selectors import (
    contact_can_write,
    contact_evaluated_since,
    contact_get,
    contact_touchpoint_list,
    touchpoint_changes_undoable,
)
from contacts.touchpoint_services import touchpoint_create
from plays.selectors import contact_play_log
from stages.models import Stage, StageCategory

TIMELINE_SIZE = 100


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
            "can_create_task": can_write and user_role(request.user) in (Role.SALES_REP, Role.ADMIN),
            "recent_changes": touchpoint_changes_undoable(user=request.user, contact_id=contact.pk)
            if can_write
            else [],
            "amount_example": "1,200.50" if decimal_mark(request_language(request)) == "." else "1.200,50",
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
    form = QuickTouchpointForm(request.POST, language=request_language(request))
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
            return JsonResponse({"ok": False, "errors": errors, "messages": _plain(errors)}, status=400)
        html = render_to_string(
            "contacts/_timeline_item.html", {"tp": result.touchpoint, "can_write": True}, request=request
        )
        # When tasks run in-process (the embedded default) the evaluation has already happened by now: answer
        # with the outcome at once. With a worker the page polls the stage until the engine has seen it.
        evaluated = contact_evaluated_since(contact=contact, touchpoint=result.touchpoint)
        body = {"ok": True, "touchpoint_id": result.touchpoint.pk, "evaluated": evaluated, "html": html}
        if evaluated:
            body.update(_stage_payload(request, _contact_or_404(request, contact.pk), before=contact.stage.slug))
        else:
            body["stage"] = contact.stage.slug
        return JsonResponse(body, status=201)
    if errors:
        for message in _plain(errors):
            messages.error(request, message)
    else:
        messages.success(request, f"{result.touchpoint.get_kind_display()} logged.")
    return redirect("web:contact_detail", pk=contact.pk)


def _plain(errors: dict[str, list[str]]) -> list[str]:
    """Error messages as plain sentences, without the field codes ("amount: …") they are keyed by."""
    return [message for messages_ in errors.values() for message in messages_]


def _stage_payload(request: HttpRequest, contact: Contact, *, before: str | None = None) -> dict[str, Any]:
    history_html = render_to_string("contacts/_history.html", {"history": _history(request, contact)}, request=request)
    payload = {
        "stage": contact.stage.slug,
        "slug": contact.stage.slug,
        "name": contact.stage.name,
        "colour": contact.stage.colour,
        "entered_at": contact.stage_entered_at.isoformat(),
        "history_html": history_html,
    }
    if before is not None:
        payload["moved"] = before != contact.stage.slug
    return payload


@roles_required(EVERYONE)
@require_GET
def contact_stage_view(request: HttpRequest, pk: int) -> JsonResponse:
    """The contact's current stage and history as HTML, polled by the page after logging a touchpoint.

    `?after=<touchpoint id>` adds `evaluated`: whether the engine has looked at the contact since that
    touchpoint, so the page can say "the stage stays" as soon as that is known instead of waiting it out.
    """
    contact = _contact_or_404(request, pk)
    payload = _stage_payload(request, contact)
    after = request.GET.get("after", "")
    if after.isdigit():
        touchpoint = contact_touchpoint_list(user=request.user, contact=contact).filter(pk=int(after)).first()
        payload["evaluated"] = touchpoint is None or contact_evaluated_since(contact=contact, touchpoint=touchpoint)
    return JsonResponse(payload)


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
