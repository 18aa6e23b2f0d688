"""Demo loyalty history: referrals, two years of earning, redemptions, expiry and tiers, month by month.

Called by the demo seeding after the contacts, touchpoints and stage history exist. Each
month-end runs the same set-based steps as production (loyalty.earning, loyalty.tiers) as of
that moment, so expiry and tiers are exact; between them some members redeem rewards at
believable times. Everything is history: no tier change is announced (plays and webhooks
stay quiet), and the programme's watermarks end at the newest rows so the first real night
only reads what is new.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.db.models import Max, Min, Sum

from contacts.models import Channel, Contact, Touchpoint, TouchpointKind
from loyalty.earning import PassResult, Scope, convert_referrals, earn_stage_entries, earn_touchpoints, expire_points
from loyalty.models import (
    EntryKind,
    Membership,
    PointsEntry,
    Programme,
    Redemption,
    RedemptionChannel,
    Referral,
    ReferralStatus,
    Reward,
)
from loyalty.services import tiers_signature
from loyalty.tiers import evaluate_tiers
from stages.models import StageTransition

REDEEM_SHARE = 0.18  # of members who can afford a reward, the share who redeem in a given month
INVITES_PER_REFERRER = 0.6


@dataclass
class LoyaltyDemoResult:
    """What the demo wrote, for the seeding's summary line."""

    referrals: int = 0
    redemptions: int = 0
    entries: dict[str, int] = field(default_factory=dict)


def _month_ends(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    ends, year, month = [], start.year, start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        when = start.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
        if when >= end:
            return [*ends, end]
        ends.append(when)


def _referrals(*, rng: np.random.Generator, end: dt.datetime) -> int:
    """Contacts acquired through the referral channel are linked to an earlier customer; some invites stay open."""
    firsts = dict(
        Touchpoint.objects.filter(kind=TouchpointKind.PURCHASE)
        .values("contact_id")
        .annotate(first=Min("occurred_at"))
        .values_list("contact_id", "first")
    )
    referred = list(
        Contact.objects.filter(acquisition_channel=Channel.REFERRAL).order_by("id").values_list("id", "acquired_at")
    )
    customers = sorted(firsts.items(), key=lambda item: item[1])
    times = [first for _, first in customers]
    rows: list[Referral] = []
    for contact_id, acquired_at in referred:
        earlier = bisect.bisect_left(times, acquired_at)  # customers who had bought before this contact arrived
        if not earlier:
            continue
        referrer = int(customers[int(rng.integers(earlier))][0])
        if referrer == contact_id:
            continue
        rows.append(
            Referral(
                referrer_id=referrer,
                referred_id=contact_id,
                status=ReferralStatus.SIGNED_UP,
                created_at=acquired_at - dt.timedelta(days=float(rng.uniform(1, 20))),
                signed_up_at=acquired_at,
            )
        )
    referrers = sorted({r.referrer_id for r in rows})
    for referrer in referrers[: int(len(referrers) * INVITES_PER_REFERRER)]:
        rows.append(
            Referral(
                referrer_id=referrer,
                invited_email=f"friend{referrer}.{int(rng.integers(1000))}@example.net",
                created_at=end - dt.timedelta(days=float(rng.uniform(1, 60))),
            )
        )
    Referral.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _redeem(*, rng: np.random.Generator, programme: Programme, start: dt.datetime, end: dt.datetime) -> int:
    """Some members who can afford a reward redeem one at a random moment of the month (stock permitting)."""
    rewards = list(Reward.objects.filter(programme=programme, is_active=True).order_by("points_price"))
    if not rewards:
        return 0
    balances = (
        # Balances after the month's expiry (written just before): never more than the member really has.
        PointsEntry.objects.filter(member__programme=programme)
        .values("member_id")
        .annotate(balance=Sum("points"))
        .filter(balance__gte=rewards[0].points_price)
        .order_by("member_id")
    )
    entries, redemptions = [], []
    stock = {r.pk: r.stock for r in rewards}
    for row in balances:
        if rng.random() >= REDEEM_SHARE:
            continue
        affordable = [r for r in rewards if r.points_price <= row["balance"] and stock[r.pk] != 0]
        if not affordable:
            continue
        reward = affordable[int(rng.integers(len(affordable)))]
        if stock[reward.pk] is not None:
            stock[reward.pk] -= 1
        when = start + (end - start) * float(rng.uniform(0.05, 0.95))
        entry = PointsEntry(
            member_id=row["member_id"],
            kind=EntryKind.REDEEM,
            points=-reward.points_price,
            occurred_at=when,
            recorded_at=when,
            note=f"Redeemed: {reward.name}",
        )
        entries.append(entry)
        redemptions.append(
            Redemption(
                member_id=row["member_id"],
                reward=reward,
                points=reward.points_price,
                channel=RedemptionChannel.LINK if rng.random() < 0.6 else RedemptionChannel.REP,
                entry=entry,
                created_at=when,
            )
        )
    PointsEntry.objects.bulk_create(entries, batch_size=1000)
    Redemption.objects.bulk_create(redemptions, batch_size=1000)
    for reward in rewards:
        if reward.stock is not None and stock[reward.pk] != reward.stock:
            Reward.objects.filter(pk=reward.pk).update(stock=stock[reward.pk])
    return len(redemptions)


@transaction.atomic
def loyalty_demo_seed(
    *, seed: int, start: dt.datetime, end: dt.datetime, log: Callable[[str], None] = lambda message: None
) -> LoyaltyDemoResult:
    """Give the demo business a running programme: referrals, then earning, redemptions, expiry and tiers per month."""
    programme = Programme.objects.filter(is_default=True, is_active=True).first()
    result = LoyaltyDemoResult()
    if programme is None:
        log("loyalty: no active default programme, nothing seeded")
        return result
    rng = np.random.default_rng(seed + 20)
    result.referrals = _referrals(rng=rng, end=end)
    previous = start
    passes = PassResult()
    for month_end in _month_ends(start, end):
        touchpoints = tuple(
            Touchpoint.objects.filter(occurred_at__gte=previous, occurred_at__lt=month_end).values_list("id", flat=True)
        )
        transitions = tuple(
            StageTransition.objects.filter(effective_at__gte=previous, effective_at__lt=month_end).values_list(
                "id", flat=True
            )
        )
        expire_points(programme=programme, scope=Scope(), now=month_end, result=passes)
        result.redemptions += _redeem(rng=rng, programme=programme, start=previous, end=month_end)
        for chunk in range(0, len(touchpoints), 5000):
            earn_touchpoints(
                programme=programme, scope=Scope(ids=touchpoints[chunk : chunk + 5000]), now=month_end, result=passes
            )
        for chunk in range(0, len(transitions), 5000):
            earn_stage_entries(
                programme=programme, scope=Scope(ids=transitions[chunk : chunk + 5000]), now=month_end, result=passes
            )
        expire_points(programme=programme, scope=Scope(), now=month_end, result=passes)
        evaluate_tiers(programme=programme, scope=Scope(), now=month_end, announced=False, result=passes)
        previous = month_end
    convert_referrals(programme=programme, scope=Scope(), now=end, result=passes)
    expire_points(programme=programme, scope=Scope(), now=end, result=passes)
    evaluate_tiers(programme=programme, scope=Scope(), now=end, announced=False, result=passes)
    Programme.objects.filter(pk=programme.pk).update(
        touchpoints_through=Touchpoint.objects.aggregate(top=Max("id"))["top"] or 0,
        transitions_through=StageTransition.objects.aggregate(top=Max("id"))["top"] or 0,
        entries_through=PointsEntry.objects.aggregate(top=Max("id"))["top"] or 0,
        nightly_at=end,
        tiers_signature=tiers_signature(programme),
    )
    result.entries = passes.entries
    log(
        f"loyalty: {Membership.objects.filter(programme=programme).count()} members, {result.referrals} referrals,"
        f" {result.redemptions} redemptions, ledger rows {passes.entries}"
    )
    return result
