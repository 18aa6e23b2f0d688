"""The quick touchpoint form on the contact page: JSON for fetch, form errors, permission, stage refresh."""

import pytest
from django.urls import reverse

from contacts.models import Touchpoint
from stages.models import StageTransition

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def test_logging_a_touchpoint_stores_it_and_returns_its_timeline_item(rep_client, rep, rep_contact):
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]),
        {"kind": "call", "channel": "phone", "note": "Talked about renewal"},
        **JSON,
    )
    assert response.status_code == 201
    body = response.json()
    touchpoint = Touchpoint.objects.get(pk=body["touchpoint_id"])
    assert (touchpoint.kind, touchpoint.logged_by, touchpoint.source) == ("call", rep, "manual")
    assert "Talked about renewal" in body["html"]


def test_a_quote_request_moves_the_contact_and_the_stage_endpoint_reports_it(
    rep_client, rep_contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(
            reverse("web:touchpoint_log", args=[rep_contact.pk]), {"kind": "quote_request", "channel": "email"}, **JSON
        )
    assert response.json()["stage"] == "awareness"  # the stage before the evaluation ran
    stage = rep_client.get(reverse("web:contact_stage", args=[rep_contact.pk])).json()
    assert stage["slug"] == "consideration"
    assert "Consideration" in stage["history_html"]
    assert StageTransition.objects.filter(contact=rep_contact, to_stage__slug="consideration").exists()


def test_purchase_without_amount_is_a_clear_field_error_and_nothing_is_written(rep_client, rep_contact):
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]), {"kind": "purchase", "channel": "web"}, **JSON
    )
    assert response.status_code == 400
    assert "amount" in response.json()["errors"]
    assert not Touchpoint.objects.filter(contact=rep_contact).exists()


def test_score_only_on_surveys_and_within_range(rep_client, rep_contact):
    url = reverse("web:touchpoint_log", args=[rep_contact.pk])
    assert "score" in rep_client.post(url, {"kind": "call", "channel": "phone", "score": "5"}, **JSON).json()["errors"]
    bad = rep_client.post(url, {"kind": "survey_response", "channel": "email", "score": "11"}, **JSON)
    assert "score" in bad.json()["errors"]
    ok = rep_client.post(url, {"kind": "survey_response", "channel": "email", "score": "9"}, **JSON)
    assert ok.status_code == 201


def test_plain_form_post_redirects_back_with_a_message(rep_client, rep_contact):
    response = rep_client.post(
        reverse("web:touchpoint_log", args=[rep_contact.pk]), {"kind": "meeting", "channel": "in_person"}
    )
    assert response.status_code == 302
    assert Touchpoint.objects.filter(contact=rep_contact, kind="meeting").exists()


def test_a_rep_cannot_log_on_someone_elses_contact_and_a_marketer_cannot_either(
    rep_client, marketer_client, other_contact
):
    url = reverse("web:touchpoint_log", args=[other_contact.pk])
    assert rep_client.post(url, {"kind": "call", "channel": "phone"}, **JSON).status_code == 403
    assert marketer_client.post(url, {"kind": "call", "channel": "phone"}, **JSON).status_code == 403
    assert not Touchpoint.objects.exists()


def test_manual_move_from_the_contact_page_keeps_the_reason(rep_client, rep_contact):
    url = reverse("web:contact_move", args=[rep_contact.pk])
    rep_client.post(url, {"stage": "loyalty", "reason": ""})
    rep_contact.refresh_from_db()
    assert rep_contact.stage.slug == "awareness"
    rep_client.post(url, {"stage": "loyalty", "reason": "Signed a three-year deal"})
    rep_contact.refresh_from_db()
    assert rep_contact.stage.slug == "loyalty"
    assert StageTransition.objects.filter(contact=rep_contact, note="Signed a three-year deal").exists()
