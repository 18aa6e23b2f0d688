"""Benchmark of the REST API over HTTP: gunicorn on PostgreSQL, driven by an asyncio load client on 127.0.0.1.

On the dataset of bench/generate.py (N contacts with external ids `B<n>`, ~20 touchpoints each):
1. bulk ingestion — batches of 1,000 touchpoints (`POST /api/v1/touchpoints/`, contacts named by
   `contact_external_id`, unique `external_id`s), 4 connections in parallel: rows stored per second;
2. single touchpoint POST at a fixed arrival rate (default 100 requests/s, open loop: latency is
   measured from each request's scheduled start, so a slow server cannot hide its queue);
3. contact list (`GET /api/v1/contacts/`, default page of 50, half of them filtered by stage) and
   contact detail (`GET /api/v1/contacts/{id}/`, random ids) at fixed rates.
The server is `gunicorn lifecycle_crm.wsgi` (gthread workers) with Redis as cache (throttle
counters) and Celery broker (tasks are enqueued, as in production; no worker consumes them in this
benchmark — the evaluation they ask for is worker time, measured by bench_engine). Throttle limits
are raised so that they do not cap the measurement. Rows written are deleted afterwards and the Redis
database is flushed.

    .venv/bin/python bench/bench_api.py --small                  # 20,000 contacts, short phases
    .venv/bin/python bench/bench_api.py --contacts 1000000 [--duration 30] [--database-url postgres://…]
    .venv/bin/python bench/bench_api.py --contacts 1000000 --broker-down   # the same with the broker dead

`--broker-down` makes the Celery broker a private redis-server on a free port, started for the
server's boot and warm-up and killed before the measured phases (the cache stays on --redis-url):
writes then store their tasks in the outbox and must answer as fast as with the broker up.

Uses ports 8120-8129 and Redis db 2 by default (--port, --redis-url). Prints a table, then one line
`RESULT {json}` that bench/run.py collects.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import generate  # noqa: E402  (bench/generate.py, next to this file)

SMALL_CONTACTS = 20_000
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/crm_bench_api"
HOST = "127.0.0.1"
EXTERNAL_PREFIX = "bench-api-"


# --- a minimal HTTP/1.1 keep-alive client (stdlib only) -------------------------------------


class Connection:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.writer is None:
                await self._open()
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {self.key}\r\n"
                f"Accept: application/json\r\nConnection: keep-alive\r\n"
            )
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            try:
                self.writer.write(head.encode() + b"\r\n" + (body or b""))
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed")
                status = int(status_line.split()[1])
                length, close = 0, False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and value.strip().lower() == "close":
                        close = True
                payload = await self.reader.readexactly(length) if length else b""
                if close:
                    self.close()
                return status, payload
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def open_loop(port: int, key: str, *, rate: float, duration: float, make) -> dict:
    """Send `make(i)` → (method, path, body) at `rate` per second for `duration` s; latencies from schedule."""
    pool: list[Connection] = []
    latencies: list[float] = []
    errors: dict[int, int] = {}
    total = int(rate * duration)
    started = time.perf_counter()

    async def one(i: int) -> None:
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = pool.pop() if pool else Connection(port, key)
        method, path, body = make(i)
        try:
            status, _ = await conn.request(method, path, body)
        except Exception:
            status = -1
            conn.close()
        latencies.append((time.perf_counter() - scheduled) * 1000)
        if not 200 <= status < 300:
            errors[status] = errors.get(status, 0) + 1
        pool.append(conn)

    await asyncio.gather(*(one(i) for i in range(total)))
    for conn in pool:
        conn.close()
    wall = time.perf_counter() - started
    return {
        "requests": total,
        "achieved_rps": round(total / wall, 1),
        "p50_ms": round(pct(latencies, 50), 1),
        "p95_ms": round(pct(latencies, 95), 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
        "errors": errors,
    }


async def bulk_ingest(port: int, key: str, *, batches: int, contacts: int, parallel: int, run: str) -> dict:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for b in range(batches):
        queue.put_nowait(b)
    rng = random.Random(7)
    bodies = {}
    for b in range(batches):
        rows = [
            {
                "contact_external_id": f"B{rng.randint(1, contacts)}",
                "kind": "purchase" if j % 10 == 0 else "site_visit",
                "amount": "42.00" if j % 10 == 0 else None,
                "channel": "web",
                "occurred_at": "2026-11-01T12:00:00Z",
                "external_id": f"{EXTERNAL_PREFIX}{run}-bulk-{b}-{j}",
            }
            for j in range(1000)
        ]
        bodies[b] = json.dumps(rows).encode()
    timings: list[float] = []
    created = 0
    statuses: dict[int, int] = {}

    async def worker() -> None:
        nonlocal created
        conn = Connection(port, key)
        while not queue.empty():
            b = queue.get_nowait()
            t0 = time.perf_counter()
            status, payload = await conn.request("POST", "/api/v1/touchpoints/", bodies[b])
            timings.append((time.perf_counter() - t0) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if status in (200, 201):
                created += json.loads(payload)["created"]
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    wall = time.perf_counter() - started
    return {
        "batches": batches,
        "rows_created": created,
        "wall_s": round(wall, 2),
        "rows_per_s": round(created / wall),
        "batch_p50_ms": round(pct(timings, 50), 1),
        "batch_p95_ms": round(pct(timings, 95), 1),
        "statuses": statuses,
    }


# --- server ----------------------------------------------------------------------------------


def _free(port: int) -> bool:
    with socket.socket() as probe:
        # As gunicorn binds: a previous run's connections in TIME_WAIT do not make the port taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def start_private_redis() -> tuple[subprocess.Popen, str]:
    """A redis-server of the benchmark's own on a free port (the broker --broker-down kills)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if redis.Redis(host=HOST, port=port, socket_connect_timeout=1).ping():
                return process, f"redis://{HOST}:{port}/0"
        except redis.RedisError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the private redis-server did not start")


def start_server(
    *, port: int, database_url: str, redis_url: str, workers: int, threads: int, broker_url: str | None = None
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lifecycle_crm.settings",
        "DJANGO_SECRET_KEY": "benchmark-only-not-secret",
        "DJANGO_DEBUG": "0",
        "DJANGO_HTTPS": "0",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "600",
        "CACHE_URL": redis_url,
        "CELERY_BROKER_URL": broker_url or redis_url,
        "CELERY_RESULT_BACKEND": "",
        "API_THROTTLE_KEY_READ": "1000000/min",
        "API_THROTTLE_KEY_WRITE": "1000000/min",
        "WEBHOOKS_DELIVERY_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn),
        "lifecycle_crm.wsgi",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--keep-alive=30",
        "--log-level=warning",
        # gunicorn.conf.py logs every request to stdout; nobody reads this pipe during the run.
        "--access-logfile=/dev/null",
    ]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(server.stdout.read().decode(errors="replace")[-3000:])
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return server
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not start within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--small", action="store_true", help=f"{SMALL_CONTACTS:,} contacts, short phases")
    scale.add_argument("--contacts", type=int)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_API_DATABASE_URL") or DEFAULT_DATABASE)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--port", type=int, default=8120)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2: one per core here)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (default 2)")
    parser.add_argument("--duration", type=float, help="seconds per fixed-rate phase (default 10 small, 30 big)")
    parser.add_argument("--batches", type=int, help="bulk batches of 1,000 (default 20 small, 100 big)")
    parser.add_argument(
        "--phases",
        default="bulk,single,list,detail",
        help="comma-separated phases to run, in this order (default all): bulk,single,list,detail",
    )
    parser.add_argument(
        "--broker-down",
        action="store_true",
        help="the Celery broker is a private redis-server killed before the measured phases",
    )
    parser.add_argument("--post-rps", type=float, default=100.0)
    parser.add_argument("--read-rps", type=float, default=100.0, help="contact detail requests per second")
    parser.add_argument("--list-rps", type=float, default=50.0, help="contact list pages per second")
    args = parser.parse_args()
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = phases - {"bulk", "single", "list", "detail"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    contacts = args.contacts or SMALL_CONTACTS
    big = bool(args.contacts) and not args.small
    duration = args.duration or (30.0 if big else 10.0)
    batches = args.batches or (100 if big else 20)

    print(f"dataset: {contacts:,} contacts in {args.database_url}")
    generate.ensure_dataset(contacts=contacts, database_url=args.database_url)
    import redis
    from django.core.management import call_command
    from django.db import connection

    redis.Redis.from_url(args.redis_url).ping()
    from accounts.services import api_key_create

    _, key = api_key_create(name=f"bench {time.time():.0f}", role="integration")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        # The server's memory settings decide bulk ingestion (BENCHMARKS.md): print them with the figures.
        cursor.execute("SELECT current_setting('shared_buffers'), current_setting('max_wal_size')")
        shared_buffers, max_wal_size = cursor.fetchone()
    print(f"PostgreSQL: shared_buffers={shared_buffers}, max_wal_size={max_wal_size}")
    call_command("check", verbosity=0)
    if not _free(args.port):
        raise SystemExit(f"port {args.port} is taken")

    run = f"{int(time.time())}"
    from django.utils import timezone

    run_started = timezone.now()
    private_broker, broker_url = start_private_redis() if args.broker_down else (None, None)
    server = start_server(
        port=args.port,
        database_url=args.database_url,
        redis_url=args.redis_url,
        workers=args.workers,
        threads=args.threads,
        broker_url=broker_url,
    )
    results: dict = {"contacts": contacts, "workers": args.workers, "threads": args.threads}
    results["broker"] = "down" if args.broker_down else "up"
    results["postgresql"] = {"shared_buffers": shared_buffers, "max_wal_size": max_wal_size}
    try:
        rng = random.Random(11)

        async def scenario() -> None:
            # Warm every worker (imports, first queries) before measuring.
            await open_loop(args.port, key, rate=50, duration=1, make=lambda i: ("GET", "/api/v1/contacts/", None))
            if private_broker is not None:
                private_broker.kill()  # the broker dies; the server keeps running
                private_broker.wait()
                print("broker: killed (writes keep their tasks in the outbox)")
            if "bulk" in phases:
                bulk = await bulk_ingest(args.port, key, batches=batches, contacts=contacts, parallel=4, run=run)
                results["bulk"] = bulk
                print(f"bulk ingestion: {bulk}")

            def single(i: int):
                row = {
                    "contact_external_id": f"B{rng.randint(1, contacts)}",
                    "kind": "site_visit",
                    "channel": "web",
                    "external_id": f"{EXTERNAL_PREFIX}{run}-single-{i}",
                }
                return "POST", "/api/v1/touchpoints/", json.dumps(row).encode()

            if "single" in phases:
                results["single_post"] = await open_loop(
                    args.port, key, rate=args.post_rps, duration=duration, make=single
                )
                print(f"single POST @ {args.post_rps:g}/s: {results['single_post']}")
            stages = ["engagement", "consideration", "purchase", "retention", "awareness"]

            def listing(i: int):
                if i % 2:
                    return "GET", f"/api/v1/contacts/?stage={stages[i % len(stages)]}", None
                return "GET", "/api/v1/contacts/", None

            if "list" in phases:
                results["contact_list"] = await open_loop(
                    args.port, key, rate=args.list_rps, duration=duration, make=listing
                )
                print(f"contact list @ {args.list_rps:g}/s: {results['contact_list']}")

            def detail(i: int):
                return "GET", f"/api/v1/contacts/{rng.randint(1, contacts)}/", None

            if "detail" in phases:
                results["contact_detail"] = await open_loop(
                    args.port, key, rate=args.read_rps, duration=duration, make=detail
                )
                print(f"contact detail @ {args.read_rps:g}/s: {results['contact_detail']}")

        asyncio.run(scenario())
    finally:
        stop_server(server)
        if private_broker is not None and private_broker.poll() is None:
            private_broker.kill()
        from contacts.models import Touchpoint
        from outbox.models import OutboxEvent

        deleted, _ = Touchpoint.objects.filter(source="api", external_id__startswith=EXTERNAL_PREFIX).delete()
        pending = OutboxEvent.objects.filter(created_at__gte=run_started, published_at__isnull=True).count()
        results["outbox_pending_at_end"] = pending
        OutboxEvent.objects.filter(created_at__gte=run_started).delete()
        redis.Redis.from_url(args.redis_url).flushdb()
        print(f"cleanup: {deleted:,} benchmark rows deleted, {args.redis_url} flushed")

    picks = {
        "bulk_rows_per_s": ("bulk", "rows_per_s"),
        "bulk_batch_p95_ms": ("bulk", "batch_p95_ms"),
        "single_post_p50_ms": ("single_post", "p50_ms"),
        "single_post_p95_ms": ("single_post", "p95_ms"),
        "single_post_rps": ("single_post", "achieved_rps"),
        "list_p50_ms": ("contact_list", "p50_ms"),
        "list_p95_ms": ("contact_list", "p95_ms"),
        "detail_p50_ms": ("contact_detail", "p50_ms"),
        "detail_p95_ms": ("contact_detail", "p95_ms"),
    }
    summary = {"contacts": contacts, "broker": results["broker"]} | {
        name: results[a][b] for name, (a, b) in picks.items() if a in results
    }
    summary["shared_buffers"], summary["max_wal_size"] = shared_buffers, max_wal_size
    summary["outbox_pending_at_end"] = results["outbox_pending_at_end"]
    summary["errors"] = sum(sum(r.get("errors", {}).values()) for r in results.values() if isinstance(r, dict))
    print(f"{'measure':<28}{'value':>12}")
    for name, value in summary.items():
        print(f"{name:<28}{value:>12}")
    print("RESULT " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
