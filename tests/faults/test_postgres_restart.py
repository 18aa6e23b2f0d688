"""Fault: PostgreSQL restarts while an integration pushes a batch, on a private throwaway cluster.

A request that meets the restart gets a clear 503 with Retry-After (its transaction rolled
back: nothing half-written), never a 500 traceback; the retry succeeds once the server is
back, and idempotency by `external_id` leaves every touchpoint stored exactly once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from tests.faults.procs import PrivateCluster, app_env, request, start_web, wait_for
from tests.services import REPO

pytestmark = pytest.mark.faults

BATCH = 1000
RETRY_SECONDS = 120


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _stored(cluster: PrivateCluster, prefix: str) -> tuple[int, int]:
    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="crm_faults")
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM contacts_touchpoint WHERE external_id LIKE %s",
                [prefix + "%"],
            )
            return cursor.fetchone()
    finally:
        conn.close()


def test_a_batch_during_a_postgres_restart_gets_503_and_its_retry_stores_each_item_once():
    cluster = PrivateCluster()
    web = None
    try:
        cluster.create()
        env = app_env(database_url=cluster.url, broker_url="")  # embedded mode: no broker in this test
        _manage(env, "migrate", "--noinput")
        key = _manage(env, "create_api_key", "faults", "--role", "integration").strip().splitlines()[-1]
        web, base = start_web(env)
        status, body, _ = request(f"{base}/api/v1/contacts/", method="POST", body={"email": "pg@example.com"}, key=key)
        assert status == 201, body
        rows = [
            {
                "contact": body["id"],
                "kind": "site_visit",
                "external_id": f"pg-{n}",
                "occurred_at": "2026-11-01T10:00:00Z",
            }
            for n in range(BATCH)
        ]

        # A batch in flight while the server stops (fast: running transactions are aborted).
        in_flight: dict = {}
        sender = threading.Thread(
            target=lambda: in_flight.update(
                zip(
                    ("status", "body", "seconds"),
                    request(f"{base}/api/v1/touchpoints/", method="POST", body=rows, key=key),
                    strict=True,
                )
            )
        )
        sender.start()
        time.sleep(0.05)
        cluster.stop()
        sender.join(120)
        assert in_flight["status"] in (201, 503), in_flight
        if in_flight["status"] == 503:
            assert in_flight["body"]["_retry_after"], in_flight

        # While it is down: a clear, retryable answer.
        status, body, _ = request(f"{base}/api/v1/touchpoints/", method="POST", body=rows, key=key)
        assert status == 503, body
        assert body["_retry_after"] and "Retry" in body["detail"]

        cluster.start()

        def retried() -> bool:
            status, body, _ = request(f"{base}/api/v1/touchpoints/", method="POST", body=rows, key=key)
            assert status in (200, 201, 503), (status, body)  # never a 500
            return status in (200, 201)

        wait_for(retried, timeout=RETRY_SECONDS, what="the retried batch to be accepted", interval=2)
        assert _stored(cluster, "pg-") == (BATCH, BATCH)  # every item once: nothing lost, nothing doubled
    finally:
        if web is not None:
            web.stop()
        cluster.destroy()
