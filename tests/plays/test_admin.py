"""The plays admin: pages render, and a play with a broken trigger or template is refused with field messages."""

import pytest

from plays.models import Play, PlayAction

pytestmark = pytest.mark.django_db


def _form(**overrides):
    data = {
        "name": "Survey follow-up",
        "description": "",
        "status": "paused",
        "trigger_type": "touchpoint_logged",
        "trigger_stage": "",
        "trigger_kind": "survey_response",
        "score_min": "",
        "score_max": "6",
        "silence_days": "",
        "quiet_kinds": "[]",
        "p_alive_threshold": "",
        "anniversary_years": "",
        "condition_segment": "",
        "condition_stage": "",
        "delay": "00:00:00",
        "goal_stage": "",
        "goal_window": "30 00:00:00",
        "actions-TOTAL_FORMS": "1",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "actions-0-position": "1",
        "actions-0-action_type": "send_email",
        "actions-0-subject": "Sorry, {{ contact.first_name }}",
        "actions-0-body_text": "We hear you.",
        "actions-0-body_html": "",
        "actions-0-task_title": "",
        "actions-0-task_due_days": "1",
        "actions-0-webhook_event": "",
        "actions-0-reason": "",
    }
    data.update(overrides)
    return data


def test_admin_pages_render(client, admin_user):
    client.force_login(admin_user)
    play = Play.objects.first()
    for url in (
        "/admin/plays/play/",
        "/admin/plays/play/add/",
        f"/admin/plays/play/{play.pk}/change/",
        "/admin/plays/playrun/",
        "/admin/plays/task/",
    ):
        assert client.get(url).status_code == 200, url


def test_admin_creates_a_play_with_its_action(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/plays/play/add/", _form())
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    play = Play.objects.get(name="Survey follow-up")
    assert play.score_max == 6 and play.status == "paused"
    assert PlayAction.objects.get(play=play).subject == "Sorry, {{ contact.first_name }}"


def test_admin_refuses_a_broken_template_and_a_trigger_without_its_parameter(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/plays/play/add/",
        _form(trigger_type="stage_entered", **{"actions-0-subject": "{% if %}"}),
    )
    assert response.status_code == 200
    assert not Play.objects.filter(name="Survey follow-up").exists()
    page = response.content.decode()
    assert "A stage-entry play needs the stage." in page
    assert "Template error" in page
