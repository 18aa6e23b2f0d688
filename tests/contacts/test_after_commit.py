"""After a touchpoint write commits, one task is published; a worker fans it out to evaluation, plays, webhooks."""

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


def test_a_batch_publishes_exactly_one_task_after_commit(django_capture_on_commit_callbacks):
    first, second = ContactFactory(), ContactFactory()
    _subscribe("touchpoint.created")
    rows = [
        {"contact": second.pk, "kind": "email_open", "external_id": "a-1"},
        {"contact": first.pk, "kind": "demo", "external_id": "a-2"},
        {"contact": second.pk, "kind": "webinar", "external_id": "a-3"},
    ]
    with (
        mock.patch("contacts.tasks.touchpoints_created_task.apply_async") as fan_out,
        mock.patch("stages.tasks.evaluate_contacts_task.delay") as evaluate,
        mock.patch("plays.tasks.handle_touchpoints_task.delay") as plays,
        mock.patch("webhooks.tasks.webhook_publish_task.delay") as webhooks,
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            results = touchpoint_services.touchpoint_bulk_create(rows=rows, source="api")
        fan_out.assert_not_called()  # nothing before commit
        for callback in callbacks:
            callback()
    fan_out.assert_called_once()
    assert fan_out.call_args.args[0] == ([r.pk for r in results], sorted([first.pk, second.pk]))
    # The request itself publishes nothing else: the rest is the worker's job.
    evaluate.assert_not_called()
    plays.assert_not_called()
    webhooks.assert_not_called()


def test_the_fan_out_enqueues_evaluation_plays_and_subscribed_webhooks():
    from contacts.tasks import touchpoints_created_task

    _subscribe("touchpoint.created")
    with (
        mock.patch("stages.tasks.evaluate_contacts_task.delay") as evaluate,
        mock.patch("plays.tasks.handle_touchpoints_task.delay") as plays,
        mock.patch("webhooks.tasks.webhook_publish_task.delay") as webhooks,
    ):
        touchpoints_created_task.apply(args=[[11, 12], [5]]).get()
    evaluate.assert_called_once_with([5])
    plays.assert_called_once_with([11, 12])
    webhooks.assert_called_once_with("touchpoint.created", [11, 12])


def test_the_fan_out_skips_webhooks_nobody_subscribed_to():
    from contacts.tasks import touchpoints_created_task

    with (
        mock.patch("stages.tasks.evaluate_contacts_task.delay") as evaluate,
        mock.patch("plays.tasks.handle_touchpoints_task.delay"),
        mock.patch("webhooks.tasks.webhook_publish_task.delay") as webhooks,
    ):
        touchpoints_created_task.apply(args=[[11], [5]]).get()
    evaluate.assert_called_once_with([5])
    webhooks.assert_not_called()


def test_broker_down_at_the_one_publish_keeps_the_touchpoints(django_capture_on_commit_callbacks, caplog):
    contact = ContactFactory()
    down = mock.patch("contacts.tasks.touchpoints_created_task.apply_async", side_effect=ConnectionError("broker down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        result = touchpoint_services.touchpoint_create(data={"contact": contact.pk, "kind": "purchase", "amount": "10"})
    assert Touchpoint.objects.filter(pk=result.pk).exists()
    assert "nightly run will catch up" in caplog.text
    contact.refresh_from_db()
    assert contact.stage.slug == "awareness"  # not evaluated now; the nightly recompute will


def test_in_process_mode_still_moves_the_contact_at_once(django_capture_on_commit_callbacks):
    """Without a broker (tasks eager) the fan-out and the evaluation run in-process, as before."""
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_services.touchpoint_create(data={"contact": contact.pk, "kind": "trial_signup"})
    contact.refresh_from_db()
    assert contact.stage.slug == "consideration"
