"""Campaign pages: create and edit with clear errors, detail with performance, list."""

import datetime as dt

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from tests.factories import CampaignFactory, ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def _data(**overrides):
    data = {
        "name": "Spring sale",
        "channel": "email",
        "status": "draft",
        "starts_on": "2026-03-01",
        "ends_on": "2026-03-31",
        "cost": "1500.00",
        "utm_campaign": "spring26",
        "objective": "",
        "segment": "",
        "description": "",
    }
    return data | overrides


def test_marketer_creates_a_campaign(marketer_client, marketer):
    response = marketer_client.post(reverse("web:campaign_create"), _data())
    campaign = Campaign.objects.get()
    assert response["Location"] == reverse("web:campaign_detail", args=[campaign.pk])
    assert (campaign.name, campaign.cost, campaign.created_by) == ("Spring sale", 1500, marketer)


def test_create_form_explains_each_bad_field_and_writes_nothing(marketer_client):
    CampaignFactory(utm_campaign="spring26")
    response = marketer_client.post(
        reverse("web:campaign_create"), _data(name="", ends_on="2026-02-01", cost="-5", utm_campaign="spring26")
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name", "ends_on", "cost", "utm_campaign"}
    assert Campaign.objects.count() == 1


def test_edit_changes_the_campaign(marketer_client):
    campaign = CampaignFactory(name="Old")
    marketer_client.post(reverse("web:campaign_edit", args=[campaign.pk]), _data(name="New", utm_campaign=""))
    campaign.refresh_from_db()
    assert campaign.name == "New" and campaign.utm_campaign is None


def test_detail_shows_reach_and_revenue_from_attributed_touchpoints(marketer_client):
    campaign = CampaignFactory(starts_on=dt.date.today() - dt.timedelta(days=20))
    contact = ContactFactory()
    TouchpointFactory(contact=contact, campaign=campaign, kind="email_click")
    response = marketer_client.get(reverse("web:campaign_detail", args=[campaign.pk]))
    assert response.status_code == 200
    assert response.context["touchpoints"] == 1
    figures = response.context["figures"]
    assert figures is not None and figures["reach"] == "1"  # reached one contact
    assert figures["roi"] == "-100.0 %"  # reached, nothing bought yet: the whole cost lost so far


def test_reps_cannot_create_campaigns(rep_client):
    assert rep_client.post(reverse("web:campaign_create"), _data()).status_code == 403
    assert not Campaign.objects.exists()


def test_the_campaign_page_lists_its_members_and_says_members_once(marketer_client):
    from campaigns.models import CampaignMember

    campaign = CampaignFactory(name="Autumn fair")
    people = [ContactFactory(first_name=f"Fay{i}", last_name="Member") for i in range(3)]
    for person in people:
        CampaignMember.objects.create(campaign=campaign, contact=person, source="play")
    ContactFactory(first_name="Olaf", last_name="Outsider")
    html = marketer_client.get(reverse("web:campaign_detail", args=[campaign.pk])).content.decode()
    for person in people:
        assert reverse("web:contact_detail", args=[person.pk]) in html
    assert "Olaf" not in html
    assert html.count(">Members<") + html.count(">Members <") == 1
    assert "3 enrolled" in html and "by a play" in html


def test_the_two_tables_of_the_campaign_list_have_distinct_titles(marketer_client):
    campaign = CampaignFactory(name="Winter sale")
    TouchpointFactory(kind="purchase", campaign=campaign)
    html = marketer_client.get(reverse("web:campaign_list")).content.decode()
    assert "All campaigns</h2>" in html
    assert "Campaign performance</span>" in html
    assert ">Campaigns</span>" not in html
