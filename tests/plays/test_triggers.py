"""Each trigger type creates a run per contact and occurrence, and the run acts."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from contacts.models import Touchpoint
from contacts.touchpoint_services import touchpoint_create
from metrics.models import ContactMetrics
from plays.models import ActionLog, PlayRun, PlayStatus, RunStatus, Task
from plays.services import play_set_status
from plays.tasks import scan_plays_task
from plays.triggers import runs_create_for_transitions
from stages.models import Stage, StageTransition
from stages.services import contact_move_stage
from tests.factories import ContactFactory, SegmentFactory, TagFactory, TouchpointFactory, UserFactory
from tests.plays.conftest import EMAIL, T0, make_play

pytestmark = pytest.mark.django_db


def test_entering_a_stage_emails_the_contact_after_commit(consenting, run_on_commit):
    play = make_play(trigger_type="stage_entered", trigger_stage="loyalty", actions=[EMAIL])
    with run_on_commit():
        contact_move_stage(contact=consenting, stage="loyalty", reason="VIP", source="manual")
    run = PlayRun.objects.get(play=play, contact=consenting)
    assert run.status == RunStatus.DONE and run.acted
    assert run.occurrence_key.startswith("transition:")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ann@example.com"]
    assert message.subject == "Hello Ann"
    assert "you are in Loyalty" in message.body
    assert "/unsubscribe/" in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "<b>Loyalty</b>" in html
    sent = Touchpoint.objects.get(contact=consenting, kind="email_sent")
    assert sent.source == "system" and "Hello Ann" in sent.note


def test_entering_another_stage_does_not_trigger(consenting, run_on_commit):
    make_play(trigger_type="stage_entered", trigger_stage="loyalty", actions=[EMAIL])
    with run_on_commit():
        contact_move_stage(contact=consenting, stage="retention", reason="test", source="manual")
    assert not PlayRun.objects.exists()
    assert mail.outbox == []


def test_transitions_of_imported_history_do_not_trigger(consenting):
    play = make_play(trigger_type="stage_entered", trigger_stage="loyalty", actions=[EMAIL])
    old = StageTransition.objects.create(
        contact=consenting,
        from_stage=consenting.stage,
        to_stage=Stage.objects.get(slug="loyalty"),
        effective_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        source="import",
    )
    assert runs_create_for_transitions(transition_ids=[old.pk]) == []
    assert not play.runs.exists()


def test_low_survey_score_creates_a_task_for_the_owner(run_on_commit):
    rep = UserFactory(username="rep1", role="sales_rep")
    contact = ContactFactory(owner=rep)
    play = make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="survey_response",
        score_max=6,
        actions=[{"action_type": "create_task", "task_title": "Call {{ contact.full_name }} about the survey"}],
    )
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "survey_response", "score": 9})
    assert not play.runs.exists()
    with run_on_commit():
        low = touchpoint_create(data={"contact": contact.pk, "kind": "survey_response", "score": 4}).touchpoint
    run = PlayRun.objects.get(play=play)
    assert run.occurrence_key == f"touchpoint:{low.pk}"
    task = Task.objects.get(run=run)
    assert task.owner == rep and task.contact == contact
    assert task.title == f"Call {contact.full_name} about the survey"
    assert task.status == "open"


def test_silence_after_abandoned_cart_reminds_only_those_who_did_not_buy():
    with time_machine.travel(T0, tick=False):
        quiet = ContactFactory(email="quiet@example.com", marketing_consent=True)
        bought = ContactFactory(email="bought@example.com", marketing_consent=True)
        TouchpointFactory(contact=quiet, kind="cart_abandoned", occurred_at=T0)
        TouchpointFactory(contact=bought, kind="cart_abandoned", occurred_at=T0)
        TouchpointFactory(contact=bought, kind="purchase", occurred_at=T0 + dt.timedelta(hours=2))
        play = make_play(
            trigger_type="silence",
            trigger_kind="cart_abandoned",
            silence_days=1,
            quiet_kinds=["purchase"],
            actions=[EMAIL],
        )
        scan_plays_task()
        assert not play.runs.exists()  # not a day yet
    with time_machine.travel(T0 + dt.timedelta(hours=12), tick=False):
        scan_plays_task()
        assert not play.runs.exists()
    with time_machine.travel(T0 + dt.timedelta(days=1, minutes=5), tick=False):
        result = scan_plays_task()
        assert result["created"] == {play.pk: 1}
        run = play.runs.get()
        assert run.contact == quiet and run.status == RunStatus.DONE
        assert [m.to for m in mail.outbox] == [["quiet@example.com"]]
    with time_machine.travel(T0 + dt.timedelta(days=1, hours=1), tick=False):
        scan_plays_task()  # the next scan only looks past the watermark: nothing twice
        assert play.runs.count() == 1 and len(mail.outbox) == 1


def test_silence_after_purchase_counts_any_touch_but_not_our_own_emails():
    with time_machine.travel(T0, tick=False):
        silent = ContactFactory(email="silent@example.com")
        active = ContactFactory(email="active@example.com")
        for contact in (silent, active):
            TouchpointFactory(contact=contact, kind="purchase", occurred_at=T0 - dt.timedelta(days=30))
        TouchpointFactory(contact=silent, kind="email_sent", source="system", occurred_at=T0 - dt.timedelta(days=5))
        TouchpointFactory(contact=active, kind="site_visit", occurred_at=T0 - dt.timedelta(days=5))
        play = make_play(
            trigger_type="silence",
            trigger_kind="purchase",
            silence_days=30,
            actions=[{"action_type": "add_tag", "tag": TagFactory(name="quiet-customer")}],
        )
        scan_plays_task()
    assert list(play.runs.values_list("contact__email", flat=True)) == ["silent@example.com"]
    assert list(silent.tags.values_list("name", flat=True)) == ["quiet-customer"]


def test_probability_alive_below_threshold_fires_once_per_slip():
    with time_machine.travel(T0, tick=False):
        slipping = ContactFactory(email="slipping@example.com")
        fine = ContactFactory(email="fine@example.com")
        bought = T0 - dt.timedelta(days=200)
        ContactMetrics.objects.create(contact=slipping, p_alive=0.2, last_purchase_at=bought, computed_at=T0)
        ContactMetrics.objects.create(contact=fine, p_alive=0.9, last_purchase_at=bought, computed_at=T0)
        play = make_play(
            trigger_type="p_alive_below",
            p_alive_threshold=0.3,
            actions=[{"action_type": "add_tag", "tag": TagFactory(name="slipping")}],
        )
        scan_plays_task()
        assert list(play.runs.values_list("contact_id", flat=True)) == [slipping.pk]
    # The nightly recompute rewrites every row; still slipping after the same purchase: no new run.
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        ContactMetrics.objects.update(computed_at=T0 + dt.timedelta(days=1))
        scan_plays_task()
        assert play.runs.count() == 1
    # A new purchase, then slipping again: a new occurrence.
    with time_machine.travel(T0 + dt.timedelta(days=90), tick=False):
        ContactMetrics.objects.filter(contact=slipping).update(
            p_alive=0.1, last_purchase_at=T0 + dt.timedelta(days=10), computed_at=T0 + dt.timedelta(days=90)
        )
        scan_plays_task()
        assert play.runs.filter(contact=slipping).count() == 2


def test_anniversary_of_first_purchase_fires_on_the_day():
    first = dt.datetime(2018, 5, 1, 9, 0, tzinfo=dt.UTC)
    contact = ContactFactory(email="mattress@example.com")
    TouchpointFactory(contact=contact, kind="purchase", occurred_at=first)
    TouchpointFactory(contact=contact, kind="purchase", occurred_at=first + dt.timedelta(days=400))
    other = ContactFactory(email="later@example.com")
    TouchpointFactory(contact=other, kind="purchase", occurred_at=first + dt.timedelta(days=30))
    with time_machine.travel(dt.datetime(2026, 4, 30, 12, 0, tzinfo=dt.UTC), tick=False):
        play = make_play(
            trigger_type="anniversary",
            anniversary_years=8,
            actions=[{"action_type": "add_tag", "tag": TagFactory(name="8-years")}],
        )
        scan_plays_task()
        assert not play.runs.exists()
    with time_machine.travel(dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC), tick=False):
        scan_plays_task()
        run = play.runs.get()
        assert run.contact == contact and run.occurrence_key == "anniversary:8y"
    with time_machine.travel(dt.datetime(2026, 5, 2, 9, 30, tzinfo=dt.UTC), tick=False):
        scan_plays_task()
        assert play.runs.count() == 1  # the second purchase's anniversary is not a first-purchase one


def test_delay_is_scheduled_and_picked_up_by_the_scan(consenting, run_on_commit):
    with time_machine.travel(T0, tick=False):
        play = make_play(
            trigger_type="stage_entered", trigger_stage="loyalty", delay=dt.timedelta(days=3), actions=[EMAIL]
        )
        with run_on_commit():
            contact_move_stage(contact=consenting, stage="loyalty", reason="VIP", source="manual")
        run = play.runs.get()
        assert run.status == RunStatus.PENDING and run.due_at == T0 + dt.timedelta(days=3)
        assert mail.outbox == []
    with time_machine.travel(T0 + dt.timedelta(days=2), tick=False):
        scan_plays_task()
        assert mail.outbox == []
    with time_machine.travel(T0 + dt.timedelta(days=3, minutes=1), tick=False):
        result = scan_plays_task()
        assert result["dispatched"] == 1
        run.refresh_from_db()
        assert run.status == RunStatus.DONE and len(mail.outbox) == 1


def test_paused_play_does_nothing(consenting, run_on_commit):
    play = make_play(trigger_type="stage_entered", trigger_stage="loyalty", status=PlayStatus.PAUSED, actions=[EMAIL])
    with run_on_commit():
        contact_move_stage(contact=consenting, stage="loyalty", reason="VIP", source="manual")
    assert not play.runs.exists() and mail.outbox == []


def test_pausing_a_play_stops_its_delayed_runs(consenting, run_on_commit):
    with time_machine.travel(T0, tick=False):
        play = make_play(
            trigger_type="stage_entered", trigger_stage="loyalty", delay=dt.timedelta(hours=1), actions=[EMAIL]
        )
        with run_on_commit():
            contact_move_stage(contact=consenting, stage="loyalty", reason="VIP", source="manual")
        play_set_status(play=play, status=PlayStatus.PAUSED)
    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        scan_plays_task()
        from plays.execution import play_runs_execute

        play_runs_execute(run_ids=list(play.runs.values_list("pk", flat=True)))
    run = play.runs.get()
    assert run.status == RunStatus.SKIPPED and run.note == "play paused"
    assert mail.outbox == [] and not ActionLog.objects.exists()


def test_condition_not_met_skips_the_run_with_the_reason(consenting, run_on_commit):
    play = make_play(
        trigger_type="touchpoint_logged", trigger_kind="site_visit", condition_stage="loyalty", actions=[EMAIL]
    )
    with run_on_commit():
        touchpoint_create(data={"contact": consenting.pk, "kind": "site_visit"})
    run = play.runs.get()
    assert run.status == RunStatus.SKIPPED
    assert run.note == "condition: not in stage loyalty"
    assert mail.outbox == []


def test_segment_condition_uses_the_saved_filters(run_on_commit):
    vip = ContactFactory(email="vip@example.com", marketing_consent=True)
    vip.tags.add(TagFactory(name="vip"))
    plain = ContactFactory(email="plain@example.com", marketing_consent=True)
    play = make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        condition_segment=SegmentFactory(filters={"tag": ["vip"]}),
        actions=[EMAIL],
    )
    with run_on_commit():
        for contact in (vip, plain):
            touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})
    statuses = dict(play.runs.values_list("contact__email", "status"))
    assert statuses == {"vip@example.com": "done", "plain@example.com": "skipped"}
    assert [m.to for m in mail.outbox] == [["vip@example.com"]]


def test_email_renders_contact_and_metrics_escaping_only_html(run_on_commit):
    contact = ContactFactory(first_name="Bo", marketing_consent=True)
    for days in (40, 30, 20, 10):  # the engine's evaluation (run before the play) writes the metrics
        TouchpointFactory(contact=contact, kind="purchase", occurred_at=timezone.now() - dt.timedelta(days=days))
    play = make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[
            {
                "action_type": "send_email",
                "subject": "{{ contact.first_name }}: {{ metrics.purchase_count }} orders",
                "body_text": "Spent {{ metrics.revenue }} {{ currency }}; <not html> & fine",
                "body_html": "<p>{{ contact.first_name }}</p>",
            }
        ],
    )
    contact.first_name = "<Bo>"
    contact.save(update_fields=["first_name"])
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})
    assert play.runs.get().acted
    message = mail.outbox[0]
    assert message.subject == "<Bo>: 4 orders"
    assert "Spent 200.00 USD; <not html> & fine" in message.body
    assert "<p>&lt;Bo&gt;</p>" in message.alternatives[0][0]


def test_plays_do_not_trigger_themselves_into_loops(consenting, run_on_commit):
    on_email = make_play(trigger_type="touchpoint_logged", trigger_kind="email_sent", actions=[EMAIL])
    to_advocacy = make_play(
        trigger_type="stage_entered",
        trigger_stage="loyalty",
        actions=[{"action_type": "move_stage", "stage": "advocacy", "reason": "ping"}],
    )
    back = make_play(
        trigger_type="stage_entered",
        trigger_stage="advocacy",
        actions=[{"action_type": "move_stage", "stage": "loyalty", "reason": "pong"}],
    )
    with run_on_commit():
        contact_move_stage(contact=consenting, stage="loyalty", reason="VIP", source="manual")
    assert to_advocacy.runs.count() == 1
    assert back.runs.count() == 0  # the play's own move is not a trigger
    with run_on_commit():
        touchpoint_create(data={"contact": consenting.pk, "kind": "email_sent", "external_id": "esp-1"}, source="api")
    assert on_email.runs.count() == 1 and len(mail.outbox) == 1  # its own email_sent did not fire it again


def test_short_delays_get_an_eta_and_long_ones_wait_for_the_scan(consenting, run_on_commit, monkeypatch):
    from plays import tasks

    scheduled = []
    monkeypatch.setattr(tasks.execute_runs_task, "apply_async", lambda args, eta: scheduled.append((args[0], eta)))
    with time_machine.travel(T0, tick=False):
        short = make_play(
            trigger_type="stage_entered", trigger_stage="loyalty", delay=dt.timedelta(minutes=10), actions=[EMAIL]
        )
        make_play(trigger_type="stage_entered", trigger_stage="loyalty", delay=dt.timedelta(days=3), actions=[EMAIL])
        with run_on_commit():
            contact_move_stage(contact=consenting, stage="loyalty", reason="VIP", source="manual")
    assert scheduled == [([short.runs.get().pk], T0 + dt.timedelta(minutes=10))]
