"""Payloads of the loyalty webhook events (tier changed, reward redeemed, referral converted).

Webhooks react to loyalty from its own side: loyalty only sends its signals; these builders
read loyalty's rows for the deliveries (webhooks sits above loyalty in the dependency order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loyalty.models import Redemption, Referral, TierChange
from webhooks.delivery import _iso


def _contact(contact: Any) -> dict[str, Any]:
    return {"id": contact.pk, "email": contact.email, "external_id": contact.external_id}


def tier_changes_data(change_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = (
        TierChange.objects.filter(pk__in=change_ids, announced=True)
        .select_related("member__contact", "member__programme", "from_tier", "to_tier")
        .order_by("id")
    )
    return [
        {
            "id": c.pk,
            "contact": _contact(c.member.contact),
            "programme": c.member.programme.slug,
            "from_tier": c.from_tier.slug if c.from_tier else None,
            "to_tier": c.to_tier.slug if c.to_tier else None,
            "effective_at": _iso(c.effective_at),
        }
        for c in rows
    ]


def redemptions_data(redemption_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = (
        Redemption.objects.filter(pk__in=redemption_ids)
        .select_related("member__contact", "member__programme", "reward")
        .order_by("id")
    )
    return [
        {
            "id": r.pk,
            "contact": _contact(r.member.contact),
            "programme": r.member.programme.slug,
            "reward": {"id": r.reward_id, "name": r.reward.name},
            "points": r.points,
            "channel": r.channel,
            "created_at": _iso(r.created_at),
        }
        for r in rows
    ]


def referrals_data(referral_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = Referral.objects.filter(pk__in=referral_ids).select_related("referrer", "referred").order_by("id")
    return [
        {
            "id": r.pk,
            "referrer": _contact(r.referrer),
            "referred": _contact(r.referred) if r.referred else None,
            "status": r.status,
            "signed_up_at": _iso(r.signed_up_at),
            "purchased_at": _iso(r.purchased_at),
        }
        for r in rows
    ]
