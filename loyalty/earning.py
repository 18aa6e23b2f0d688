"""Set-based loyalty work: earning, refund reversals, stage-entry bonuses, referral conversion, expiry, tiers.

Every step is one INSERT … SELECT (or UPDATE) per rule over a scope of new facts — a list of
ids in real time, everything past a watermark at night — never a Python loop over contacts.
Idempotency is the ledger's unique constraints plus `ON CONFLICT DO NOTHING`: a touchpoint,
transition or referral that was already rewarded is skipped however often it is replayed.

Expiry is FIFO and exact without per-lot bookkeeping (the ledger stays append-only): for a
member at time T, the points still to expire are
    max(0, credits whose expires_at <= T - debits so far - already expired)
because debits consume the oldest credits first and credits expire in the order they were
earned. This holds as long as every debit is written after the expiries due before it, so
redemption expires its member first (under the member's row lock) and each pass here
expires before it writes reversals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from contacts.models import Contact, Touchpoint, TouchpointKind
from loyalty.models import (
    EarningRule,
    EntryKind,
    Membership,
    PointsEntry,
    Programme,
    Referral,
    ReferralStatus,
    RuleKind,
    Tier,
    TierChange,
)
from stages.models import StageTransition

ENTRIES = PointsEntry._meta.db_table
MEMBERS = Membership._meta.db_table
RULES = EarningRule._meta.db_table
TIERS = Tier._meta.db_table
TOUCHPOINTS = Touchpoint._meta.db_table
TRANSITIONS = StageTransition._meta.db_table
REFERRALS = Referral._meta.db_table
CHANGES = TierChange._meta.db_table
CONTACTS = Contact._meta.db_table
ENTRY_COLUMNS = (
    "member_id, kind, points, occurred_at, recorded_at, expires_at, touchpoint_id, rule_id, transition_id,"
    " referral_id, note"
)


@dataclass(frozen=True)
class Scope:
    """Which facts a pass reads: explicit ids (real time), ids above a watermark (night), the ids a subquery
    yields (the night's candidates), or all (nothing set)."""

    ids: tuple[int, ...] | None = None
    after_id: int | None = None
    subquery: tuple[str, tuple[Any, ...]] | None = None

    def sql(self, column: str) -> tuple[str, list[Any]]:
        if self.subquery is not None:
            return f"{column} IN ({self.subquery[0]})", list(self.subquery[1])
        if self.ids is not None:
            if not self.ids:
                return "1 = 0", []
            return f"{column} IN ({', '.join(['%s'] * len(self.ids))})", list(self.ids)
        if self.after_id is not None:
            return f"{column} > %s", [self.after_id]
        return "1 = 1", []


@dataclass
class PassResult:
    """What one pass wrote: ledger rows by kind, tier changes, converted referrals and the contacts touched."""

    entries: dict[str, int] = field(default_factory=dict)
    tier_change_ids: list[int] = field(default_factory=list)
    converted_referral_ids: list[int] = field(default_factory=list)

    def add(self, kind: str, count: int) -> None:
        self.entries[kind] = self.entries.get(kind, 0) + max(count, 0)


def _run(sql: str, params: Sequence[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.rowcount


def _ts(value: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _floor(expr: str) -> str:
    """Whole points, rounded down (amounts are never negative). SQLite stores decimals as floats: nudge them."""
    if connection.vendor == "postgresql":
        return f"FLOOR({expr})::bigint"
    return f"CAST(({expr}) + 0.000001 AS INTEGER)"


def _expires(programme: Programme, column: str) -> tuple[str, list[Any]]:
    """SQL for `column + expiry_months months` (NULL when points never expire)."""
    if not programme.expiry_months:
        return "CAST(NULL AS TIMESTAMP)", []
    if connection.vendor == "postgresql":
        return f"({column} + make_interval(months => %s))", [programme.expiry_months]
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {column}, %s)", [f"+{programme.expiry_months} months"]


def _members_ensure(programme: Programme, contacts_sql: str, params: Sequence[Any], now: dt.datetime) -> None:
    """Enrol, set-based, the contacts a SELECT of `contact_id` yields (existing members are left alone)."""
    _run(
        f"INSERT INTO {MEMBERS} (programme_id, contact_id, joined_at)"
        f" SELECT DISTINCT %s, x.contact_id, %s FROM ({contacts_sql}) x WHERE x.contact_id IS NOT NULL"
        " ON CONFLICT DO NOTHING",
        [programme.pk, _ts(now), *params],
    )


def _multiplier_sql(programme: Programme) -> tuple[str, list[Any]]:
    """The best active multiplier matching the touchpoint's campaign or the member's tier, else 1."""
    return (
        f"COALESCE((SELECT MAX(mr.multiplier) FROM {RULES} mr WHERE mr.programme_id = %s AND mr.kind = %s"
        " AND mr.is_active = %s AND ((mr.campaign_id IS NOT NULL AND mr.campaign_id = t.campaign_id)"
        " OR (mr.tier_id IS NOT NULL AND mr.tier_id = ms.tier_id))), 1)",
        [programme.pk, RuleKind.MULTIPLIER.value, True],
    )


def earn_touchpoints(*, programme: Programme, scope: Scope, now: dt.datetime, result: PassResult) -> None:
    """Earn for purchases (spend rules) and touchpoints of rewarded kinds; reverse for refunds. One INSERT per rule."""
    rules = list(programme.rules.filter(is_active=True, kind__in=[RuleKind.SPEND, RuleKind.TOUCHPOINT]))
    if not rules:
        return
    kinds = sorted({r.touchpoint_kind for r in rules if r.kind == RuleKind.TOUCHPOINT})
    if any(r.kind == RuleKind.SPEND for r in rules):
        kinds += [TouchpointKind.PURCHASE.value, TouchpointKind.REFUND.value]
    where, where_params = scope.sql("t.id")
    kind_in = f"t.kind IN ({', '.join(['%s'] * len(kinds))})"
    _members_ensure(
        programme, f"SELECT t.contact_id FROM {TOUCHPOINTS} t WHERE {where} AND {kind_in}", [*where_params, *kinds], now
    )
    expires, expires_params = _expires(programme, "t.occurred_at")
    join = f" FROM {TOUCHPOINTS} t JOIN {MEMBERS} ms ON ms.contact_id = t.contact_id AND ms.programme_id = %s"
    for rule in rules:
        if rule.kind == RuleKind.SPEND:
            mult, mult_params = _multiplier_sql(programme)
            points = _floor(f"t.amount * %s * {mult}")
            rate = programme.points_per_unit if connection.vendor == "postgresql" else float(programme.points_per_unit)
            points_params = [rate, *mult_params]
            for kind, sign, entry_kind, exp, exp_params in (
                (TouchpointKind.PURCHASE, "", EntryKind.EARN, expires, expires_params),
                (TouchpointKind.REFUND, "-", EntryKind.REVERSE, "CAST(NULL AS TIMESTAMP)", []),
            ):
                count = _run(
                    f"INSERT INTO {ENTRIES} ({ENTRY_COLUMNS}) SELECT member_id, %s, {sign}pts, occurred_at, %s,"
                    f" expires_at, touchpoint_id, %s, NULL, NULL, '' FROM (SELECT ms.id AS member_id, {points} AS pts,"
                    f" t.occurred_at, {exp} AS expires_at, t.id AS touchpoint_id{join}"
                    f" WHERE {where} AND t.kind = %s) e WHERE pts > 0 ON CONFLICT DO NOTHING",
                    [
                        entry_kind.value,
                        _ts(now),
                        rule.pk,
                        *points_params,
                        *exp_params,
                        programme.pk,
                        *where_params,
                        kind.value,
                    ],
                )
                result.add(entry_kind.value, count)
        elif rule.points > 0:
            count = _run(
                f"INSERT INTO {ENTRIES} ({ENTRY_COLUMNS}) SELECT ms.id, %s, %s, t.occurred_at, %s, {expires}, t.id, %s,"
                f" NULL, NULL, ''{join} WHERE {where} AND t.kind = %s ON CONFLICT DO NOTHING",
                [
                    EntryKind.EARN.value,
                    rule.points,
                    _ts(now),
                    *expires_params,
                    rule.pk,
                    programme.pk,
                    *where_params,
                    rule.touchpoint_kind,
                ],
            )
            result.add(EntryKind.EARN.value, count)


def earn_stage_entries(*, programme: Programme, scope: Scope, now: dt.datetime, result: PassResult) -> None:
    """Bonus points when a contact enters a rewarded stage: once per contact and rule (bouncing back earns nothing)."""
    rules = list(programme.rules.filter(is_active=True, kind=RuleKind.STAGE_ENTRY, points__gt=0))
    if not rules:
        return
    where, where_params = scope.sql("st.id")
    stage_ids = [r.stage_id for r in rules]
    stage_in = f"st.to_stage_id IN ({', '.join(['%s'] * len(stage_ids))})"
    _members_ensure(
        programme,
        f"SELECT st.contact_id FROM {TRANSITIONS} st WHERE {where} AND {stage_in}",
        [*where_params, *stage_ids],
        now,
    )
    expires, expires_params = _expires(programme, "MIN(st.effective_at)")
    for rule in rules:
        count = _run(
            f"INSERT INTO {ENTRIES} ({ENTRY_COLUMNS}) SELECT ms.id, %s, %s, MIN(st.effective_at), %s,"
            f" {expires}, NULL, %s, MIN(st.id), NULL, '' FROM {TRANSITIONS} st JOIN {MEMBERS} ms"
            f" ON ms.contact_id = st.contact_id AND ms.programme_id = %s WHERE {where} AND st.to_stage_id = %s"
            f" AND NOT EXISTS (SELECT 1 FROM {ENTRIES} pe WHERE pe.member_id = ms.id AND pe.rule_id = %s)"
            " GROUP BY ms.id ON CONFLICT DO NOTHING",
            [
                EntryKind.EARN.value,
                rule.points,
                _ts(now),
                *expires_params,
                rule.pk,
                programme.pk,
                *where_params,
                rule.stage_id,
                rule.pk,
            ],
        )
        result.add(EntryKind.EARN.value, count)


def convert_referrals(*, programme: Programme, scope: Scope, now: dt.datetime, result: PassResult) -> None:
    """Signed-up referrals whose friend (scope: the friend's contact id) bought become Purchased; both sides earn once.

    The conversion is the friend's first purchase; the two rewards are ledger rows unique per
    (referral, member), so a replay or a second purchase rewards nobody again.
    """
    where, where_params = scope.sql("rf.referred_id")
    first = (
        f"FROM {TOUCHPOINTS} t WHERE t.contact_id = {REFERRALS}.referred_id AND t.kind = %s"
        " ORDER BY t.occurred_at, t.id LIMIT 1"
    )
    purchase = TouchpointKind.PURCHASE.value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {REFERRALS} SET status = %s, purchased_at = (SELECT t.occurred_at {first}),"
            f" purchase_id = (SELECT t.id {first}), converted_recorded_at = %s"
            f" WHERE id IN (SELECT rf.id FROM {REFERRALS} rf WHERE rf.status = %s AND {where} AND EXISTS"
            f" (SELECT 1 FROM {TOUCHPOINTS} t WHERE t.contact_id = rf.referred_id AND t.kind = %s)) RETURNING id",
            [
                ReferralStatus.PURCHASED.value,
                purchase,
                purchase,
                _ts(now),
                ReferralStatus.SIGNED_UP.value,
                *where_params,
                purchase,
            ],
        )
        result.converted_referral_ids.extend(row[0] for row in cursor.fetchall())
    purchased = f"FROM {REFERRALS} rf WHERE rf.status = %s AND {where}"
    purchased_params = [ReferralStatus.PURCHASED.value, *where_params]
    expires, expires_params = _expires(programme, "rf.purchased_at")
    for side, points in (("referrer_id", programme.referrer_points), ("referred_id", programme.friend_points)):
        if not points:
            continue
        _members_ensure(programme, f"SELECT rf.{side} AS contact_id {purchased}", purchased_params, now)
        count = _run(
            f"INSERT INTO {ENTRIES} ({ENTRY_COLUMNS}) SELECT ms.id, %s, %s, rf.purchased_at, %s, {expires},"
            f" NULL, NULL, NULL, rf.id, %s FROM {REFERRALS} rf JOIN {MEMBERS} ms ON ms.contact_id = rf.{side}"
            " AND ms.programme_id = %s"
            f" WHERE rf.status = %s AND {where} ON CONFLICT DO NOTHING",
            [
                EntryKind.EARN.value,
                points,
                _ts(now),
                *expires_params,
                "Referral: " + ("friend's first purchase" if side == "referrer_id" else "welcome"),
                programme.pk,
                *purchased_params,
            ],
        )
        result.add(EntryKind.EARN.value, count)


def _expiry_aggregate(
    programme: Programme, scope_sql: str, scope_params: list[Any], now: dt.datetime
) -> tuple[str, list[Any]]:
    """Per member: credits due to expire by now, debits so far, points already expired, and the latest due time."""
    at = _ts(now)
    return (
        f"SELECT pe.member_id, SUM(CASE WHEN pe.points > 0 AND pe.expires_at <= %s THEN pe.points ELSE 0 END) AS due,"
        " SUM(CASE WHEN pe.points < 0 AND pe.kind <> %s THEN -pe.points ELSE 0 END) AS used,"
        " SUM(CASE WHEN pe.kind = %s THEN -pe.points ELSE 0 END) AS gone,"
        " MAX(CASE WHEN pe.points > 0 AND pe.expires_at <= %s THEN pe.expires_at END) AS due_at"
        f" FROM {ENTRIES} pe JOIN {MEMBERS} ms ON ms.id = pe.member_id WHERE ms.programme_id = %s AND {scope_sql}"
        " GROUP BY pe.member_id",
        [at, EntryKind.EXPIRE.value, EntryKind.EXPIRE.value, at, programme.pk, *scope_params],
    )


def expire_points(*, programme: Programme, scope: Scope, now: dt.datetime, result: PassResult) -> None:
    """Write the FIFO expiry due by `now` for the members in scope (scope over contact ids); exact and re-runnable.

    On PostgreSQL the members with points due are locked first (FOR UPDATE, in id order), so a
    redemption running at the same time either sees this expiry or is seen by it — never both
    computing the same expiry twice.
    """
    if not programme.expiry_months:
        return
    where, where_params = scope.sql("ms.contact_id")
    agg, agg_params = _expiry_aggregate(programme, where, where_params, now)
    due = "a.due - a.used - a.gone"
    if connection.vendor == "postgresql":
        _run(
            f"SELECT ms.id FROM {MEMBERS} ms WHERE ms.id IN (SELECT a.member_id FROM ({agg}) a WHERE {due} > 0)"
            " ORDER BY ms.id FOR UPDATE",
            agg_params,
        )
    count = _run(
        f"INSERT INTO {ENTRIES} ({ENTRY_COLUMNS}) SELECT a.member_id, %s, -({due}), a.due_at, %s, NULL, NULL, NULL,"
        f" NULL, NULL, %s FROM ({agg}) a WHERE {due} > 0",
        [EntryKind.EXPIRE.value, _ts(now), "oldest points first", *agg_params],
    )
    result.add(EntryKind.EXPIRE.value, count)
