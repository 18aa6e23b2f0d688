"""Plays without admin (issue 21): the play editor, its live preview on a real contact, a test send to oneself,
who a play would reach; the play page shows emails as written for a contact, never template code."""

import pytest
from django.core import mail
from django.urls import reverse

from plays.models import Play, PlayAction
from tests.factories import ContactFactory, stage
from tests.web.conftest import login

pytestmark = pytest.mark.django_db

TEMPLATE = "Hello {{ contact.first_name|default:'friend' }}, welcome to {{ stage.name }}!"


def _management(total=1, initial=0):
    return {
        "actions-TOTAL_FORMS": str(total),
        "actions-INITIAL_FORMS": str(initial),
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "10",
    }


def _play_data(**overrides):
    data = {
        "name": "Welcome buyers",
        "description": "",
        "trigger_type": "stage_entered",
        "trigger_stage": stage("purchase").pk,
        "trigger_kind": "",
        "delay_hours": "2",
        "goal_window_days": "30",
        **_management(),
        "actions-0-action_type": "send_email",
        "actions-0-subject": "Thanks {{ contact.first_name }}",
        "actions-0-body_text": TEMPLATE,
        "actions-0-task_due_days": "1",
    }
    data.update(overrides)
    return data


@pytest.fixture
def marketer_web(marketer):
    marketer.email = "marketer@example.com"
    marketer.save()
    return login(marketer)


def test_a_marketer_creates_a_play_with_an_email_action_without_admin(marketer_web):
    response = marketer_web.post(reverse("web:plays:play_create"), _play_data())
    play = Play.objects.get(name="Welcome buyers")
    assert response.status_code == 302 and response.url == reverse("web:plays:play_detail", args=[play.pk])
    assert (play.status, play.trigger_stage.slug, play.delay.total_seconds()) == ("paused", "purchase", 7200)
    action = PlayAction.objects.get(play=play)
    assert (action.action_type, action.position, action.body_text) == ("send_email", 0, TEMPLATE)


def test_a_broken_template_is_refused_and_nothing_is_stored(marketer_web):
    actions_before = PlayAction.objects.count()
    response = marketer_web.post(reverse("web:plays:play_create"), _play_data(**{"actions-0-body_text": "Hi {% if %}"}))
    assert response.status_code == 200
    assert not Play.objects.filter(name="Welcome buyers").exists()
    assert PlayAction.objects.count() == actions_before
    assert response.context["form"].errors


def test_a_stage_trigger_without_its_stage_is_refused_in_plain_words(marketer_web):
    response = marketer_web.post(reverse("web:plays:play_create"), _play_data(trigger_stage=""))
    assert "A stage-entry play needs the stage." in response.context["form"].errors["trigger_stage"]
    assert not Play.objects.filter(name="Welcome buyers").exists()


def test_the_live_preview_renders_the_template_on_a_real_contact(marketer_web):
    contact = ContactFactory(first_name="Nora", stage=stage("purchase"))
    response = marketer_web.post(
        reverse("web:plays:play_preview"),
        {"subject": "Hi {{ contact.first_name }}", "body_text": TEMPLATE, "contact": contact.pk},
    )
    body = response.json()
    assert body["ok"] and body["subject"] == "Hi Nora"
    assert body["text"].startswith("Hello Nora, welcome to Purchase!")
    assert "{{" not in body["text"]


def test_the_play_page_shows_the_email_as_written_for_a_contact_not_template_code(marketer_web):
    ContactFactory(first_name="", stage=stage("purchase"))
    marketer_web.post(reverse("web:plays:play_create"), _play_data())
    play = Play.objects.get(name="Welcome buyers")
    html = marketer_web.get(reverse("web:plays:play_detail", args=[play.pk])).content.decode()
    assert "{{ contact.first_name|default:&#x27;friend&#x27; }}" not in html and "{{" not in html
    assert "Hello friend, welcome to Purchase!" in html
    assert "Who it would reach today" in html and "<strong>1</strong> contacts now in Purchase" in html


def test_a_test_send_goes_to_the_marketer_only_and_records_no_run(marketer_web):
    ContactFactory(first_name="Nora", stage=stage("purchase"))
    marketer_web.post(reverse("web:plays:play_create"), _play_data())
    play = Play.objects.get(name="Welcome buyers")
    action = play.actions.get()
    marketer_web.post(reverse("web:plays:play_test_send", args=[play.pk, action.pk]))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["marketer@example.com"] and mail.outbox[0].subject == "[Test] Thanks Nora"
    assert not play.runs.exists()


def test_editing_a_play_changes_its_trigger_and_keeps_its_action(marketer_web):
    marketer_web.post(reverse("web:plays:play_create"), _play_data())
    play = Play.objects.get(name="Welcome buyers")
    action = play.actions.get()
    data = _play_data(trigger_stage=stage("retention").pk, **_management(total=2, initial=1))
    data["actions-0-id"] = action.pk
    data["actions-0-play"] = play.pk
    data["actions-1-task_due_days"] = "1"  # the empty extra form, as the browser posts it
    response = marketer_web.post(reverse("web:plays:play_edit", args=[play.pk]), data)
    assert response.status_code == 302
    play.refresh_from_db()
    assert play.trigger_stage.slug == "retention" and play.actions.count() == 1


def test_reps_cannot_open_the_editor(rep):
    assert login(rep).get(reverse("web:plays:play_create")).status_code == 403
