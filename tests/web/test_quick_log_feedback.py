"""The quick log tells its outcome at once and reads amounts as people write them (issue 21).

Found: a call showed "Checking the stage…" for about 10 s before saying the stage stays; "1,200.50" was
refused as an amount; errors began with field codes ("amount: …").
"""

import pytest
from django.urls import reverse

from contacts.amounts import amount_parse
from contacts.models import Touchpoint
from tests.factories import ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def considering(rep):
    """A contact of the rep's already in consideration: a call keeps it there."""
    return ContactFactory(owner=rep, email="weighing@example.com", stage=stage("consideration"))


def _answer_is_immediate(body):
    assert body["evaluated"] is True
    return body


def test_a_call_says_at_once_that_the_stage_stays(rep_client, considering, monkeypatch):
    # Commit hooks run inside the request, as they do outside a test transaction.
    monkeypatch.setattr("django.db.transaction.on_commit", lambda fn, using=None, robust=False: fn())
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[considering.pk]), {"kind": "call", "channel": "phone"}, **JSON
    )
    body = _answer_is_immediate(response.json())
    assert (body["slug"], body["name"], body["moved"]) == ("consideration", "Consideration", False)


def test_a_quote_says_at_once_that_the_stage_moved(rep_client, rep_contact, monkeypatch):
    monkeypatch.setattr("django.db.transaction.on_commit", lambda fn, using=None, robust=False: fn())
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]), {"kind": "quote_request", "channel": "email"}, **JSON
    )
    body = _answer_is_immediate(response.json())
    assert (body["slug"], body["moved"]) == ("consideration", True)
    assert "Consideration" in body["history_html"]


def test_with_a_worker_the_page_polls_until_the_engine_has_seen_the_touchpoint(
    rep_client, considering, django_capture_on_commit_callbacks
):
    # The worker has not run yet (commit hooks held back): the answer says so, and so does the poll.
    with django_capture_on_commit_callbacks(execute=False) as held:
        response = rep_client.post(
            reverse("web:touchpoint_log", args=[considering.pk]), {"kind": "call", "channel": "phone"}, **JSON
        )
    body = response.json()
    assert body["evaluated"] is False
    stage_url = reverse("web:contact_stage", args=[considering.pk])
    assert rep_client.get(stage_url, {"after": body["touchpoint_id"]}).json()["evaluated"] is False
    for callback in held:  # the worker finishes
        callback()
    polled = rep_client.get(stage_url, {"after": body["touchpoint_id"]}).json()
    assert polled["evaluated"] is True and polled["slug"] == "consideration"


@pytest.mark.parametrize(
    ("typed", "language", "stored"),
    [
        ("1,200.50", "en-GB,en;q=0.9", "1200.50"),
        ("1.200,50", "de-DE,de;q=0.9", "1200.50"),
        ("1 200,50", "fr-FR", "1200.50"),
        ("1200.5", "en-US", "1200.50"),
        ("$1,200", "en-US", "1200.00"),
    ],
)
def test_amounts_are_read_in_the_users_number_format(rep_client, rep_contact, typed, language, stored):
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]),
        {"kind": "purchase", "channel": "web", "amount": typed},
        HTTP_ACCEPT_LANGUAGE=language,
        **JSON,
    )
    assert response.status_code == 201, response.json()
    assert str(Touchpoint.objects.get(pk=response.json()["touchpoint_id"]).amount) == stored


def test_an_ambiguous_amount_is_read_the_way_the_users_language_writes_it():
    assert str(amount_parse("1,200", language="en")) == "1200"
    assert str(amount_parse("1,200", language="de")) == "1.200"
    assert str(amount_parse("1.200", language="de")) == "1200"


def test_a_wrong_amount_is_refused_in_plain_words_and_nothing_is_stored(rep_client, rep_contact):
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]),
        {"kind": "purchase", "channel": "web", "amount": "12,34,5"},
        HTTP_ACCEPT_LANGUAGE="en-US",
        **JSON,
    )
    assert response.status_code == 400
    assert response.json()["messages"] == ["“12,34,5” is not an amount; write it like 1,200.50."]
    assert not Touchpoint.objects.exists()


def test_messages_of_a_plain_form_post_carry_no_field_codes(rep_client, rep_contact):
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]), {"kind": "purchase", "channel": "web"}, follow=True
    )
    texts = [str(m) for m in response.context["messages"]]
    assert texts == ["A purchase or refund needs its amount."]
    assert not any(t.startswith("amount:") for t in texts)
    assert not Touchpoint.objects.exists()


def test_the_timeline_item_offers_the_correction_to_its_owner(rep_client, rep_contact, rep):
    TouchpointFactory(contact=rep_contact, kind="call", logged_by=rep)
    html = rep_client.get(reverse("web:contact_detail", args=[rep_contact.pk])).content.decode()
    assert "Correct or delete" in html
