"""Set-based tier evaluation over the programme's rolling window, with history (TierChange) like stage moves.

One statement finds every member in scope whose tier differs from what the window says and
writes the history rows; a second sets the members' current tier from those rows. The value
is points earned net of reversals (or net spend) in the last `tier_window_days` days; the
tier is the highest-ranked one whose threshold the value reaches.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

from contacts.models import TouchpointKind
from loyalty.earning import CHANGES, ENTRIES, MEMBERS, TOUCHPOINTS, PassResult, Scope, _ts
from loyalty.models import EntryKind, Programme, TierBasis


def _window_value(
    programme: Programme, scope_sql: str, scope_params: list[Any], now: dt.datetime
) -> tuple[str, list[Any]]:
    """`member_id, value` per member in scope that has anything in the window (others count as 0)."""
    since, until = _ts(now - dt.timedelta(days=programme.tier_window_days)), _ts(now)
    members = f"SELECT ms.id FROM {MEMBERS} ms WHERE ms.programme_id = %s AND {scope_sql}"
    if programme.tier_basis == TierBasis.SPEND:
        return (
            f"SELECT ms.id AS member_id, SUM(CASE WHEN t.kind = %s THEN t.amount ELSE -t.amount END) AS value"
            f" FROM {MEMBERS} ms JOIN {TOUCHPOINTS} t ON t.contact_id = ms.contact_id"
            f" WHERE ms.programme_id = %s AND {scope_sql} AND t.kind IN (%s, %s) AND t.occurred_at > %s"
            " AND t.occurred_at <= %s GROUP BY ms.id",
            [
                TouchpointKind.PURCHASE.value,
                programme.pk,
                *scope_params,
                TouchpointKind.PURCHASE.value,
                TouchpointKind.REFUND.value,
                since,
                until,
            ],
        )
    return (
        f"SELECT pe.member_id, SUM(pe.points) AS value FROM {ENTRIES} pe WHERE pe.member_id IN ({members})"
        " AND pe.kind IN (%s, %s) AND pe.occurred_at > %s AND pe.occurred_at <= %s GROUP BY pe.member_id",
        [programme.pk, *scope_params, EntryKind.EARN.value, EntryKind.REVERSE.value, since, until],
    )


def evaluate_tiers(
    *, programme: Programme, scope: Scope, now: dt.datetime, announced: bool, result: PassResult
) -> None:
    """Move the members in scope (scope over contact ids) to the tier their window earns; record each move.

    `announced=False` when evaluating backfilled or imported history: the moves are history,
    and plays and webhooks must not act on them.
    """
    tiers = list(programme.tiers.order_by("-rank"))
    if not tiers:
        return
    where, where_params = scope.sql("ms.contact_id")
    value, value_params = _window_value(programme, where, where_params, now)
    target = "CASE" + "".join(" WHEN COALESCE(v.value, 0) >= %s THEN %s" for _ in tiers) + " END"
    target_params: list[Any] = [x for tier in tiers for x in (float(tier.threshold), tier.pk)]
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    stamp = _ts(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CHANGES} (member_id, from_tier_id, to_tier_id, effective_at, recorded_at, announced)"
            f" SELECT x.id, x.tier_id, x.target, %s, %s, %s FROM (SELECT ms.id, ms.tier_id, {target} AS target"
            f" FROM {MEMBERS} ms LEFT JOIN ({value}) v ON v.member_id = ms.id WHERE ms.programme_id = %s AND {where}) x"
            f" WHERE x.tier_id {differs} x.target RETURNING id",
            [stamp, stamp, announced, *target_params, *value_params, programme.pk, *where_params],
        )
        changed = [row[0] for row in cursor.fetchall()]
        if not changed:
            return
        cursor.execute(
            f"UPDATE {MEMBERS} SET tier_id = c.to_tier_id, tier_since = c.effective_at FROM {CHANGES} c"
            f" WHERE c.member_id = {MEMBERS}.id AND c.recorded_at = %s AND {MEMBERS}.programme_id = %s",
            [stamp, programme.pk],
        )
    result.tier_change_ids.extend(changed)
