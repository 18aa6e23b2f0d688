"""Benchmark of loyalty on PostgreSQL: what earning, expiry and tiers add to the steady nightly recompute.

On the dataset from bench/generate.py (N contacts, ~20 touchpoints each):
1. the lifecycle engine's steady full recompute (nobody moves), with the two loyalty stage
   rules (tier rank, successful referrals) switched off and on — the rules' own cost;
2. loyalty's first nightly run over all history (a backfill: every purchase, review and
   survey earns, expiry, every member's tier);
3. loyalty's steady nightly run (no new facts: expiry and every member's tier over the
   rolling window, catch-up earning past the watermark);
4. a balance read (one member's SUM over the ledger index) — median over a sample, and its plan.

    .venv/bin/python bench/bench_loyalty.py --contacts 50000 --database-url postgres://…/crm_h20_bench

Prints a table, then one line `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import ensure_dataset


def _timed(call, repeat: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=1000)
    args = parser.parse_args()
    dataset = ensure_dataset(contacts=args.contacts, seed=args.seed, database_url=args.database_url)

    from django.db import connection

    from loyalty.models import Membership, PointsEntry, Programme, Redemption, Referral, TierChange
    from loyalty.selectors import member_balance
    from loyalty.services import loyalty_nightly
    from stages.engine import lifecycle_evaluate
    from stages.models import StageRule

    loyalty_rules = StageRule.objects.filter(conditions__0__metric__in=["loyalty_tier_rank", "successful_referrals"])
    # Start from an empty programme: the backfill below is the first night.
    Redemption.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {PointsEntry._meta.db_table}, {TierChange._meta.db_table}, {Membership._meta.db_table},"
            f" {Referral._meta.db_table} CASCADE"
        )
    Programme.objects.update(touchpoints_through=0, transitions_through=0)

    lifecycle_evaluate()  # place everyone once; the runs below are steady (nobody moves)
    rows = []

    loyalty_rules.update(is_active=False)
    without, without_runs = _timed(lambda: lifecycle_evaluate(), args.repeat)
    rows.append(("engine steady recompute, loyalty rules off", without, without_runs))
    loyalty_rules.update(is_active=True)
    with_rules, with_runs = _timed(lambda: lifecycle_evaluate(), args.repeat)
    rows.append(("engine steady recompute, loyalty rules on", with_rules, with_runs))

    started = time.perf_counter()
    backfill = loyalty_nightly()
    backfill_s = time.perf_counter() - started
    rows.append(("loyalty first night (backfill of all history)", backfill_s, [backfill_s]))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {PointsEntry._meta.db_table}") if connection.get_autocommit() else None
        cursor.execute(f"VACUUM ANALYZE {Membership._meta.db_table}") if connection.get_autocommit() else None
    steady, steady_runs = _timed(lambda: loyalty_nightly(), args.repeat)
    rows.append(("loyalty steady night (expiry, tiers, catch-up)", steady, steady_runs))
    with_rules_after, after_runs = _timed(lambda: lifecycle_evaluate(), args.repeat)
    rows.append(("engine steady recompute, loyalty rules on, members present", with_rules_after, after_runs))

    members = list(Membership.objects.values_list("pk", flat=True))
    sample = random.Random(1).sample(members, min(args.sample, len(members)))
    reads = []
    for member_id in sample:
        started = time.perf_counter()
        member_balance(member_id=member_id)
        reads.append(time.perf_counter() - started)
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (ANALYZE, BUFFERS) SELECT SUM(points) FROM {PointsEntry._meta.db_table} WHERE member_id = %s",
            [sample[0]],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    added = steady + (with_rules_after - without)
    print(f"\nLoyalty on {dataset.contacts:,} contacts / {dataset.touchpoints:,} touchpoints")
    for label, median, runs in rows:
        print(f"  {label:<62} {median:8.2f} s   runs {', '.join(f'{r:.2f}' for r in runs)}")
    print(f"  members {len(members):,}, ledger rows {PointsEntry.objects.count():,}, backfill {backfill}")
    print(
        f"  balance read: median {statistics.median(reads) * 1000:.2f} ms, p95 "
        f"{sorted(reads)[int(len(reads) * 0.95) - 1] * 1000:.2f} ms over {len(reads)} members"
    )
    print(f"  loyalty added to the steady nightly: {added:.2f} s = {100 * added / without:.1f} % (target <= 15 %)")
    print(plan)
    print(
        "RESULT "
        + json.dumps(
            {
                "contacts": dataset.contacts,
                "touchpoints": dataset.touchpoints,
                "engine_steady_rules_off_s": round(without, 3),
                "engine_steady_rules_on_s": round(with_rules, 3),
                "engine_steady_rules_on_members_s": round(with_rules_after, 3),
                "loyalty_backfill_s": round(backfill_s, 3),
                "loyalty_steady_s": round(steady, 3),
                "added_percent": round(100 * added / without, 1),
                "balance_read_median_ms": round(statistics.median(reads) * 1000, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
