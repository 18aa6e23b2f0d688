"""campaigns.services and campaigns.selectors: the one place campaign and segment writes are checked."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Campaign, Segment
from campaigns.selectors import campaign_list, segment_contacts
from campaigns.services import campaign_save, segment_save
from tests.factories import CampaignFactory, ContactFactory, SegmentFactory, UserFactory, stage

pytestmark = pytest.mark.django_db

START = dt.date(2026, 11, 1)


def test_campaign_save_creates_with_its_creator_and_stores_an_empty_utm_code_as_none():
    user = UserFactory()
    campaign = campaign_save(
        data={"name": "Winter", "channel": "email", "starts_on": START, "utm_campaign": "  "}, user=user
    )
    campaign.refresh_from_db()
    assert (campaign.created_by, campaign.utm_campaign) == (user, None)


def test_campaign_save_refuses_a_used_utm_code_and_changes_nothing():
    CampaignFactory(utm_campaign="winter")
    other = CampaignFactory(name="Other", utm_campaign="spring")
    with pytest.raises(ValidationError) as exc:
        campaign_save(campaign=other, data={"utm_campaign": "winter", "name": "Renamed"})
    assert "utm_campaign" in exc.value.message_dict
    other.refresh_from_db()
    assert (other.name, other.utm_campaign) == ("Other", "spring")


def test_campaign_save_refuses_an_end_before_the_start_and_a_negative_cost():
    with pytest.raises(ValidationError) as exc:
        campaign_save(
            data={
                "name": "Back",
                "channel": "email",
                "starts_on": START,
                "ends_on": START - dt.timedelta(days=1),
                "cost": Decimal("-1"),
            }
        )
    assert set(exc.value.message_dict) >= {"ends_on", "cost"}
    assert not Campaign.objects.filter(name="Back").exists()


def test_campaign_save_refuses_an_unknown_field():
    with pytest.raises(ValidationError) as exc:
        campaign_save(data={"name": "X", "channel": "email", "starts_on": START, "budget": 3})
    assert "budget" in exc.value.message_dict


def test_segment_save_normalises_filters_and_refuses_a_segment_built_on_itself():
    segment = segment_save(data={"name": "At risk", "filters": {"stage": "at_risk"}})
    assert Segment.objects.get(pk=segment.pk).filters
    with pytest.raises(ValidationError) as exc:
        segment_save(segment=segment, data={"filters": {"segment": segment.pk}})
    assert "filters" in exc.value.message_dict
    segment.refresh_from_db()
    assert "segment" not in segment.filters


def test_segment_save_refuses_filters_the_contact_list_does_not_know():
    with pytest.raises(ValidationError) as exc:
        segment_save(data={"name": "Bad", "filters": {"stage": ["nope"]}})
    assert "filters" in exc.value.message_dict
    assert not Segment.objects.filter(name="Bad").exists()


def test_segment_contacts_are_the_contacts_its_filters_match_now(admin_user):
    hit = ContactFactory(stage=stage("at_risk"))
    ContactFactory(stage=stage("awareness"))
    segment = SegmentFactory(filters={"stage": ["at_risk"]})
    assert [c.pk for c in segment_contacts(segment=segment, user=admin_user)] == [hit.pk]


def test_campaign_list_is_newest_first():
    older, newer = CampaignFactory(), CampaignFactory()
    assert [c.pk for c in campaign_list()][:2] == [newer.pk, older.pk]


def test_a_segment_without_filters_is_every_contact():
    segment = segment_save(data={"name": "Everyone", "filters": {}})
    assert Segment.objects.get(pk=segment.pk).filters == {}
