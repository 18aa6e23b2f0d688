"""A rep's "my contacts" ordered by what needs attention, and the start page per role."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import Role, user_role
from accounts.web_access import EVERYONE, SALES, roles_required
from contacts.models import Contact
from stages.models import StageCategory

PAGE_SIZE = 50


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


@roles_required(EVERYONE)
def home_view(request: HttpRequest) -> HttpResponse:
    """Marketers start on the overview, reps on their contacts; a shared link's filters come along."""
    target = reverse("web:my_contacts" if user_role(request.user) == Role.SALES_REP else "web:overview")
    query = request.GET.urlencode()
    return redirect(f"{target}?{query}" if query else target)
