"""Real time: every touchpoint creation path enqueues an evaluation after commit; a real worker applies it."""

import datetime as dt
import time
from unittest import mock

import pytest
from django.utils import timezone

from contacts.touchpoint_services import touchpoint_bulk_create, touchpoint_create
from stages.models import StageTransition
from tests.factories import ContactFactory, stage
from tests.services import postgres_only, real_celery_worker


@pytest.mark.django_db
def test_touchpoint_create_enqueues_evaluation_after_commit(django_capture_on_commit_callbacks):
    contact = ContactFactory()
    with (
        mock.patch("stages.tasks.evaluate_contacts_task.apply_async") as run,
        django_capture_on_commit_callbacks(execute=True),
    ):
        touchpoint_create(data={"contact": contact.pk, "kind": "quote_request"})
        run.assert_not_called()  # nothing is enqueued before the transaction commits
    assert [c.kwargs["args"] for c in run.call_args_list] == [[[contact.pk]]]


@pytest.mark.django_db
def test_touchpoint_create_moves_contact_once_committed(django_capture_on_commit_callbacks):
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        result = touchpoint_create(data={"contact": contact.pk, "kind": "purchase", "amount": "49.90"})
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase"
    transition = StageTransition.objects.get(contact=contact, source="rule")
    assert transition.touchpoint_id == result.touchpoint.pk


@pytest.mark.django_db
def test_bulk_ingestion_enqueues_each_touched_contact_once(django_capture_on_commit_callbacks):
    first, second = ContactFactory(), ContactFactory()
    rows = [
        {"contact": first.pk, "kind": "email_open", "external_id": "e-1"},
        {"contact": first.pk, "kind": "demo", "external_id": "e-2"},
        {"contact_email": second.email, "kind": "webinar", "external_id": "e-3"},
    ]
    with mock.patch("stages.tasks.evaluate_contacts_task.apply_async") as run:
        with django_capture_on_commit_callbacks(execute=True):
            touchpoint_bulk_create(rows=rows, source="api")
        with django_capture_on_commit_callbacks(execute=True):
            touchpoint_bulk_create(rows=rows, source="api")  # a retried push creates nothing new
    assert [c.kwargs["args"] for c in run.call_args_list] == [[sorted([first.pk, second.pk])]]


@pytest.mark.django_db
def test_broker_down_keeps_the_evaluation_in_the_outbox_until_it_returns(django_capture_on_commit_callbacks):
    """Finding 3: the follow-up of a touchpoint stored while Redis is down waits in the outbox (it was lost)."""
    from outbox.models import OutboxEvent
    from outbox.services import outbox_relay
    from tests.services import celery_broker

    contact = ContactFactory()
    with celery_broker("redis://127.0.0.1:1/0"), django_capture_on_commit_callbacks(execute=True):
        touchpoint_create(data={"contact": contact.pk, "kind": "purchase", "amount": "10"})
    assert contact.touchpoints.count() == 1
    contact.refresh_from_db()
    assert contact.stage.slug == "awareness"
    pending = OutboxEvent.objects.filter(published_at__isnull=True)
    assert pending.count() == 1
    # The broker is back (tasks in-process here): the relay publishes what waited.
    pending.update(available_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay().published >= 1
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase"
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


@pytest.mark.django_db
def test_evaluate_task_is_idempotent():
    from stages.tasks import evaluate_contacts_task
    from tests.factories import TouchpointFactory

    contact = ContactFactory()
    TouchpointFactory(contact=contact, kind="demo")
    assert evaluate_contacts_task.apply(args=[[contact.pk]]).get() == 1
    assert evaluate_contacts_task.apply(args=[[contact.pk]]).get() == 0
    contact.refresh_from_db()
    assert contact.stage == stage("consideration")


@pytest.mark.django_db
def test_nightly_task_fans_out_chunks_and_snapshots():
    from django.utils import timezone

    from stages.models import StageSnapshot
    from stages.tasks import nightly_recompute_task
    from tests.factories import TouchpointFactory

    contacts = [ContactFactory() for _ in range(7)]
    for contact in contacts[:5]:
        TouchpointFactory(contact=contact, kind="purchase", occurred_at=timezone.now() - dt.timedelta(days=400))
    summary = nightly_recompute_task.apply(kwargs={"chunk_size": 2}).get()
    assert summary["chunks"] == 4
    assert sum(1 for c in contacts if (c.refresh_from_db() or c.stage.slug == "churned")) == 5
    counts = dict(StageSnapshot.objects.filter(date=timezone.localdate()).values_list("stage__slug", "contacts"))
    assert counts["churned"] == 5
    assert counts["awareness"] == 2


@pytest.mark.celery_worker
@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_real_worker_moves_contact_within_seconds():
    """A touchpoint created through the service reaches a real Celery worker over Redis and moves the contact."""
    with real_celery_worker(name="engine-test") as worker:
        contact = ContactFactory()
        touchpoint_create(data={"contact": contact.pk, "kind": "trial_signup"})  # autocommit: on_commit fires now
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            contact.refresh_from_db()
            if contact.stage.slug == "consideration" or worker.poll() is not None:
                break
            time.sleep(0.2)
        assert worker.poll() is None, worker.stdout.read().decode(errors="replace")[-2000:]
        assert contact.stage.slug == "consideration"
        assert StageTransition.objects.filter(contact=contact, source="rule").exists()
