"""The overview's rollups, kept exact by PostgreSQL triggers on every write.

Four rollups, each a folded table plus a table of appended deltas:

- daily facts (`DAILY`): one row per day (in the project's TIME_ZONE), acquisition channel,
  owner and (for stage moves) from/to stage with four sums: contacts created that day, how
  many of them have bought (their metrics' purchase_count > 0), purchase revenue that day,
  stage moves that day. The cards read whole days of a period from here and only the partial
  days at its edges from the rows themselves (analytics.kpis), so a year and the year before
  cost a few thousand rollup rows instead of a million contacts, two million purchases and
  the transitions.
- current state (`STATE`): one row per channel, owner and current stage with the contacts in
  it, and one per channel and owner (stage ANY_STAGE) with, of the contacts whose metrics
  show a purchase, the count, the repeat buyers and the sums of historic and predicted CLV.
  The cards' period-independent part (contacts per stage now, the customer-value averages)
  is a sum of a few dozen of these rows instead of two scans of the base (0.25-0.45 s at 1M
  with a channel filter).
- cohorts (`COHORTS`): the cohort-retention chart's customers and revenue per first-purchase
  month, month of purchase, channel and owner, summed from the engine's ContactPurchaseMonth
  rows (10,656 rows at 1M instead of a GROUP BY over 1.5M).
- acquisitions (`ACQUISITIONS`): the channel chart's contacts per local day of acquisition,
  channel and owner, with those whose metrics show a purchase, their net revenue and their
  predicted CLV (the channel performance report "now" without reading the base).

Why triggers, not the application: the facts change with every writer — the API, forms,
imports (COPY-sized batches), bulk owner changes, merges (touchpoints and transitions move
to the survivor, the loser is deleted), deletes, the lifecycle engine's raw SQL (metrics
upserts, stage moves) and the customer-value recompute. Statement-level AFTER triggers with
transition tables see every one of them, set-based (one INSERT … SELECT per statement, not
one per row), in the writer's own transaction, so the rollup commits or rolls back with it.

Why deltas: a trigger never updates a shared rollup row (two writers touching the same
day/channel/owner would queue on its lock until commit, and deadlock when they touch two
such rows in opposite orders); it appends signed deltas to the rollup's delta table.
Readers sum the rollup and the deltas in one statement (one snapshot, so always exact);
`daily_facts_compact` folds the deltas into the rollups (every few minutes from Celery beat,
and nightly), one statement, serialized by an advisory lock.

Keys: owner 0 = no owner, -1 = the all-owners rows (the same sums without the owner, kept by
the compaction and the rebuild, so a view of everyone reads one row per day and channel
instead of one per owner); from 0 = no previous stage; from/to 0 on the rows that are not
moves; stage 0 = not placed yet. A fact belongs to the contact's current channel and owner
(and, in the current state, stage): when those (or created_at) change, the trigger on
contacts moves all of that contact's facts. Facts of a child row (purchase, transition,
metrics) are counted while its contact exists; inserting or
deleting a contact adds or removes the facts of whatever children it has at that moment, so
any order of deletes (Django deletes children first; a raw delete with deferred foreign
keys, parents first) and of inserts keeps the sums exact.

On SQLite (development, `make run`) nothing is installed and the cards are computed from
the rows themselves; `daily_facts_enabled()` says which. `manage.py rebuild_daily_facts`
rebuilds every rollup from the rows (and `--check` compares without writing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import astuple, dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

# pg_advisory_xact_lock key of the compaction and the rebuild ("dailyfct" in ASCII).
LOCK_KEY = 0x6461696C79666374
# The owner of the rollups' all-owners rows: the same sums without the owner in the key, written
# by the compaction and the rebuild (never by the triggers), so a view of every owner reads one
# row per day, channel and move (or per channel and stage) instead of one per owner.
ALL_OWNERS = -1
# The current-state rollup's stage for the customer-value sums, which are kept per channel and owner only.
ANY_STAGE = -1
METRICS = "analytics_contactmetrics"


# Stands for the time zone literal in the trigger SQL frozen into migrations (see frozen_install_sql).
ZONE_TOKEN = "__CRM_TIME_ZONE__"
_zone_override: list[str] = []


def _zone() -> str:
    """The project's time zone as an SQL literal: the rollup's days are local days, like the reports' periods."""
    if _zone_override:
        return _zone_override[-1]
    return "'" + settings.TIME_ZONE.replace("'", "''") + "'"


def frozen_install_sql() -> list[str]:
    """The triggers' install and the rollups' rebuild, the zone literal as ZONE_TOKEN: what a migration freezes.

    A migration must not import this module (live code changes, applied migrations must not): it
    carries these statements as literals and puts the zone in at migrate time.
    """
    _zone_override.append(f"'{ZONE_TOKEN}'")
    try:
        # As daily_facts_rebuild runs them: the locks, the triggers, then every rollup rewritten from the rows,
        # so a database whose triggers were older is exact again after the migration.
        statements = _rebuild_sql(ROLLUPS)
        return [*statements[:2], *install_sql(), *statements[2:]]
    finally:
        _zone_override.pop()


_installed_zone: dict[str, str | None] = {}  # per process: the zone the triggers and the rollup were built in


def _rollup_zone() -> str | None:
    if connection.alias not in _installed_zone:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT obj_description('{DAILY.fact_table}'::regclass, 'pg_class')")
            _installed_zone[connection.alias] = cursor.fetchone()[0]
    return _installed_zone[connection.alias]


@dataclass(frozen=True)
class Rollup:
    """One rollup the triggers keep: its folded table, its delta table, its key and sums, and its facts.

    `contact_facts(contacts)` is the SELECT of the facts (key + sums) of the contacts in the
    relation `contacts` — rows of (id, acquisition_channel, owner_id, created_at, acquired_at,
    stage_id, sign) — with every sum multiplied by `sign` (+1 to add, -1 to remove), whatever children
    they have. `child_facts[table](rows, sign)` is the SELECT of the facts of changed rows of a
    child table, under their contact's current key. A contact's facts move to its new key when
    one of `contact_columns` changes; a metrics row's facts are recounted when one of
    `metrics_columns` changes (both compared old against new, so the engine's and the
    recompute's updates of thousands of rows that change nothing here append nothing).
    """

    fact_table: str
    delta_table: str
    key: tuple[str, ...]
    measures: tuple[str, ...]
    contact_facts: Callable[[str], str]
    child_facts: dict[str, Callable[[str, int], str]]
    contact_columns: tuple[str, ...]
    metrics_columns: tuple[str, ...] = ()

    @property
    def key_sql(self) -> str:
        return ", ".join(self.key)

    @property
    def measures_sql(self) -> str:
        return ", ".join(self.measures)

    def summed(self, facts: str) -> str:
        """Group `facts` by key; drop the keys whose every sum is zero (an update that changed nothing)."""
        sums = ", ".join(f"SUM({m})" for m in self.measures)
        nonzero = " OR ".join(f"SUM({m}) <> 0" for m in self.measures)
        return f"SELECT {self.key_sql}, {sums} FROM ({facts}) f GROUP BY {self.key_sql} HAVING {nonzero}"

    def all_owners(self, relation: str) -> str:
        """The rows of `relation` (key + sums) relabelled to the all-owners level (owner -1)."""
        key = ", ".join(f"{ALL_OWNERS}::bigint AS owner_id" if k == "owner_id" else k for k in self.key)
        return f"SELECT {key}, {self.measures_sql} FROM {relation}"

    def current(self, columns: str, where: list[str], params: dict, owner_id: int | None) -> str:
        """A FROM item `f` of `columns` of the folded rows and the pending deltas matching `where`, one owner's or all.

        For one owner, its folded rows and its deltas; for every owner, the folded all-owners rows
        and every pending delta (deltas carry real owners only). Sets params["owner"].
        """
        params["owner"] = ALL_OWNERS if owner_id is None else owner_id
        condition = " AND ".join(where) or "TRUE"
        pending = condition if owner_id is None else f"{condition} AND owner_id = %(owner)s"
        return f"""(SELECT {columns} FROM {self.fact_table} WHERE {condition} AND owner_id = %(owner)s
                    UNION ALL
                    SELECT {columns} FROM {self.delta_table} WHERE {pending}) f"""

    def append(self, facts: str) -> str:
        """PL/pgSQL that appends the summed `facts` as deltas.

        EXECUTE: planned on every call with the transition tables' real sizes. A static statement
        would be planned once by PL/pgSQL and kept; planned for a one-row statement it joins a
        million-row recompute's old and new rows in a nested loop (minutes instead of a second).
        """
        insert = f"INSERT INTO {self.delta_table} ({self.key_sql}, {self.measures_sql}) {self.summed(facts)}"
        return f"EXECUTE $sql$ {insert} $sql$;"


def _contact_rows(rows: str, sign: int) -> str:
    return f"(SELECT id, acquisition_channel, owner_id, created_at, acquired_at, stage_id, {sign} AS sign FROM {rows})"


def _day(column: str) -> str:
    return f"({column} AT TIME ZONE {_zone()})::date"


_CHANNEL_OWNER = "c.acquisition_channel AS channel, COALESCE(c.owner_id, 0) AS owner_id"
_OF_CONTACT = "JOIN contacts_contact c ON c.id = r.contact_id"


def _daily_contact_facts(contacts: str) -> str:
    """The contact row itself, whether its metrics say it bought, its purchases and its moves."""
    return f"""
        SELECT {_day("c.created_at")} AS day, {_CHANNEL_OWNER}, 0::bigint AS from_stage_id, 0::bigint AS to_stage_id,
               c.sign AS contacts, CASE WHEN m.purchase_count > 0 THEN c.sign ELSE 0 END AS buyers,
               0::numeric AS revenue, 0 AS moves
          FROM {contacts} c LEFT JOIN {METRICS} m ON m.contact_id = c.id
        UNION ALL
        SELECT {_day("t.occurred_at")}, c.acquisition_channel, COALESCE(c.owner_id, 0), 0, 0,
               0, 0, c.sign * COALESCE(t.amount, 0), 0
          FROM {contacts} c JOIN contacts_touchpoint t ON t.contact_id = c.id AND t.kind = 'purchase'
        UNION ALL
        SELECT {_day("s.effective_at")}, c.acquisition_channel, COALESCE(c.owner_id, 0),
               COALESCE(s.from_stage_id, 0), s.to_stage_id, 0, 0, 0, c.sign
          FROM {contacts} c JOIN stages_stagetransition s ON s.contact_id = c.id"""


def _daily_purchase_facts(rows: str, sign: int) -> str:
    return f"""
        SELECT {_day("r.occurred_at")} AS day, {_CHANNEL_OWNER}, 0::bigint AS from_stage_id,
               0::bigint AS to_stage_id, 0 AS contacts, 0 AS buyers, {sign} * COALESCE(r.amount, 0) AS revenue,
               0 AS moves
          FROM {rows} r {_OF_CONTACT} WHERE r.kind = 'purchase'"""


def _daily_move_facts(rows: str, sign: int) -> str:
    return f"""
        SELECT {_day("r.effective_at")} AS day, {_CHANNEL_OWNER},
               COALESCE(r.from_stage_id, 0) AS from_stage_id, r.to_stage_id AS to_stage_id,
               0 AS contacts, 0 AS buyers, 0::numeric AS revenue, {sign} AS moves
          FROM {rows} r {_OF_CONTACT}"""


def _daily_buyer_facts(rows: str, sign: int) -> str:
    return f"""
        SELECT {_day("c.created_at")} AS day, {_CHANNEL_OWNER}, 0::bigint AS from_stage_id,
               0::bigint AS to_stage_id, 0 AS contacts, {sign} AS buyers, 0::numeric AS revenue, 0 AS moves
          FROM {rows} r {_OF_CONTACT} WHERE r.purchase_count > 0"""


def _state_value_facts(source: str) -> str:
    """The customer-value sums of the contacts `c` (with a sign) and their metrics `m` in `source`, at ANY_STAGE.

    Customers are contacts whose metrics show a purchase, as in the cards' customer-value
    averages; historic CLV is NOT NULL, predicted CLV may be (then it is left out of its
    average). The sums are not kept per stage: the engine's real-time evaluation upserts the
    metrics and moves the stage in one statement, whose two statement triggers each see the
    other table's new rows, so a fact depending on both would be counted with the old side of
    one and the new side of the other.
    """
    customer = "m.purchase_count > 0"
    predicted = f"{customer} AND m.predicted_clv IS NOT NULL"
    return f"""
        SELECT {_CHANNEL_OWNER}, {ANY_STAGE}::bigint AS stage_id, 0 AS contacts,
               CASE WHEN {customer} THEN c.sign ELSE 0 END AS customers,
               CASE WHEN m.purchase_count >= 2 THEN c.sign ELSE 0 END AS repeaters,
               CASE WHEN {customer} THEN c.sign * m.historic_clv ELSE 0 END AS historic,
               CASE WHEN {predicted} THEN c.sign * m.predicted_clv ELSE 0 END AS predicted,
               CASE WHEN {predicted} THEN c.sign ELSE 0 END AS predicted_n
          FROM {source} WHERE {customer}"""


def _state_contact_facts(contacts: str) -> str:
    """The contacts per current stage, and their customer-value sums."""
    return f"""
        SELECT {_CHANNEL_OWNER}, COALESCE(c.stage_id, 0)::bigint AS stage_id, c.sign AS contacts,
               0 AS customers, 0 AS repeaters, 0::numeric AS historic, 0::numeric AS predicted, 0 AS predicted_n
          FROM {contacts} c
        UNION ALL {_state_value_facts(f"{contacts} c JOIN {METRICS} m ON m.contact_id = c.id")}"""


def _state_metrics_facts(rows: str, sign: int) -> str:
    contact = f"(SELECT id, acquisition_channel, owner_id, {sign} AS sign FROM contacts_contact)"
    return _state_value_facts(f"{rows} m JOIN {contact} c ON c.id = m.contact_id")


PURCHASE_MONTHS = "analytics_contactpurchasemonth"


def _cohort_contact_facts(contacts: str) -> str:
    """The contacts' purchase months (ContactPurchaseMonth rows), each a customer of its cohort in that month."""
    return f"""
        SELECT r.cohort, r.month, {_CHANNEL_OWNER}, c.sign AS customers, c.sign * r.revenue AS revenue
          FROM {contacts} c JOIN {PURCHASE_MONTHS} r ON r.contact_id = c.id"""


def _cohort_month_facts(rows: str, sign: int) -> str:
    return f"""
        SELECT r.cohort, r.month, {_CHANNEL_OWNER}, {sign} AS customers, {sign} * r.revenue AS revenue
          FROM {rows} r {_OF_CONTACT}"""


def _acquisition_value(source: str, contacts: str) -> str:
    """Facts of the acquisition rollup from `source` (contact `c` with a sign, metrics `m`, possibly NULL)."""
    customer = "m.purchase_count > 0"
    predicted = f"{customer} AND m.predicted_clv IS NOT NULL"
    return f"""
        SELECT {_day("c.acquired_at")} AS day, {_CHANNEL_OWNER}, {contacts} AS contacts,
               CASE WHEN {customer} THEN c.sign ELSE 0 END AS customers,
               c.sign * COALESCE(m.revenue, 0) AS revenue,
               CASE WHEN {predicted} THEN c.sign * m.predicted_clv ELSE 0 END AS predicted,
               CASE WHEN {predicted} THEN c.sign ELSE 0 END AS predicted_n
          FROM {source}"""


def _acquisition_contact_facts(contacts: str) -> str:
    return _acquisition_value(f"{contacts} c LEFT JOIN {METRICS} m ON m.contact_id = c.id", "c.sign")


def _acquisition_metrics_facts(rows: str, sign: int) -> str:
    contact = f"(SELECT id, acquisition_channel, owner_id, acquired_at, {sign} AS sign FROM contacts_contact)"
    return _acquisition_value(f"{rows} m JOIN {contact} c ON c.id = m.contact_id", "0")


# The KPI cards' period figures: per local day, channel, owner and (for moves) from/to stage.
DAILY = Rollup(
    fact_table="analytics_dailyfact",
    delta_table="analytics_dailyfactdelta",
    key=("day", "channel", "owner_id", "from_stage_id", "to_stage_id"),
    measures=("contacts", "buyers", "revenue", "moves"),
    contact_facts=_daily_contact_facts,
    child_facts={
        "contacts_touchpoint": _daily_purchase_facts,
        "stages_stagetransition": _daily_move_facts,
        METRICS: _daily_buyer_facts,
    },
    contact_columns=("acquisition_channel", "owner_id", "created_at"),
    metrics_columns=("purchase_count > 0",),
)
# The cards' period-independent part: contacts per stage now, customers and their CLV sums, per channel and owner.
STATE = Rollup(
    fact_table="analytics_statefact",
    delta_table="analytics_statefactdelta",
    key=("channel", "owner_id", "stage_id"),
    measures=("contacts", "customers", "repeaters", "historic", "predicted", "predicted_n"),
    contact_facts=_state_contact_facts,
    child_facts={METRICS: _state_metrics_facts},
    contact_columns=("acquisition_channel", "owner_id", "stage_id"),
    metrics_columns=("purchase_count > 0", "purchase_count >= 2", "historic_clv", "predicted_clv"),
)
# The cohort-retention chart: customers of a first-purchase month buying in a later month, per channel and owner.
COHORTS = Rollup(
    fact_table="analytics_cohortfact",
    delta_table="analytics_cohortfactdelta",
    key=("cohort", "month", "channel", "owner_id"),
    measures=("customers", "revenue"),
    contact_facts=_cohort_contact_facts,
    child_facts={PURCHASE_MONTHS: _cohort_month_facts},
    contact_columns=("acquisition_channel", "owner_id"),
)
# The channel chart (channel performance now): per local day of acquisition, channel and owner, the contacts
# acquired, those whose metrics show a purchase, their net revenue and their customers' predicted CLV.
ACQUISITIONS = Rollup(
    fact_table="analytics_acquisitionfact",
    delta_table="analytics_acquisitionfactdelta",
    key=("day", "channel", "owner_id"),
    measures=("contacts", "customers", "revenue", "predicted", "predicted_n"),
    contact_facts=_acquisition_contact_facts,
    child_facts={METRICS: _acquisition_metrics_facts},
    contact_columns=("acquisition_channel", "owner_id", "acquired_at"),
    metrics_columns=("purchase_count > 0", "revenue", "predicted_clv"),
)
ROLLUPS = (DAILY, STATE, COHORTS, ACQUISITIONS)
# Statement-level triggers, one function per table, each on INSERT, UPDATE, DELETE and TRUNCATE: (table, function).
TRIGGERS = [
    ("contacts_contact", "analytics_daily_facts_contact"),
    ("contacts_touchpoint", "analytics_daily_facts_touchpoint"),
    ("stages_stagetransition", "analytics_daily_facts_transition"),
    (METRICS, "analytics_daily_facts_metrics"),
    (PURCHASE_MONTHS, "analytics_daily_facts_purchase_month"),
]


EVENTS = ("insert", "delete", "update", "truncate")


def _changed(columns: tuple[str, ...], pk: str, side: str) -> str:
    """The `side` ("o" old or "n" new) of the updated rows where one of `columns` changed."""
    old = ", ".join(f"(o.{c})" for c in columns)
    new = ", ".join(f"(n.{c})" for c in columns)
    return f"""(SELECT {side}.* FROM old_rows o JOIN new_rows n ON n.{pk} = o.{pk}
                 WHERE ROW({old}) IS DISTINCT FROM ROW({new}))"""


def _statements(rollup: Rollup, table: str) -> tuple[str, str, str] | None:
    """The rollup's PL/pgSQL for an INSERT, a DELETE and an UPDATE of `table`; None if it does not follow it."""
    if table == "contacts_contact":
        facts = rollup.contact_facts
        changed = [
            facts(_contact_rows(_changed(rollup.contact_columns, "id", side) + " x", sign))
            for side, sign in (("o", -1), ("n", 1))
        ]
        return (
            rollup.append(facts(_contact_rows("new_rows", 1))),
            rollup.append(facts(_contact_rows("old_rows", -1))),
            rollup.append(" UNION ALL ".join(changed)),
        )
    if table not in rollup.child_facts:
        return None
    facts = rollup.child_facts[table]
    if table == METRICS:
        # The recompute rewrites every metrics row: only rows whose facts may change are recounted.
        updated = [
            facts(_changed(rollup.metrics_columns, "contact_id", side), sign) for side, sign in (("o", -1), ("n", 1))
        ]
    else:
        updated = [facts("old_rows", -1), facts("new_rows", 1)]
    return (
        rollup.append(facts("new_rows", 1)),
        rollup.append(facts("old_rows", -1)),
        rollup.append(" UNION ALL ".join(updated)),
    )


def _rebuild_sql(rollups: tuple[Rollup, ...]) -> list[str]:
    """Statements that rewrite `rollups` from the rows, after taking the locks that keep concurrent writers exact.

    The advisory lock serializes rebuilds and compactions. The table locks wait until every
    writer that already appended a delta has committed (so the rows read below include its
    change) and make writers after it wait for this transaction's end, so no change is
    counted twice or lost.
    """
    tables = ", ".join(f"{r.fact_table}, {r.delta_table}" for r in rollups)
    statements = [f"SELECT pg_advisory_xact_lock({LOCK_KEY})", f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"]
    for rollup in rollups:
        columns = f"{rollup.key_sql}, {rollup.measures_sql}"
        statements += [
            f"DELETE FROM {rollup.delta_table}",
            f"DELETE FROM {rollup.fact_table}",
            f"INSERT INTO {rollup.fact_table} ({columns}) {rollup.summed(rollup.contact_facts(_everyone()))}",
            f"INSERT INTO {rollup.fact_table} ({columns}) {rollup.summed(rollup.all_owners(rollup.fact_table))}",
        ]
    return statements


def _trigger_function(table: str, function: str, rollups: tuple[Rollup, ...]) -> str:
    following = tuple(r for r in rollups if _statements(r, table) is not None)
    inserted, deleted, updated = (
        "\n        ".join(s) for s in zip(*(_statements(r, table) for r in following), strict=True)
    )
    # TRUNCATE has no transition table (nothing says what was removed): the rollups that follow
    # the table are rewritten from the rows, in the truncating transaction.
    truncated = "\n        ".join(f"EXECUTE $sql$ {statement} $sql$;" for statement in _rebuild_sql(following))
    return f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {inserted}
    ELSIF TG_OP = 'DELETE' THEN
        {deleted}
    ELSIF TG_OP = 'UPDATE' THEN
        {updated}
    ELSE
        {truncated}
    END IF;
    RETURN NULL;
END
$fn$;"""


def install_sql(rollups: tuple[Rollup, ...] = ROLLUPS) -> list[str]:
    """Statements that (re)create the trigger functions and their triggers (PostgreSQL ≥ 10), in today's TIME_ZONE.

    The zone is recorded as the daily rollup's table comment; `daily_facts_rebuild` reinstalls
    everything, so after a change of TIME_ZONE one rebuild makes the rollup local again.
    `rollups` are those the triggers keep (a migration back to before a rollup keeps the others).
    """
    _installed_zone.clear()
    statements = [f"COMMENT ON TABLE {DAILY.fact_table} IS {_zone()}"]
    for table, function in TRIGGERS:
        if not any(_statements(r, table) is not None for r in rollups):  # e.g. a migration before that rollup
            statements += [f"DROP TRIGGER IF EXISTS {function}_{event} ON {table}" for event in EVENTS]
            continue
        statements.append(_trigger_function(table, function, rollups))
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
        name = f"{function}_truncate"
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(
            f"CREATE TRIGGER {name} AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def uninstall_sql() -> list[str]:
    statements = []
    for table, function in TRIGGERS:
        for event in EVENTS:
            statements.append(f"DROP TRIGGER IF EXISTS {function}_{event} ON {table}")
        statements.append(f"DROP FUNCTION IF EXISTS {function}()")
    return statements


def daily_facts_enabled() -> bool:
    """Whether the cards may read the rollups: on PostgreSQL, built in the project's time zone.

    Elsewhere (SQLite), or when TIME_ZONE changed since the last rebuild (the days would be
    another zone's), the cards read the rows themselves: slower, never wrong.
    """
    return connection.vendor == "postgresql" and _rollup_zone() == settings.TIME_ZONE


def _everyone() -> str:
    return _contact_rows("contacts_contact", 1)


def daily_facts_compact() -> int:
    """Fold the appended deltas into the rollups; returns how many delta rows were folded.

    One statement per rollup: the deltas it deletes are exactly the ones it adds (a delta
    appended while it runs is not in its snapshot and stays for the next run). The advisory
    lock keeps two compactions from updating the same rollup rows in different orders.
    """
    if connection.vendor != "postgresql":
        return 0
    folded = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        for rollup in ROLLUPS:
            table, key = rollup.fact_table, rollup.key_sql
            added = ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in rollup.measures)
            cursor.execute(
                f"""
                WITH folded AS (DELETE FROM {rollup.delta_table} RETURNING {key}, {rollup.measures_sql}),
                     counted AS (SELECT count(*) AS n FROM folded),
                     upserted AS (
                        INSERT INTO {table} ({key}, {rollup.measures_sql})
                        SELECT * FROM ({rollup.summed("SELECT * FROM folded")}
                                       UNION ALL {rollup.summed(rollup.all_owners("folded"))}) x
                        ORDER BY {key}
                        ON CONFLICT ({key}) DO UPDATE SET {added}
                        RETURNING 1)
                SELECT n FROM counted"""
            )
            folded += cursor.fetchone()[0]
    return folded


def daily_facts_rebuild(rollups: tuple[Rollup, ...] = ROLLUPS) -> int:
    """Rewrite the rollups from the rows (after a restore, a time zone change or a bulk load without triggers).

    `rollups`: those to keep from now on (a migration passes the ones whose tables exist at it).
    The locks are taken first (`_rebuild_sql`), then the triggers reinstalled. Returns the rows written.
    """
    if connection.vendor != "postgresql":
        return 0
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        statements = _rebuild_sql(rollups)
        locks, rewrite = statements[:2], statements[2:]
        for statement in locks:
            cursor.execute(statement)
        for statement in install_sql(rollups):  # the triggers' days in today's TIME_ZONE
            cursor.execute(statement)
        for statement in rewrite:
            cursor.execute(statement)
            if statement.startswith("INSERT"):
                rows += cursor.rowcount
    return rows


def daily_facts_drift() -> list[tuple]:
    """Keys where a stored rollup (plus deltas) differs from the rows: (table, key…, stored, true sums). [] = exact."""
    if connection.vendor != "postgresql":
        return []
    drift = []
    with connection.cursor() as cursor:
        for rollup in ROLLUPS:
            key = rollup.key_sql
            sums = ", ".join(f"SUM({m}) AS {m}" for m in rollup.measures)
            stored = f"""SELECT {key}, {sums}
                           FROM (SELECT {key}, {rollup.measures_sql} FROM {rollup.fact_table}
                                 UNION ALL SELECT {key}, {rollup.measures_sql} FROM {rollup.delta_table}
                                 UNION ALL {rollup.all_owners(rollup.delta_table)}) f
                          GROUP BY {key}"""
            true = f"""SELECT {key}, {sums}
                         FROM (SELECT * FROM true_facts UNION ALL {rollup.all_owners("true_facts")}) f GROUP BY {key}"""
            differs = " OR ".join(f"COALESCE(s.{m}, 0) <> COALESCE(t.{m}, 0)" for m in rollup.measures)
            cursor.execute(
                f"""
                WITH true_facts AS ({rollup.contact_facts(_everyone())})
                SELECT '{rollup.fact_table}', {", ".join(f"COALESCE(s.{k}, t.{k})" for k in rollup.key)},
                       {", ".join(f"s.{m}" for m in rollup.measures)}, {", ".join(f"t.{m}" for m in rollup.measures)}
                  FROM ({stored}) s FULL JOIN ({true}) t USING ({key})
                 WHERE {differs}
                 ORDER BY {", ".join(str(i + 2) for i in range(len(rollup.key)))}"""
            )
            drift += cursor.fetchall()
    return drift


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
          FROM {DAILY.current(f"{DAILY.key_sql}, {DAILY.measures_sql}", where, params, owner_id)}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return {label: DayFigures(*row[i * 5 : i * 5 + 5]) for i, label in enumerate(periods)}


@dataclass(frozen=True)
class StateFigures:
    """The base as it is now, for a channel and/or owner (or all): contacts per stage, customers and their CLV.

    `stage_counts` maps a stage's id (None = no stage yet) to its contacts; the averages are
    over customers (metrics show a purchase), predicted CLV over those that have one.
    """

    stage_counts: dict[int | None, int]
    customers: int
    repeaters: int
    historic: Decimal | None
    predicted: Decimal | None


def state_facts_sum(*, channel: str, owner_id: int | None) -> StateFigures:
    """The current-state rollup and its pending deltas summed for a channel and/or owner (or all): one statement."""
    where, params = [], {}
    if channel:
        where.append("channel = %(channel)s")
        params["channel"] = channel
    # The averages as PostgreSQL's AVG computes them (numeric division of the sum by the count),
    # so the cards from the rollup equal the cards from the rows to the last digit.
    sql = f"""
        SELECT stage_id, contacts, (SUM(customers) OVER ())::bigint, (SUM(repeaters) OVER ())::bigint,
               SUM(historic) OVER () / NULLIF(SUM(customers) OVER (), 0),
               SUM(predicted) OVER () / NULLIF(SUM(predicted_n) OVER (), 0)
          FROM (SELECT stage_id, SUM(contacts) AS contacts, SUM(customers) AS customers,
                       SUM(repeaters) AS repeaters, SUM(historic)::numeric AS historic,
                       SUM(predicted)::numeric AS predicted, SUM(predicted_n) AS predicted_n
                  FROM {STATE.current(f"{STATE.key_sql}, {STATE.measures_sql}", where, params, owner_id)}
                 GROUP BY stage_id) g"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return StateFigures(stage_counts={}, customers=0, repeaters=0, historic=None, predicted=None)
    _, _, customers, repeaters, historic, predicted = rows[0]
    return StateFigures(
        stage_counts={row[0] or None: row[1] for row in rows if row[1] and row[0] != ANY_STAGE},
        customers=customers,
        repeaters=repeaters,
        historic=historic,
        predicted=predicted,
    )


def cohort_facts_sum(
    *, channel: str | None, owner_id: int | None, before: int, months: int, low: int | None, high: int | None
) -> list[tuple[int, int, int, Decimal]]:
    """(cohort, month, customers, revenue) from the cohort rollup and its pending deltas, one statement.

    Months before `before` and at most `months` after their cohort; cohorts within [low, high]
    when given; for a channel and/or owner (or all).
    """
    where = ["month < %(before)s", "month <= cohort + %(months)s"]
    params: dict = {"before": before, "months": months}
    if low is not None:
        where.append("cohort >= %(low)s")
        params["low"] = low
    if high is not None:
        where.append("cohort <= %(high)s")
        params["high"] = high
    if channel:
        where.append("channel = %(channel)s")
        params["channel"] = channel
    sql = f"""
        SELECT cohort, month, SUM(customers), SUM(revenue)
          FROM {COHORTS.current("cohort, month, customers, revenue", where, params, owner_id)}
         GROUP BY cohort, month
        HAVING SUM(customers) <> 0"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def acquisition_facts_sum(
    *, channel: str | None, owner_id: int | None, first: dt.date | None, last: dt.date | None
) -> list[tuple[str, int, int, Decimal, Decimal | None]]:
    """Per channel: (channel, contacts, customers, net revenue, average predicted CLV of customers), one statement.

    Contacts acquired on the local days [first, last] (either end open when None), for a channel
    and/or owner (or all); the average divided as PostgreSQL's AVG divides.
    """
    where = []
    params: dict = {}
    for name, value, test in (("first", first, "day >= %(first)s"), ("last", last, "day <= %(last)s")):
        if value is not None:
            where.append(test)
            params[name] = value
    if channel:
        where.append("channel = %(channel)s")
        params["channel"] = channel
    columns = f"channel, {ACQUISITIONS.measures_sql}"
    sql = f"""
        SELECT channel, SUM(contacts), SUM(customers), SUM(revenue), SUM(predicted) / NULLIF(SUM(predicted_n), 0)
          FROM {ACQUISITIONS.current(columns, where, params, owner_id)}
         GROUP BY channel
        HAVING SUM(contacts) <> 0
         ORDER BY channel"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
