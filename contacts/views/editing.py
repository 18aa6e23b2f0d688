"""Changing contacts in the app: create and edit a contact, correct or delete a touchpoint and undo it.

Each page calls the same services and permission checks as the API, so a rep can do here what an
integration does there (and no more): reps create and edit their own contacts, admins any.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.roles import Role, user_role
from accounts.web_access import EVERYONE, roles_required
from contacts.amounts import request_language
from contacts.forms import ContactForm, TouchpointEditForm
from contacts.models import Touchpoint, TouchpointChange
from contacts.selectors import contact_can_create, contact_can_write, contact_touchpoint_list
from contacts.services import contact_create, contact_update
from contacts.touchpoint_changes import touchpoint_change_undo, touchpoint_delete, touchpoint_update
from contacts.views.detail import _contact_or_404


def form_errors_from(form: Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: each message next to its field, the rest on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@roles_required(EVERYONE)
def contact_create_view(request: HttpRequest) -> HttpResponse:
    """A new contact, by hand: reps own what they create; admins may give it to anyone."""
    role = user_role(request.user)
    if not contact_can_create(user=request.user):
        raise PermissionDenied("Contacts are created by sales reps and admins (marketers import them).")
    form = ContactForm(request.POST or None, role=role)
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        if role == Role.SALES_REP:
            data["owner"] = request.user
        if contact_can_create(user=request.user, data=data):
            try:
                contact = contact_create(data=data, user=request.user)
            except ValidationError as exc:
                form_errors_from(form, exc)
            else:
                messages.success(request, f"{contact.full_name or contact.email} added.")
                return redirect("web:contact_detail", pk=contact.pk)
        else:
            form.add_error("owner", "You can create contacts only for yourself.")
    return render(request, "contacts/contact_form.html", {"form": form, "contact": None})


@roles_required(EVERYONE)
def contact_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Fix a contact's details (a phone number, a company); the stage changes only by a move."""
    contact = _contact_or_404(request, pk)
    if not contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("Only the contact's owner (or an admin) changes its details.")
    role = user_role(request.user)
    form = ContactForm(request.POST or None, role=role, creating=False, initial=ContactForm.initial_for(contact))
    if request.method == "POST" and form.is_valid():
        try:
            contact_update(contact=contact, data=form.service_data(), user=request.user)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("web:contact_detail", pk=contact.pk)
    return render(request, "contacts/contact_form.html", {"form": form, "contact": contact})


def _writable_touchpoint(request: HttpRequest, pk: int) -> Touchpoint:
    touchpoint = get_object_or_404(Touchpoint.objects.select_related("contact"), pk=pk)
    contact = _contact_or_404(request, touchpoint.contact_id)
    if not contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("Only the contact's owner (or an admin) changes its touchpoints.")
    return contact_touchpoint_list(user=request.user, contact=contact).get(pk=pk)


@roles_required(EVERYONE)
def touchpoint_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a touchpoint logged by hand; the contact is re-evaluated and the change can be undone."""
    touchpoint = _writable_touchpoint(request, pk)
    language = request_language(request)
    initial = {
        "kind": touchpoint.kind,
        "channel": touchpoint.channel,
        "occurred_at": timezone.localtime(touchpoint.occurred_at),
        "amount": "" if touchpoint.amount is None else str(touchpoint.amount),
        "score": touchpoint.score,
        "note": touchpoint.note,
    }
    form = TouchpointEditForm(request.POST or None, initial=initial, language=language)
    if request.method == "POST" and form.is_valid():
        try:
            touchpoint_update(touchpoint=touchpoint, data=dict(form.cleaned_data), user=request.user)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{touchpoint.get_kind_display()} corrected.")
            return redirect("web:contact_detail", pk=touchpoint.contact_id)
    return render(request, "contacts/touchpoint_form.html", {"form": form, "touchpoint": touchpoint})


@roles_required(EVERYONE)
@require_POST
def touchpoint_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a touchpoint logged by mistake; the contact page offers the undo for a few minutes."""
    touchpoint = _writable_touchpoint(request, pk)
    try:
        touchpoint_delete(touchpoint=touchpoint, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{touchpoint.get_kind_display()} deleted.")
    return redirect("web:contact_detail", pk=touchpoint.contact_id)


@roles_required(EVERYONE)
@require_POST
def touchpoint_undo_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo one's own recent edit or deletion of a touchpoint."""
    change = get_object_or_404(TouchpointChange, pk=pk)
    contact = _contact_or_404(request, change.contact_id)
    if change.user_id != request.user.pk or not contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("You can undo only your own changes.")
    try:
        touchpoint_change_undo(change=change, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Undone: the touchpoint is as it was.")
    return redirect("web:contact_detail", pk=contact.pk)
