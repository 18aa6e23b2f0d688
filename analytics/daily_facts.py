"""Daily facts: the KPI cards' per-day rollup, kept exact by PostgreSQL triggers on every write.

One row per day (in the project's TIME_ZONE), acquisition channel, owner and (for stage moves) from/to stage with
four sums: contacts created that day, how many of them have bought (their metrics'
purchase_count > 0), purchase revenue that day, stage moves that day. The overview's KPI
cards read whole days of a period from here and only the partial days at its edges from
the rows themselves (analytics.kpis), so a year and the year before cost a few thousand
rollup rows instead of a million contacts, two million purchases and the transitions.

Why triggers, not the application: the facts change with every writer — the API, forms,
imports (COPY-sized batches), bulk owner changes, merges (touchpoints and transitions move
to the survivor, the loser is deleted), deletes, the lifecycle engine's raw SQL (metrics
upserts, stage moves) and the customer-value recompute. Statement-level AFTER triggers with
transition tables see every one of them, set-based (one INSERT … SELECT per statement, not
one per row), in the writer's own transaction, so the rollup commits or rolls back with it.

Why deltas: a trigger never updates a shared rollup row (two writers touching the same
day/channel/owner would queue on its lock until commit, and deadlock when they touch two
such rows in opposite orders); it appends signed deltas to `analytics_dailyfactdelta`.
Readers sum the rollup and the deltas in one statement (one snapshot, so always exact);
`daily_facts_compact` folds the deltas into the rollup (every few minutes from Celery beat,
and nightly), one statement, serialized by an advisory lock.

Keys: owner 0 = no owner, -1 = the all-owners rows (the same sums without the owner, kept by
the compaction and the rebuild, so a view of everyone reads one row per day and channel
instead of one per owner); from 0 = no previous stage; from/to 0 on the rows that are not
moves. A fact belongs to the contact's current channel and owner: when those (or
created_at) change, the trigger on contacts moves all of that contact's facts. Facts of a
child row (purchase, transition, metrics) are counted while its contact exists; inserting or
deleting a contact adds or removes the facts of whatever children it has at that moment, so
any order of deletes (Django deletes children first; a raw delete with deferred foreign
keys, parents first) and of inserts keeps the sums exact.

On SQLite (development, `make run`) nothing is installed and the cards are computed from
the rows themselves; `daily_facts_enabled()` says which. `manage.py rebuild_daily_facts`
rebuilds the rollup from the rows (and `--check` compares without writing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import astuple, dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

FACT_TABLE = "analytics_dailyfact"
DELTA_TABLE = "analytics_dailyfactdelta"
KEY = "day, channel, owner_id, from_stage_id, to_stage_id"
MEASURES = "contacts, buyers, revenue, moves"
# pg_advisory_xact_lock key of the compaction and the rebuild ("dailyfct" in ASCII).
LOCK_KEY = 0x6461696C79666374
# The owner of the rollup's all-owners rows: the same sums without the owner in the key, written
# by the compaction and the rebuild (never by the triggers), so a view of every owner reads one
# row per day, channel and move instead of one per owner.
ALL_OWNERS = -1

# Statement-level triggers, one function per table, each on INSERT, UPDATE and DELETE: (table, function).
TRIGGERS = [
    ("contacts_contact", "analytics_daily_facts_contact"),
    ("contacts_touchpoint", "analytics_daily_facts_touchpoint"),
    ("stages_stagetransition", "analytics_daily_facts_transition"),
    ("analytics_contactmetrics", "analytics_daily_facts_metrics"),
]


def _zone() -> str:
    """The project's time zone as an SQL literal: the rollup's days are local days, like the reports' periods."""
    return "'" + settings.TIME_ZONE.replace("'", "''") + "'"


_installed_zone: dict[str, str | None] = {}  # per process: the zone the triggers and the rollup were built in


def _rollup_zone() -> str | None:
    if connection.alias not in _installed_zone:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT obj_description('{FACT_TABLE}'::regclass, 'pg_class')")
            _installed_zone[connection.alias] = cursor.fetchone()[0]
    return _installed_zone[connection.alias]


def _contact_facts(contacts: str) -> str:
    """SELECT of the facts (key + measures, with `sign`) of the contacts in `contacts`.

    `contacts` is a relation with (id, acquisition_channel, owner_id, created_at, sign):
    the contact row itself, whether its metrics say it bought, its purchases and its moves,
    each under the contact's key, each multiplied by `sign` (+1 to add, -1 to remove).
    """
    return f"""
        SELECT (c.created_at AT TIME ZONE {_zone()})::date AS day, c.acquisition_channel AS channel,
               COALESCE(c.owner_id, 0) AS owner_id, 0::bigint AS from_stage_id, 0::bigint AS to_stage_id,
               c.sign AS contacts, CASE WHEN m.purchase_count > 0 THEN c.sign ELSE 0 END AS buyers,
               0::numeric AS revenue, 0 AS moves
          FROM {contacts} c LEFT JOIN analytics_contactmetrics m ON m.contact_id = c.id
        UNION ALL
        SELECT (t.occurred_at AT TIME ZONE {_zone()})::date, c.acquisition_channel, COALESCE(c.owner_id, 0), 0, 0,
               0, 0, c.sign * COALESCE(t.amount, 0), 0
          FROM {contacts} c JOIN contacts_touchpoint t ON t.contact_id = c.id AND t.kind = 'purchase'
        UNION ALL
        SELECT (s.effective_at AT TIME ZONE {_zone()})::date, c.acquisition_channel, COALESCE(c.owner_id, 0),
               COALESCE(s.from_stage_id, 0), s.to_stage_id, 0, 0, 0, c.sign
          FROM {contacts} c JOIN stages_stagetransition s ON s.contact_id = c.id"""


def _summed(facts: str) -> str:
    """Group `facts` by key; drop the keys whose every sum is zero (an update that changed nothing)."""
    return f"""
        SELECT {KEY}, SUM(contacts), SUM(buyers), SUM(revenue), SUM(moves)
          FROM ({facts}) f
         GROUP BY {KEY}
        HAVING SUM(contacts) <> 0 OR SUM(buyers) <> 0 OR SUM(revenue) <> 0 OR SUM(moves) <> 0"""


def _append(facts: str) -> str:
    # EXECUTE: planned on every call with the transition tables' real sizes. A static statement
    # would be planned once by PL/pgSQL and kept; planned for a one-row statement it joins a
    # million-row recompute's old and new rows in a nested loop (minutes instead of a second).
    return f"EXECUTE $sql$ INSERT INTO {DELTA_TABLE} ({KEY}, {MEASURES}) {_summed(facts)} $sql$;"


def _contact_rows(rows: str, sign: int) -> str:
    return f"(SELECT id, acquisition_channel, owner_id, created_at, {sign} AS sign FROM {rows})"


def _child_facts(rows: str, sign: int, kind: str) -> str:
    """Facts of changed child rows of one table (`kind`), under their contact's current key."""
    contact = """
        JOIN contacts_contact c ON c.id = r.contact_id"""
    key = "c.acquisition_channel AS channel, COALESCE(c.owner_id, 0) AS owner_id"
    if kind == "touchpoint":
        return f"""
        SELECT (r.occurred_at AT TIME ZONE {_zone()})::date AS day, {key}, 0::bigint AS from_stage_id,
               0::bigint AS to_stage_id, 0 AS contacts, 0 AS buyers, {sign} * COALESCE(r.amount, 0) AS revenue,
               0 AS moves
          FROM {rows} r {contact} WHERE r.kind = 'purchase'"""
    if kind == "transition":
        return f"""
        SELECT (r.effective_at AT TIME ZONE {_zone()})::date AS day, {key},
               COALESCE(r.from_stage_id, 0) AS from_stage_id, r.to_stage_id AS to_stage_id,
               0 AS contacts, 0 AS buyers, 0::numeric AS revenue, {sign} AS moves
          FROM {rows} r {contact}"""
    return f"""
        SELECT (c.created_at AT TIME ZONE {_zone()})::date AS day, {key}, 0::bigint AS from_stage_id,
               0::bigint AS to_stage_id, 0 AS contacts, {sign} AS buyers, 0::numeric AS revenue, 0 AS moves
          FROM {rows} r {contact} WHERE r.purchase_count > 0"""


def _trigger_function(table: str, function: str) -> str:
    if table == "contacts_contact":
        inserted = _append(_contact_facts(_contact_rows("new_rows", 1)))
        deleted = _append(_contact_facts(_contact_rows("old_rows", -1)))
        # Only contacts whose key changed; the engine's stage moves update contacts by the thousand.
        changed = """(SELECT o.* FROM old_rows o JOIN new_rows n ON n.id = o.id
                       WHERE (o.acquisition_channel, o.owner_id, o.created_at)
                             IS DISTINCT FROM (n.acquisition_channel, n.owner_id, n.created_at))"""
        changed_new = changed.replace("SELECT o.*", "SELECT n.*")
        updated = _append(
            _contact_facts(_contact_rows(f"{changed} x", -1))
            + " UNION ALL "
            + _contact_facts(_contact_rows(f"{changed_new} x", 1))
        )
    else:
        kind = {
            "contacts_touchpoint": "touchpoint",
            "stages_stagetransition": "transition",
            "analytics_contactmetrics": "metrics",
        }[table]
        inserted = _append(_child_facts("new_rows", 1, kind))
        deleted = _append(_child_facts("old_rows", -1, kind))
        if kind == "metrics":
            # Only rows whose "has bought" (or contact) changed: the recompute rewrites every metrics row.
            pk = "contact_id"
            old = f"""(SELECT o.* FROM old_rows o JOIN new_rows n ON n.{pk} = o.{pk}
                        WHERE (o.purchase_count > 0) IS DISTINCT FROM (n.purchase_count > 0))"""
            updated = _append(
                _child_facts(f"{old}", -1, kind) + " UNION ALL " + _child_facts(old.replace("o.*", "n.*"), 1, kind)
            )
        else:
            updated = _append(_child_facts("old_rows", -1, kind) + " UNION ALL " + _child_facts("new_rows", 1, kind))
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {inserted}
    ELSIF TG_OP = 'DELETE' THEN
        {deleted}
    ELSE
        {updated}
    END IF;
    RETURN NULL;
END
$fn$;"""


def install_sql() -> list[str]:
    """Statements that (re)create the trigger functions and their triggers (PostgreSQL ≥ 10), in today's TIME_ZONE.

    The zone is recorded as the rollup table's comment; `daily_facts_rebuild` reinstalls
    everything, so after a change of TIME_ZONE one rebuild makes the rollup local again.
    """
    _installed_zone.clear()
    statements = [f"COMMENT ON TABLE {FACT_TABLE} IS {_zone()}"]
    for table, function in TRIGGERS:
        statements.append(_trigger_function(table, function))
        for event, rows in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows")):
            name = f"{function}_{event.lower()}"
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {rows} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        name = f"{function}_update"
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(
            f"CREATE TRIGGER {name} AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def uninstall_sql() -> list[str]:
    statements = []
    for table, function in TRIGGERS:
        for event in ("insert", "delete", "update"):
            statements.append(f"DROP TRIGGER IF EXISTS {function}_{event} ON {table}")
        statements.append(f"DROP FUNCTION IF EXISTS {function}()")
    return statements


def daily_facts_enabled() -> bool:
    """Whether the cards may read the rollup: on PostgreSQL, built in the project's time zone.

    Elsewhere (SQLite), or when TIME_ZONE changed since the last rebuild (the days would be
    another zone's), the cards read the rows themselves: slower, never wrong.
    """
    return connection.vendor == "postgresql" and _rollup_zone() == settings.TIME_ZONE


def _all_owners(relation: str) -> str:
    """The rows of `relation` (key + measures) relabelled to the all-owners level (owner -1)."""
    return (
        f"SELECT day, channel, {ALL_OWNERS}::bigint AS owner_id, from_stage_id, to_stage_id, {MEASURES} FROM {relation}"
    )


def _everyone() -> str:
    return _contact_rows("contacts_contact", 1)


def daily_facts_compact() -> int:
    """Fold the appended deltas into the rollup; returns how many delta rows were folded.

    One statement: the deltas it deletes are exactly the ones it adds (a delta appended while
    it runs is not in its snapshot and stays for the next run). The advisory lock keeps two
    compactions from updating the same rollup rows in different orders.
    """
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute(
            f"""
            WITH folded AS (DELETE FROM {DELTA_TABLE} RETURNING {KEY}, {MEASURES}),
                 counted AS (SELECT count(*) AS n FROM folded),
                 upserted AS (
                    INSERT INTO {FACT_TABLE} ({KEY}, {MEASURES})
                    SELECT * FROM ({_summed("SELECT * FROM folded")}
                                   UNION ALL {_summed(_all_owners("folded"))}) x
                    ORDER BY {KEY}
                    ON CONFLICT ({KEY}) DO UPDATE SET
                        contacts = {FACT_TABLE}.contacts + EXCLUDED.contacts,
                        buyers = {FACT_TABLE}.buyers + EXCLUDED.buyers,
                        revenue = {FACT_TABLE}.revenue + EXCLUDED.revenue,
                        moves = {FACT_TABLE}.moves + EXCLUDED.moves
                    RETURNING 1)
            SELECT n FROM counted"""
        )
        return cursor.fetchone()[0]


def daily_facts_rebuild() -> int:
    """Rewrite the rollup from the rows (after a restore, a time zone change or a bulk load without triggers).

    Locks both tables first: every writer that already appended a delta has committed once
    the lock is granted (so the rows read below include its change), and writers after it wait
    for this transaction's end, so no change is counted twice or lost. Returns the rows written.
    """
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute(f"LOCK TABLE {FACT_TABLE}, {DELTA_TABLE} IN ACCESS EXCLUSIVE MODE")
        for statement in install_sql():  # the triggers' days in today's TIME_ZONE
            cursor.execute(statement)
        cursor.execute(f"DELETE FROM {DELTA_TABLE}")
        cursor.execute(f"DELETE FROM {FACT_TABLE}")
        cursor.execute(f"INSERT INTO {FACT_TABLE} ({KEY}, {MEASURES}) {_summed(_contact_facts(_everyone()))}")
        rows = cursor.rowcount
        cursor.execute(f"INSERT INTO {FACT_TABLE} ({KEY}, {MEASURES}) {_summed(_all_owners(FACT_TABLE))}")
        return rows + cursor.rowcount


def daily_facts_drift() -> list[tuple]:
    """Keys where the stored rollup (plus deltas) differs from the rows: (key…, stored sums, true sums). [] = exact."""
    if connection.vendor != "postgresql":
        return []
    stored = f"""SELECT {KEY}, SUM(contacts) AS contacts, SUM(buyers) AS buyers, SUM(revenue) AS revenue,
                        SUM(moves) AS moves
                   FROM (SELECT {KEY}, {MEASURES} FROM {FACT_TABLE}
                         UNION ALL SELECT {KEY}, {MEASURES} FROM {DELTA_TABLE}
                         UNION ALL {_all_owners(DELTA_TABLE)}) f
                  GROUP BY {KEY}"""
    true = f"""SELECT {KEY}, SUM(contacts) AS contacts, SUM(buyers) AS buyers, SUM(revenue) AS revenue,
                      SUM(moves) AS moves
                 FROM (SELECT * FROM true_facts UNION ALL {_all_owners("true_facts")}) f GROUP BY {KEY}"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH true_facts AS ({_contact_facts(_everyone())})
            SELECT {", ".join(f"COALESCE(s.{k}, t.{k})" for k in KEY.split(", "))},
                   s.contacts, s.buyers, s.revenue, s.moves, t.contacts, t.buyers, t.revenue, t.moves
              FROM ({stored}) s FULL JOIN ({true}) t USING ({KEY})
             WHERE (COALESCE(s.contacts, 0), COALESCE(s.buyers, 0), COALESCE(s.revenue, 0), COALESCE(s.moves, 0))
                   <> (COALESCE(t.contacts, 0), COALESCE(t.buyers, 0), COALESCE(t.revenue, 0), COALESCE(t.moves, 0))
             ORDER BY 1, 2, 3, 4, 5"""
        )
        return cursor.fetchall()


@dataclass(frozen=True)
class DayFigures:
    """A period's figures for the KPI cards: new contacts, how many of them bought, revenue, new customers, churns."""

    contacts: int = 0
    buyers: int = 0
    revenue: Decimal = Decimal("0")
    first_buys: int = 0
    churn_moves: int = 0

    def __add__(self, other: DayFigures) -> DayFigures:
        return DayFigures(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def daily_facts_sum(
    *,
    periods: dict[str, tuple[dt.date, dt.date]],
    channel: str,
    owner_id: int | None,
    customer_ids: list[int],
    prospect_ids: list[int],
    churned_ids: list[int],
) -> dict[str, DayFigures]:
    """Per label, the sums over the whole days [first, last) of its period, for a channel and/or owner (or all).

    One statement over the rollup and the pending deltas. New customers = moves into a
    customer stage from a prospect stage or from none; churn moves = moves into churned.
    """
    where = ["day >= %(lo)s", "day < %(hi)s"]
    params: dict = {
        "lo": min(first for first, _ in periods.values()),
        "hi": max(last for _, last in periods.values()),
        "customer": customer_ids or [-1],
        "prospect": prospect_ids or [-1],
        "churned": churned_ids or [-1],
    }
    if channel:
        where.append("channel = %(channel)s")
        params["channel"] = channel
    condition = " AND ".join(where)
    if owner_id is not None:
        params["owner"] = owner_id
        condition += " AND owner_id = %(owner)s"
        folded = pending = condition
    else:  # the folded all-owners rows, and every pending delta
        folded, pending = f"{condition} AND owner_id = {ALL_OWNERS}", condition
    columns = []
    for i, (first, last) in enumerate(periods.values()):
        params[f"f{i}"], params[f"l{i}"] = first, last
        span = f"day >= %(f{i})s AND day < %(l{i})s"
        first_buy = "to_stage_id = ANY(%(customer)s) AND (from_stage_id = 0 OR from_stage_id = ANY(%(prospect)s))"
        columns += [
            f"COALESCE(SUM(contacts) FILTER (WHERE {span}), 0)",
            f"COALESCE(SUM(buyers) FILTER (WHERE {span}), 0)",
            f"COALESCE(SUM(revenue) FILTER (WHERE {span}), 0)",
            f"COALESCE(SUM(moves) FILTER (WHERE {span} AND {first_buy}), 0)",
            f"COALESCE(SUM(moves) FILTER (WHERE {span} AND to_stage_id = ANY(%(churned)s)), 0)",
        ]
    sql = f"""
        SELECT {", ".join(columns)}
          FROM (SELECT {KEY}, {MEASURES} FROM {FACT_TABLE} WHERE {folded}
                UNION ALL
                SELECT {KEY}, {MEASURES} FROM {DELTA_TABLE} WHERE {pending}) f"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return {label: DayFigures(*row[i * 5 : i * 5 + 5]) for i, label in enumerate(periods)}
