"""Duplicates and merge: detection by email form, phone and name+company; nothing of either contact is lost."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from campaigns.models import CampaignMember
from contacts.api.merge import ContactMergeApi
from contacts.merge import contact_merge, duplicate_groups
from contacts.models import Contact, ContactMerge, Touchpoint
from stages.models import StageTransition
from tests.factories import CampaignFactory, ContactFactory, TagFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db


def test_duplicates_are_found_by_email_form_phone_and_name_with_company():
    a = ContactFactory(email="Ann.Lee+shop@Example.com", phone="+1 (555) 123-4567", first_name="Ann",
                       last_name="Lee", company="Acme")  # fmt: skip
    b = ContactFactory(email="annlee@example.com", phone="15551234567", first_name="ann", last_name="LEE ",
                       company="acme")  # fmt: skip
    ContactFactory(email="someone@example.com", phone="999", first_name="Ann", last_name="Lee", company="")
    groups = {g.reason: g for g in duplicate_groups()}
    assert set(groups) == {"email", "phone", "name_company"}
    for group in groups.values():
        assert [c.pk for c in group.contacts] == [a.pk, b.pk]
    assert groups["email"].key == "annlee@example.com"


def test_no_duplicates_means_no_groups():
    ContactFactory(email="a@example.com", phone="12345678")
    ContactFactory(email="b@example.com", phone="87654321")
    assert duplicate_groups() == []


def test_merge_keeps_everything_of_both_contacts(rep):
    survivor = ContactFactory(
        email="keep@example.com", first_name="Kim", phone="", company="", owner=None, stage=stage("engagement")
    )
    other = ContactFactory(
        email="drop@example.com",
        first_name="Kimberly",
        phone="555-1000",
        company="Acme",
        owner=rep,
        external_id="SHOP-9",
        attributes={"size": "M"},
        stage=stage("purchase"),
    )
    TouchpointFactory(contact=survivor, kind="site_visit")
    TouchpointFactory.create_batch(2, contact=other, kind="purchase")
    survivor.tags.add(TagFactory(name="vip"))
    other.tags.add(TagFactory(name="vip"), TagFactory(name="b2b"))
    shared, only_other = CampaignFactory(), CampaignFactory()
    CampaignMember.objects.create(campaign=shared, contact=survivor)
    CampaignMember.objects.create(campaign=shared, contact=other)
    CampaignMember.objects.create(campaign=only_other, contact=other)
    survivor_moves = StageTransition.objects.filter(contact=survivor).count()
    other_moves = StageTransition.objects.filter(contact=other).count()

    log = contact_merge(survivor=survivor, other=other, user=rep)

    assert not Contact.objects.filter(pk=other.pk).exists()
    survivor.refresh_from_db()
    assert Touchpoint.objects.filter(contact=survivor).count() == 3
    # One chain: the survivor's moves plus the merge move to the more advanced stage; the other's moves are
    # kept in the merge log (issue 17: two first placements broke time in stage).
    assert StageTransition.objects.filter(contact=survivor).count() == survivor_moves + 1
    assert len(log.merged_history) == other_moves == log.moved["transitions_kept_in_log"]
    assert log.merged_history[0]["to_stage__slug"] == "purchase"
    assert survivor.stage.slug == "purchase"
    assert StageTransition.objects.filter(contact=survivor, source="merge").get().from_stage.slug == "engagement"
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["b2b", "vip"]
    assert sorted(CampaignMember.objects.filter(contact=survivor).values_list("campaign_id", flat=True)) == sorted(
        [shared.pk, only_other.pk]
    )
    # The survivor keeps its own values and takes the other's where its own were blank.
    assert (survivor.first_name, survivor.phone, survivor.company) == ("Kim", "555-1000", "Acme")
    assert survivor.owner == rep and survivor.external_id == "SHOP-9"
    assert survivor.attributes["size"] == "M" and survivor.attributes["merged_emails"] == ["drop@example.com"]
    # The log keeps a full snapshot of the removed contact.
    assert log.merged_email == "drop@example.com" and log.user == rep
    assert log.merged_snapshot["first_name"] == "Kimberly"
    assert log.merged_snapshot["tags"] == ["b2b", "vip"]
    assert log.moved["touchpoints"] == 2 and log.moved["campaign_memberships"] == 1
    assert ContactMerge.objects.get().survivor == survivor


def test_merge_re_evaluates_the_survivors_stage_after_commit(django_capture_on_commit_callbacks):
    survivor = ContactFactory(email="keep@example.com")
    other = ContactFactory(email="drop@example.com")
    TouchpointFactory(contact=other, kind="quote_request")
    with django_capture_on_commit_callbacks(execute=True):
        contact_merge(survivor=survivor, other=other)
    survivor.refresh_from_db()
    assert survivor.stage.slug == "consideration"


def test_a_contact_cannot_be_merged_with_itself():
    from django.core.exceptions import ValidationError

    contact = ContactFactory()
    with pytest.raises(ValidationError):
        contact_merge(survivor=contact, other=contact)


def test_duplicates_page_and_merge_flow_for_a_rep_owning_both(rep_client, rep):
    a = ContactFactory(email="a.b@example.com", owner=rep)
    b = ContactFactory(email="ab@example.com", owner=rep)
    page = rep_client.get(reverse("web:duplicates"))
    assert page.context["groups"][0].can_merge
    confirm = rep_client.get(reverse("web:merge"), {"survivor": a.pk, "other": b.pk})
    assert confirm.status_code == 200 and b"Merge two contacts" in confirm.content
    assert Contact.objects.filter(pk=b.pk).exists()
    done = rep_client.post(reverse("web:merge"), {"survivor": a.pk, "other": b.pk, "confirm": "1"})
    assert done["Location"] == reverse("web:contact_detail", args=[a.pk])
    assert not Contact.objects.filter(pk=b.pk).exists()


def test_a_rep_cannot_merge_contacts_they_do_not_own(rep_client, rep, other_rep):
    a = ContactFactory(email="a.b@example.com", owner=rep)
    b = ContactFactory(email="ab@example.com", owner=other_rep)
    assert rep_client.get(reverse("web:duplicates")).context["groups"][0].can_merge is False
    response = rep_client.post(reverse("web:merge"), {"survivor": a.pk, "other": b.pk, "confirm": "1"})
    assert response.status_code == 403
    assert Contact.objects.filter(pk=b.pk).exists()


def test_marketers_and_outsiders_do_not_merge(marketer_client, outsider_client):
    a, b = ContactFactory(), ContactFactory()
    for client in (marketer_client, outsider_client):
        assert client.post(reverse("web:merge"), {"survivor": a.pk, "other": b.pk, "confirm": "1"}).status_code == 403
    assert Contact.objects.count() == 2


def test_merge_api_view_merges_and_reports_what_moved(admin_user):
    survivor, other = ContactFactory(), ContactFactory()
    TouchpointFactory(contact=other)
    request = APIRequestFactory().post(f"/api/v1/contacts/{survivor.pk}/merge/", {"merge_id": other.pk}, format="json")
    force_authenticate(request, user=admin_user)
    response = ContactMergeApi.as_view()(request, pk=survivor.pk)
    assert response.status_code == 200
    assert response.data["moved"]["touchpoints"] == 1 and response.data["merged_contact_id"] == other.pk
    assert not Contact.objects.filter(pk=other.pk).exists()


def test_merge_api_view_refuses_a_rep_on_someone_elses_contact_and_bad_input(rep, other_rep):
    mine, theirs = ContactFactory(owner=rep), ContactFactory(owner=other_rep)
    view = ContactMergeApi.as_view()
    factory = APIRequestFactory()
    request = factory.post("/x/", {"merge_id": theirs.pk}, format="json")
    force_authenticate(request, user=rep)
    assert view(request, pk=mine.pk).status_code == 403
    request = factory.post("/x/", {"merge_id": "abc"}, format="json")
    force_authenticate(request, user=rep)
    assert view(request, pk=mine.pk).status_code == 400
    request = factory.post("/x/", {"merge_id": mine.pk}, format="json")
    force_authenticate(request, user=rep)
    assert view(request, pk=mine.pk).status_code == 400
    assert Contact.objects.count() == 2


def test_merge_endpoint_works_through_the_api_with_an_integration_key():
    from accounts.services import api_key_create

    _, raw = api_key_create(name="shop", role="integration")
    survivor, other = ContactFactory(), ContactFactory()
    TouchpointFactory(contact=other)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post(f"/api/v1/contacts/{survivor.pk}/merge/", {"merge_id": other.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["moved"]["touchpoints"] == 1
    assert ContactMerge.objects.get().user is None  # a bare key acts for no user
    missing = client.post(f"/api/v1/contacts/{survivor.pk}/merge/", {"merge_id": other.pk}, format="json")
    assert missing.status_code == 400


def test_merge_endpoint_is_refused_to_marketers():
    from tests.factories import UserFactory

    survivor, other = ContactFactory(), ContactFactory()
    client = APIClient()
    client.force_authenticate(UserFactory(username="m2", role="marketer"))
    response = client.post(f"/api/v1/contacts/{survivor.pk}/merge/", {"merge_id": other.pk}, format="json")
    assert response.status_code == 403
    assert Contact.objects.count() == 2
