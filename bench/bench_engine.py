"""Benchmark of the lifecycle engine on PostgreSQL: the floor, the full recompute, the naive loop, real time.

In one run, on the dataset from bench/generate.py (N contacts, ~20 touchpoints each):
1. floor — one bare GROUP BY per contact over all touchpoints (the base metrics only);
2. full recompute — `lifecycle_evaluate()` over everyone from a fresh import (every contact
   in the first stage: aggregates, metrics upsert, rules, moves and transitions written),
   serially in this process, then the same run again (steady state: nobody moves), then
   again from a fresh import split over `--workers` processes by contact-id range (what
   the nightly Celery fan-out does);
3. per-contact ORM loop — the naive implementation (aggregate queries + save() per
   contact, default rules in Python) on a sample, extrapolated to N; rolled back, so the
   estimate is conservative (no per-row commit);
4. real time — one touchpoint added then `lifecycle_evaluate(contact_ids=[id])` for a sample
   of contacts: median and p95 latency.

    .venv/bin/python bench/bench_engine.py --contacts 1000000 [--sample 2000] [--workers 2]
    .venv/bin/python bench/bench_engine.py --small        # 20,000 contacts, as in `make bench`

Prints a table, then one line `RESULT {json}` that bench/run.py collects.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import ensure_dataset, reset_stages, setup_django

SMALL_CONTACTS = 20_000


FLOOR_SQL = (
    # PERFORMANCE.md's floor: per contact, the counts, first/last purchase, revenue, refunds,
    # last touch and touches in the last 90 days. The outer query reads every column: an
    # unread column of a subquery is dropped by the planner (an earlier version of this query
    # read two of eight, so PostgreSQL computed only those: 2.3 s instead of 5.6 s at 1M).
    "SELECT COUNT(*), SUM(n), SUM(p), SUM(revenue), SUM(refunds), MAX(first_purchase), MAX(last_purchase),"
    " MAX(last_touch), SUM(t90) FROM (SELECT contact_id, COUNT(*) AS n,"
    " SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END) AS p,"
    " SUM(CASE WHEN kind = 'purchase' THEN amount END) AS revenue,"
    " SUM(CASE WHEN kind = 'refund' THEN amount END) AS refunds,"
    " MIN(CASE WHEN kind = 'purchase' THEN occurred_at END) AS first_purchase,"
    " MAX(CASE WHEN kind = 'purchase' THEN occurred_at END) AS last_purchase,"
    " MAX(occurred_at) AS last_touch,"
    " SUM(CASE WHEN occurred_at > NOW() - INTERVAL '90 days' THEN 1 ELSE 0 END) AS t90"
    " FROM contacts_touchpoint GROUP BY contact_id) x"
)


def floor_seconds() -> float:
    """The bare per-contact aggregate over all touchpoints (what any recompute must at least read)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        started = time.perf_counter()
        cursor.execute(FLOOR_SQL)
        cursor.fetchall()
        return time.perf_counter() - started


def _evaluate_range(args: tuple[str, int, int, str]) -> tuple[int, int]:
    url, lo, hi, reference = args
    setup_django(url)
    from stages.engine import lifecycle_evaluate

    result = lifecycle_evaluate(id_range=(lo, hi), reference=dt.datetime.fromisoformat(reference))
    return result.contacts, result.moved


def parallel_recompute(url: str, workers: int, chunk_size: int) -> tuple[float, int]:
    """The nightly fan-out without a broker: chunk ranges evaluated by `workers` processes."""
    from django.db import connections
    from django.utils import timezone

    from stages.engine_base import chunk_ranges

    ranges = chunk_ranges(chunk_size=chunk_size)
    reference = timezone.now().isoformat()
    connections.close_all()
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(_evaluate_range, [(url, lo, hi, reference) for lo, hi in ranges])
    return time.perf_counter() - started, sum(moved for _, moved in results)


ENGAGEMENT = ["email_open", "email_click", "form_submit", "content_download", "webinar", "social_share", "chat"]
ENGAGEMENT += ["call", "meeting"]
CONSIDERATION = ["quote_request", "trial_signup", "demo", "cart_abandoned"]


def orm_loop_seconds(sample: list[int]) -> float:
    """The naive way: per contact, ORM aggregates and lookups, rules in Python, save() and create()."""
    from django.db import transaction
    from django.db.models import Count, Max, Min, Q, Sum
    from django.utils import timezone

    from contacts.models import Contact, Touchpoint
    from metrics.models import ContactMetrics
    from stages.models import Stage, StageTransition

    class Rollback(Exception):
        pass

    stages = {s.slug: s for s in Stage.objects.all()}
    now = timezone.now()
    started = time.perf_counter()
    try:
        with transaction.atomic():
            for contact in Contact.objects.filter(pk__in=sample).select_related("stage"):
                tps = Touchpoint.objects.filter(contact=contact, occurred_at__lte=now)
                agg = tps.aggregate(
                    touches=Count("id"),
                    purchases=Count("id", filter=Q(kind="purchase")),
                    revenue=Sum("amount", filter=Q(kind="purchase")),
                    refunds=Sum("amount", filter=Q(kind="refund")),
                    first=Min("occurred_at", filter=Q(kind="purchase")),
                    last=Max("occurred_at", filter=Q(kind="purchase")),
                    last_touch=Max("occurred_at"),
                )
                recent = tps.filter(kind="purchase", occurred_at__gt=now - dt.timedelta(days=365)).count()
                survey = tps.filter(kind="survey_response").order_by("-occurred_at").first()
                advocate = tps.filter(kind__in=["referral", "review"]).exists()
                target = contact.stage.slug
                if agg["purchases"]:
                    silent = (now - agg["last"]).days
                    if silent >= 365:
                        target = "churned"
                    elif silent >= 180:
                        target = "at_risk"
                    elif advocate:
                        target = "advocacy"
                    elif agg["purchases"] >= 4 or (survey and survey.score is not None and survey.score >= 9):
                        target = "loyalty"
                    elif recent >= 2:
                        target = "retention"
                    else:
                        target = "purchase"
                elif tps.filter(kind__in=CONSIDERATION).exists():
                    target = "consideration"
                elif tps.filter(kind__in=ENGAGEMENT).exists():
                    target = "engagement"
                if target != contact.stage.slug:
                    StageTransition.objects.create(
                        contact=contact,
                        from_stage=contact.stage,
                        to_stage=stages[target],
                        effective_at=now,
                        source="rule",
                    )
                    contact.stage = stages[target]
                    contact.stage_entered_at = now
                    contact.save()
                ContactMetrics.objects.update_or_create(
                    contact=contact,
                    defaults={
                        "purchase_count": agg["purchases"],
                        "revenue": (agg["revenue"] or 0) - (agg["refunds"] or 0),
                        "refunds": agg["refunds"] or 0,
                        "first_purchase_at": agg["first"],
                        "last_purchase_at": agg["last"],
                        "last_touch_at": agg["last_touch"],
                        "touch_count": agg["touches"],
                    },
                )
            raise Rollback
    except Rollback:
        pass
    return time.perf_counter() - started


def realtime_latencies(sample: list[int]) -> list[float]:
    """Milliseconds to evaluate one contact right after a new touchpoint (the real-time task's work).

    Each evaluation commits like the real task does; afterwards the added touchpoints and
    the moves they caused are removed again, so the shared dataset stays as generated.
    """
    from django.db import connection
    from django.utils import timezone

    from contacts.models import Touchpoint
    from stages.engine import lifecycle_evaluate

    started_at = timezone.now()
    latencies = []
    for contact_id in sample:
        Touchpoint.objects.create(contact_id=contact_id, kind="quote_request", occurred_at=timezone.now())
        started = time.perf_counter()
        lifecycle_evaluate(contact_ids=[contact_id])
        latencies.append((time.perf_counter() - started) * 1000)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM stages_stagetransition WHERE recorded_at >= %s AND contact_id = ANY(%s)", [started_at, sample]
        )
        cursor.execute(
            "DELETE FROM contacts_touchpoint WHERE created_at >= %s AND contact_id = ANY(%s)", [started_at, sample]
        )
        cursor.execute(
            "UPDATE contacts_contact c SET stage_id = t.to_stage_id, stage_entered_at = t.effective_at,"
            " stage_source = t.source FROM (SELECT DISTINCT ON (contact_id) contact_id, to_stage_id, effective_at,"
            " CASE WHEN source = 'rule' THEN 'rule' ELSE 'import' END AS source FROM stages_stagetransition"
            " WHERE contact_id = ANY(%s) ORDER BY contact_id, effective_at DESC, id DESC) t WHERE t.contact_id = c.id",
            [sample],
        )
    lifecycle_evaluate(contact_ids=sample)  # metrics rows back to the dataset's values
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description="Lifecycle engine benchmark (PostgreSQL).")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--small", action="store_true", help=f"quick scale: {SMALL_CONTACTS:,} contacts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--sample", type=int, default=None, help="contacts in the ORM-loop sample")
    parser.add_argument("--realtime-sample", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    contacts = SMALL_CONTACTS if args.small else args.contacts
    sample_size = args.sample or (300 if args.small else 1000)

    print(f"== lifecycle engine benchmark: {contacts:,} contacts")
    dataset = ensure_dataset(contacts=contacts, seed=args.seed, database_url=args.database_url)
    from django.db import connection

    from stages.engine import lifecycle_evaluate
    from stages.engine_base import DEFAULT_CHUNK_SIZE

    url = os.environ["DATABASE_URL"]
    chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    rows: list[tuple[str, float, str]] = []

    def record(name: str, seconds: float, note: str = "") -> None:
        rows.append((name, seconds, note))
        print(f"  {name}: {seconds:.2f} s {note}", flush=True)

    floor = min(floor_seconds() for _ in range(2))
    record("floor: bare GROUP BY over all touchpoints", floor)

    reset_stages()
    started = time.perf_counter()
    first = lifecycle_evaluate(chunk_size=chunk_size)
    full = time.perf_counter() - started
    record("full recompute from a fresh import (1 process)", full, f"{first.moved:,} moves written")
    started = time.perf_counter()
    again = lifecycle_evaluate(chunk_size=chunk_size)
    steady = time.perf_counter() - started
    record("full recompute again (steady state, 1 process)", steady, f"{again.moved:,} moves")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.slug, COUNT(c.id) FROM stages_stage s LEFT JOIN contacts_contact c ON c.stage_id = s.id"
            " GROUP BY s.slug, s.position ORDER BY s.position"
        )
        distribution = dict(cursor.fetchall())

    parallel = parallel_steady = None
    if args.workers > 1:
        reset_stages()
        parallel, moved = parallel_recompute(url, args.workers, chunk_size)
        record(f"full recompute from a fresh import ({args.workers} processes)", parallel, f"{moved:,} moves")
        parallel_steady, moved = parallel_recompute(url, args.workers, chunk_size)
        record(f"full recompute again (steady state, {args.workers} processes)", parallel_steady, f"{moved:,} moves")

    rng = random.Random(args.seed)
    sample = rng.sample(range(1, contacts + 1), min(sample_size, contacts))
    loop = orm_loop_seconds(sample)
    per_contact = loop / len(sample)
    extrapolated = per_contact * contacts
    record(
        f"per-contact ORM loop, extrapolated from {len(sample):,}",
        extrapolated,
        f"{per_contact * 1000:.2f} ms/contact",
    )

    latencies = realtime_latencies(rng.sample(range(1, contacts + 1), min(args.realtime_sample, contacts)))
    median = statistics.median(latencies)
    p95 = sorted(latencies)[int(len(latencies) * 0.95) - 1]

    print()
    print(f"dataset: {dataset.contacts:,} contacts, {dataset.touchpoints:,} touchpoints (seed {dataset.seed})")
    print(f"{'measurement':<58} {'seconds':>10}  note")
    for name, seconds, note in rows:
        print(f"{name:<58} {seconds:>10.2f}  {note}")
    print(f"{'real-time evaluation of one contact (median / p95 ms)':<58} {median:>10.1f}  p95 {p95:.1f} ms")
    print()
    print(f"steady recompute / floor:      {steady / floor:6.2f}x   (target <= 3x; 1 process vs a parallel floor)")
    if parallel_steady:
        print(f"steady, {args.workers} processes / floor:  {parallel_steady / floor:6.2f}x")
    print(f"first placement / floor:       {full / floor:6.2f}x   (writes a transition for most contacts)")
    print(f"ORM loop / steady recompute:   {extrapolated / steady:6.0f}x   (target >= 100x)")
    print(f"ORM loop / first placement:    {extrapolated / full:6.0f}x")
    print(f"stages after recompute: {distribution}")
    result = {
        "bench": "engine",
        "contacts": dataset.contacts,
        "touchpoints": dataset.touchpoints,
        "chunk_size": chunk_size,
        "floor_s": round(floor, 3),
        "full_recompute_s": round(full, 3),
        "steady_recompute_s": round(steady, 3),
        "parallel_recompute_s": round(parallel, 3) if parallel is not None else None,
        "parallel_steady_recompute_s": round(parallel_steady, 3) if parallel_steady is not None else None,
        "workers": args.workers,
        "orm_loop_extrapolated_s": round(extrapolated, 1),
        "orm_loop_sample": len(sample),
        "realtime_median_ms": round(median, 2),
        "realtime_p95_ms": round(p95, 2),
        "ratio_full_to_floor": round(full / floor, 2),
        "ratio_steady_to_floor": round(steady / floor, 2),
        "ratio_loop_to_full": round(extrapolated / full, 1),
        "ratio_loop_to_steady": round(extrapolated / steady, 1),
        "moves": first.moved,
        "stages": distribution,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
