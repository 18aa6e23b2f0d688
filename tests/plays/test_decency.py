"""Rules of decency: consent, unsubscribe, the weekly cap, once per occurrence (also under racing workers)."""

import datetime as dt
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection

from contacts.touchpoint_services import touchpoint_create
from plays.execution import play_runs_execute
from plays.models import ActionLog, PlayRun, RunStatus
from plays.triggers import play_scan, runs_create_for_touchpoints, runs_create_for_transitions
from stages.models import Stage, StageTransition
from tests.factories import ContactFactory, TagFactory, TouchpointFactory
from tests.plays.conftest import EMAIL, T0, make_play
from tests.services import require_postgres


def _visit_play(**fields):
    return make_play(trigger_type="touchpoint_logged", trigger_kind="site_visit", actions=[EMAIL], **fields)


@pytest.mark.django_db
def test_no_email_without_marketing_consent_and_the_skip_is_logged(run_on_commit):
    contact = ContactFactory(marketing_consent=False)
    play = _visit_play()
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})
    assert mail.outbox == []
    log = ActionLog.objects.get(contact=contact)
    assert (log.status, log.detail) == ("skipped", "no marketing consent")
    run = play.runs.get()
    assert run.status == RunStatus.DONE and not run.acted


@pytest.mark.django_db
def test_no_email_after_unsubscribe_even_if_consent_flag_was_set_again_by_hand(run_on_commit):
    contact = ContactFactory(marketing_consent=True, unsubscribed_at=T0)
    _visit_play()
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})
    assert mail.outbox == []
    assert ActionLog.objects.get(contact=contact).detail == "unsubscribed on 2026-03-02"


@pytest.mark.django_db
def test_weekly_email_cap_per_contact(settings, consenting, run_on_commit):
    settings.PLAYS_EMAIL_CAP_PER_WEEK = 2
    _visit_play()
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            with run_on_commit():
                touchpoint_create(data={"contact": consenting.pk, "kind": "site_visit"})
        assert len(mail.outbox) == 2
        skipped = ActionLog.objects.get(contact=consenting, status="skipped")
        assert skipped.detail == "frequency cap: 2 emails in the last 7 days (cap 2)"
    with time_machine.travel(T0 + dt.timedelta(days=7, minutes=1), tick=False):
        with run_on_commit():
            touchpoint_create(data={"contact": consenting.pk, "kind": "site_visit"})
        assert len(mail.outbox) == 3  # a week later the cap has room again


@pytest.mark.django_db
def test_a_retried_task_acts_once_per_occurrence(consenting, run_on_commit):
    play = _visit_play()
    with run_on_commit():
        visit = touchpoint_create(data={"contact": consenting.pk, "kind": "site_visit"}).touchpoint
    # The same event delivered again (a retried task, a duplicate signal) and the run executed again.
    again = runs_create_for_touchpoints(touchpoint_ids=[visit.pk])
    play_runs_execute(run_ids=list(play.runs.values_list("pk", flat=True)))
    assert again == []  # the run is already finished, nothing open to dispatch
    assert play.runs.count() == 1 and len(mail.outbox) == 1
    assert ActionLog.objects.count() == 1


@pytest.mark.django_db
def test_a_crashed_run_resumes_without_repeating_done_actions(consenting):
    tag_action = {"action_type": "add_tag", "tag": TagFactory(name="seen")}
    make_play(trigger_type="stage_entered", trigger_stage="loyalty", actions=[EMAIL, tag_action])
    transition = StageTransition.objects.create(
        contact=consenting,
        from_stage=consenting.stage,
        to_stage=Stage.objects.get(slug="loyalty"),
        effective_at=T0,
        recorded_at=T0,
        source="rule",
    )
    # The move is the contact's current stage (only current moves trigger plays, issue 17).
    type(consenting).objects.filter(pk=consenting.pk).update(stage=transition.to_stage, stage_entered_at=T0)
    with time_machine.travel(T0, tick=False):
        [run_id] = runs_create_for_transitions(transition_ids=[transition.pk])
        play_runs_execute(run_ids=[run_id])
    # Simulate a worker that died after the email: run back to "running" with an old claim, tag log gone.
    ActionLog.objects.filter(action_type="add_tag").delete()
    consenting.tags.clear()
    PlayRun.objects.filter(pk=run_id).update(status="running", claimed_at=T0, finished_at=None)
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        play_runs_execute(run_ids=[run_id])
    assert len(mail.outbox) == 1  # the email was not sent twice
    assert list(consenting.tags.values_list("name", flat=True)) == ["seen"]
    assert PlayRun.objects.get(pk=run_id).status == RunStatus.DONE


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_racing_workers_act_once_per_occurrence():
    """Two threads (two DB connections) create and execute the runs of the same transitions at once, then scan."""
    require_postgres()
    contacts = [ContactFactory(email=f"race{i}@example.com", marketing_consent=True) for i in range(20)]
    play = make_play(trigger_type="stage_entered", trigger_stage="loyalty", actions=[EMAIL])
    loyalty = Stage.objects.get(slug="loyalty")
    now = dt.datetime.now(dt.UTC)
    transition_ids = [
        StageTransition.objects.create(
            contact=c, from_stage=c.stage, to_stage=loyalty, effective_at=now, source="rule"
        ).pk
        for c in contacts
    ]
    # The moves are the contacts' current stages (only current moves trigger plays, issue 17).
    type(contacts[0]).objects.filter(pk__in=[c.pk for c in contacts]).update(stage=loyalty, stage_entered_at=now)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            run_ids = runs_create_for_transitions(transition_ids=transition_ids)
            barrier.wait()
            play_runs_execute(run_ids=run_ids)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert play.runs.count() == 20
    assert set(play.runs.values_list("status", flat=True)) == {"done"}
    assert ActionLog.objects.filter(status="sent").count() == 20
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in contacts)

    # Two overlapping scans of a time-based play (a slow beat tick and the next one) create each run once.
    now = dt.datetime.now(dt.UTC)
    for contact in contacts:
        TouchpointFactory(contact=contact, kind="cart_abandoned", occurred_at=now - dt.timedelta(days=1, hours=1))
    cart = make_play(trigger_type="silence", trigger_kind="cart_abandoned", silence_days=1)
    created: list[int] = []

    def scanner():
        try:
            barrier.wait()
            created.append(play_scan(play_id=cart.pk, now=now))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scanner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(created) == [0, 20] and cart.runs.count() == 20
