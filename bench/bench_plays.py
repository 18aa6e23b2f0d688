"""Benchmark: the plays' periodic scan over N contacts, and stage-entry latency with a real Celery worker.

Part 1 (scan): on the dataset of bench/generate.py (N contacts, ~20 touchpoints each,
three years ending 2026-11-01) four time-based plays are switched on — cart abandoned
with no purchase for 1 day, no touch for 90 days after a purchase, the first purchase's
1st anniversary, probability alive below 0.3 — and the scan (`plays.triggers.play_scan`
per play, then `due_run_ids`) is timed for a 5-minute window (the beat interval), a
1-day window (a first scan or a day's catch-up), and a re-scan of the same day (every
occurrence already stored: ON CONFLICT). The p_alive play reads analytics ContactMetrics;
when the dataset has none, rows with a deterministic synthetic p_alive are written
first (the scan's cost does not depend on how p_alive was computed). Runs are only
created, not executed (executing is per-contact work for the workers).

Part 2 (latency): a Celery worker is started against Redis (db 4 by default) and this
database, emails go over SMTP to an aiosmtpd server started here; N contacts are moved
into a stage with a stage-entry email play, one at a time, and the time from the move's
commit to the email arriving is measured.

    .venv/bin/python bench/bench_plays.py --small            # 20,000 contacts, a quick check
    .venv/bin/python bench/bench_plays.py --contacts 1000000 # the target: scan < 30 s
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import generate  # noqa: E402  (bench/ is on sys.path when run as a script)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_plays"
BENCH_PLAY_PREFIX = "bench: "


def _now() -> dt.datetime:
    return dt.datetime.combine(generate.DEFAULT_END, dt.time(0, 0), tzinfo=dt.UTC)


def ensure_metrics() -> int:
    """Write synthetic ContactMetrics unless a real customer-value recompute wrote them; return the row count.

    Like the real recompute, only customers (contacts with a purchase) get a probability
    alive; the synthetic value is a deterministic hash of the contact id, uniform in [0, 1).
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM analytics_contactmetrics WHERE rfm_segment <> '')")
        if not cursor.fetchone()[0]:
            cursor.execute("TRUNCATE analytics_contactmetrics")
            cursor.execute(
                """
                INSERT INTO analytics_contactmetrics (contact_id, purchase_count, revenue, refunds, first_purchase_at,
                    last_purchase_at, last_touch_at, touch_count, rfm_segment, historic_clv, p_alive, computed_at)
                SELECT c.id, COALESCE(p.n, 0), 0, 0, p.first_purchase, p.last_purchase, NULL, 0, '', 0,
                       CASE WHEN p.n > 0 THEN (hashint8(c.id * 7 + 3) & 2147483647) / 2147483648.0 END, %s
                FROM contacts_contact c
                LEFT JOIN (SELECT contact_id, COUNT(*) AS n, MIN(occurred_at) AS first_purchase,
                                  MAX(occurred_at) AS last_purchase
                           FROM contacts_touchpoint WHERE kind = 'purchase' GROUP BY contact_id) p
                       ON p.contact_id = c.id
                """,
                [_now() - dt.timedelta(hours=2)],
            )
            cursor.execute("ANALYZE analytics_contactmetrics")
        cursor.execute("SELECT COUNT(*), COUNT(p_alive) FROM analytics_contactmetrics")
        return cursor.fetchone()


def install_plays() -> list:
    from plays.models import Play, PlayRun, PlayStatus, TriggerType

    Play.objects.filter(name__startswith=BENCH_PLAY_PREFIX).delete()
    Play.objects.exclude(name__startswith=BENCH_PLAY_PREFIX).update(status=PlayStatus.PAUSED)
    PlayRun.objects.all().delete()
    specs = [
        dict(trigger_type=TriggerType.SILENCE, trigger_kind="cart_abandoned", silence_days=1, quiet_kinds=["purchase"]),
        dict(trigger_type=TriggerType.SILENCE, trigger_kind="purchase", silence_days=90, quiet_kinds=[]),
        dict(trigger_type=TriggerType.ANNIVERSARY, anniversary_years=1),
        dict(trigger_type=TriggerType.P_ALIVE_BELOW, p_alive_threshold=0.3),
    ]
    plays = []
    for spec in specs:
        label = f"{spec['trigger_type']} {spec.get('trigger_kind') or ''} {spec.get('silence_days') or ''}".strip()
        plays.append(Play.objects.create(name=f"{BENCH_PLAY_PREFIX}{label}", status=PlayStatus.ACTIVE, **spec))
    return plays


def time_scan(*, plays: list, window: dt.timedelta, keep_runs: bool = False) -> dict:
    """One scan of every bench play over `window` ending at the dataset's end; returns seconds and runs per play."""
    from plays.models import Play, PlayRun
    from plays.triggers import due_run_ids, play_scan

    now = _now()
    if not keep_runs:
        PlayRun.objects.all().delete()
    Play.objects.filter(pk__in=[p.pk for p in plays]).update(scanned_until=now - window)
    per_play = {}
    started = time.perf_counter()
    for play in plays:
        t0 = time.perf_counter()
        created = play_scan(play_id=play.pk, now=now)
        per_play[play.name.removeprefix(BENCH_PLAY_PREFIX)] = (created, round(time.perf_counter() - t0, 3))
    t0 = time.perf_counter()
    due = len(due_run_ids(now=now + dt.timedelta(days=1)))
    dispatch_query = round(time.perf_counter() - t0, 3)
    return {
        "window": str(window),
        "seconds": round(time.perf_counter() - started, 3),
        "per_play": per_play,
        "due_runs_found": due,
        "due_query_seconds": dispatch_query,
    }


def explain_silence(play) -> str:
    from django.db import connection

    from plays.triggers import _due_query

    now = _now()
    qs = _due_query(play=play, since=now - dt.timedelta(days=1), now=now).order_by().values("_contact", "_key")
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


# --- part 2: latency with a real worker -------------------------------------------------------


class _Inbox:
    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrivals[rcpt.lower()] = time.perf_counter()
        return "250 OK"


def latency(*, url: str, moves: int, redis_url: str, smtp_port: int) -> dict:
    from aiosmtpd.controller import Controller
    from django.db import transaction

    from contacts.models import Contact
    from lifecycle_crm.celery import app
    from plays.models import Play, PlayAction, PlayStatus, TriggerType
    from stages.models import Stage
    from stages.services import contact_move_stage

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    # bench/generate.py detaches stage_changed receivers (so engine benchmarks don't time them); this part
    # measures exactly that path, so the plays receiver is connected again.
    from plays.receivers import on_stage_changed
    from stages.signals import stage_changed

    stage_changed.connect(on_stage_changed, dispatch_uid="plays.stage_changed")
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "lifecycle_crm.settings",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "benchmark-only-not-secret"),
        "DJANGO_DEBUG": "0",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": "",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "PLAYS_EMAIL_CAP_PER_WEEK": "1000",
    }
    worker = subprocess.Popen(
        [str(REPO / ".venv/bin/celery"), "-A", "lifecycle_crm", "worker", "--concurrency", "2", "-l", "warning",
         "--without-gossip", "--without-mingle", "-n", f"bench-plays-{os.getpid()}@%h"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # Send this process's tasks to Redis too (settings were loaded with tasks eager).
        app.conf.update(task_always_eager=False, broker_url=redis_url, result_backend=None)
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the Celery worker did not start: " + (worker.stderr.read() or b"").decode()[-2000:])
        Play.objects.filter(name__startswith=BENCH_PLAY_PREFIX).update(status=PlayStatus.PAUSED)
        play, _ = Play.objects.update_or_create(
            name=f"{BENCH_PLAY_PREFIX}stage entry latency",
            defaults={"status": PlayStatus.ACTIVE, "trigger_type": TriggerType.STAGE_ENTERED,
                      "trigger_stage": Stage.objects.get(slug="loyalty")},
        )  # fmt: skip
        play.actions.all().delete()
        PlayAction.objects.create(
            play=play, position=1, action_type="send_email", subject="Hi {{ contact.first_name }}",
            body_text="Welcome to {{ stage.name }}.",
        )  # fmt: skip
        candidates = list(
            Contact.objects.exclude(stage__slug="loyalty").order_by("id").values_list("pk", flat=True)[:moves]
        )
        Contact.objects.filter(pk__in=candidates).update(marketing_consent=True, unsubscribed_at=None)
        delays = []
        for pk in candidates:
            contact = Contact.objects.get(pk=pk)
            with transaction.atomic():
                contact_move_stage(contact=contact, stage="loyalty", reason="bench", source="manual")
            committed = time.perf_counter()
            email = contact.email.lower()
            while email not in inbox.arrivals and time.perf_counter() - committed < 10:
                time.sleep(0.005)
            delays.append(inbox.arrivals.get(email, float("inf")) - committed)
        if any(d == float("inf") for d in delays):
            worker.terminate()
            print(
                "some emails never arrived; worker log tail:\n" + worker.stderr.read().decode(errors="replace")[-3000:]
            )
        return {
            "moves": len(delays),
            "median_s": round(statistics.median(delays), 3),
            "max_s": round(max(delays), 3),
            "within_2s": sum(1 for d in delays if d <= 2.0),
        }
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--small", action="store_true", help="20,000 contacts and 10 latency moves")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_PLAYS_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4"))
    parser.add_argument("--smtp-port", type=int, default=8146)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the plan of the cart-abandonment query")
    args = parser.parse_args()
    if args.small:
        args.contacts, args.moves = 20_000, 10

    dataset = generate.ensure_dataset(contacts=args.contacts, seed=args.seed, database_url=args.database_url)
    print(f"dataset: {dataset.contacts:,} contacts, {dataset.touchpoints:,} touchpoints")
    rows, customers = ensure_metrics()
    print(f"metrics rows: {rows:,} ({customers:,} customers with a probability alive)")
    plays = install_plays()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE plays_playrun")
    for label, window, keep in (
        ("scan, 5-minute window (beat interval)", dt.timedelta(minutes=5), False),
        ("scan, 1-day window (first scan / catch-up)", dt.timedelta(days=1), False),
        ("re-scan of the same day (all occurrences stored)", dt.timedelta(days=1), True),
    ):
        result = time_scan(plays=plays, window=window, keep_runs=keep)
        print(f"{label}: {result['seconds']:.2f} s")
        for name, (created, seconds) in result["per_play"].items():
            print(f"    {name:<40} {created:>8,} new runs  {seconds:7.3f} s")
        print(f"    due-runs query: {result['due_runs_found']:,} runs in {result['due_query_seconds']:.3f} s")
    if args.explain:
        print(explain_silence(plays[0]))
    if not args.skip_latency:
        result = latency(url=args.database_url, moves=args.moves, redis_url=args.redis_url, smtp_port=args.smtp_port)
        print(
            f"stage entry → email delivered, real worker: median {result['median_s']:.3f} s,"
            f" max {result['max_s']:.3f} s, {result['within_2s']}/{result['moves']} within 2 s"
        )


if __name__ == "__main__":
    main()
