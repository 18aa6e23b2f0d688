"""The contact page shows what plays did for the contact, including skips and their reasons."""

import pytest
from django.urls import reverse

from contacts.touchpoint_services import touchpoint_create
from tests.factories import ContactFactory
from tests.plays.conftest import EMAIL, make_play

pytestmark = pytest.mark.django_db


def test_contact_page_lists_a_skipped_play_email_with_its_reason(client, admin_user, run_on_commit):
    contact = ContactFactory(marketing_consent=False)
    make_play(name="Welcome email", trigger_type="touchpoint_logged", trigger_kind="site_visit", actions=[EMAIL])
    with run_on_commit():
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit"})
    client.force_login(admin_user)
    page = client.get(reverse("web:contact_detail", args=[contact.pk])).content.decode()
    assert "Welcome email" in page
    assert "no marketing consent" in page


def test_contact_page_says_when_no_play_ran(client, admin_user):
    contact = ContactFactory()
    client.force_login(admin_user)
    page = client.get(reverse("web:contact_detail", args=[contact.pk])).content.decode()
    assert "No plays have run for this contact." in page
