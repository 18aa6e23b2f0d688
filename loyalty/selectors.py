"""Loyalty reads: balances (one index-only SUM), a contact's loyalty summary for its page, rewards."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from loyalty.codes import member_token, referral_code
from loyalty.models import Membership, PointsEntry, Programme, Referral, Reward, Tier, TierBasis


def member_balance(*, member_id: int) -> int:
    """A member's balance: the sum of its ledger rows (index-only on points_entry_member_idx)."""
    return PointsEntry.objects.filter(member_id=member_id).aggregate(total=Sum("points"))["total"] or 0


def programme_default() -> Programme | None:
    """The active default programme (the one the contact page, referrals and the API use when none is named)."""
    return Programme.objects.filter(is_default=True, is_active=True).first()


def programme_list() -> list[Programme]:
    """Active programmes, the default first."""
    return list(Programme.objects.filter(is_active=True))


def window_value(*, member: Membership, now: dt.datetime | None = None) -> float:
    """What the member has in the tier window now (points net of reversals, or net spend), as tiers.py counts it."""
    from django.db.models import Q

    from contacts.models import Touchpoint

    programme = member.programme
    now = now or timezone.now()
    since = now - dt.timedelta(days=programme.tier_window_days)
    if programme.tier_basis == TierBasis.SPEND:
        sums = Touchpoint.objects.filter(
            contact_id=member.contact_id, occurred_at__gt=since, occurred_at__lte=now
        ).aggregate(p=Sum("amount", filter=Q(kind="purchase")), r=Sum("amount", filter=Q(kind="refund")))
        return float((sums["p"] or 0) - (sums["r"] or 0))
    return float(
        PointsEntry.objects.filter(
            member=member, kind__in=["earn", "reverse"], occurred_at__gt=since, occurred_at__lte=now
        ).aggregate(total=Sum("points"))["total"]
        or 0
    )


@dataclass
class ContactLoyalty:
    """Everything the contact page's loyalty panel shows."""

    programme: Programme | None
    member: Membership | None = None
    balance: int = 0
    tier: Tier | None = None
    next_tier: Tier | None = None
    window_value: float = 0
    progress_percent: int = 0
    entries: list[PointsEntry] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    referred_by: Referral | None = None
    rewards: list[Reward] = field(default_factory=list)
    referral_code: str = ""
    member_token: str = ""
    liability: Any = 0


def contact_loyalty(*, contact_id: int, ledger_limit: int = 10) -> ContactLoyalty:
    """The contact's balance, tier and progress to the next tier, latest ledger rows, referrals and rewards."""
    programme = programme_default()
    summary = ContactLoyalty(
        programme=programme, referral_code=referral_code(contact_id), member_token=member_token(contact_id)
    )
    summary.referrals = list(Referral.objects.filter(referrer_id=contact_id).select_related("referred")[:50])
    summary.referred_by = Referral.objects.filter(referred_id=contact_id).select_related("referrer").first()
    if programme is None:
        return summary
    tiers = list(programme.tiers.order_by("rank"))
    summary.rewards = list(programme.rewards.filter(is_active=True))
    member = Membership.objects.filter(programme=programme, contact_id=contact_id).select_related("tier").first()
    if member is None:
        summary.next_tier = tiers[1] if len(tiers) > 1 else None
        return summary
    member.programme = programme
    summary.member = member
    summary.balance = member_balance(member_id=member.pk)
    summary.liability = summary.balance * programme.point_value
    summary.tier = member.tier
    summary.entries = list(member.entries.order_by("-occurred_at", "-id")[:ledger_limit])
    summary.window_value = window_value(member=member)
    rank = member.tier.rank if member.tier else -1
    summary.next_tier = next((t for t in tiers if t.rank > rank), None)
    if summary.next_tier is not None and summary.next_tier.threshold > 0:
        summary.progress_percent = max(
            0, min(100, int(100 * summary.window_value / float(summary.next_tier.threshold)))
        )
    elif summary.next_tier is None:
        summary.progress_percent = 100
    return summary
