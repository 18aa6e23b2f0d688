"""A touchpoint write stores one outbox event, published after commit; a worker fans it out."""

from unittest import mock

import pytest
from django.core.cache import cache

from contacts import touchpoint_services
from contacts.models import Touchpoint
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_webhook_events():
    cache.clear()  # webhook_active_events is cached; each test decides its own subscriptions
    yield
    cache.clear()


def _subscribe(event: str):
    from webhooks.models import WebhookSubscription

    return WebhookSubscription.objects.create(name="shop", url="https://hooks.example.com/crm", events=[event])


def _events() -> list[tuple[str, list]]:
    from outbox.models import OutboxEvent

    return [(e.task, e.payload["args"]) for e in OutboxEvent.objects.order_by("id")]


def test_a_batch_stores_exactly_one_outbox_event_and_publishes_it_after_commit(django_capture_on_commit_callbacks):
    first, second = ContactFactory(), ContactFactory()
    _subscribe("touchpoint.created")
    rows = [
        {"contact": second.pk, "kind": "email_open", "external_id": "a-1"},
        {"contact": first.pk, "kind": "demo", "external_id": "a-2"},
        {"contact": second.pk, "kind": "webinar", "external_id": "a-3"},
    ]
    with (
        mock.patch("contacts.tasks.touchpoints_created_task.apply_async") as fan_out,
        mock.patch("stages.tasks.evaluate_contacts_task.apply_async") as evaluate,
        mock.patch("plays.tasks.handle_touchpoints_task.apply_async") as plays,
        mock.patch("webhooks.tasks.webhook_publish_task.apply_async") as webhooks,
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            results = touchpoint_services.touchpoint_bulk_create(rows=rows, source="api")
        # Stored with the touchpoints, in their transaction; nothing published before commit.
        expected = [[r.pk for r in results], sorted([first.pk, second.pk])]
        assert _events() == [("contacts.tasks.touchpoints_created_task", expected)]
        fan_out.assert_not_called()
        for callback in callbacks:
            callback()
    fan_out.assert_called_once()
    assert fan_out.call_args.kwargs["args"] == expected
    # The request itself publishes nothing else: the rest is the worker's job.
    evaluate.assert_not_called()
    plays.assert_not_called()
    webhooks.assert_not_called()


def test_the_fan_out_enqueues_evaluation_loyalty_plays_and_subscribed_webhooks():
    from contacts.tasks import touchpoints_created_task

    _subscribe("touchpoint.created")
    touchpoints_created_task.apply(args=[[11, 12], [5]]).get()
    assert sorted(_events()) == [
        ("loyalty.tasks.loyalty_touchpoints_task", [[11, 12]]),
        ("plays.tasks.handle_touchpoints_task", [[11, 12]]),
        ("stages.tasks.evaluate_contacts_task", [[5]]),
        ("webhooks.tasks.webhook_publish_task", ["touchpoint.created", [11, 12]]),
    ]


def test_the_fan_out_skips_webhooks_nobody_subscribed_to():
    from contacts.tasks import touchpoints_created_task

    touchpoints_created_task.apply(args=[[11], [5]]).get()
    assert "webhooks.tasks.webhook_publish_task" not in [task for task, _ in _events()]
    assert ("stages.tasks.evaluate_contacts_task", [[5]]) in _events()


def test_broker_down_keeps_the_touchpoints_and_their_follow_up(django_capture_on_commit_callbacks):
    """Finding 3: the one publish failed and the follow-up (evaluation, plays, webhooks) was lost."""
    from outbox.models import OutboxEvent
    from tests.services import celery_broker

    contact = ContactFactory()
    with celery_broker("redis://127.0.0.1:1/0"), django_capture_on_commit_callbacks(execute=True):
        result = touchpoint_services.touchpoint_create(data={"contact": contact.pk, "kind": "purchase", "amount": "10"})
    assert Touchpoint.objects.filter(pk=result.pk).exists()
    event = OutboxEvent.objects.get(task="contacts.tasks.touchpoints_created_task")
    assert event.published_at is None and event.attempts == 1 and event.last_error
    assert event.payload["args"] == [[result.pk], [contact.pk]]


def test_in_process_mode_still_moves_the_contact_at_once(django_capture_on_commit_callbacks):
    """Without a broker (tasks eager) the fan-out and the evaluation run in-process, as before."""
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_services.touchpoint_create(data={"contact": contact.pk, "kind": "trial_signup"})
    contact.refresh_from_db()
    assert contact.stage.slug == "consideration"
