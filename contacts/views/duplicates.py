"""Likely duplicates and the merge of two contacts."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.roles import Role, user_role
from accounts.web_access import SALES, roles_required
from contacts.forms import (
    MergeForm,
)
from contacts.merge import contact_merge, duplicate_groups
from contacts.selectors import (
    contact_can_write,
)
from contacts.views.detail import _contact_or_404

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
            f"{moved['tags']} tag(s), {moved['campaign_memberships']} campaign membership(s) moved; "
            f"its {moved['transitions_kept_in_log']} stage move(s) kept in the merge record, this history rebuilt.",
        )
        return redirect("web:contact_detail", pk=survivor.pk)
    pair = []
    for contact in (survivor, other):
        contact.tp_count = contact.touchpoints.count()
        contact.transition_count = contact.transitions.count()
        contact.campaign_count = contact.campaign_memberships.count()
        pair.append(contact)
    return render(request, "contacts/merge_confirm.html", {"survivor": survivor, "other": other, "pair": pair})
