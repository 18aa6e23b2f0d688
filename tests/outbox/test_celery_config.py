"""Celery settings that keep a broker outage or a killed worker from stalling anything (findings 2 and 5)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.conf import settings

from outbox.services import outbox_enqueue, outbox_relay
from tests.services import celery_broker


def _all_tasks():
    from lifecycle_crm.celery import app

    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith(("celery.", "tests."))}


def test_a_killed_workers_task_comes_back_within_minutes_not_an_hour():
    """Finding 5: Redis' default visibility timeout (3,600 s) held a killed nightly chunk back an hour."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility == settings.CELERY_VISIBILITY_TIMEOUT
    assert visibility <= 20 * 60


def test_every_acks_late_task_ends_before_the_visibility_timeout():
    """A task still running when its message becomes visible again would be handed out twice."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    too_long = {
        name: task.time_limit
        for name, task in _all_tasks().items()
        if task.acks_late and (task.time_limit is None or task.time_limit >= visibility)
    }
    assert not too_long, f"acks_late tasks whose time limit is not below {visibility} s: {too_long}"
    assert visibility > settings.CRM_TASK_TIME_LIMIT_MAX


def test_the_nightly_chunks_are_acknowledged_late():
    tasks = _all_tasks()
    for name in ("stages.tasks.evaluate_range_task", "stages.tasks.finish_recompute_task"):
        assert tasks[name].acks_late, name
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST


def test_broker_connections_give_up_in_seconds():
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 5
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] <= 5
    assert settings.CELERY_REDIS_SOCKET_CONNECT_TIMEOUT <= 5
    assert settings.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS["retry_policy"]["max_retries"] <= 1


@pytest.mark.django_db
def test_publishing_never_touches_the_result_backend():
    """Finding 2: each write waited ~20 s on the result backend's retries while Redis was down."""
    from lifecycle_crm.celery import app

    outbox_enqueue(task="stages.tasks.evaluate_contacts_task", args=[[1]])
    with celery_broker("redis://127.0.0.1:1/0"), mock.patch.object(type(app.backend), "on_task_call") as call:
        result = outbox_relay(retry=False)
    assert result.failed == 1
    call.assert_not_called()


def test_eta_messages_are_never_held_past_the_visibility_timeout():
    """A worker holds an ETA message unacknowledged until it is due; past the timeout it would be duplicated."""
    from plays.tasks import ETA_HORIZON

    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert ETA_HORIZON.total_seconds() < visibility
    # Abandoned messages are looked for often enough that the timeout, not the sweep, bounds the delay.
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 60
