"""Benchmark of the dashboard on PostgreSQL: server time of the overview, contact list and contact page; CSV import.

On the dataset of bench/generate.py (N contacts, ~20 touchpoints each):
1. server time — each page requested through Django's test client in this process (no
   network, full middleware, view, queries and template), logged in as a marketer; a mix
   of parameters per page (periods and filters for the overview; filters, search, sort
   and deep keyset pages for the list; random contacts for the contact page); median and
   p95 over `--requests` requests per page after one warm-up request each. The overview
   page (filters + KPI cards) is timed cold (cache cleared before each request) and
   cached, and so is each chart fragment (/overview/charts/<key>/, the same filters),
   apart from the page (`--no-charts` skips them);
2. import — a CSV of `--touchpoints` touchpoints (default 100,000) for existing contacts,
   named by email, through the same code path as the upload page and the
   `import_touchpoints` command (upload, parse and count, chunked run). The lifecycle
   evaluation the import enqueues for a worker is recorded, not run inline (it is worker
   time, measured by bench_engine). The imported rows are deleted afterwards so the
   shared dataset stays as generated.

    .venv/bin/python bench/bench_web.py --contacts 1000000 [--requests 30] [--database-url postgres://…]
    .venv/bin/python bench/bench_web.py --small        # 20,000 contacts, 100,000 touchpoints imported
    .venv/bin/python bench/bench_web.py --read-only --no-charts --requests 10 --database-url postgres://…/crm_bench_1m

`--read-only` times the pages of a database it must not change (a shared dataset): no
migrate, generate, engine run, ANALYZE, user, session or import; the marketer is an unsaved
user handed to the authentication middleware, the connection is READ ONLY (any write would
fail), and the cache is this process's (never set CACHE_URL to a shared Redis: each cold
request clears the cache).

Prints a table, then one line `RESULT {json}` that bench/run.py collects.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

# The test client talks to "testserver" over plain HTTP, with unhashed static names.
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ["DJANGO_HTTPS"] = "0"
os.environ["DJANGO_STATIC_MANIFEST"] = "0"

import generate  # noqa: E402  (bench/generate.py, next to this file)

SMALL_CONTACTS = 20_000


def _user(username: str, group: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@bench.local"})
    user.groups.add(Group.objects.get(name=group))
    return user


def _read_only_marketer() -> None:
    """--read-only: every request is a marketer's without a user row, session row or last_login write."""
    from django.contrib.auth import get_user_model, middleware

    from accounts.roles import Role

    user = get_user_model()(pk=0, username="bench-read-only", is_active=True)
    user._crm_role = Role.MARKETER  # what accounts.roles.user_role would read from the user's groups
    middleware.get_user = lambda request: user


def _read_only_connection() -> None:
    """--read-only: every connection is opened READ ONLY, so an unexpected write fails instead of changing data."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    def read_only(sender, connection, **kwargs) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    connection_created.connect(read_only, weak=False)
    connection.close()


def _ensure_engine_ran(verbose: bool) -> None:
    """Pages show history and metrics only after the lifecycle engine has run once; run it if needed (timed apart)."""
    from metrics.models import ContactMetrics

    if ContactMetrics.objects.exists():
        return
    from stages.services import lifecycle_recompute

    started = time.perf_counter()
    lifecycle_recompute()
    if verbose:
        print(f"  lifecycle recompute (one-off, engine time): {time.perf_counter() - started:.1f} s")


def _time_requests(client, urls: list[str]) -> list[float]:
    client.get(urls[0])  # warm-up: imports, template compilation, connection
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        timings.append(elapsed)
    return timings


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _page_urls(requests: int, rng: random.Random) -> dict[str, list[str]]:
    from contacts.models import Contact
    from contacts.views import _encode_cursor

    max_id = Contact.objects.order_by("-id").values_list("id", flat=True).first() or 1
    min_id = Contact.objects.order_by("id").values_list("id", flat=True).first() or 1
    overview = [
        "/overview/?period=30d",
        "/overview/?period=90d",
        "/overview/?period=365d",
        "/overview/?period=30d&channel=email",
        "/overview/?period=90d&channel=paid_search",
    ]
    contact_list = [
        "/contacts/",
        "/contacts/?stage=purchase",
        "/contacts/?stage=at_risk&ordering=-stage_entered_at",
        "/contacts/?channel=email&ordering=last_name",
        "/contacts/?q=smith",
        "/contacts/?ordering=-predicted_clv",
        "/contacts/?at_risk=true",
    ]
    # Deep keyset pages: seek into the middle of the table, as page 10,000 would.
    for _ in range(3):
        pk = rng.randint(min_id, max_id)
        contact_list.append(f"/contacts/?cursor={_encode_cursor(pk, pk)}")
    ids = [rng.randint(min_id, max_id) for _ in range(requests * 3)]
    existing = list(Contact.objects.filter(pk__in=ids).values_list("pk", flat=True))[:requests]
    return {
        "overview": [overview[i % len(overview)] for i in range(requests)],
        "contact list": [contact_list[i % len(contact_list)] for i in range(requests)],
        "contact page": [f"/contacts/{pk}/" for pk in existing],
    }


def _summary(timings: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(timings), "p95_ms": _p95(timings), "max_ms": max(timings), "n": len(timings)}


def _time_cold_and_cached(client, urls: list[str], rounds: int, **headers) -> tuple[list[float], list[float]]:
    """Each distinct URL `rounds` times with the cache cleared before the request, then each once from the cache."""
    from django.core.cache import cache

    distinct = list(dict.fromkeys(urls))
    cold, cached = [], []
    for url in distinct * rounds:
        cache.clear()
        started = time.perf_counter()
        response = client.get(url, **headers)
        cold.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    for url in distinct:
        client.get(url, **headers)  # fill the cache (each cold request above cleared the previous one's entry)
    for url in distinct * rounds:
        started = time.perf_counter()
        client.get(url, **headers)
        cached.append((time.perf_counter() - started) * 1000)
    return cold, cached


def _time_period_switch(client, urls: list[str], rounds: int, **headers) -> list[float]:
    """Each distinct URL with the cache cleared and then the same filters fetched for another period first."""
    from django.core.cache import cache

    timings = []
    for url in list(dict.fromkeys(urls)) * rounds:
        other = re.sub(r"period=\w+", "period=7d", url)  # the URLs use 30d, 90d and 365d
        cache.clear()
        client.get(other, **headers)  # caches the filters' period-independent part (and the other period's cards)
        started = time.perf_counter()
        response = client.get(url, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return timings


def bench_pages(
    *, requests: int, seed: int, charts: bool = True, read_only: bool = False
) -> dict[str, dict[str, float]]:
    """Server time per page; the overview page, its KPI fragment and each chart fragment cold and cached apart.

    The overview page runs no KPI or report query (it embeds the cards only when they are
    cached); the KPI cards (/overview/kpis/) and each chart (/overview/charts/<key>/) are
    fragments the page's script fetches afterwards, cached on their own keys. "cold" clears
    the cache before every request (what the first marketer to open a filter combination
    waits for), "cached" is the same URLs again; "kpis (new period)" is the KPI fragment for
    a period not yet cached whose filters' period-independent part is (a switch of period).
    """
    from django.test import Client

    from analytics.charts import CHARTS
    from analytics.views import FRAGMENT_HEADER

    client = Client()
    if read_only:
        _read_only_marketer()
    else:
        client.force_login(_user("bench_marketer", "Marketers"))
    results = {}
    urls_by_page = _page_urls(requests, random.Random(seed))
    overview = urls_by_page.pop("overview")
    rounds = max(1, requests // (2 * len(set(overview))))
    client.get(overview[0])  # warm-up: imports, template compilation, connection
    cold, cached = _time_cold_and_cached(client, overview, rounds)
    results["overview (cold)"] = _summary(cold)
    results["overview (cached)"] = _summary(cached)
    header = {f"HTTP_{FRAGMENT_HEADER.upper().replace('-', '_')}": "1"}
    kpi_urls = [url.replace("/overview/", "/overview/kpis/") for url in overview]
    cold, cached = _time_cold_and_cached(client, kpi_urls, rounds, **header)
    results["kpis (cold)"] = _summary(cold)
    results["kpis (cached)"] = _summary(cached)
    results["kpis (new period)"] = _summary(_time_period_switch(client, kpi_urls, rounds, **header))
    if charts:
        for spec in CHARTS:
            urls = [url.replace("/overview/", f"/overview/charts/{spec.key}/") for url in dict.fromkeys(overview)]
            cold, cached = _time_cold_and_cached(client, urls, 1, **header)
            results[f"chart {spec.key} (cold)"] = _summary(cold)
            results[f"chart {spec.key} (cached)"] = _summary(cached)
    for name, urls in urls_by_page.items():
        results[name] = _summary(_time_requests(client, urls))
    return results


def bench_import(*, touchpoints: int, seed: int) -> dict[str, float]:
    """Import `touchpoints` rows through the upload code path; returns timings and counts, then removes the rows."""
    import stages.tasks
    from contacts.import_runs import import_run
    from contacts.importing import import_start, import_upload
    from contacts.models import Contact, ImportJob, Touchpoint

    rng = random.Random(seed)
    emails = list(Contact.objects.order_by("?").values_list("email", flat=True)[: max(1, touchpoints // 5)])
    kinds = ["site_visit", "email_open", "email_click", "call", "meeting", "purchase"]
    buffer = io.StringIO()
    buffer.write("contact_email,kind,channel,occurred_at,amount,external_id\n")
    run_tag = f"bench-web-{int(time.time())}"
    for i in range(touchpoints):
        kind = rng.choice(kinds)
        amount = f"{rng.uniform(20, 400):.2f}" if kind == "purchase" else ""
        day = f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
        buffer.write(f"{rng.choice(emails)},{kind},web,{day},{amount},{run_tag}-{i}\n")
    raw = buffer.getvalue().encode()

    enqueued: list[int] = []
    original = stages.tasks.lifecycle_enqueue_evaluation
    stages.tasks.lifecycle_enqueue_evaluation = lambda *, contact_ids: enqueued.extend(contact_ids)
    try:
        started = time.perf_counter()
        job = import_upload(kind="touchpoints", file_name="bench.csv", raw=raw)
        uploaded = time.perf_counter()
        import_start(job=job, mapping=job.mapping, enqueue=False)
        job = import_run(job_id=job.pk)
        finished = time.perf_counter()
    finally:
        stages.tasks.lifecycle_enqueue_evaluation = original
    result = {
        "import_total_s": finished - started,
        "import_upload_s": uploaded - started,
        "import_run_s": finished - uploaded,
        "rows": job.total_rows,
        "created": job.created_count,
        "rejected": job.rejected_count,
        "rows_per_s": job.total_rows / (finished - started),
        "contacts_enqueued": len(set(enqueued)),
        "status": job.status,
    }
    # Re-import of the same file: every row is found already stored, nothing is written.
    started = time.perf_counter()
    again = import_upload(kind="touchpoints", file_name="bench.csv", raw=raw)
    import_start(job=again, mapping=again.mapping, enqueue=False)
    stages.tasks.lifecycle_enqueue_evaluation = lambda *, contact_ids: None
    try:
        again = import_run(job_id=again.pk)
    finally:
        stages.tasks.lifecycle_enqueue_evaluation = original
    result["reimport_s"] = time.perf_counter() - started
    result["reimport_created"] = again.created_count
    Touchpoint.objects.filter(source="import", external_id__startswith=run_tag).delete()
    ImportJob.objects.filter(pk__in=[job.pk, again.pk]).delete()
    return result


def bench_overview_from_snapshots(*, requests: int) -> dict[str, float]:
    """The default overview as production serves it after the nightly snapshot refresh, page cache cleared.

    Records the default view's charts exactly as `refresh_report_snapshots` does (the page's
    own chart builders under `results_recording`), then times the default overview
    page with the page cache cleared before each request (the page runs no KPI or report
    query; the KPI cards and the charts are fragments fetched apart, each chart one snapshot
    lookup). The recorded snapshots are deleted afterwards.
    """
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse

    from analytics.charts import CHARTS, chart_run
    from analytics.kpis import DEFAULT_PERIOD, overview_query_from_params
    from analytics.models import ReportSnapshot
    from analytics.results import results_recording

    started = time.perf_counter()
    query, _errors = overview_query_from_params({"period": DEFAULT_PERIOD})
    with results_recording():
        for spec in CHARTS:
            chart_run(spec, query)
    refresh_s = time.perf_counter() - started
    client = Client()
    client.force_login(_user("bench_marketer", "Marketers"))
    url = reverse("web:overview")
    timings = []
    try:
        for _ in range(requests):
            cache.clear()
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
    finally:
        ReportSnapshot.objects.all().delete()  # the benchmark database keeps no snapshots of its own
    return {
        "refresh_s": refresh_s,
        "median_ms": statistics.median(timings),
        "p95_ms": _p95(timings),
        "max_ms": max(timings),
        "n": len(timings),
    }


def _print_pages(pages: dict[str, dict[str, float]]) -> None:
    targets = {
        "overview (cold)": 300,
        "overview (cached)": 300,
        "kpis (cold)": 300,
        "kpis (cached)": 300,
        "kpis (new period)": 300,
        "contact list": 300,
        "contact page": 150,
    }
    print(f"{'page':<28}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'n':>5}{'target p95':>12}")
    for name, row in pages.items():
        print(
            f"{name:<28}{row['median_ms']:>11.1f}{row['p95_ms']:>9.1f}{row['max_ms']:>9.1f}{row['n']:>5}"
            f"{targets.get(name, '-'):>12}"
        )


def _flat_pages(contacts: int, pages: dict[str, dict[str, float]]) -> dict[str, float | int | str]:
    flat: dict[str, float | int | str] = {"contacts": contacts}
    for name, row in pages.items():
        key = name.replace(" (", "_").replace(")", "").replace(" ", "_")
        flat[f"{key}_p95_ms"] = round(row["p95_ms"], 1)
        flat[f"{key}_median_ms"] = round(row["median_ms"], 1)
    return flat


def _main_read_only(args: argparse.Namespace) -> int:
    """Pages only, on a database that is not changed (see `--read-only` in the module docstring)."""
    generate.setup_django(args.database_url)
    _read_only_connection()
    from django.conf import settings
    from django.db import connection

    from contacts.models import Contact

    if "locmem" not in settings.CACHES["default"]["BACKEND"].lower():
        raise SystemExit("--read-only clears the cache before each cold request: run it with this process's cache")
    contacts = Contact.objects.count()
    print(f"web benchmark (read-only) on {connection.vendor}, {contacts:,} contacts")
    pages = bench_pages(requests=args.requests, seed=args.seed, charts=not args.no_charts, read_only=True)
    _print_pages(pages)
    print("RESULT " + json.dumps(_flat_pages(contacts, pages)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=None)
    parser.add_argument("--small", action="store_true", help=f"{SMALL_CONTACTS:,} contacts")
    parser.add_argument("--requests", type=int, default=30, help="requests per page (default 30)")
    parser.add_argument("--touchpoints", type=int, default=100_000, help="rows in the import (default 100,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="default $BENCH_DATABASE_URL or the generator's default")
    parser.add_argument("--no-charts", action="store_true", help="skip the chart fragments (cold: seconds each at 1M)")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="time the pages of an existing (shared) database without writing to it; no import",
    )
    parser.add_argument(
        "--overview-snapshots",
        action="store_true",
        help="only time the default overview served from its nightly snapshots (page cache cleared)",
    )
    args = parser.parse_args()
    contacts = args.contacts or SMALL_CONTACTS
    if args.read_only:
        return _main_read_only(args)
    dataset = generate.ensure_dataset(contacts=contacts, seed=args.seed, database_url=args.database_url)
    _ensure_engine_ran(verbose=True)
    from django.db import connection

    # The generator analyses the tables before the engine spreads contacts over the stages;
    # fresh statistics (what autovacuum keeps in production) let the planner use the list's indexes.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    print(f"web benchmark on {connection.vendor}, {dataset.contacts:,} contacts, {dataset.touchpoints:,} touchpoints")
    if args.overview_snapshots:
        row = bench_overview_from_snapshots(requests=args.requests)
        print(
            f"default overview from snapshots (page cache cleared): median {row['median_ms']:.1f} ms, "
            f"p95 {row['p95_ms']:.1f} ms, max {row['max_ms']:.1f} ms over {row['n']} requests "
            f"(recording its charts took {row['refresh_s']:.1f} s)"
        )
        flat_snap = {"contacts": dataset.contacts} | {f"overview_snapshot_{k}": round(v, 1) for k, v in row.items()}
        print("RESULT " + json.dumps(flat_snap))
        return 0
    pages = bench_pages(requests=args.requests, seed=args.seed, charts=not args.no_charts)
    _print_pages(pages)
    imported = bench_import(touchpoints=args.touchpoints, seed=args.seed)
    print(
        f"import of {imported['rows']:,} touchpoints: {imported['import_total_s']:.1f} s "
        f"({imported['rows_per_s']:,.0f} rows/s; upload+count {imported['import_upload_s']:.1f} s), "
        f"{imported['created']:,} created, {imported['rejected']:,} rejected, "
        f"{imported['contacts_enqueued']:,} contacts enqueued for evaluation; "
        f"re-import {imported['reimport_s']:.1f} s, {imported['reimport_created']} created"
    )
    flat = _flat_pages(dataset.contacts, pages)
    flat |= {
        "import_100k_s" if args.touchpoints == 100_000 else "import_s": round(imported["import_total_s"], 2),
        "reimport_s": round(imported["reimport_s"], 2),
        "import_rows": imported["rows"],
    }
    print("RESULT " + json.dumps(flat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
