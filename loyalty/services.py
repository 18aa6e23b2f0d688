"""Loyalty writes: the real-time and nightly passes, adjustments, redemptions and referrals.

The passes call the set-based steps in loyalty.earning and loyalty.tiers in one transaction
and announce, after commit, only what is new and current (a touchpoint pushed now, not an
import or a backfill). Redemptions lock the member's row (`select_for_update(of=("self",))`)
so two at once can never overdraw; stock is taken with a conditional UPDATE so it never
goes below zero (and a database check backs that up).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from contacts.models import Contact, Touchpoint, TouchpointKind, TouchpointSource
from loyalty import signals
from loyalty.codes import referral_code_contact_id
from loyalty.earning import (
    PassResult,
    Scope,
    convert_referrals,
    earn_stage_entries,
    earn_touchpoints,
    expire_points,
)
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
    TierBasis,
    TierChange,
)
from loyalty.selectors import member_balance
from loyalty.tiers import evaluate_tiers
from stages.models import StageTransition
from stages.tasks import lifecycle_enqueue_evaluation

logger = logging.getLogger(__name__)


def _event_max_age() -> dt.timedelta:
    """Facts older than this when they reach us are history (an import, a backfill): nobody is told about them."""
    return dt.timedelta(hours=getattr(settings, "LOYALTY_EVENT_MAX_AGE_HOURS", 48))


def _after_pass(result: PassResult, *, announced: bool, evaluate_stages: bool = True) -> None:
    """In the pass's transaction: re-evaluate the stages tiers and referrals feed, announce what is new and current.

    The evaluation and the receivers' tasks are outbox rows committed with the pass (outbox.services).

    The night skips the stage evaluation (the lifecycle recompute follows it and reads everything).
    """
    change_ids = list(result.tier_change_ids)
    referral_ids = list(result.converted_referral_ids)
    if not change_ids and not referral_ids:
        return
    contact_ids: set[int] = set()
    if evaluate_stages:
        contact_ids.update(
            Membership.objects.filter(tier_changes__id__in=change_ids).values_list("contact_id", flat=True)
        )
        contact_ids.update(Referral.objects.filter(pk__in=referral_ids).values_list("referrer_id", flat=True))
    lifecycle_enqueue_evaluation(contact_ids=sorted(contact_ids))
    if announced and change_ids:
        signals.tier_changed.send(sender=TierChange, change_ids=change_ids)
    if announced and referral_ids:
        signals.referral_converted.send(sender=Referral, referral_ids=referral_ids)


@transaction.atomic
def loyalty_process_touchpoints(*, touchpoint_ids: Sequence[int], now: dt.datetime | None = None) -> PassResult:
    """Real time: expire, earn, convert referrals and re-tier for the contacts of these new touchpoints.

    Idempotent (the ledger's unique constraints); announced only when some touchpoint is a
    current fact (not an import, and recent), as plays do.
    """
    now = now or timezone.now()
    ids = tuple(sorted(set(touchpoint_ids)))
    rows = list(Touchpoint.objects.filter(pk__in=ids).values_list("contact_id", "source", "occurred_at"))
    result = PassResult()
    if not rows:
        return result
    contacts = Scope(ids=tuple(sorted({row[0] for row in rows})))
    announced = any(src != TouchpointSource.IMPORT and at >= now - _event_max_age() for _, src, at in rows)
    for programme in Programme.objects.filter(is_active=True):
        expire_points(programme=programme, scope=contacts, now=now, result=result)
        earn_touchpoints(programme=programme, scope=Scope(ids=ids), now=now, result=result)
        if programme.is_default:
            convert_referrals(programme=programme, scope=contacts, now=now, result=result)
        evaluate_tiers(programme=programme, scope=contacts, now=now, announced=announced, result=result)
    _after_pass(result, announced=announced)
    return result


@transaction.atomic
def loyalty_process_transitions(*, transition_ids: Sequence[int], now: dt.datetime | None = None) -> PassResult:
    """Real time: stage-entry bonuses for these new transitions (once per contact and rule), then re-tier."""
    now = now or timezone.now()
    ids = tuple(sorted(set(transition_ids)))
    contact_ids = tuple(sorted(set(StageTransition.objects.filter(pk__in=ids).values_list("contact_id", flat=True))))
    result = PassResult()
    if not contact_ids:
        return result
    for programme in Programme.objects.filter(is_active=True):
        earn_stage_entries(programme=programme, scope=Scope(ids=ids), now=now, result=result)
        evaluate_tiers(programme=programme, scope=Scope(ids=contact_ids), now=now, announced=True, result=result)
    _after_pass(result, announced=True)
    return result


def tiers_signature(programme: Programme) -> str:
    """What the tiers depend on besides the ledger: a change means every member is evaluated again."""
    tiers = ",".join(f"{t.pk}:{t.rank}:{t.threshold}" for t in programme.tiers.order_by("rank"))
    return f"{programme.tier_basis}/{programme.tier_window_days}/{tiers}"[:500]


def _night_candidates(programme: Programme, now: dt.datetime) -> tuple[Scope, Scope]:
    """The contacts whose expiry or tier can have changed since the last night (expiry scope, tier scope).

    Expiry: lots that reached their expiry time since the last night, or rows written since
    (a backfill can write lots already past expiry). Tiers: rows written since the last night,
    rows that left the rolling window since, and members without a tier yet.
    """
    entries, members = PointsEntry._meta.db_table, Membership._meta.db_table
    since, mark = programme.nightly_at, programme.entries_through
    window = dt.timedelta(days=programme.tier_window_days)
    at = connection.ops.adapt_datetimefield_value
    expiry = Scope(
        subquery=(
            f"SELECT m.contact_id FROM {members} m WHERE m.programme_id = %s AND m.id IN (SELECT pe.member_id"
            f" FROM {entries} pe WHERE pe.expires_at > %s AND pe.expires_at <= %s UNION SELECT pe.member_id"
            f" FROM {entries} pe WHERE pe.id > %s AND pe.expires_at <= %s)",
            (programme.pk, at(since), at(now), mark, at(now)),
        )
    )
    tiers = Scope(
        subquery=(
            f"SELECT m.contact_id FROM {members} m WHERE m.programme_id = %s AND (m.tier_id IS NULL OR m.id IN"
            f" (SELECT pe.member_id FROM {entries} pe WHERE pe.occurred_at > %s AND pe.occurred_at <= %s"
            f" UNION SELECT pe.member_id FROM {entries} pe WHERE pe.id > %s))",
            (programme.pk, at(since - window), at(now - window), mark),
        )
    )
    return expiry, tiers


def loyalty_nightly(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Nightly, per programme in one transaction: expiry (exact, FIFO), catch-up earning past the watermarks,
    referral conversions and tiers over the rolling window.

    The real-time path does the work as facts arrive; the night catches what it missed (a
    broker outage) and the time-based changes (lots expiring, points leaving the window). A
    steady night reads only the members whose standing can have changed (`_night_candidates`);
    the first night (a backfill: its tier moves are not announced), a change of the tiers or a
    spend-based programme read everyone.
    """
    now = now or timezone.now()
    summary: dict[str, Any] = {}
    for programme_id in Programme.objects.filter(is_active=True).values_list("pk", flat=True):
        with transaction.atomic():
            programme = Programme.objects.select_for_update().get(pk=programme_id)
            backfill = programme.touchpoints_through == 0 or programme.nightly_at is None
            signature = tiers_signature(programme)
            top_touchpoint = Touchpoint.objects.aggregate(top=Max("id"))["top"] or 0
            top_transition = StageTransition.objects.aggregate(top=Max("id"))["top"] or 0
            result = PassResult()
            everyone = Scope()
            expiry_scope, tier_scope = everyone, everyone
            if not backfill:
                expiry_scope, tier_scope = _night_candidates(programme, now)
                if programme.tier_basis == TierBasis.SPEND or signature != programme.tiers_signature:
                    tier_scope = everyone
            expire_points(programme=programme, scope=expiry_scope, now=now, result=result)
            earn_touchpoints(
                programme=programme, scope=Scope(after_id=programme.touchpoints_through), now=now, result=result
            )
            earn_stage_entries(
                programme=programme, scope=Scope(after_id=programme.transitions_through), now=now, result=result
            )
            if programme.is_default:
                convert_referrals(programme=programme, scope=everyone, now=now, result=result)
            if result.entries.get(EntryKind.EARN.value):
                # Points earned from history may already be past their expiry: expire those, exactly.
                expire_points(programme=programme, scope=expiry_scope, now=now, result=result)
            evaluate_tiers(programme=programme, scope=tier_scope, now=now, announced=not backfill, result=result)
            Programme.objects.filter(pk=programme.pk).update(
                touchpoints_through=top_touchpoint,
                transitions_through=top_transition,
                entries_through=PointsEntry.objects.aggregate(top=Max("id"))["top"] or 0,
                nightly_at=now,
                tiers_signature=signature,
            )
            _after_pass(result, announced=not backfill, evaluate_stages=False)
        summary[programme.slug] = {"entries": result.entries, "tier_changes": len(result.tier_change_ids)}
    return summary


# --- members, adjustments and redemptions -------------------------------------------------------


def _member_locked(*, programme: Programme, contact: Contact) -> Membership:
    """The contact's membership, created if missing, locked for the rest of the transaction."""
    Membership.objects.bulk_create([Membership(programme=programme, contact=contact)], ignore_conflicts=True)
    return Membership.objects.select_for_update(of=("self",)).get(programme=programme, contact=contact)


def _programme_or_default(programme: Programme | None) -> Programme:
    if programme is not None:
        return programme
    found = Programme.objects.filter(is_default=True, is_active=True).first()
    if found is None:
        raise ValidationError({"programme": "No active default loyalty programme."})
    return found


@transaction.atomic
def points_adjust(
    *, contact: Contact, points: int, note: str, programme: Programme | None = None, user: Any = None
) -> PointsEntry:
    """Add or remove points by hand, with a reason; never below a zero balance."""
    programme = _programme_or_default(programme)
    errors: dict[str, str] = {}
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        errors["points"] = "Give a whole, non-zero number of points."
    if not (note or "").strip():
        errors["note"] = "Say why the points are adjusted."
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    member = _member_locked(programme=programme, contact=contact)
    expire_points(programme=programme, scope=Scope(ids=(contact.pk,)), now=now, result=PassResult())
    balance = member_balance(member_id=member.pk)
    if balance + points < 0:
        raise ValidationError({"points": f"Cannot remove {-points} points: the balance is {balance}."})
    expires = None
    if points > 0 and programme.expiry_months:
        expires = _add_months(now, programme.expiry_months)
    return PointsEntry.objects.create(
        member=member,
        kind=EntryKind.ADJUST,
        points=points,
        occurred_at=now,
        recorded_at=now,
        expires_at=expires,
        note=note.strip()[:200],
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def _add_months(when: dt.datetime, months: int) -> dt.datetime:
    """`when` plus whole months, the day clamped to the month's end (as PostgreSQL's interval arithmetic does)."""
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


@transaction.atomic
def reward_redeem(
    *, contact: Contact, reward: Reward, channel: str = RedemptionChannel.REP, user: Any = None
) -> Redemption:
    """Redeem a reward for a member's points; refused (ValidationError) when the balance or the stock is short.

    Locks the member's row first, so concurrent redemptions for one member run one after
    another and each sees the balance the previous one left; expiry due by now is written
    before the balance is read (FIFO stays exact).
    """
    if channel not in RedemptionChannel.values:
        raise ValidationError({"channel": f"Unknown channel {channel!r}."})
    programme = reward.programme
    if not reward.is_active or not programme.is_active:
        raise ValidationError({"reward": f"{reward.name} is not available."})
    now = timezone.now()
    member = _member_locked(programme=programme, contact=contact)
    expire_points(programme=programme, scope=Scope(ids=(contact.pk,)), now=now, result=PassResult())
    balance = member_balance(member_id=member.pk)
    price = reward.points_price
    if balance < price:
        raise ValidationError({"reward": f"Not enough points for {reward.name}: {balance} available, {price} needed."})
    if Reward.objects.filter(pk=reward.pk).values_list("stock", flat=True).get() is not None:
        taken = Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1)
        if not taken:
            raise ValidationError({"reward": f"{reward.name} is out of stock."})
    entry = PointsEntry.objects.create(
        member=member,
        kind=EntryKind.REDEEM,
        points=-price,
        occurred_at=now,
        recorded_at=now,
        note=f"Redeemed: {reward.name}"[:200],
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    redemption = Redemption.objects.create(
        member=member,
        reward=reward,
        points=price,
        channel=channel,
        entry=entry,
        created_by=entry.created_by,
        created_at=now,
    )
    # In the transaction: the receivers' tasks are outbox rows committed with the redemption.
    signals.reward_redeemed.send(sender=Redemption, redemption_ids=[redemption.pk])
    return redemption


# --- referrals -----------------------------------------------------------------------------------


def _referred_upstream(*, referrer_id: int, contact_id: int) -> bool:
    """True when `contact_id` referred `referrer_id`, directly or through others (linking would close a loop)."""
    table = Referral._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE up(id, depth) AS (SELECT referrer_id, 1 FROM {table} WHERE referred_id = %s"
            f" UNION SELECT r.referrer_id, up.depth + 1 FROM {table} r JOIN up ON r.referred_id = up.id"
            " WHERE up.depth < 1000) SELECT 1 FROM up WHERE id = %s LIMIT 1",
            [referrer_id, contact_id],
        )
        return cursor.fetchone() is not None


@transaction.atomic
def referral_invite(*, referrer: Contact, email: str) -> Referral:
    """Record that a contact invited a friend by email (status Invited); the friend's sign-up completes it."""
    email = (email or "").strip()
    if not email or "@" not in email:
        raise ValidationError({"email": "Give the friend's email address."})
    if email.lower() == referrer.email.lower():
        raise ValidationError({"email": "A contact cannot invite themselves."})
    if Contact.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a contact."})
    return Referral.objects.create(referrer=referrer, invited_email=email)


@transaction.atomic
def referral_sign_up(*, contact: Contact, code: str, now: dt.datetime | None = None) -> Referral:
    """Link a new contact to the referrer whose code it signed up with (Invited/new → Signed up).

    Refused with a message on `referral_code`: an unknown or forged code, the contact's own
    code, a contact already referred, a loop (the referrer was itself referred by this
    contact), or a contact who has already bought (only new customers are referred).
    """
    now = now or timezone.now()
    referrer_id = referral_code_contact_id(code)
    if referrer_id is None or not Contact.objects.filter(pk=referrer_id).exists():
        raise ValidationError({"referral_code": f"Unknown referral code {code!r}."})
    if referrer_id == contact.pk:
        raise ValidationError({"referral_code": "A contact cannot use their own referral code."})
    if Referral.objects.filter(referred=contact).exists():
        raise ValidationError({"referral_code": "This contact was already referred by someone."})
    if _referred_upstream(referrer_id=referrer_id, contact_id=contact.pk):
        raise ValidationError({"referral_code": "Referral loop: the owner of this code was referred by this contact."})
    if Touchpoint.objects.filter(contact=contact, kind=TouchpointKind.PURCHASE).exists():
        raise ValidationError({"referral_code": "Only new customers can be referred: this contact has already bought."})
    invited = (
        Referral.objects.select_for_update(of=("self",))
        .filter(referrer_id=referrer_id, referred__isnull=True, invited_email__iexact=contact.email)
        .order_by("id")
        .first()
    )
    referral = invited or Referral(referrer_id=referrer_id, invited_email=contact.email, created_at=now)
    referral.referred = contact
    referral.status = ReferralStatus.SIGNED_UP
    referral.signed_up_at = now
    referral.save()
    return referral


def referral_apply(*, contact: Contact, value: str) -> None:
    """contact_create's `referral_code` input (contacts.hooks): link the new contact to its referrer, or refuse."""
    referral_sign_up(contact=contact, code=str(value))


@transaction.atomic
def loyalty_contacts_merge(*, survivor: Contact, other: Contact) -> dict[str, int]:
    """contact_merge's loyalty part (contacts.hooks): fold the other's memberships into the survivor's.

    Where both are members of a programme, the other's ledger rows, redemptions and tier history
    move to the survivor's membership (the same person: the balance stays the sum of the rows,
    FIFO expiry stays exact) and the survivor's tier is evaluated again; a membership only the
    other had is re-pointed by the merge itself. A referral between the two would become a
    self-referral: it was never a referral, and it goes with its two bonus rows. If both were
    referred, the survivor keeps its own referral.
    """
    Referral.objects.filter(Q(referrer=other, referred=survivor) | Q(referrer=survivor, referred=other)).delete()
    if Referral.objects.filter(referred=survivor).exists():
        Referral.objects.filter(referred=other).delete()
    else:
        Referral.objects.filter(referred=other).update(referred=survivor)
    folded = 0
    for theirs in Membership.objects.select_for_update().filter(contact=other).select_related("programme"):
        ours = Membership.objects.select_for_update().filter(contact=survivor, programme=theirs.programme).first()
        if ours is None:
            continue
        PointsEntry.objects.filter(member=theirs).update(member=ours)
        Redemption.objects.filter(member=theirs).update(member=ours)
        TierChange.objects.filter(member=theirs).update(member=ours)
        theirs.delete()
        evaluate_tiers(
            programme=theirs.programme,
            scope=Scope(ids=(survivor.pk,)),
            now=timezone.now(),
            announced=False,
            result=PassResult(),
        )
        folded += 1
    return {"loyalty_memberships_folded": folded} if folded else {}
