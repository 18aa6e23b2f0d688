"""Fixtures for plays: consenting contacts, plays built in one call, and after-commit callbacks that run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from plays.models import Play, PlayAction, PlayStatus
from stages.models import Stage
from tests.factories import ContactFactory


def make_play(*, actions: list[dict[str, Any]] | None = None, **fields: Any) -> Play:
    """An active play with these fields and actions (stage slugs accepted for stage fields)."""
    for name in ("trigger_stage", "goal_stage", "condition_stage"):
        if isinstance(fields.get(name), str):
            fields[name] = Stage.objects.get(slug=fields[name])
    fields.setdefault("name", f"Play {Play.objects.count() + 1}")
    fields.setdefault("status", PlayStatus.ACTIVE)
    play = Play.objects.create(**fields)
    for position, action in enumerate(actions or [], start=1):
        if isinstance(action.get("stage"), str):
            action = {**action, "stage": Stage.objects.get(slug=action["stage"])}
        PlayAction.objects.create(play=play, position=position, **action)
    return play


EMAIL = {
    "action_type": "send_email",
    "subject": "Hello {{ contact.first_name }}",
    "body_text": "Hi {{ contact.first_name }}, you are in {{ stage.name }}.",
    "body_html": "<p>Hi {{ contact.first_name }}, you are in <b>{{ stage.name }}</b>.</p>",
}


@pytest.fixture
def consenting(db):
    """A contact in awareness who agreed to marketing email."""
    return ContactFactory(first_name="Ann", email="ann@example.com", marketing_consent=True)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run after-commit callbacks (signals → play tasks) inside the test transaction."""

    class Runner:
        def __call__(self):
            return django_capture_on_commit_callbacks(execute=True)

    return Runner()


T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
