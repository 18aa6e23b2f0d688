"""The notifications page: the newest notifications (read on opening), and the email opt-in."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from notifications.selectors import notification_list, notification_wants_email
from notifications.services import notification_preference_set, notifications_for_due_tasks, notifications_mark_read


class EmailPreferenceForm(forms.Form):
    email = forms.BooleanField(required=False, label="Also send me these by email")


@login_required
def notification_list_view(request: HttpRequest) -> HttpResponse:
    """The user's notifications, newest first; opening the page marks them read."""
    notifications_for_due_tasks(user_id=request.user.pk)  # today's tasks even where no daily worker runs
    notes = list(notification_list(user=request.user))
    notifications_mark_read(user=request.user)
    form = EmailPreferenceForm(initial={"email": notification_wants_email(user=request.user)})
    return render(request, "notifications/list.html", {"notes": notes, "form": form})


@login_required
@require_POST
def notification_preference_view(request: HttpRequest) -> HttpResponse:
    """Turn the email copy on or off."""
    form = EmailPreferenceForm(request.POST)
    form.is_valid()
    wanted = bool(form.cleaned_data.get("email"))
    notification_preference_set(user=request.user, email=wanted)
    messages.success(request, "You will get them by email too." if wanted else "Emails turned off.")
    return redirect("web:notifications")
