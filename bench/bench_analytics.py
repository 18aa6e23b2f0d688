"""Benchmark: the customer-value recompute and every analytics report on PostgreSQL at a given scale.

Reuses bench/generate.py for the data (N contacts, ~20 touchpoints each, three years). If
the contacts have not been through the lifecycle engine yet (only first placements), it
runs `stages.services.lifecycle_recompute` once so funnels and flows have history; that
time is the engine's and is printed separately. Then it times, on the same data:
* `analytics.services.customer_value_recompute` (aggregate, fit, set-based write), with
  the fit's own time from the stored CLVModelFit;
* each report computed live through its entry point (`results_bypassed`: past the result
  layer's cache and store): the first run in this process ("first") and the best of
  `--repeat` more;
* with `--snapshots`: each report's result stored by the result layer ("record", one live run
  in recording mode), then served from the store with the cache cleared before each run: the
  first and the best of `--repeat` served runs, each checked to be a stored hit equal to the
  live result. The bench's stored rows are deleted at the end.
The first run is not a cold-cache number (PostgreSQL's and the OS's caches stay warm
between runs); restart the server before a run for that.

    .venv/bin/python bench/bench_analytics.py --contacts 100000 [--database-url postgres://…] [--snapshots]
    .venv/bin/python bench/bench_analytics.py --small       # 20,000 contacts, as in `make bench`

Prints a table, then one line `RESULT {json}` that bench/run.py collects.
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

SMALL_CONTACTS = 20_000


def _reports(end: dt.date) -> list[tuple[str, Callable[[Any], Any], Any]]:
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
        ("funnel (ordered, all time)", funnel_report, FunnelQuery(as_of=end)),
        (
            "funnel (any order, 90-day window)",
            funnel_report,
            FunnelQuery(as_of=end, ordered=False, conversion_window_days=90),
        ),
        ("funnel (email, last year)", funnel_report, FunnelQuery(as_of=end, filters=email_year)),
        ("stage flow (last year)", stage_flow_report, StageFlowQuery(filters=year)),
        ("cohort retention (all cohorts)", cohort_retention_report, CohortRetentionQuery(as_of=end, months=24)),
        # A day inside a month: that month is read from the purchases, the earlier ones from the rollup.
        (
            "cohort retention (as of a mid-month day)",
            cohort_retention_report,
            CohortRetentionQuery(as_of=end - dt.timedelta(days=12), months=24),
        ),
        ("churn / repeat rate", churn_report, ChurnQuery(as_of=end)),
        ("stage counts (snapshots)", stage_counts_report, StageCountsQuery(filters=year)),
        ("CLV distribution", clv_distribution_report, CLVDistributionQuery()),
        ("top customers", top_customers_report, TopCustomersQuery(limit=50)),
        ("campaign performance", campaign_performance_report, CampaignPerformanceQuery()),
        ("channel performance (as of end)", channel_performance_report, ChannelPerformanceQuery(as_of=end)),
        # A year back: the metrics less a year of purchases and refunds.
        (
            "channel performance (a year before end)",
            channel_performance_report,
            ChannelPerformanceQuery(as_of=end - dt.timedelta(days=365)),
        ),
        # No as_of = now, what the dashboard asks: read from the metrics the engine wrote.
        ("channel performance (now)", channel_performance_report, ChannelPerformanceQuery()),
    ]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="contacts to generate (default 20000)")
    parser.add_argument("--small", action="store_true", help="quick scale (what `make bench` runs): 20,000 contacts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="default $BENCH_DATABASE_URL or the generator's default")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per report; the best is reported")
    parser.add_argument("--skip-customer-value", action="store_true")
    parser.add_argument("--snapshots", action="store_true", help="also time each report served from its snapshot")
    parser.add_argument("--skip-live", action="store_true", help="with --snapshots: only record and serve")
    parser.add_argument("--skip-vacuum", action="store_true", help="do not VACUUM ANALYZE before timing")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    contacts = SMALL_CONTACTS if args.small else args.contacts
    dataset = generate.ensure_dataset(contacts=contacts, seed=args.seed, database_url=args.database_url)
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
        for table in (
            ()
            if args.skip_vacuum
            else ("contacts_touchpoint", "stages_stagetransition", "contacts_contact", "analytics_contactmetrics")
        ):
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

            def num(value: float | None) -> str:  # Gamma-Gamma is absent when its fit is refused (q <= 1)
                return "-" if value is None else f"{value:.3f}"

            print(
                f"  BG/NBD r={num(fit.r)} alpha={num(fit.alpha)} a={num(fit.a)} b={num(fit.b)}; "
                f"Gamma-Gamma p={num(fit.p)} q={num(fit.q)} gamma={num(fit.gamma)}"
            )

    from dataclasses import replace

    from django.core.cache import cache

    from analytics.models import ReportSnapshot
    from analytics.results import result_query_key, results_bypassed, results_recording

    reports = _reports(dataset.end)
    keys = [(run.report_name, result_query_key(query)[0]) for _, run, query in reports]

    def forget_snapshots() -> None:
        for report, key in keys:
            ReportSnapshot.objects.filter(report=report, query_key=key).delete()

    forget_snapshots()
    print(f"{'report':40s} {'first':>9s} {'best warm':>10s} {'record':>9s} {'snap 1st':>9s} {'snap best':>10s}")
    try:
        for name, run, query in reports:
            row: dict[str, float] = {}
            if not args.skip_live:
                # The live computation: past the result layer's cache and store.
                with results_bypassed():
                    row["first_s"], live = _timed(lambda run=run, query=query: run(query))
                    row["warm_s"] = min(_timed(lambda run=run, query=query: run(query))[0] for _ in range(args.repeat))
            if args.snapshots:
                with results_recording():
                    row["record_s"], recorded = _timed(lambda run=run, query=query: run(query))
                served_times = []
                for _ in range(max(args.repeat, 1) + 1):
                    cache.clear()  # the store's lookup, not the cache in front of it
                    seconds, served = _timed(lambda run=run, query=query: run(query))
                    served_times.append(seconds)
                    if served.snapshot is None or replace(served, snapshot=None) != recorded:
                        raise SystemExit(f"{name}: not served from its snapshot, or not equal to the live result")
                if not args.skip_live and recorded != live:
                    raise SystemExit(f"{name}: the recorded result differs from the live one")
                row["snapshot_first_s"], row["snapshot_warm_s"] = served_times[0], min(served_times[1:])
            results["reports"][name] = row

            def ms(key: str, row: dict[str, float] = row) -> str:
                return f"{row[key] * 1000:7.1f} ms" if key in row else f"{'-':>10s}"

            print(
                f"{name:40s} {ms('first_s')} {ms('warm_s')} {ms('record_s')} "
                f"{ms('snapshot_first_s')} {ms('snapshot_warm_s')}"
            )
    finally:
        forget_snapshots()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    # One line for bench/run.py: every timing in milliseconds, keyed by report and run.
    flat: dict[str, float | int] = {"contacts": dataset.contacts}
    for name, row in results["reports"].items():
        slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
        slug = "_".join(part for part in slug.split("_") if part)
        flat |= {f"{slug}_{key.removesuffix('_s')}_ms": round(value * 1000, 1) for key, value in row.items()}
    if "customer_value" in results:
        flat["customer_value_s"] = round(results["customer_value"]["total_s"], 2)
    print("RESULT " + json.dumps(flat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
