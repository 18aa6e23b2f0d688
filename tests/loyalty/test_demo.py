"""Demo loyalty data: a running programme with earning, redemption, expiry, tiers and referrals, all consistent."""

import datetime as dt

import pytest
from django.db.models import Sum

from demo.seed import demo_seed
from loyalty.models import Membership, PointsEntry, Programme, Redemption, Referral, TierChange

pytestmark = pytest.mark.django_db


def test_demo_programme_is_running_and_consistent():
    end = dt.date(2026, 6, 1)
    seeded = demo_seed(contacts=300, seed=3, end_date=end, password="pw-demo-123")
    result = seeded.extensions["loyalty"]  # seed_demo ran loyalty's part
    programme = Programme.objects.get(is_default=True)
    kinds = set(PointsEntry.objects.values_list("kind", flat=True))
    assert {"earn", "redeem", "expire"} <= kinds
    assert Redemption.objects.count() == result.redemptions > 0
    assert Referral.objects.filter(status="purchased").exists()
    assert Membership.objects.filter(programme=programme, tier__rank__gte=1).exists()
    assert TierChange.objects.exists() and not TierChange.objects.filter(announced=True).exists()
    # Nobody is overdrawn: every balance is the sum of its rows and never negative.
    negative = PointsEntry.objects.values("member_id").annotate(total=Sum("points")).filter(total__lt=0).count()
    assert negative == 0
    programme.refresh_from_db()
    assert programme.touchpoints_through > 0
