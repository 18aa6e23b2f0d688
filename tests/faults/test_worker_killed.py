"""Fault: a worker killed whole in the middle of a nightly chunk (finding 5).

The chunk's message stays unacknowledged with the dead worker; with the visibility timeout
set (short here, CELERY_VISIBILITY_TIMEOUT) another worker gets it again and the nightly
completes — every stage evaluated, the day's snapshot written — within minutes, not after
Redis' default hour.
"""

from __future__ import annotations

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import ContactFactory, TouchpointFactory
from tests.faults.procs import PrivateRedis, app_env, start_worker, wait_for
from tests.services import _test_database_url, celery_broker, postgres_only

pytestmark = [pytest.mark.faults, postgres_only, pytest.mark.django_db(transaction=True)]

VISIBILITY_SECONDS = 15
COMPLETE_SECONDS = 300  # "within minutes": the timeout, a sweep, a worker's boot on a busy machine


def test_a_chunk_of_a_killed_worker_is_redelivered_and_the_nightly_completes():
    from contacts.models import Contact, Touchpoint
    from stages.models import StageSnapshot

    contacts = [ContactFactory() for _ in range(12)]
    for contact in contacts:
        TouchpointFactory(contact=contact, kind="purchase", amount="30.00")
    touchpoints = Touchpoint._meta.db_table
    redis = PrivateRedis()
    redis.start()
    env = app_env(
        database_url=_test_database_url(),
        broker_url=redis.url,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_SECONDS),
        CELERY_UNACKED_RESTORE_INTERVAL="2",
    )
    db = connection.settings_dict
    # Hold the touchpoints table so the chunk blocks in its first query: the worker is then
    # provably inside the chunk when it is killed.
    blocker = psycopg2.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    )
    blocker.cursor().execute(f"LOCK TABLE {touchpoints} IN ACCESS EXCLUSIVE MODE")
    first = start_worker(env, name="faults-b1", beat=False)
    second = None
    try:
        from lifecycle_crm.celery import app

        with celery_broker(redis.url):
            app.send_task("stages.tasks.nightly_recompute_task", ignore_result=True)

        def chunk_waiting() -> bool:
            # From another connection: the blocker's transaction would keep one stale view of the statistics.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
                    " AND pid <> pg_backend_pid()",
                    [db["NAME"]],
                )
                return cursor.fetchone()[0] > 0

        wait_for(chunk_waiting, timeout=90, what=f"the first worker to start the chunk\n{first.output()}")
        first.kill()  # SIGKILL: no chance to acknowledge, reject or clean up
        blocker.rollback()
        assert not Contact.objects.filter(stage__slug="purchase").exists()

        second = start_worker(env, name="faults-b2", beat=False)
        wait_for(
            lambda: (
                Contact.objects.filter(stage__slug="purchase").count() == len(contacts)
                and StageSnapshot.objects.filter(date=timezone.localdate()).exists()
            ),
            timeout=COMPLETE_SECONDS,
            what=f"the nightly to complete on the second worker\n{second.output()}",
        )
    finally:
        blocker.close()
        first.stop()
        if second is not None:
            second.stop()
        redis.stop()
