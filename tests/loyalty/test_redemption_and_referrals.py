"""Redemptions (refused clearly, never overdrawn, even concurrently) and referrals (linking, refusals, conversion)."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from loyalty.codes import referral_code, referral_code_contact_id
from loyalty.models import Membership, PointsEntry, Programme, Redemption, Referral, ReferralStatus, Reward
from loyalty.selectors import member_balance
from loyalty.services import (
    loyalty_nightly,
    loyalty_process_touchpoints,
    points_adjust,
    referral_invite,
    referral_sign_up,
    reward_redeem,
)
from tests.factories import ContactFactory, TouchpointFactory
from tests.services import postgres_only, require_postgres

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def programme() -> Programme:
    return Programme.objects.get(is_default=True)


def balance_of(contact, programme) -> int:
    return member_balance(member_id=Membership.objects.get(contact=contact, programme=programme).pk)


def test_redeem_takes_points_and_stock(programme):
    contact = ContactFactory()
    points_adjust(contact=contact, points=2000, note="Welcome gift")
    reward = Reward.objects.get(name="Tote bag")
    redemption = reward_redeem(contact=contact, reward=reward, channel="rep")
    reward.refresh_from_db()
    assert (redemption.points, reward.stock, balance_of(contact, programme)) == (1500, 49, 500)
    assert redemption.entry.kind == "redeem" and redemption.entry.points == -1500


def test_redeem_refused_when_balance_short_and_nothing_is_written(programme):
    contact = ContactFactory()
    points_adjust(contact=contact, points=100, note="Gift")
    reward = Reward.objects.get(name="5.00 voucher")
    with pytest.raises(ValidationError) as exc:
        reward_redeem(contact=contact, reward=reward)
    assert "Not enough points" in exc.value.message_dict["reward"][0]
    assert "100 available, 500 needed" in exc.value.message_dict["reward"][0]
    assert Redemption.objects.count() == 0
    assert balance_of(contact, programme) == 100


def test_redeem_refused_when_out_of_stock(programme):
    contact = ContactFactory()
    points_adjust(contact=contact, points=5000, note="Gift")
    reward = Reward.objects.create(programme=programme, name="Last mug", points_price=10, stock=0)
    with pytest.raises(ValidationError, match="out of stock"):
        reward_redeem(contact=contact, reward=reward)
    reward.refresh_from_db()
    assert reward.stock == 0 and balance_of(contact, programme) == 5000


def test_adjust_refuses_to_go_below_zero_and_needs_a_reason(programme):
    contact = ContactFactory()
    points_adjust(contact=contact, points=10, note="Gift")
    with pytest.raises(ValidationError, match="the balance is 10"):
        points_adjust(contact=contact, points=-11, note="Oops")
    with pytest.raises(ValidationError) as exc:
        points_adjust(contact=contact, points=5, note=" ")
    assert "note" in exc.value.message_dict
    assert balance_of(contact, programme) == 10


def test_redeem_expires_due_points_first_so_they_cannot_be_spent(programme):
    contact = ContactFactory()
    purchase = TouchpointFactory(contact=contact, kind="purchase", amount=Decimal("600.00"), occurred_at=NOW)
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    with time_machine.travel(NOW + dt.timedelta(days=400), tick=False):
        with pytest.raises(ValidationError, match="0 available"):
            reward_redeem(contact=contact, reward=Reward.objects.get(name="5.00 voucher"))
        assert Redemption.objects.count() == 0  # refused: nothing written (the night records the expiry)
        loyalty_nightly()
    assert balance_of(contact, programme) == 0
    assert PointsEntry.objects.filter(kind="expire", points=-600).count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_redemptions_never_overdraw():
    """Eight threads redeem a 500-point reward at once from 1,200 points: exactly two succeed."""
    require_postgres()
    contact = ContactFactory()
    points_adjust(contact=contact, points=1200, note="Gift")
    reward = Reward.objects.get(name="5.00 voucher")
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def redeem() -> None:
        try:
            barrier.wait(10)
            reward_redeem(contact=contact, reward=reward, channel="api")
            outcomes.append("ok")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    programme = reward.programme
    assert sorted(outcomes) == ["ok", "ok"] + ["refused"] * 6
    assert balance_of(contact, programme) == 200
    assert Redemption.objects.filter(member__contact=contact).count() == 2


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_redemptions_never_take_stock_below_zero():
    require_postgres()
    programme = Programme.objects.get(is_default=True)
    reward = Reward.objects.create(programme=programme, name="Limited", points_price=10, stock=3)
    contacts = [ContactFactory() for _ in range(6)]
    for contact in contacts:
        points_adjust(contact=contact, points=100, note="Gift")
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def redeem(contact) -> None:
        try:
            barrier.wait(10)
            reward_redeem(contact=contact, reward=reward)
            outcomes.append("ok")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(c,)) for c in contacts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    reward.refresh_from_db()
    assert outcomes.count("ok") == 3 and reward.stock == 0


# --- referrals ------------------------------------------------------------------------------------


def test_referral_code_round_trips_and_forgeries_fail():
    contact = ContactFactory()
    code = referral_code(contact.pk)
    assert referral_code_contact_id(code) == contact.pk
    assert referral_code_contact_id(code.lower()) == contact.pk
    head, _, mac = code.partition("-")
    assert referral_code_contact_id(f"{head}-{'A' if mac[0] != 'A' else 'B'}{mac[1:]}") is None
    assert referral_code_contact_id("nonsense") is None


def test_sign_up_links_the_invited_friend_and_refuses_self_loops_and_repeats():
    referrer = ContactFactory()
    invite = referral_invite(referrer=referrer, email="friend@example.com")
    friend = ContactFactory(email="friend@example.com")
    referral = referral_sign_up(contact=friend, code=referral_code(referrer.pk))
    assert referral.pk == invite.pk and referral.status == ReferralStatus.SIGNED_UP
    with pytest.raises(ValidationError, match="own referral code"):
        referral_sign_up(contact=referrer, code=referral_code(referrer.pk))
    with pytest.raises(ValidationError, match="Referral loop"):
        referral_sign_up(contact=referrer, code=referral_code(friend.pk))
    with pytest.raises(ValidationError, match="already referred"):
        referral_sign_up(contact=friend, code=referral_code(ContactFactory().pk))
    with pytest.raises(ValidationError, match="Unknown referral code"):
        referral_sign_up(contact=ContactFactory(), code="ZZ-AAAAA")
    assert Referral.objects.count() == 1


def test_longer_loops_are_refused():
    a, b, c = ContactFactory(), ContactFactory(), ContactFactory()
    referral_sign_up(contact=b, code=referral_code(a.pk))
    referral_sign_up(contact=c, code=referral_code(b.pk))
    with pytest.raises(ValidationError, match="Referral loop"):
        referral_sign_up(contact=a, code=referral_code(c.pk))


def test_existing_customer_cannot_be_referred():
    referrer, buyer = ContactFactory(), ContactFactory()
    TouchpointFactory(contact=buyer, kind="purchase")
    with pytest.raises(ValidationError, match="already bought"):
        referral_sign_up(contact=buyer, code=referral_code(referrer.pk))


def test_first_purchase_rewards_both_sides_once(programme):
    referrer, friend = ContactFactory(), ContactFactory()
    referral_sign_up(contact=friend, code=referral_code(referrer.pk))
    first = TouchpointFactory(contact=friend, kind="purchase", amount=Decimal("40.00"), occurred_at=NOW)
    second = TouchpointFactory(
        contact=friend, kind="purchase", amount=Decimal("40.00"), occurred_at=NOW + dt.timedelta(days=1)
    )
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        result = loyalty_process_touchpoints(touchpoint_ids=[first.pk])
        loyalty_process_touchpoints(touchpoint_ids=[second.pk])
        loyalty_process_touchpoints(touchpoint_ids=[first.pk, second.pk])
    referral = Referral.objects.get()
    assert result.converted_referral_ids == [referral.pk]
    assert (referral.status, referral.purchase_id) == (ReferralStatus.PURCHASED, first.pk)
    assert PointsEntry.objects.filter(referral=referral).count() == 2
    assert balance_of(referrer, programme) == 500
    assert balance_of(friend, programme) == 250 + 80


def test_converted_referral_moves_the_referrer_to_advocacy(programme):
    from stages.engine import lifecycle_evaluate
    from tests.factories import stage

    referrer = ContactFactory(stage=stage("retention"), acquired_at=NOW - dt.timedelta(days=60))
    friend = ContactFactory()
    referral_sign_up(contact=friend, code=referral_code(referrer.pk))
    purchase = TouchpointFactory(contact=friend, kind="purchase", occurred_at=NOW - dt.timedelta(hours=1))
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
        lifecycle_evaluate(contact_ids=[referrer.pk])
    referrer.refresh_from_db()
    assert referrer.stage.slug == "advocacy"


def test_erasing_a_contact_removes_its_loyalty_rows(programme):
    """A contact's erasure (contact_delete) takes its membership, ledger, redemptions and referrals with it."""
    from contacts.models import Contact
    from contacts.services import contact_delete

    contact, friend = ContactFactory(), ContactFactory()
    purchase = TouchpointFactory(contact=contact, kind="purchase", amount=Decimal("700.00"), occurred_at=NOW)
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[purchase.pk])
    reward_redeem(contact=contact, reward=Reward.objects.get(name="Free shipping"))
    referral_sign_up(contact=friend, code=referral_code(contact.pk))
    contact_delete(contact=contact)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not Membership.objects.filter(contact_id=contact.pk).exists()
    assert not Redemption.objects.exists() and not Referral.objects.exists()
    assert not PointsEntry.objects.filter(member__contact_id=contact.pk).exists()


def test_merging_two_members_folds_their_ledgers_and_drops_a_referral_between_them(programme):
    from contacts.merge import contact_merge

    survivor, other = ContactFactory(), ContactFactory()
    referral_sign_up(contact=other, code=referral_code(survivor.pk))
    first = TouchpointFactory(contact=survivor, kind="purchase", amount=Decimal("300.00"), occurred_at=NOW)
    second = TouchpointFactory(contact=other, kind="purchase", amount=Decimal("400.00"), occurred_at=NOW)
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[first.pk, second.pk])
    reward_redeem(contact=other, reward=Reward.objects.get(name="Free shipping"))
    # A referral between two records of one person was never a referral: its two bonuses go with it.
    expected = sum(PointsEntry.objects.filter(referral=None).values_list("points", flat=True))
    assert expected == 300 + 400 - 200
    log = contact_merge(survivor=survivor, other=other)
    member = Membership.objects.get(contact=survivor)
    assert Membership.objects.count() == 1 and log.moved["loyalty_memberships_folded"] == 1
    assert member_balance(member_id=member.pk) == expected
    assert Redemption.objects.get().member_id == member.pk
    assert not Referral.objects.exists()
    # The replayed touchpoints (now the survivor's) earn nothing twice.
    with time_machine.travel(NOW, tick=False):
        loyalty_process_touchpoints(touchpoint_ids=[first.pk, second.pk])
    assert member_balance(member_id=member.pk) == expected
    member.refresh_from_db()
    assert member.tier.slug == "silver"  # 700 points earned in the window
