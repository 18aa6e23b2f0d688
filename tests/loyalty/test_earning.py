"""Loyalty earning: idempotent under replays, refunds reverse, multipliers, stage bonuses, FIFO expiry, tiers."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from contacts.models import Contact
from loyalty.earning import PassResult, Scope, expire_points
from loyalty.models import EarningRule, EntryKind, Membership, PointsEntry, Programme, RuleKind, TierChange
from loyalty.selectors import member_balance
from loyalty.services import loyalty_nightly, loyalty_process_touchpoints, loyalty_process_transitions, points_adjust
from stages.engine import lifecycle_evaluate
from tests.factories import CampaignFactory, ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def programme() -> Programme:
    return Programme.objects.get(is_default=True)


def touch(contact: Contact, kind: str, when: dt.datetime = NOW, **extra):
    return TouchpointFactory(contact=contact, kind=kind, occurred_at=when, **extra)


def balance(contact: Contact, programme: Programme) -> int:
    member = Membership.objects.get(contact=contact, programme=programme)
    return member_balance(member_id=member.pk)


def ledger(contact: Contact) -> list[tuple[str, int]]:
    return list(PointsEntry.objects.filter(member__contact=contact).order_by("id").values_list("kind", "points"))


def test_purchase_earns_once_however_often_it_is_replayed(programme):
    contact = ContactFactory()
    purchase = touch(contact, "purchase", amount=Decimal("123.45"))
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
        loyalty_nightly()
        loyalty_nightly()
    assert ledger(contact) == [("earn", 123)]
    assert balance(contact, programme) == 123


def test_refund_reverses_what_the_purchase_earned(programme):
    contact = ContactFactory()
    purchase = touch(contact, "purchase", amount=Decimal("80.00"))
    refund = touch(contact, "refund", amount=Decimal("80.00"), when=NOW + dt.timedelta(days=2))
    with time_machine.travel(NOW + dt.timedelta(days=3), tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
        loyalty_process_touchpoints(touchpoint_ids=[refund.pk, purchase.pk])
        loyalty_process_touchpoints(touchpoint_ids=[refund.pk])
    assert ledger(contact) == [("earn", 80), ("reverse", -80)]
    assert balance(contact, programme) == 0


def test_touchpoint_kind_rule_and_campaign_multiplier(programme):
    campaign = CampaignFactory()
    EarningRule.objects.create(
        programme=programme, name="Double", kind=RuleKind.MULTIPLIER, campaign=campaign, multiplier=Decimal("2")
    )
    contact = ContactFactory()
    review = touch(contact, "review")
    plain = touch(contact, "purchase", amount=Decimal("10.00"))
    doubled = touch(contact, "purchase", amount=Decimal("10.50"), campaign=campaign)
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[review.pk, plain.pk, doubled.pk])
    by_touchpoint = dict(PointsEntry.objects.filter(member__contact=contact).values_list("touchpoint_id", "points"))
    assert by_touchpoint == {review.pk: 50, plain.pk: 10, doubled.pk: 21}


def test_ledger_is_append_only_and_unique_per_touchpoint_and_rule(programme):
    contact = ContactFactory()
    purchase = touch(contact, "purchase", amount=Decimal("30.00"))
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    entry = PointsEntry.objects.get(member__contact=contact)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        PointsEntry.objects.filter(pk=entry.pk).update(points=999)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.create(
            member=entry.member, kind="earn", points=5, occurred_at=NOW, touchpoint=purchase, rule=entry.rule
        )
    entry.refresh_from_db()
    assert entry.points == 30


def test_stage_entry_bonus_is_paid_once_per_contact(programme):
    from stages.models import StageTransition

    contact = ContactFactory()
    first = StageTransition.objects.create(
        contact=contact, from_stage=stage("awareness"), to_stage=stage("purchase"), effective_at=NOW, source="rule"
    )
    again = StageTransition.objects.create(
        contact=contact,
        from_stage=stage("at_risk"),
        to_stage=stage("purchase"),
        effective_at=NOW + dt.timedelta(days=90),
        source="rule",
    )
    with time_machine.travel(NOW + dt.timedelta(days=91), tick=False):
        loyalty_process_transitions(transition_ids=[first.pk])
        loyalty_process_transitions(transition_ids=[first.pk, again.pk])
    assert ledger(contact) == [("earn", 100)]


def test_expiry_is_fifo_exact_and_runs_once(programme):
    contact = ContactFactory()
    early = touch(contact, "purchase", amount=Decimal("100.00"), when=NOW)
    later = touch(contact, "purchase", amount=Decimal("100.00"), when=NOW + dt.timedelta(days=180))
    with time_machine.travel(NOW + dt.timedelta(days=181), tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[early.pk, later.pk])
    with time_machine.travel(NOW + dt.timedelta(days=200), tick=False):
        # 60 points spent: FIFO takes them from the early lot, so only its other 40 can expire.
        points_adjust(contact=contact, points=-60, note="Goodwill correction")
    with time_machine.travel(NOW + dt.timedelta(days=366), tick=False):
        loyalty_nightly()
        loyalty_nightly()
    assert ledger(contact)[-1] == ("expire", -40)
    assert balance(contact, programme) == 100
    with time_machine.travel(NOW + dt.timedelta(days=560), tick=False):
        loyalty_nightly()
    assert [e for e in ledger(contact) if e[0] == "expire"] == [("expire", -40), ("expire", -100)]
    assert balance(contact, programme) == 0


def test_expiry_brute_force_matches_random_histories(programme):
    """FIFO by hand (lots consumed oldest first) equals the set-based formula, for many members at once."""
    import random

    rng = random.Random(7)
    expected = {}
    contacts = []
    for _ in range(12):
        contact = ContactFactory()
        contacts.append(contact)
        lots = []  # [expires_at, remaining]
        events = []
        for _ in range(rng.randint(1, 6)):
            when = NOW + dt.timedelta(days=rng.randint(0, 500))
            events.append((when, "earn", rng.randint(1, 300)))
        events.sort()
        member = Membership.objects.create(programme=programme, contact=contact)
        for when, _, points in events:
            PointsEntry.objects.create(
                member=member,
                kind=EntryKind.EARN,
                points=points,
                occurred_at=when,
                expires_at=when + dt.timedelta(days=365),
            )
            lots.append([when + dt.timedelta(days=365), points])
        spend_at = NOW + dt.timedelta(days=rng.randint(0, 300))
        available = sum(p for w, p in lots if w > spend_at and w - dt.timedelta(days=365) <= spend_at)
        spent = rng.randint(0, available) if available else 0
        check_at = NOW + dt.timedelta(days=700)
        if spent:
            PointsEntry.objects.create(member=member, kind=EntryKind.ADJUST, points=-spent, occurred_at=spend_at)
            remaining = spent
            for lot in sorted(lots):
                if lot[0] <= spend_at or lot[0] - dt.timedelta(days=365) > spend_at:
                    continue
                take = min(lot[1], remaining)
                lot[1] -= take
                remaining -= take
        # No lot expired before the spend here (spend within the first lot's year), so FIFO is plain.
        expected[contact.pk] = sum(p for w, p in lots if w <= check_at)
    result = PassResult()
    expire_points(programme=programme, scope=Scope(), now=NOW + dt.timedelta(days=700), result=result)
    got = {c.pk: -sum(p for k, p in ledger(c) if k == "expire") for c in contacts}
    assert got == expected


def test_tiers_follow_the_rolling_window_with_history(programme):
    contact = ContactFactory()
    purchase = touch(contact, "purchase", amount=Decimal("600.00"))
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    member = Membership.objects.get(contact=contact, programme=programme)
    assert member.tier.slug == "silver"
    with time_machine.travel(NOW + dt.timedelta(days=400), tick=False):
        loyalty_nightly()
    member.refresh_from_db()
    assert member.tier.slug == "member"
    history = list(TierChange.objects.filter(member=member).values_list("from_tier__slug", "to_tier__slug"))
    assert history == [(None, "silver"), ("silver", "member")]


def test_gold_tier_moves_the_contact_to_the_loyalty_stage_through_the_registered_metric(programme):
    contact = ContactFactory(stage=stage("purchase"), acquired_at=NOW - dt.timedelta(days=60))
    purchase = touch(contact, "purchase", amount=Decimal("2500.00"), when=NOW - dt.timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
        lifecycle_evaluate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    assert Membership.objects.get(contact=contact).tier.slug == "gold"
    assert contact.stage.slug == "loyalty"


def test_append_only_trigger_is_installed():
    """The trigger in migration 0002 is in the database (STYLE.md 14: trigger SQL is schema)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname = 'loyalty_points_entry_no_update'")
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = 'loyalty_points_entry_no_update'"
            )
        assert cursor.fetchone() is not None


def test_a_touchpoint_pushed_through_the_service_earns_in_real_time(programme, django_capture_on_commit_callbacks):
    """The touchpoint write's fan-out reaches loyalty's receivers (eager Celery here): the purchase earns, the
    engine's move to `purchase` pays the welcome bonus, and a retried push earns nothing more."""
    from contacts.models import TouchpointSource
    from contacts.touchpoint_services import touchpoint_create

    contact = ContactFactory()
    data = {"contact": contact.pk, "kind": "purchase", "amount": "42.00", "external_id": "order-1"}
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_create(data=data, source=TouchpointSource.API)
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_create(data=data, source=TouchpointSource.API)
    rows = PointsEntry.objects.filter(member__contact=contact).order_by("id")
    assert [(e.kind, e.points, e.touchpoint_id is not None, e.transition_id is not None) for e in rows] == [
        ("earn", 42, True, False),
        ("earn", 100, False, True),
    ]


def test_steady_night_demotes_when_points_leave_the_window_and_rereads_all_after_a_tier_change(programme):
    contact, other = ContactFactory(), ContactFactory()
    purchase = touch(contact, "purchase", amount=Decimal("600.00"))
    small = touch(other, "purchase", amount=Decimal("300.00"))
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk, small.pk])
        loyalty_nightly()  # the first night: a backfill over everyone
    member = Membership.objects.get(contact=contact)
    assert member.tier.slug == "silver"
    with time_machine.travel(NOW + dt.timedelta(days=200), tick=False):
        loyalty_nightly()  # steady: nothing left the window yet
    member.refresh_from_db()
    assert member.tier.slug == "silver"
    with time_machine.travel(NOW + dt.timedelta(days=366), tick=False):
        loyalty_nightly()  # steady: the purchase left the 365-day window
    member.refresh_from_db()
    assert member.tier.slug == "member"
    # The marketer lowers Silver to 100 points: the next night re-reads every member, not only candidates.
    late = touch(other, "purchase", amount=Decimal("150.00"), when=NOW + dt.timedelta(days=366))
    with time_machine.travel(NOW + dt.timedelta(days=366), tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[late.pk])
        loyalty_nightly()
    assert Membership.objects.get(contact=other).tier.slug == "member"
    programme.tiers.filter(slug="silver").update(threshold=100)
    with time_machine.travel(NOW + dt.timedelta(days=367), tick=False):
        loyalty_nightly()
    assert Membership.objects.get(contact=other).tier.slug == "silver"
