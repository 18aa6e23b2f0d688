"""Reps' tasks (created, listed, completed with an outcome, logged), the play pages and the default plays."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from contacts.models import Touchpoint
from plays.models import Play, PlayRun, PlayStatus, Task
from plays.selectors import play_report
from plays.services import task_complete
from stages.models import Stage, StageTransition
from tests.factories import ContactFactory, TouchpointFactory
from tests.plays.conftest import T0, make_play

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(rep):
    contact = ContactFactory(owner=rep, first_name="Cleo", last_name="Moss")
    return Task.objects.create(owner=rep, contact=contact, title="Call Cleo Moss", due_on=dt.date(2026, 3, 3))


def test_completing_a_task_logs_a_task_completed_touchpoint(task, rep):
    task_complete(task=task, user=rep, outcome="  Will reorder next week  ")
    task.refresh_from_db()
    assert task.status == "done" and task.outcome == "Will reorder next week" and task.completed_at
    touch = Touchpoint.objects.get(contact=task.contact, kind="task_completed")
    assert touch.logged_by == rep and touch.note == "Call Cleo Moss: Will reorder next week"


def test_my_tasks_page_lists_own_open_tasks_and_completes_with_outcome(client, task, rep, other_rep):
    Task.objects.create(owner=other_rep, contact=task.contact, title="Not yours", due_on=dt.date(2026, 3, 3))
    client.force_login(rep)
    page = client.get(reverse("web:plays:my_tasks"))
    assert page.status_code == 200
    assert "Call Cleo Moss" in page.content.decode() and "Not yours" not in page.content.decode()
    response = client.post(reverse("web:plays:task_complete", args=[task.pk]), {"outcome": "Left a voicemail"})
    assert response.status_code == 302
    assert Touchpoint.objects.filter(contact=task.contact, kind="task_completed", note__contains="voicemail").exists()
    done = client.get(reverse("web:plays:my_tasks") + "?show=done").content.decode()
    assert "Left a voicemail" in done


def test_completing_needs_an_outcome_and_the_owner(client, task, rep, other_rep):
    client.force_login(rep)
    response = client.post(reverse("web:plays:task_complete", args=[task.pk]), {"outcome": "   "})
    assert response.status_code == 400
    task.refresh_from_db()
    assert task.status == "open" and not Touchpoint.objects.filter(kind="task_completed").exists()
    client.force_login(other_rep)
    assert client.post(reverse("web:plays:task_complete", args=[task.pk]), {"outcome": "x"}).status_code == 404
    task.refresh_from_db()
    assert task.status == "open"


def test_completing_twice_is_refused(task, rep):
    task_complete(task=task, user=rep, outcome="done")
    with pytest.raises(Exception, match="already closed"):
        task_complete(task=task, user=rep, outcome="again")
    assert Touchpoint.objects.filter(kind="task_completed").count() == 1


def test_play_pages_for_marketers_only(client, marketer, rep):
    play = Play.objects.get(name="Win-back email on churn")
    client.force_login(rep)
    assert client.get(reverse("web:plays:play_list")).status_code == 403
    client.force_login(marketer)
    listing = client.get(reverse("web:plays:play_list"))
    assert listing.status_code == 200 and "Win-back email on churn" in listing.content.decode()
    detail = client.get(reverse("web:plays:play_detail", args=[play.pk]))
    assert detail.status_code == 200 and "We miss you" in detail.content.decode()
    response = client.post(reverse("web:plays:play_status", args=[play.pk]), {"status": "active"})
    assert response.status_code == 302
    play.refresh_from_db()
    assert play.status == PlayStatus.ACTIVE


def test_default_plays_are_installed_paused():
    defaults = dict(Play.objects.values_list("name", "status"))
    assert defaults == {
        "Thank-you after first purchase": "paused",
        "Cart-abandonment reminder": "paused",
        "Review request on entering loyalty": "paused",
        "Owner task on entering at-risk": "paused",
        "Win-back email on churn": "paused",
    }
    cart = Play.objects.get(name="Cart-abandonment reminder")
    assert (cart.trigger_type, cart.trigger_kind, cart.silence_days) == ("silence", "cart_abandoned", 1)
    at_risk = Play.objects.get(name="Owner task on entering at-risk")
    assert at_risk.trigger_stage.slug == "at_risk" and at_risk.actions.get().action_type == "create_task"


def test_report_counts_entered_acted_converted_and_revenue_after():
    play = make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        goal_stage="purchase",
        goal_window=dt.timedelta(days=7),
    )
    purchase = Stage.objects.get(slug="purchase")
    converted, late, skipped = ContactFactory(), ContactFactory(), ContactFactory()
    for index, contact in enumerate((converted, late, skipped)):
        PlayRun.objects.create(
            play=play,
            contact=contact,
            occurrence_key=f"t:{index}",
            triggered_at=T0,
            due_at=T0,
            finished_at=T0,
            status="skipped" if contact is skipped else "done",
            acted=contact is not skipped,
        )
    StageTransition.objects.create(
        contact=converted, to_stage=purchase, effective_at=T0 + dt.timedelta(days=2), source="rule"
    )
    StageTransition.objects.create(
        contact=late, to_stage=purchase, effective_at=T0 + dt.timedelta(days=9), source="rule"
    )
    TouchpointFactory(
        contact=converted, kind="purchase", amount=Decimal("80.00"), occurred_at=T0 + dt.timedelta(days=2)
    )
    TouchpointFactory(
        contact=converted, kind="purchase", amount=Decimal("20.00"), occurred_at=T0 + dt.timedelta(days=3)
    )
    TouchpointFactory(contact=late, kind="purchase", amount=Decimal("500.00"), occurred_at=T0 + dt.timedelta(days=9))
    TouchpointFactory(contact=late, kind="purchase", amount=Decimal("7.00"), occurred_at=T0 - dt.timedelta(days=1))
    TouchpointFactory(contact=skipped, kind="purchase", amount=Decimal("900.00"), occurred_at=T0 + dt.timedelta(days=1))
    report = play_report(play_ids=[play.pk])[play.pk]
    assert (report.entered, report.acted, report.skipped, report.converted) == (3, 2, 1, 1)
    assert report.revenue == Decimal("100.00")
    assert report.conversion_rate == 0.5
    later = play_report(play_ids=[play.pk], since=timezone.now() + dt.timedelta(days=1))[play.pk]
    assert (later.entered, later.converted, later.revenue) == (0, 0, Decimal("0.00"))


def test_unsubscribe_link_confirms_then_withdraws_consent_once(client):
    from plays.rendering import unsubscribe_url

    contact = ContactFactory(marketing_consent=True)
    path = unsubscribe_url(contact_id=contact.pk).removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    assert page.status_code == 200 and "Unsubscribe?" in page.content.decode()
    contact.refresh_from_db()
    assert contact.marketing_consent  # a GET (a link scanner) changes nothing
    with time_machine.travel(T0, tick=False):
        done = client.post(path)
    assert done.status_code == 200 and "You are unsubscribed" in done.content.decode()
    contact.refresh_from_db()
    assert not contact.marketing_consent and contact.unsubscribed_at == T0
    client.post(path)
    assert Touchpoint.objects.filter(contact=contact, kind="unsubscribe").count() == 1


def test_tampered_unsubscribe_token_is_refused(client):
    contact = ContactFactory(marketing_consent=True)
    assert client.get(reverse("web:plays:unsubscribe", args=["not-a-token"])).status_code == 400
    assert client.post(reverse("web:plays:unsubscribe", args=[f"{contact.pk}:forged"])).status_code == 400
    contact.refresh_from_db()
    assert contact.marketing_consent


def test_rep_sees_tasks_created_by_the_at_risk_play(client, rep, run_on_commit):
    from stages.services import contact_move_stage

    play = Play.objects.get(name="Owner task on entering at-risk")
    play.status = PlayStatus.ACTIVE
    play.save(update_fields=["status"])
    contact = ContactFactory(owner=rep, first_name="Dana", last_name="Quiet", stage=Stage.objects.get(slug="retention"))
    with run_on_commit():
        contact_move_stage(contact=contact, stage="at_risk", reason="silent", source="manual")
    client.force_login(rep)
    assert "Call Dana Quiet: gone quiet (at risk)" in client.get(reverse("web:plays:my_tasks")).content.decode()
