"""The programme page's figures equal brute-force Python counts over a random ledger, referrals and metrics."""

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest
import time_machine

from contacts.models import Contact
from loyalty.models import EntryKind, Membership, PointsEntry, Programme, Referral, ReferralStatus
from loyalty.reports import programme_report
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
Metrics = Contact._meta.get_field("metrics").related_model


def _random_world(programme: Programme, rng: random.Random) -> list[Contact]:
    tiers = [*programme.tiers.all(), None]
    contacts = [ContactFactory() for _ in range(18)]
    for contact in contacts:
        if rng.random() < 0.8:
            member = Membership.objects.create(programme=programme, contact=contact, tier=rng.choice(tiers))
            for _ in range(rng.randint(1, 7)):
                kind = rng.choice(["earn", "earn", "redeem", "expire", "adjust", "reverse"])
                points = rng.randint(1, 400)
                if kind in ("redeem", "expire", "reverse") or (kind == "adjust" and rng.random() < 0.5):
                    points = -points
                PointsEntry.objects.create(
                    member=member,
                    kind=kind,
                    points=points,
                    occurred_at=NOW - dt.timedelta(days=rng.randint(0, 500)),
                )
        if rng.random() < 0.7:
            purchases = rng.randint(1, 5)
            Metrics.objects.create(
                contact=contact,
                purchase_count=purchases,
                revenue=Decimal(rng.randint(10, 5000)) / 4,
                predicted_clv=None if rng.random() < 0.2 else Decimal(rng.randint(0, 9000)) / 8,
            )
    for referred in contacts[1:9]:
        status = rng.choice(list(ReferralStatus.values))
        Referral.objects.create(
            referrer=contacts[0] if referred is not contacts[0] else contacts[-1],
            referred=None if status == "invited" else referred,
            invited_email=referred.email,
            status=status,
            purchased_at=NOW if status == "purchased" else None,
        )
    return contacts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_programme_figures_equal_brute_force(seed):
    programme = Programme.objects.get(is_default=True)
    contacts = _random_world(programme, random.Random(seed))
    with time_machine.travel(NOW, tick=False):
        report = programme_report(programme=programme)
    entries = list(PointsEntry.objects.filter(member__programme=programme).values("kind", "points", "occurred_at"))

    def issued(e):
        return e["kind"] == EntryKind.EARN or (e["kind"] == EntryKind.ADJUST and e["points"] > 0)

    assert report.issued == sum(e["points"] for e in entries if issued(e))
    assert report.redeemed == -sum(e["points"] for e in entries if e["kind"] == "redeem")
    assert report.expired == -sum(e["points"] for e in entries if e["kind"] == "expire")
    assert report.outstanding_points == sum(e["points"] for e in entries)
    assert report.liability == (Decimal(sum(e["points"] for e in entries)) * programme.point_value).quantize(
        Decimal("0.01")
    )
    assert report.redemption_rate == pytest.approx(report.redeemed / report.issued if report.issued else None)

    by_tier = defaultdict(int)
    for member in Membership.objects.filter(programme=programme).select_related("tier"):
        by_tier[member.tier.name if member.tier else "No tier yet"] += 1
    assert dict(report.members_by_tier) == dict(by_tier)

    months = defaultdict(lambda: [0, 0, 0, 0])
    first = dt.date(2025, 7, 1)
    for e in entries:
        month = e["occurred_at"].date().replace(day=1)
        if month < first:
            continue
        row = months[month]
        if issued(e):
            row[0] += e["points"]
        for index, kind in ((1, "redeem"), (2, "expire"), (3, "reverse")):
            if e["kind"] == kind:
                row[index] -= e["points"]
    got = {m.month: [m.issued, m.redeemed, m.expired, m.reversed] for m in report.months}
    assert got == dict(months)

    referrals = list(Referral.objects.values_list("status", flat=True))
    signed = sum(1 for s in referrals if s in ("signed_up", "purchased"))
    bought = sum(1 for s in referrals if s == "purchased")
    assert (report.referrals_invited, report.referrals_signed_up, report.referrals_purchased) == (
        len(referrals),
        signed,
        bought,
    )
    assert report.referral_conversion == pytest.approx(bought / signed if signed else None)

    referred_ids = set(Referral.objects.exclude(referred=None).values_list("referred_id", flat=True))
    cohorts = {row.label: row for row in report.cohorts}
    for label, wanted in (("Referred", True), ("Not referred", False)):
        rows = [
            m
            for m in Metrics.objects.filter(contact__in=contacts, purchase_count__gt=0)
            if (m.contact_id in referred_ids) == wanted
        ]
        assert cohorts[label].customers == len(rows)
        revenue = sum(m.revenue for m in rows) / len(rows) if rows else None
        clvs = [m.predicted_clv for m in rows if m.predicted_clv is not None]
        clv = sum(clvs) / len(clvs) if clvs else None
        assert cohorts[label].avg_revenue == (None if revenue is None else Decimal(revenue).quantize(Decimal("0.01")))
        assert cohorts[label].avg_clv == (None if clv is None else Decimal(clv).quantize(Decimal("0.01")))
