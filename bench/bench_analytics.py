"""Benchmark: the customer-value recompute and every analytics report on PostgreSQL at a given scale.

Reuses bench/generate.py for the data (N contacts, ~20 touchpoints each, three years). If
the contacts have not been through the lifecycle engine yet (only first placements), it
runs `stages.services.lifecycle_recompute` once so funnels and flows have history; that
time is the engine's and is printed separately. Then it times, on the same data:
* `analytics.services.customer_value_recompute` (aggregate, fit, set-based write), with
  the fit's own time from the stored CLVModelFit;
* each report: the first run in this process ("first") and the best of `--repeat` more.
The first run is not a cold-cache number (PostgreSQL's and the OS's caches stay warm
between runs); restart the server before a run for that.

    .venv/bin/python bench/bench_analytics.py --contacts 100000 [--database-url postgres://…]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import generate  # noqa: E402  (bench/generate.py, next to this file)


def _reports(end: dt.date) -> list[tuple[str, Callable[[], Any]]]:
    from analytics.reports.base import ReportFilters
    from analytics.reports.campaign_performance import CampaignPerformanceQuery, campaign_performance_report
    from analytics.reports.channel_performance import ChannelPerformanceQuery, channel_performance_report
    from analytics.reports.churn import ChurnQuery, churn_report
    from analytics.reports.clv_distribution import CLVDistributionQuery, clv_distribution_report
    from analytics.reports.cohort_retention import CohortRetentionQuery, cohort_retention_report
    from analytics.reports.funnel import FunnelQuery, funnel_report
    from analytics.reports.stage_counts import StageCountsQuery, stage_counts_report
    from analytics.reports.stage_flow import StageFlowQuery, stage_flow_report
    from analytics.reports.top_customers import TopCustomersQuery, top_customers_report

    year = ReportFilters(period_start=end - dt.timedelta(days=364), period_end=end)
    email_year = ReportFilters(period_start=year.period_start, period_end=end, channel="email")
    return [
        ("funnel (ordered, all time)", lambda: funnel_report(FunnelQuery(as_of=end))),
        (
            "funnel (any order, 90-day window)",
            lambda: funnel_report(FunnelQuery(as_of=end, ordered=False, conversion_window_days=90)),
        ),
        ("funnel (email, last year)", lambda: funnel_report(FunnelQuery(as_of=end, filters=email_year))),
        ("stage flow (last year)", lambda: stage_flow_report(StageFlowQuery(filters=year))),
        ("cohort retention (all cohorts)", lambda: cohort_retention_report(CohortRetentionQuery(as_of=end, months=24))),
        ("churn / repeat rate", lambda: churn_report(ChurnQuery(as_of=end))),
        ("stage counts (snapshots)", lambda: stage_counts_report(StageCountsQuery(filters=year))),
        ("CLV distribution", lambda: clv_distribution_report(CLVDistributionQuery())),
        ("top customers", lambda: top_customers_report(TopCustomersQuery(limit=50))),
        ("campaign performance", lambda: campaign_performance_report(CampaignPerformanceQuery())),
        ("channel performance", lambda: channel_performance_report(ChannelPerformanceQuery(as_of=end))),
    ]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="contacts to generate (default 20000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="default $BENCH_DATABASE_URL or the generator's default")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per report; the best is reported")
    parser.add_argument("--skip-customer-value", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    dataset = generate.ensure_dataset(contacts=args.contacts, seed=args.seed, database_url=args.database_url)
    from django.db import connection

    from analytics.models import CLVModelFit

    results: dict[str, Any] = {"dataset": dataset.as_dict(), "reports": {}}
    print(f"dataset: {dataset.contacts:,} contacts, {dataset.touchpoints:,} touchpoints, ending {dataset.end}")

    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM stages_stagetransition WHERE from_stage_id IS NOT NULL)")
        placed = cursor.fetchone()[0]
    if not placed:
        from stages.services import lifecycle_recompute

        seconds, outcome = _timed(lambda: lifecycle_recompute(as_of=dataset.end))
        results["engine_recompute_s"] = seconds
        print(f"lifecycle engine placed contacts in {seconds:.2f} s (engine time, incl. its customer-value call)")
        print(f"  {outcome.as_dict()['timings']}")

    # Steady state: autovacuum would have set the visibility map by now, which index-only
    # scans need; a freshly bulk-loaded table has none, so vacuum once before timing.
    with connection.cursor() as cursor:
        for table in ("contacts_touchpoint", "stages_stagetransition", "contacts_contact", "analytics_contactmetrics"):
            cursor.execute(f"VACUUM ANALYZE {table}")

    if not args.skip_customer_value:
        from analytics.services import customer_value_recompute

        seconds, outcome = _timed(lambda: customer_value_recompute(as_of=dataset.end))
        fit = CLVModelFit.objects.get(pk=outcome.fit_id)
        results["customer_value"] = {
            "total_s": seconds,
            "n_customers": outcome.n_customers,
            "n_repeat_customers": outcome.n_repeat_customers,
            "fallback": outcome.is_fallback,
            "bgnbd": {"r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b},
            "gamma_gamma": {"p": fit.p, "q": fit.q, "gamma": fit.gamma},
        }
        print(
            f"customer-value recompute: {seconds:.2f} s for {outcome.n_customers:,} customers "
            f"({outcome.n_repeat_customers:,} repeat){' FALLBACK: ' + outcome.note if outcome.is_fallback else ''}"
        )
        if not outcome.is_fallback:
            print(
                f"  BG/NBD r={fit.r:.3f} alpha={fit.alpha:.3f} a={fit.a:.3f} b={fit.b:.3f}; "
                f"Gamma-Gamma p={fit.p:.3f} q={fit.q:.3f} gamma={fit.gamma:.3f}"
            )

    print(f"{'report':40s} {'first':>9s} {'best warm':>10s}")
    for name, run in _reports(dataset.end):
        first, _ = _timed(run)
        warm = min(_timed(run)[0] for _ in range(max(args.repeat, 1)))
        results["reports"][name] = {"first_s": first, "warm_s": warm}
        print(f"{name:40s} {first * 1000:7.0f} ms {warm * 1000:8.0f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
