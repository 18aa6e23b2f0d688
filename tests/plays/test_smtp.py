"""An email really delivered over SMTP to a local server, and its unsubscribe link followed end to end."""

import email
import email.policy
import re

import pytest
from aiosmtpd.controller import Controller
from django.core import mail

from contacts.models import Touchpoint
from contacts.touchpoint_services import touchpoint_create
from plays.models import ActionLog
from tests.factories import ContactFactory
from tests.plays.conftest import EMAIL, make_play
from tests.services import free_port

pytestmark = pytest.mark.django_db


class _Inbox:
    """aiosmtpd handler keeping every received message."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    inbox = _Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = (
        "127.0.0.1",
        smtp_port,
        False,
        5,
    )
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


def test_email_is_delivered_over_smtp_and_its_unsubscribe_link_withdraws_consent(smtp_server, client, run_on_commit):
    contact = ContactFactory(first_name="Eve", email="eve@example.com", marketing_consent=True)
    make_play(trigger_type="touchpoint_logged", trigger_kind="site_visit", actions=[EMAIL])
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})

    assert mail.outbox == []  # really sent over SMTP, not to the test outbox
    [(recipients, raw)] = smtp_server.messages
    assert recipients == ["eve@example.com"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Hello Eve"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Hi Eve, you are in Awareness." in text and "<b>Awareness</b>" in html
    link = re.search(r"Unsubscribe: (\S+)", text).group(1)
    assert str(message["List-Unsubscribe"]).strip() == f"<{link}>"
    assert link.startswith("http://127.0.0.1:8000/unsubscribe/")
    assert ActionLog.objects.get(contact=contact).status == "sent"
    assert Touchpoint.objects.filter(contact=contact, kind="email_sent").count() == 1

    path = link.removeprefix("http://127.0.0.1:8000")
    assert "Unsubscribe?" in client.get(path).content.decode()
    assert "You are unsubscribed" in client.post(path).content.decode()
    contact.refresh_from_db()
    assert contact.marketing_consent is False and contact.unsubscribed_at is not None
    assert Touchpoint.objects.filter(contact=contact, kind="unsubscribe").exists()

    # The next trigger no longer emails this contact, and says why.
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})
    assert len(smtp_server.messages) == 1
    assert ActionLog.objects.filter(contact=contact, status="skipped", detail__startswith="unsubscribed on").exists()
