"""Fill a PostgreSQL database with N contacts and about 20 touchpoints each, straight by INSERT … SELECT.

Deterministic for a given (contacts, seed): every random choice is a hash of the row
number and the seed (`hashint8`), not `random()`, so parallel plans and reruns produce the
same rows. Three years of history ending on a fixed date (2026-11-01 by default):
contacts acquired uniformly over the period, about half of them lapsing part-way, 45 %
buyers; overall about 10 % purchases (20-500, skewed low), refunds, NPS survey scores,
reviews and referrals, and the prospect kinds (visits, email, quotes, trials, demos…).
Every contact starts in the first stage with its first transition, like a fresh import.

Used by every benchmark in bench/ (they call `ensure_dataset`, which regenerates only when
the database holds a different dataset):

    .venv/bin/python bench/generate.py --contacts 20000 [--seed 42] [--database-url postgres://…]

The database defaults to $BENCH_DATABASE_URL or postgres://postgres@127.0.0.1:5432/crm_bench;
it is created and migrated if needed, and its contacts/touchpoints/history are replaced.
During the load FK triggers are off (session_replication_role = replica, rows are consistent
by construction) and the touchpoint indexes are rebuilt afterwards, both about 3x faster.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/crm_bench"
DEFAULT_END = dt.date(2026, 11, 1)
YEARS = 3


def setup_django(database_url: str | None = None) -> str:
    """Point Django at the benchmark database (production settings, DEBUG off so queries aren't kept)."""
    url = database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle_crm.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-not-secret")
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.pop("CELERY_BROKER_URL", None)  # tasks (if any) run in-process
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()
    # Receivers of stage_changed (webhooks, plays) only enqueue tasks in production; with no
    # broker here they would run inline and be timed as engine work, so they are detached.
    from stages.signals import stage_changed

    stage_changed.receivers = []
    stage_changed.sender_receivers_cache.clear()
    return url


def _create_database(url: str) -> None:
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(
        dbname="postgres",
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


@dataclass
class Dataset:
    contacts: int
    touchpoints: int
    seed: int
    end: dt.date
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "end": self.end.isoformat()}


def _h(expr: str, salt: int, seed: int) -> str:
    """A deterministic non-negative 31-bit hash of an integer SQL expression."""
    return f"(hashint8(({expr})::bigint * 1000003 + {salt * 7919 + seed * 104729}) ::bigint & 2147483647)"


def _u(expr: str, salt: int, seed: int) -> str:
    """Deterministic uniform [0, 1)."""
    return f"({_h(expr, salt, seed)} / 2147483648.0)"


PROSPECT_KINDS = [  # (kind, share of non-purchase touches)
    ("site_visit", 0.25),
    ("email_open", 0.22),
    ("email_click", 0.10),
    ("ad_click", 0.10),
    ("content_download", 0.05),
    ("webinar", 0.03),
    ("social_share", 0.03),
    ("chat", 0.03),
    ("call", 0.03),
    ("meeting", 0.02),
    ("quote_request", 0.03),
    ("trial_signup", 0.02),
    ("demo", 0.02),
    ("cart_abandoned", 0.03),
    ("support_ticket", 0.03),
    ("form_submit", 0.02),
]
CHANNELS = ["organic_search", "paid_search", "paid_social", "organic_social", "email", "referral", "direct", "display"]
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Eva", "Finn", "Gita", "Hugo", "Iris", "Jon", "Kai", "Lea", "Mo", "Nia", "Oto"]
LAST = ["Smith", "Garcia", "Müller", "Rossi", "Kowalski", "Nguyen", "Okafor", "Silva", "Tanaka", "Dubois", "Novak"]


def _kind_case(u: str) -> str:
    parts, edge = [], 0.0
    for kind, share in PROSPECT_KINDS:
        edge += share
        parts.append(f"WHEN {u} < {edge:.4f} THEN '{kind}'")
    return "CASE " + " ".join(parts) + " ELSE 'site_visit' END"


def generate(*, contacts: int, seed: int = 42, end: dt.date = DEFAULT_END, verbose: bool = True) -> Dataset:
    """Replace the benchmark database's contacts, touchpoints and history with a generated dataset."""
    from django.db import connection

    from stages.models import Stage

    started = time.perf_counter()
    first_stage = Stage.objects.filter(is_active=True).exclude(category="exit").order_by("position").first()
    end_ts = dt.datetime.combine(end, dt.time(0, 0), tzinfo=dt.UTC)
    span = YEARS * 365 * 86400

    def log(message: str) -> None:
        if verbose:
            print(f"  [{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contacts_touchpoint, stages_stagetransition, analytics_contactmetrics,"
            " analytics_stagesnapshot, contacts_contact RESTART IDENTITY CASCADE"
        )
        try:
            cursor.execute("SET session_replication_role = replica")
        except Exception:  # not a superuser: keep the FK triggers, just slower
            connection.rollback() if not connection.get_autocommit() else None
        log(f"inserting {contacts:,} contacts")
        first = "ARRAY[" + ",".join(f"'{n}'" for n in FIRST) + "]"
        last = "ARRAY[" + ",".join(f"'{n}'" for n in LAST) + "]"
        channels = "ARRAY[" + ",".join(f"'{c}'" for c in CHANNELS) + "]"
        cursor.execute(
            "INSERT INTO contacts_contact (id, email, first_name, last_name, phone, company, external_id, owner_id,"
            " acquisition_channel, acquisition_campaign_id, acquired_at, marketing_consent, consent_updated_at,"
            " unsubscribed_at, attributes, stage_id, stage_entered_at, stage_source, created_at, updated_at)"
            f" SELECT i, 'bench' || i || '@example.com', ({first})[1 + {_h('i', 1, seed)} %% {len(FIRST)}],"
            f" ({last})[1 + {_h('i', 2, seed)} %% {len(LAST)}], '', 'Company ' || ({_h('i', 3, seed)} %% 5000),"
            f" 'B' || i, NULL, ({channels})[1 + {_h('i', 4, seed)} %% {len(CHANNELS)}], NULL, acq,"
            f" {_h('i', 5, seed)} %% 100 < 60, NULL, NULL, '{{}}'::jsonb, %s, acq, 'rule', acq, acq"
            f" FROM (SELECT i, %s::timestamptz - make_interval(secs => {_h('i', 6, seed)} %% {span}) AS acq"
            " FROM generate_series(1, %s) i) s",
            [first_stage.pk, end_ts, contacts],
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('contacts_contact', 'id'), GREATEST(%s, 1))", [contacts])
        log("first transitions")
        cursor.execute(
            "INSERT INTO stages_stagetransition (contact_id, from_stage_id, to_stage_id, effective_at, recorded_at,"
            " source, rule_id, touchpoint_id, user_id, note, is_win_back)"
            " SELECT id, NULL, stage_id, acquired_at, acquired_at, 'import', NULL, NULL, NULL, 'Created', false"
            " FROM contacts_contact"
        )
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'contacts_touchpoint'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        log(f"inserting ~{contacts * 20:,} touchpoints ({len(indexes)} indexes dropped for the load)")
        # Per contact: 5..35 touches (mean 20) spread between acquisition and the end of its
        # activity (half of the contacts lapse part-way); 45 % are buyers.
        key = "(c.id * 64 + j)"
        kind = (
            "CASE WHEN buyer AND u_kind < 0.22 THEN 'purchase'"
            " WHEN buyer AND u_kind < 0.228 THEN 'refund'"
            " WHEN buyer AND u_kind < 0.24 THEN 'survey_response'"
            " WHEN buyer AND u_kind < 0.247 THEN 'review'"
            " WHEN buyer AND u_kind < 0.252 THEN 'referral'"
            f" ELSE {_kind_case('u_other')} END"
        )
        # Innermost: one hash per random draw; then the kind; then the row.
        cursor.execute(
            "INSERT INTO contacts_touchpoint (contact_id, kind, channel, occurred_at, amount, score, campaign_id,"
            " logged_by_id, source, external_id, note, utm_source, utm_medium, utm_campaign, created_at)"
            " SELECT contact_id, kind, CASE WHEN kind LIKE 'email%%' THEN 'email' WHEN kind IN ('call', 'meeting')"
            " THEN 'phone' ELSE 'web' END, occurred_at,"
            " CASE WHEN kind = 'purchase' THEN round((20 + 480 * u_amount * u_amount)::numeric, 2)"
            " WHEN kind = 'refund' THEN round((10 + 90 * u_amount)::numeric, 2) END,"
            " CASE WHEN kind = 'survey_response' THEN (u_amount * 11)::int %% 11 END,"
            " NULL, NULL, 'import', NULL, '', '', '', '', occurred_at"
            f" FROM (SELECT contact_id, {kind} AS kind, occurred_at, u_amount FROM ("
            f"SELECT c.id AS contact_id, c.buyer, {_u(key, 13, seed)} AS u_kind, {_u(key, 14, seed)} AS u_other,"
            f" c.acquired_at + (c.active_until - c.acquired_at) * {_u(key, 15, seed)} AS occurred_at,"
            f" {_u(key, 16, seed)} AS u_amount"
            f" FROM (SELECT id, acquired_at, {_h('id', 11, seed)} %% 100 < 45 AS buyer,"
            f" 5 + {_h('id', 10, seed)} %% 31 AS n,"
            f" CASE WHEN {_h('id', 12, seed)} %% 2 = 0 THEN %s::timestamptz"
            f" ELSE acquired_at + (%s::timestamptz - acquired_at) * (0.3 + 0.7 * {_u('id', 17, seed)}) END"
            " AS active_until FROM contacts_contact) c"
            " CROSS JOIN LATERAL generate_series(1, c.n) j OFFSET 0) draws) t",
            [end_ts, end_ts],
        )
        cursor.execute("SET session_replication_role = DEFAULT")
        for name, definition in indexes:
            log(f"rebuilding index {name}")
            cursor.execute(definition)
        # VACUUM sets the visibility map, as autovacuum would on a live database; without it
        # PostgreSQL cannot use index-only scans and every benchmark would read the heap.
        log("VACUUM ANALYZE")
        cursor.execute("VACUUM (ANALYZE) contacts_contact")
        cursor.execute("VACUUM (ANALYZE) contacts_touchpoint")
        cursor.execute("VACUUM (ANALYZE) stages_stagetransition")
        cursor.execute("SELECT COUNT(*) FROM contacts_touchpoint")
        touchpoints = cursor.fetchone()[0]
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_dataset (contacts int, touchpoints bigint, seed int, end_date date,"
            " generated_at timestamptz DEFAULT now())"
        )
        cursor.execute("DELETE FROM bench_dataset")
        cursor.execute(
            "INSERT INTO bench_dataset (contacts, touchpoints, seed, end_date) VALUES (%s, %s, %s, %s)",
            [contacts, touchpoints, seed, end],
        )
    dataset = Dataset(contacts=contacts, touchpoints=touchpoints, seed=seed, end=end)
    dataset.seconds = time.perf_counter() - started
    log(f"done: {contacts:,} contacts, {touchpoints:,} touchpoints in {dataset.seconds:.1f}s")
    return dataset


def current_dataset() -> Dataset | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_dataset')")
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute("SELECT contacts, touchpoints, seed, end_date FROM bench_dataset")
        row = cursor.fetchone()
    return Dataset(contacts=row[0], touchpoints=row[1], seed=row[2], end=row[3]) if row else None


def ensure_dataset(*, contacts: int, seed: int = 42, database_url: str | None = None, verbose: bool = True) -> Dataset:
    """Set Django up on the benchmark database, migrate it, and generate the dataset unless it is already there."""
    url = setup_django(database_url)
    _create_database(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    existing = current_dataset()
    if existing and existing.contacts == contacts and existing.seed == seed:
        if verbose:
            print(f"  dataset present: {existing.contacts:,} contacts, {existing.touchpoints:,} touchpoints")
        return existing
    return generate(contacts=contacts, seed=seed, verbose=verbose)


def reset_stages() -> None:
    """Put every contact back in the first stage with only its first transition (a fresh import), metrics empty."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM stages_stagetransition WHERE from_stage_id IS NOT NULL")
        cursor.execute(
            "UPDATE contacts_contact c SET stage_id = t.to_stage_id, stage_entered_at = t.effective_at,"
            " stage_source = 'rule' FROM stages_stagetransition t WHERE t.contact_id = c.id"
            " AND t.from_stage_id IS NULL AND (c.stage_id <> t.to_stage_id OR c.stage_entered_at <> t.effective_at)"
        )
        cursor.execute("TRUNCATE analytics_contactmetrics")
        cursor.execute("VACUUM ANALYZE contacts_contact") if connection.get_autocommit() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help=f"default $BENCH_DATABASE_URL or {DEFAULT_URL}")
    parser.add_argument("--force", action="store_true", help="regenerate even if the same dataset is present")
    args = parser.parse_args()
    url = setup_django(args.database_url)
    _create_database(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    existing = current_dataset()
    if existing and existing.contacts == args.contacts and existing.seed == args.seed and not args.force:
        print(f"dataset already present: {existing.as_dict()}")
        return
    dataset = generate(contacts=args.contacts, seed=args.seed)
    print(dataset.as_dict())


if __name__ == "__main__":
    main()
