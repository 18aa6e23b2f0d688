"""Thin views of loyalty: the programme page (marketers), a rep's redeem and adjust actions on the contact page,
and the customer's own signed redemption link (no login)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Role, user_role
from contacts.models import Contact
from contacts.selectors import contact_can_write, contact_get
from loyalty import reports, selectors, services
from loyalty.codes import member_token_contact_id
from loyalty.models import RedemptionChannel, Reward


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(m for messages_ in exc.message_dict.values() for m in messages_)
    return " ".join(exc.messages)


@login_required
def programme_view(request: HttpRequest) -> HttpResponse:
    """The programme page: members by tier, points per month, liability, redemption and referral figures."""
    if user_role(request.user) not in (Role.ADMIN, Role.MARKETER):
        raise PermissionDenied("The loyalty programme page is for marketers and admins.")
    programmes = selectors.programme_list()
    if not programmes:
        return render(request, "loyalty/programme.html", {"report": None, "programmes": []})
    chosen = request.GET.get("programme")
    programme = next((p for p in programmes if str(p.pk) == chosen), programmes[0])
    report = reports.programme_report(programme=programme)
    peak = max([max(m.issued, m.redeemed, m.expired) for m in report.months] or [0]) or 1
    bars = [
        (m, round(100 * m.issued / peak), round(100 * m.redeemed / peak), round(100 * m.expired / peak))
        for m in report.months
    ]
    return render(
        request,
        "loyalty/programme.html",
        {"report": report, "programmes": programmes, "programme": programme, "bars": bars},
    )


def _writable(request: HttpRequest, pk: int) -> Contact:
    contact = contact_get(user=request.user, pk=pk)
    if contact is None:
        raise Http404
    if not contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("Only the contact's owner (or an admin) can redeem or adjust points.")
    return contact


@login_required
@require_POST
def contact_redeem_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A rep redeems a reward for the contact from its page; a refusal is shown as a message, nothing is written."""
    contact = _writable(request, pk)
    reward = Reward.objects.select_related("programme").filter(pk=request.POST.get("reward") or 0).first()
    if reward is None:
        messages.error(request, "Choose a reward.")
    else:
        try:
            services.reward_redeem(contact=contact, reward=reward, channel=RedemptionChannel.REP, user=request.user)
            messages.success(request, f"Redeemed {reward.name} for {reward.points_price} points.")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
    return redirect(reverse("web:contact_detail", args=[contact.pk]) + "#loyalty")


@login_required
@require_POST
def contact_adjust_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A rep adds or removes points with a reason."""
    contact = _writable(request, pk)
    try:
        points = int(request.POST.get("points", ""))
    except ValueError:
        messages.error(request, "Points must be a whole number.")
    else:
        try:
            services.points_adjust(contact=contact, points=points, note=request.POST.get("note", ""), user=request.user)
            messages.success(request, f"Adjusted by {points:+d} points.")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
    return redirect(reverse("web:contact_detail", args=[contact.pk]) + "#loyalty")


@require_http_methods(["GET", "POST"])
def member_view(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's own page from a signed link: balance, tier, rewards; POST redeems one."""
    contact_id = member_token_contact_id(token)
    contact = Contact.objects.filter(pk=contact_id).first() if contact_id else None
    if contact is None:
        return render(request, "loyalty/member.html", {"invalid": True}, status=400)
    error = done = None
    status = 200
    if request.method == "POST":
        reward = get_object_or_404(Reward.objects.select_related("programme"), pk=request.POST.get("reward") or 0)
        try:
            done = services.reward_redeem(contact=contact, reward=reward, channel=RedemptionChannel.LINK)
        except ValidationError as exc:
            error, status = _errors(exc), 400
    summary = selectors.contact_loyalty(contact_id=contact.pk, ledger_limit=10)
    return render(
        request,
        "loyalty/member.html",
        {"contact": contact, "summary": summary, "error": error, "done": done},
        status=status,
    )
