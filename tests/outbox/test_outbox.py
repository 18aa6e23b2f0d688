"""The transactional outbox: events commit with the data, the relay publishes them once, nothing is lost."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from celery import shared_task
from django.db import connection, transaction
from django.utils import timezone

from outbox.models import OutboxEvent
from outbox.selectors import outbox_backlog
from outbox.services import _claim, outbox_enqueue, outbox_prune, outbox_relay
from tests.services import celery_broker, postgres_only, redis_url

pytestmark = pytest.mark.django_db

RAN: list[tuple] = []


@shared_task(name="tests.outbox.record")
def record_task(*args) -> None:
    """Test-only task: remembers its arguments (runs in-process: tasks are eager in tests)."""
    RAN.append(tuple(args))


@shared_task(name="tests.outbox.explode")
def explode_task() -> None:
    """Test-only task that always fails."""
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def _clear_ran():
    RAN.clear()
    yield
    RAN.clear()


def test_an_event_rolls_back_with_its_write(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        outbox_enqueue(task="tests.outbox.record", args=[1])
        raise RuntimeError("the write failed")
    assert not OutboxEvent.objects.exists()
    assert RAN == []


def test_embedded_mode_runs_the_task_in_process_right_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = outbox_enqueue(task="tests.outbox.record", args=[7, [1, 2]])
    assert RAN == []  # nothing runs before the commit
    for callback in callbacks:
        callback()
    assert RAN == [(7, [1, 2])]
    event.refresh_from_db()
    assert event.published_at is not None
    assert event.attempts == 0


def test_a_failing_task_stays_pending_with_its_error_and_backs_off(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = outbox_enqueue(task="tests.outbox.explode")
    event.refresh_from_db()
    assert event.published_at is None
    assert event.attempts == 1
    assert "boom" in event.last_error
    assert event.available_at > timezone.now()
    assert outbox_relay().claimed == 0  # not due yet
    OutboxEvent.objects.filter(pk=event.pk).update(available_at=timezone.now() - dt.timedelta(seconds=1))
    result = outbox_relay()
    assert (result.claimed, result.failed) == (1, 1)
    event.refresh_from_db()
    assert event.attempts == 2


def test_an_unknown_task_is_recorded_not_raised(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = outbox_enqueue(task="nowhere.tasks.missing_task")
    event.refresh_from_db()
    assert event.published_at is None
    assert "missing_task" in event.last_error


def test_a_claimed_event_is_not_claimed_again_until_its_lease_expires():
    first = outbox_enqueue(task="tests.outbox.record", args=[1])
    second = outbox_enqueue(task="tests.outbox.record", args=[2])
    mine = _claim(event_ids=None, limit=10, lease_seconds=60)
    assert [e.pk for e in mine] == [first.pk, second.pk]
    assert _claim(event_ids=None, limit=10, lease_seconds=60) == []
    OutboxEvent.objects.filter(pk=first.pk).update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert [e.pk for e in _claim(event_ids=None, limit=10, lease_seconds=60)] == [first.pk]


def test_prune_deletes_old_published_events_only():
    now = timezone.now()
    old = outbox_enqueue(task="tests.outbox.record")
    recent = outbox_enqueue(task="tests.outbox.record")
    pending = outbox_enqueue(task="tests.outbox.record")
    OutboxEvent.objects.filter(pk=old.pk).update(
        created_at=now - dt.timedelta(days=3), published_at=now - dt.timedelta(days=2)
    )
    OutboxEvent.objects.filter(pk=recent.pk).update(published_at=timezone.now())
    assert outbox_prune(older_than=dt.timedelta(hours=24)) == 1
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}


def test_backlog_reports_pending_events_and_the_oldest_age():
    assert outbox_backlog()["pending"] == 0
    event = outbox_enqueue(task="tests.outbox.record")
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - dt.timedelta(seconds=90))
    backlog = outbox_backlog()
    assert backlog["pending"] == 1
    assert backlog["lag_seconds"] >= 90


def test_with_the_broker_down_a_write_keeps_its_event_and_pauses_further_kicks(django_capture_on_commit_callbacks):
    """Finding 3: an event made while Redis is unreachable waits in the outbox (it used to be dropped)."""
    with celery_broker("redis://127.0.0.1:1/0"):
        with django_capture_on_commit_callbacks(execute=True):
            first = outbox_enqueue(task="tests.outbox.record", args=[1])
        with django_capture_on_commit_callbacks(execute=True):
            second = outbox_enqueue(task="tests.outbox.record", args=[2])
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.published_at is None and first.attempts == 1 and first.last_error
    # The failed kick paused the next one: the second write did not even try the broker.
    assert second.published_at is None and second.attempts == 0
    assert outbox_backlog()["pending"] == 2


def test_the_relay_publishes_pending_events_to_a_real_broker_once():
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url)
    client.delete("celery")  # the default queue of this test's own Redis database
    events = [outbox_enqueue(task="tests.outbox.record", args=[n]) for n in range(3)]
    with celery_broker(url):
        result = outbox_relay()
        again = outbox_relay()
    assert (result.claimed, result.published, result.failed) == (3, 3, 0)
    assert again.claimed == 0
    assert client.llen("celery") == 3
    client.delete("celery")
    assert all(e.published_at for e in OutboxEvent.objects.filter(pk__in=[e.pk for e in events]))


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_skip_rows_another_relay_has_locked():
    """PostgreSQL: a relay skips rows another holds FOR UPDATE instead of waiting or taking them."""
    # Rows made directly: outbox_enqueue would run them at once (autocommit, eager tasks).
    ids = [OutboxEvent.objects.create(task="tests.outbox.record", payload={"args": [n]}).pk for n in range(4)]
    locked = threading.Event()
    release = threading.Event()

    def hold_two() -> None:
        try:
            with transaction.atomic():
                list(OutboxEvent.objects.select_for_update().filter(pk__in=ids[:2]))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_two)
    holder.start()
    try:
        assert locked.wait(30)
        claimed = _claim(event_ids=None, limit=10, lease_seconds=60)
    finally:
        release.set()
        holder.join(30)
    assert [e.pk for e in claimed] == ids[2:]
