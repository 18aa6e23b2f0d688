"""Derived history (entered/exited, time in stage, highest stage), the recompute command, replay and crash safety."""

import datetime as dt
from io import StringIO
from unittest import mock

import pytest
import time_machine
from django.core.management import CommandError, call_command

from metrics.models import ContactMetrics
from stages import engine
from stages.engine import lifecycle_evaluate
from stages.models import StageTransition
from stages.selectors import contact_stage_history, stage_visits
from stages.services import contact_move_stage, lifecycle_replay
from tests.factories import ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def at(days_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days_ago)


def test_history_derives_times_in_stage_and_highest_stage():
    with time_machine.travel(NOW, tick=False):
        contact = ContactFactory(acquired_at=at(100))
        TouchpointFactory(contact=contact, kind="email_open", occurred_at=at(90))
        TouchpointFactory(contact=contact, kind="purchase", occurred_at=at(60))
        lifecycle_evaluate(contact_ids=[contact.pk])
        lifecycle_evaluate(contact_ids=[contact.pk])
        history = contact_stage_history(contact_id=contact.pk, now=NOW)
    by_slug = {item.stage.slug: item for item in history.stages}
    assert list(by_slug) == ["awareness", "purchase"]  # engagement was skipped: one transition
    assert by_slug["awareness"].first_entered_at == at(100)
    assert by_slug["awareness"].last_exited_at == at(60)
    assert by_slug["awareness"].total_duration == dt.timedelta(days=40)
    assert by_slug["purchase"].is_current
    assert by_slug["purchase"].latest_duration == dt.timedelta(days=60)
    assert history.highest_stage.slug == "purchase"


def test_history_counts_repeat_visits_and_ignores_exit_for_highest_stage():
    with time_machine.travel(NOW, tick=False):
        contact = ContactFactory(acquired_at=at(700), stage=stage("purchase"))
        TouchpointFactory(contact=contact, kind="purchase", occurred_at=at(650))
        lifecycle_evaluate(contact_ids=[contact.pk], as_of=at(450).date())  # at_risk at day 650-180
        TouchpointFactory(contact=contact, kind="purchase", occurred_at=at(300))
        lifecycle_evaluate(contact_ids=[contact.pk], as_of=at(290).date())  # win-back to retention
        lifecycle_evaluate(contact_ids=[contact.pk])  # silent again for 300 days: at_risk
        history = contact_stage_history(contact_id=contact.pk, now=NOW)
    at_risk = history.for_stage("at_risk")
    assert at_risk.visits == 2
    assert at_risk.total_duration == dt.timedelta(days=(650 - 180) - 300) + dt.timedelta(days=300 - 180)
    assert history.highest_stage.slug == "retention"
    assert [t.is_win_back for t in history.transitions].count(True) == 1
    rows = list(stage_visits(contact_ids=[contact.pk]).values_list("to_stage__slug", "exited_at"))
    assert rows[-1] == ("at_risk", None)


def test_replay_records_lapses_and_win_backs():
    with time_machine.travel(NOW, tick=False):
        contact = ContactFactory(acquired_at=at(800))
        TouchpointFactory(contact=contact, kind="purchase", occurred_at=at(780))
        TouchpointFactory(contact=contact, kind="purchase", occurred_at=at(200))
        lifecycle_replay(start=at(800).date(), step_days=30)
    path = list(
        StageTransition.objects.filter(contact=contact)
        .order_by("effective_at", "id")
        .values_list("to_stage__slug", "is_win_back")
    )
    assert path == [
        ("awareness", False),
        ("purchase", False),
        ("at_risk", False),
        ("churned", False),
        ("retention", True),
        ("at_risk", False),
    ]


def test_command_recomputes_with_as_of_and_contacts():
    with time_machine.travel(NOW, tick=False):
        one, two = ContactFactory(), ContactFactory()
        TouchpointFactory(contact=one, kind="demo", occurred_at=at(5))
        TouchpointFactory(contact=two, kind="demo", occurred_at=at(5))
        out = StringIO()
        call_command("recompute_lifecycle", "--as-of", at(10).date().isoformat(), "--no-progress", stdout=out)
        assert "moved 0" in out.getvalue()
        call_command("recompute_lifecycle", "--contact", str(one.pk), "--no-progress", stdout=out)
        one.refresh_from_db()
        two.refresh_from_db()
        assert (one.stage.slug, two.stage.slug) == ("consideration", "awareness")
        out = StringIO()
        call_command("recompute_lifecycle", "--chunk-size", "1", "--no-progress", stdout=out)
        assert "awareness → consideration: 1" in out.getvalue()
        assert "Snapshot for 2026-06-15" in out.getvalue()


def test_command_rejects_bad_input():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("recompute_lifecycle", "--as-of", "15/06/2026")
    with pytest.raises(CommandError, match="No contact with id 999999"):
        call_command("recompute_lifecycle", "--contact", "999999")
    with pytest.raises(CommandError, match="chunk-size"):
        call_command("recompute_lifecycle", "--chunk-size", "0")


def test_a_crash_mid_chunk_leaves_the_chunk_untouched_and_a_rerun_completes_it():
    contact = ContactFactory()
    TouchpointFactory(contact=contact, kind="purchase")
    real_moves = engine._moves

    def crash_after_writing(*args, **kwargs):
        real_moves(*args, **kwargs)
        raise RuntimeError("worker killed")

    with mock.patch.object(engine, "_moves", crash_after_writing), pytest.raises(RuntimeError):
        lifecycle_evaluate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    assert contact.stage.slug == "awareness"
    assert not StageTransition.objects.filter(contact=contact, source="rule").exists()
    assert not ContactMetrics.objects.filter(contact=contact).exists()
    assert lifecycle_evaluate(contact_ids=[contact.pk]).moved == 1
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase"


def test_manual_move_from_exit_is_a_win_back_and_sends_signal(django_capture_on_commit_callbacks):
    from stages.signals import stage_changed

    contact = ContactFactory(stage=stage("churned"))
    received = []
    handler = lambda sender, transition_ids, **kw: received.extend(transition_ids)  # noqa: E731
    stage_changed.connect(handler)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            transition = contact_move_stage(contact=contact, stage="loyalty", reason="Renewed by phone", source="api")
    finally:
        stage_changed.disconnect(handler)
    assert transition.is_win_back
    assert transition.source == "api"
    assert received == [transition.pk]
