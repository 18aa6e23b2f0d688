"""Stage-rule metrics over loyalty facts: the contact's tier rank and its converted referrals.

Why a registration hook rather than copying facts into ContactMetrics: the engine's registry
(stages.rules) compiles each metric to SQL over the contact row `c`, so a metric here is a
correlated subquery on loyalty's own tables, read only when an active rule uses it. The
facts stay in one place (no second copy to keep in step), they are fresh the moment the
ledger or a referral changes, and stages keeps importing nothing above it: loyalty fills the
registry from its AppConfig.ready (dependency inversion).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from loyalty.models import Membership, Programme, Referral, ReferralStatus, Tier
from stages.rules import NUMBER_OPS, CompileContext, CompiledCondition, Metric, SqlPart, metric_register


def _tier_rank(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
    """Rank of the contact's tier in the default programme (0 = entry tier); no membership is false."""
    members, tiers, programmes = Membership._meta.db_table, Tier._meta.db_table, Programme._meta.db_table
    base = (
        f" FROM {members} ms JOIN {tiers} tr ON tr.id = ms.tier_id JOIN {programmes} pg ON pg.id = ms.programme_id"
        " WHERE ms.contact_id = c.id AND pg.is_default = %s"
    )
    test = SqlPart(f"(SELECT tr.rank{base}) {NUMBER_OPS[op]} %s", (True, value))
    event = SqlPart(f"(SELECT ms.tier_since{base})", (True,)) if op in (">=", ">", "=") else None
    return CompiledCondition(test, event)


def _successful_referrals(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
    """Referred friends who made their first purchase (status purchased), optionally in the last `days` days."""
    where = f" FROM {Referral._meta.db_table} rf WHERE rf.referrer_id = c.id AND rf.status = %s"
    params_: tuple[Any, ...] = (ReferralStatus.PURCHASED.value,)
    days = params.get("days")
    if days is not None:
        where += " AND rf.purchased_at > %s"
        params_ += (ctx.ts(ctx.reference - dt.timedelta(days=days)),)
    test = SqlPart(f"(SELECT COUNT(*){where}) {NUMBER_OPS[op]} %s", (*params_, value))
    event = SqlPart(f"(SELECT MAX(rf.purchased_at){where})", params_) if op in (">=", ">", "=") else None
    return CompiledCondition(test, event)


TIER_RANK = Metric(
    "loyalty_tier_rank",
    "Loyalty tier rank",
    "rank of the contact's tier in the default loyalty programme (0 entry, 1 Silver, 2 Gold…; false if not a member)",
    "int",
    NUMBER_OPS,
    {},
    _tier_rank,
)
SUCCESSFUL_REFERRALS = Metric(
    "successful_referrals",
    "Successful referrals",
    "referred friends who made a first purchase, in the last `days` days (all time if none)",
    "int",
    NUMBER_OPS,
    {"days": "days"},
    _successful_referrals,
)


def register() -> None:
    """Add the loyalty metrics to the stage-rule registry (called once from LoyaltyConfig.ready)."""
    metric_register(TIER_RANK)
    metric_register(SUCCESSFUL_REFERRALS)
