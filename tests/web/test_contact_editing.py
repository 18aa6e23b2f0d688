"""Contacts in the app (issue 21): create and edit forms with the API's validation and permissions, touchpoint
corrections and deletions with an undo window and an audit entry, the contact re-evaluated after each."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact, Touchpoint, TouchpointChange
from stages.models import StageTransition
from tests.factories import ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def _contact_data(**overrides):
    data = {
        "first_name": "Mila",
        "last_name": "Evans",
        "email": "mila@kite.example",
        "phone": "+44 20 7946 0000",
        "company": "Kite Outdoor",
        "acquisition_channel": "referral",
        "tags": "fair, vip",
    }
    data.update(overrides)
    return data


def test_a_rep_creates_a_contact_they_own_in_the_first_stage(rep_client, rep):
    response = rep_client.post(reverse("web:contact_create"), _contact_data(owner=""))
    contact = Contact.objects.get(email="mila@kite.example")
    assert response.status_code == 302 and response.url == reverse("web:contact_detail", args=[contact.pk])
    assert contact.owner == rep and contact.stage.slug == "awareness"
    assert sorted(t.name for t in contact.tags.all()) == ["fair", "vip"]
    assert StageTransition.objects.filter(contact=contact, from_stage=None).count() == 1


def test_a_duplicate_email_is_refused_next_to_the_field_and_nothing_is_stored(rep_client, rep_contact):
    response = rep_client.post(reverse("web:contact_create"), _contact_data(email="OWNED@example.com"))
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["A contact with this email already exists."]
    assert Contact.objects.count() == 1


def test_a_bad_email_gets_the_services_message(rep_client):
    response = rep_client.post(reverse("web:contact_create"), _contact_data(email="not-an-address"))
    assert "'not-an-address' is not a valid email address." in response.context["form"].errors["email"]
    assert not Contact.objects.exists()


def test_marketers_cannot_create_or_edit_contacts_as_in_the_api(marketer_client, rep_contact):
    assert marketer_client.get(reverse("web:contact_create")).status_code == 403
    assert marketer_client.post(reverse("web:contact_create"), _contact_data()).status_code == 403
    assert marketer_client.post(reverse("web:contact_edit", args=[rep_contact.pk]), _contact_data()).status_code == 403
    rep_contact.refresh_from_db()
    assert rep_contact.email == "owned@example.com" and Contact.objects.count() == 1


def test_a_rep_fixes_the_phone_number_of_their_contact(rep_client, rep_contact):
    page = rep_client.get(reverse("web:contact_edit", args=[rep_contact.pk]))
    assert page.context["form"].initial["email"] == "owned@example.com"
    data = {**page.context["form"].initial, "phone": "+1 555 0100", "tags": ""}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    response = rep_client.post(reverse("web:contact_edit", args=[rep_contact.pk]), data)
    assert response.status_code == 302
    rep_contact.refresh_from_db()
    assert rep_contact.phone == "+1 555 0100" and rep_contact.stage.slug == "awareness"


def test_a_rep_cannot_edit_someone_elses_contact(rep_client, other_contact):
    response = rep_client.post(reverse("web:contact_edit", args=[other_contact.pk]), _contact_data(phone="1"))
    assert response.status_code == 403
    other_contact.refresh_from_db()
    assert other_contact.phone == ""


def test_an_admin_creates_a_contact_for_a_rep(admin_client, rep):
    admin_client.post(reverse("web:contact_create"), _contact_data(owner=rep.pk))
    assert Contact.objects.get(email="mila@kite.example").owner == rep


# --- touchpoints: correct, delete, undo ------------------------------------------------------------


@pytest.fixture
def call(rep_contact, rep):
    return TouchpointFactory(contact=rep_contact, kind="call", channel="phone", note="Wrong person", logged_by=rep)


def test_correcting_a_touchpoint_keeps_an_audit_entry_and_re_evaluates_the_contact(
    rep_client, rep, rep_contact, call, django_capture_on_commit_callbacks
):
    url = reverse("web:touchpoint_edit", args=[call.pk])
    when = timezone.localtime(call.occurred_at).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(
            url, {"kind": "quote_request", "channel": "email", "occurred_at": when, "note": "Asked for a quote"}
        )
    assert response.status_code == 302
    call.refresh_from_db()
    assert (call.kind, call.note) == ("quote_request", "Asked for a quote")
    change = TouchpointChange.objects.get(touchpoint_id=call.pk)
    assert (change.action, change.user, change.before["kind"], change.after["kind"]) == (
        "edit",
        rep,
        "call",
        "quote_request",
    )
    rep_contact.refresh_from_db()
    assert rep_contact.stage.slug == "consideration"  # the engine saw the corrected kind


def test_a_refused_correction_changes_nothing(rep_client, call):
    url = reverse("web:touchpoint_edit", args=[call.pk])
    response = rep_client.post(url, {"kind": "purchase", "channel": "web", "occurred_at": "2026-01-01T10:00"})
    assert response.status_code == 200
    assert "A purchase or refund needs its amount." in response.context["form"].errors["amount"]
    call.refresh_from_db()
    assert call.kind == "call" and not TouchpointChange.objects.exists()


def test_deleting_a_touchpoint_can_be_undone_within_the_window(rep_client, rep, rep_contact, call):
    response = rep_client.post(reverse("web:touchpoint_delete", args=[call.pk]), follow=True)
    assert not Touchpoint.objects.filter(pk=call.pk).exists()
    change = TouchpointChange.objects.get(action="delete")
    assert change.before["note"] == "Wrong person"
    assert [c.pk for c in response.context["recent_changes"]] == [change.pk]
    assert "Undo" in response.content.decode()
    rep_client.post(reverse("web:touchpoint_undo", args=[change.pk]))
    restored = Touchpoint.objects.get(pk=call.pk)
    assert (restored.kind, restored.note, restored.logged_by) == ("call", "Wrong person", rep)
    change.refresh_from_db()
    assert change.undone_at is not None
    assert TouchpointChange.objects.filter(action="restore", touchpoint_id=call.pk).count() == 1


def test_an_undo_after_the_window_is_refused(rep_client, call):
    rep_client.post(reverse("web:touchpoint_delete", args=[call.pk]))
    change = TouchpointChange.objects.get()
    TouchpointChange.objects.filter(pk=change.pk).update(changed_at=timezone.now() - dt.timedelta(minutes=11))
    response = rep_client.post(reverse("web:touchpoint_undo", args=[change.pk]), follow=True)
    assert not Touchpoint.objects.filter(pk=call.pk).exists()
    assert any("can be undone for 10 minutes" in str(m) for m in response.context["messages"])


def test_another_rep_can_neither_delete_nor_undo(other_rep_client, rep_client, call):
    assert other_rep_client.post(reverse("web:touchpoint_delete", args=[call.pk])).status_code == 403
    assert Touchpoint.objects.filter(pk=call.pk).exists()
    rep_client.post(reverse("web:touchpoint_delete", args=[call.pk]))
    change = TouchpointChange.objects.get()
    assert other_rep_client.post(reverse("web:touchpoint_undo", args=[change.pk])).status_code == 403
    assert not Touchpoint.objects.filter(pk=call.pk).exists()


def test_touchpoints_from_an_integration_are_not_changed_by_hand(rep_client, rep_contact):
    pushed = TouchpointFactory(contact=rep_contact, kind="site_visit", source="api", external_id="evt-1")
    response = rep_client.post(reverse("web:touchpoint_delete", args=[pushed.pk]), follow=True)
    assert Touchpoint.objects.filter(pk=pushed.pk).exists()
    assert any("Only touchpoints logged by hand" in str(m) for m in response.context["messages"])


def test_deleting_the_purchase_re_evaluates_the_metrics(rep_client, rep_contact, django_capture_on_commit_callbacks):
    buy = TouchpointFactory(contact=rep_contact, kind="purchase", channel="web")
    with django_capture_on_commit_callbacks(execute=True):
        rep_client.post(
            reverse("web:contact_detail", args=[rep_contact.pk]).replace("/contacts/", "/contacts/") + "touchpoints/",
            {"kind": "call", "channel": "phone"},
        )
    rep_contact.refresh_from_db()
    assert rep_contact.metrics.purchase_count == 1
    with django_capture_on_commit_callbacks(execute=True):
        rep_client.post(reverse("web:touchpoint_delete", args=[buy.pk]))
    rep_contact.metrics.refresh_from_db()
    assert rep_contact.metrics.purchase_count == 0


# --- lists: totals and page numbers ----------------------------------------------------------------


def test_the_contact_list_states_its_total_and_page_number(marketer_client, monkeypatch):
    monkeypatch.setattr("contacts.views.lists.PAGE_SIZE", 3)
    for i in range(7):
        ContactFactory(email=f"p{i}@example.com")
    first = marketer_client.get(reverse("web:contact_list"))
    assert first.context["total"].value == 7 and first.context["total"].exact
    html = first.content.decode()
    assert "7 contacts" in html and "Page 1 of 3" in html
    second = marketer_client.get(
        reverse("web:contact_list"), {"cursor": first.context["next_cursor"], "page": first.context["next_page_number"]}
    )
    assert "Page 2 of 3" in second.content.decode() and "showing 4\u20136" in second.content.decode()
    filtered = marketer_client.get(reverse("web:contact_list"), {"q": "p3@"})
    assert filtered.context["total"].value == 1 and "1 contact match" in filtered.content.decode()


def test_past_the_limit_the_list_states_an_estimate_on_postgresql(marketer_client, monkeypatch):
    from tests.services import require_postgres

    require_postgres()
    for i in range(3):
        ContactFactory(email=f"e{i}@example.com")
    monkeypatch.setattr("contacts.selectors.EXACT_COUNT_LIMIT", 0)
    response = marketer_client.get(reverse("web:contact_list"))
    assert response.context["total"].exact is False
    assert "an estimate" in response.content.decode()


def test_a_contact_created_in_the_app_with_a_referral_code_is_linked_to_its_referrer(rep_client, rep_contact):
    """Issue 20: a new contact created with the code (API, import, form) is linked to its referrer."""
    from loyalty.codes import referral_code
    from loyalty.models import Referral, ReferralStatus

    response = rep_client.post(
        reverse("web:contact_create"), _contact_data(referral_code=referral_code(rep_contact.pk))
    )
    friend = Contact.objects.get(email="mila@kite.example")
    assert response.status_code == 302
    referral = Referral.objects.get(referred=friend)
    assert referral.referrer_id == rep_contact.pk and referral.status == ReferralStatus.SIGNED_UP


def test_a_forged_referral_code_is_refused_next_to_the_field_and_nothing_is_stored(rep_client, rep_contact):
    response = rep_client.post(reverse("web:contact_create"), _contact_data(referral_code="ZZ-AAAAA"))
    assert response.status_code == 200 and response.context["form"].errors["referral_code"]
    assert not Contact.objects.filter(email="mila@kite.example").exists()


def test_the_edit_form_has_no_referral_code(rep_client, rep_contact):
    response = rep_client.get(reverse("web:contact_edit", args=[rep_contact.pk]))
    assert "referral_code" not in response.context["form"].fields
