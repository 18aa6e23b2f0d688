"""Every action type: what it does, and what it logs when it cannot."""

import pytest
from django.core import mail

from campaigns.models import CampaignMember
from contacts.touchpoint_services import touchpoint_create
from plays.models import ActionLog, Task
from plays.selectors import contact_play_log
from stages.models import StageTransition
from tests.factories import CampaignFactory, ContactFactory, TagFactory, UserFactory
from tests.plays.conftest import EMAIL, make_play
from tests.services import free_port

pytestmark = pytest.mark.django_db


def _visit(contact, run_on_commit):
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})


def _logs(contact):
    return list(ActionLog.objects.filter(contact=contact).order_by("id").values_list("action_type", "status", "detail"))


def test_add_and_remove_tags(run_on_commit):
    contact = ContactFactory()
    contact.tags.add(TagFactory(name="prospect"))
    make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[
            {"action_type": "add_tag", "tag": TagFactory(name="engaged")},
            {"action_type": "remove_tag", "tag": TagFactory(name="prospect")},
            {"action_type": "remove_tag", "tag": TagFactory(name="never-had")},
        ],
    )
    _visit(contact, run_on_commit)
    assert list(contact.tags.values_list("name", flat=True)) == ["engaged"]
    assert _logs(contact) == [
        ("add_tag", "sent", "tagged engaged"),
        ("remove_tag", "sent", "removed tag prospect"),
        ("remove_tag", "skipped", "did not have tag never-had"),
    ]


def test_enrol_in_campaign_is_idempotent(run_on_commit):
    contact = ContactFactory()
    campaign = CampaignFactory(name="Spring")
    make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[{"action_type": "enrol_campaign", "campaign": campaign}],
    )
    _visit(contact, run_on_commit)
    _visit(contact, run_on_commit)
    member = CampaignMember.objects.get(campaign=campaign, contact=contact)
    assert member.source == "play"
    assert [status for _, status, _ in _logs(contact)] == ["sent", "skipped"]
    assert _logs(contact)[1][2] == "already in campaign Spring"


def test_task_for_contact_without_owner_is_skipped_with_reason(run_on_commit):
    contact = ContactFactory(owner=None)
    make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[{"action_type": "create_task", "task_title": "Call"}],
    )
    _visit(contact, run_on_commit)
    assert not Task.objects.exists()
    assert _logs(contact) == [("create_task", "skipped", "no owner")]


def test_task_is_due_after_the_configured_days(run_on_commit):
    rep = UserFactory(username="rep7", role="sales_rep")
    contact = ContactFactory(owner=rep)
    make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[{"action_type": "create_task", "task_title": "Follow up", "task_due_days": 3}],
    )
    _visit(contact, run_on_commit)
    task = Task.objects.get()
    assert (task.due_on - task.created_at.date()).days == 3
    assert task.owner == rep


def test_webhook_event_is_published_to_subscribers_of_it(settings, run_on_commit):
    settings.WEBHOOKS_DELIVERY_ENABLED = False  # the delivery row is what we check; no HTTP from this test
    webhooks_models = pytest.importorskip("webhooks.models")
    contact = ContactFactory()
    make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[{"action_type": "fire_webhook", "webhook_event": "contact.created"}],
    )
    _visit(contact, run_on_commit)
    assert _logs(contact) == [("fire_webhook", "skipped", "no active webhook subscription to contact.created")]
    webhooks_models.WebhookSubscription.objects.create(
        name="crm", url="https://hooks.example.com/in", events=["contact.created"], secret="s"
    )
    _visit(contact, run_on_commit)
    assert _logs(contact)[-1] == ("fire_webhook", "sent", "webhook event contact.created published")
    delivery = webhooks_models.WebhookDelivery.objects.get()
    assert delivery.payload["type"] == "contact.created"
    assert [c["id"] for c in delivery.payload["data"]["contacts"]] == [contact.pk]


def test_webhook_event_that_does_not_carry_contacts_fails_with_reason(run_on_commit):
    pytest.importorskip("webhooks.services")
    contact = ContactFactory()
    make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[{"action_type": "fire_webhook", "webhook_event": "touchpoint.created"}],
    )
    _visit(contact, run_on_commit)
    [(kind, status, detail)] = _logs(contact)
    assert (kind, status) == ("fire_webhook", "failed")
    assert detail.startswith("webhook event 'touchpoint.created' does not carry contacts (one of: contact.created")


def test_move_to_stage_records_the_reason_and_source(run_on_commit):
    contact = ContactFactory()
    make_play(
        name="Hot leads",
        trigger_type="touchpoint_logged",
        trigger_kind="quote_request",
        actions=[{"action_type": "move_stage", "stage": "consideration", "reason": "asked for a quote"}],
    )
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "quote_request"})
    contact.refresh_from_db()
    assert contact.stage.slug == "consideration"
    log = ActionLog.objects.get(contact=contact)
    # The engine may have moved the contact first (quote → consideration is a default rule).
    assert (log.status, log.detail) in {("sent", "moved to consideration"), ("skipped", "already in consideration")}
    if log.status == "sent":
        move = StageTransition.objects.filter(contact=contact, source="play").get()
        assert move.note == "asked for a quote (play: Hot leads)"


def test_move_to_stage_by_play_writes_a_play_transition(run_on_commit):
    contact = ContactFactory()
    make_play(
        name="VIP",
        trigger_type="touchpoint_logged",
        trigger_kind="note",
        actions=[{"action_type": "move_stage", "stage": "loyalty", "reason": "marked VIP"}],
    )
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "note"})
    move = StageTransition.objects.get(contact=contact, source="play")
    assert move.to_stage.slug == "loyalty" and move.note == "marked VIP (play: VIP)"
    assert _logs(contact) == [("move_stage", "sent", "moved to loyalty")]


def test_failed_smtp_is_logged_as_failed_and_later_actions_still_run(settings, consenting, run_on_commit):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2  # nothing listens
    make_play(
        trigger_type="touchpoint_logged",
        trigger_kind="site_visit",
        actions=[EMAIL, {"action_type": "add_tag", "tag": TagFactory(name="tried")}],
    )
    _visit(consenting, run_on_commit)
    logs = _logs(consenting)
    assert logs[0][:2] == ("send_email", "failed") and "ConnectionRefusedError" in logs[0][2]
    assert logs[1] == ("add_tag", "sent", "tagged tried")
    assert mail.outbox == []


def test_contact_play_log_shape_for_the_timeline(consenting, run_on_commit):
    consenting.marketing_consent = False
    consenting.save(update_fields=["marketing_consent"])
    play = make_play(name="Welcome", trigger_type="touchpoint_logged", trigger_kind="site_visit", actions=[EMAIL])
    _visit(consenting, run_on_commit)
    [entry] = contact_play_log(contact_id=consenting.pk)
    assert entry.play_id == play.pk and entry.play_name == "Welcome"
    assert entry.status == "done" and entry.acted is False and entry.at == entry.finished_at
    [action] = entry.actions
    assert (action.action_type, action.status, action.detail) == ("send_email", "skipped", "no marketing consent")
    assert entry.as_dict()["actions"][0]["status_label"] == "Skipped"


def test_admin_validation_names_the_missing_fields():
    from django.core.exceptions import ValidationError

    from plays.models import Play, PlayAction
    from plays.services import play_action_validate, play_validate

    with pytest.raises(ValidationError) as caught:
        play_validate(
            play=Play(name="x", trigger_type="silence", trigger_kind="", silence_days=0, quiet_kinds=["nope"])
        )
    assert set(caught.value.message_dict) == {"trigger_kind", "silence_days", "quiet_kinds"}
    with pytest.raises(ValidationError) as caught:
        play_action_validate(action=PlayAction(action_type="send_email", subject="{% if %}", body_text=""))
    assert set(caught.value.message_dict) == {"subject", "body_text"}
    assert "Template error" in caught.value.message_dict["subject"][0]
    with pytest.raises(ValidationError) as caught:
        play_action_validate(action=PlayAction(action_type="move_stage", reason=""))
    assert set(caught.value.message_dict) == {"stage", "reason"}


def test_contact_play_log_partial_renders_outcomes(consenting, run_on_commit):
    from django.template.loader import render_to_string

    make_play(name="Welcome", trigger_type="touchpoint_logged", trigger_kind="site_visit", actions=[EMAIL])
    _visit(consenting, run_on_commit)
    html = render_to_string("plays/_contact_play_log.html", {"entries": contact_play_log(contact_id=consenting.pk)})
    assert "Welcome" in html and "Send email" in html and "to ann@example.com: Hello Ann" in html
