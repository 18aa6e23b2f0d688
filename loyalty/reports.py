"""The programme page's figures, each one aggregate query in the database (never rows loaded into Python).

Definitions (also in the page's help texts):
- members by tier: memberships of the programme per current tier;
- points issued per month: earned plus positive adjustments, by the month the points were earned
  (`occurred_at`); redeemed, expired and reversed likewise, as positive numbers;
- outstanding liability: the sum of all members' balances times the programme's point value;
- redemption rate: points redeemed / points issued, all time;
- referral conversion: referrals that reached Purchased / referrals that reached Signed up;
- referred customers against others: customers (at least one purchase) split by whether a
  referral links them; their count, average net revenue and average predicted CLV (metrics).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from contacts.models import Contact
from loyalty.models import EntryKind, Membership, PointsEntry, Programme, Referral, ReferralStatus


@dataclass
class MonthRow:
    month: dt.date
    issued: int
    redeemed: int
    expired: int
    reversed: int


@dataclass
class CohortRow:
    """Customers referred (or not): how many, average net revenue and average predicted CLV."""

    label: str
    customers: int
    avg_revenue: Decimal | None
    avg_clv: Decimal | None


@dataclass
class ProgrammeReport:
    programme: Programme
    members: int = 0
    members_by_tier: list[tuple[str, int]] = field(default_factory=list)
    months: list[MonthRow] = field(default_factory=list)
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    outstanding_points: int = 0
    liability: Decimal = Decimal(0)
    redemption_rate: float | None = None
    referrals_invited: int = 0
    referrals_signed_up: int = 0
    referrals_purchased: int = 0
    referral_conversion: float | None = None
    cohorts: list[CohortRow] = field(default_factory=list)


def _sums(queryset: Any) -> dict[str, int]:
    return queryset.aggregate(
        issued=Sum("points", filter=Q(kind=EntryKind.EARN) | Q(kind=EntryKind.ADJUST, points__gt=0), default=0),
        redeemed=-Sum("points", filter=Q(kind=EntryKind.REDEEM), default=0),
        expired=-Sum("points", filter=Q(kind=EntryKind.EXPIRE), default=0),
        reversed=-Sum("points", filter=Q(kind=EntryKind.REVERSE), default=0),
        total=Sum("points", default=0),
    )


def programme_report(*, programme: Programme, months: int = 12, now: dt.datetime | None = None) -> ProgrammeReport:
    """Every figure of the programme page for `programme` (monthly rows for the last `months` months)."""
    now = now or timezone.now()
    report = ProgrammeReport(programme=programme)
    tiers = (
        Membership.objects.filter(programme=programme)
        .values("tier__rank", "tier__name")
        .annotate(n=Count("*"))
        .order_by("tier__rank")
    )
    report.members_by_tier = [(row["tier__name"] or "No tier yet", row["n"]) for row in tiers]
    report.members = sum(n for _, n in report.members_by_tier)
    entries = PointsEntry.objects.filter(member__programme=programme)
    totals = _sums(entries)
    report.issued, report.redeemed, report.expired = totals["issued"], totals["redeemed"], totals["expired"]
    report.outstanding_points = totals["total"]
    report.liability = (Decimal(report.outstanding_points) * programme.point_value).quantize(Decimal("0.01"))
    report.redemption_rate = report.redeemed / report.issued if report.issued else None
    now = timezone.localtime(now)  # months are the site's calendar months, as TruncMonth counts them
    back = now.year * 12 + now.month - 1 - (months - 1)  # the first of the last `months` calendar months
    first_month = now.replace(year=back // 12, month=back % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    monthly = (
        entries.filter(occurred_at__gte=first_month)
        .annotate(month=TruncMonth("occurred_at"))
        .values("month")
        .annotate(
            issued=Sum("points", filter=Q(kind=EntryKind.EARN) | Q(kind=EntryKind.ADJUST, points__gt=0), default=0),
            redeemed=-Sum("points", filter=Q(kind=EntryKind.REDEEM), default=0),
            expired=-Sum("points", filter=Q(kind=EntryKind.EXPIRE), default=0),
            reversed=-Sum("points", filter=Q(kind=EntryKind.REVERSE), default=0),
        )
        .order_by("month")
    )
    report.months = [
        MonthRow(
            month=row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"],
            issued=row["issued"],
            redeemed=row["redeemed"],
            expired=row["expired"],
            reversed=row["reversed"],
        )
        for row in monthly
    ]
    referrals = Referral.objects.aggregate(
        invited=Count("*"),
        signed_up=Count("id", filter=Q(status__in=[ReferralStatus.SIGNED_UP, ReferralStatus.PURCHASED])),
        purchased=Count("id", filter=Q(status=ReferralStatus.PURCHASED)),
    )
    report.referrals_invited = referrals["invited"]
    report.referrals_signed_up = referrals["signed_up"]
    report.referrals_purchased = referrals["purchased"]
    report.referral_conversion = (
        report.referrals_purchased / report.referrals_signed_up if report.referrals_signed_up else None
    )
    report.cohorts = referred_cohorts()
    return report


def referred_cohorts() -> list[CohortRow]:
    """Customers referred by someone against all other customers: one GROUP BY over the per-contact metrics.

    Read through the contact's `metrics` relation (the engine's per-contact facts), so revenue
    and predicted CLV are the same figures the rest of the product shows.
    """
    rows = (
        Contact.objects.filter(metrics__purchase_count__gt=0)
        .annotate(referred=Exists(Referral.objects.filter(referred_id=OuterRef("pk"))))
        .values("referred")
        .annotate(n=Count("pk"), revenue=Avg("metrics__revenue"), clv=Avg("metrics__predicted_clv"))
        .order_by("-referred")
    )
    found = {row["referred"]: row for row in rows}
    return [
        CohortRow(
            label=label,
            customers=found[key]["n"] if key in found else 0,
            avg_revenue=_money(found[key]["revenue"]) if key in found else None,
            avg_clv=_money(found[key]["clv"]) if key in found else None,
        )
        for key, label in ((True, "Referred"), (False, "Not referred"))
    ]


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))
