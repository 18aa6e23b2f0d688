"""An outbox event published twice (a relay that died after publishing, a redelivered message) sends one email."""

from __future__ import annotations

from django.core import mail

from contacts.touchpoint_services import touchpoint_create
from outbox.models import OutboxEvent
from outbox.services import outbox_relay
from plays.models import PlayRun
from tests.plays.conftest import EMAIL, make_play


def test_a_play_trigger_published_twice_emails_once(consenting, run_on_commit):
    play = make_play(trigger_type="touchpoint_logged", trigger_kind="webinar", actions=[EMAIL])
    with run_on_commit():
        touchpoint_create(data={"contact": consenting.pk, "kind": "webinar", "external_id": "w-1"}, source="api")
    assert play.runs.count() == 1 and len(mail.outbox) == 1
    # Publish every event again, as if each had been handed out a second time.
    OutboxEvent.objects.update(published_at=None, claimed_until=None)
    with run_on_commit():
        again = outbox_relay()
    assert again.published >= 1 and again.failed == 0
    assert PlayRun.objects.filter(play=play).count() == 1
    assert len(mail.outbox) == 1
