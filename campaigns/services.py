"""Writes of campaigns and segments: every create and edit path (API, dashboard form, admin) comes here.

The checks that need the database (a UTM code used once, a segment's saved filters valid and not
pointing at itself) and the date order live here, so the API and the form refuse the same input
with the same field messages; the model's constraints stay the last guard.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.models import Campaign, Segment
from contacts.filters import ContactFilterSet

CAMPAIGN_FIELDS = {
    "name",
    "description",
    "objective",
    "channel",
    "status",
    "starts_on",
    "ends_on",
    "cost",
    "segment",
    "utm_campaign",
}
SEGMENT_FIELDS = {"name", "description", "filters"}


def _assign(instance: Any, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({key: "Unknown field." for key in unknown})
    for key, value in data.items():
        setattr(instance, key, value)


@transaction.atomic
def campaign_save(*, campaign: Campaign | None = None, data: dict[str, Any], user: Any = None) -> Campaign:
    """Create a campaign (with `user` as its creator) or change one; raises ValidationError with field messages.

    An empty UTM code is stored as none (so many campaigns may have none); a used one is
    refused, since touchpoints could not tell the two campaigns apart.
    """
    created = campaign is None
    campaign = campaign or Campaign()
    data = dict(data)
    if "utm_campaign" in data:
        data["utm_campaign"] = (data["utm_campaign"] or "").strip() or None
    _assign(campaign, data, CAMPAIGN_FIELDS)
    errors: dict[str, str] = {}
    code = campaign.utm_campaign
    if code and Campaign.objects.filter(utm_campaign=code).exclude(pk=campaign.pk).exists():
        errors["utm_campaign"] = "Another campaign uses this UTM code."
    if campaign.starts_on and campaign.ends_on and campaign.ends_on < campaign.starts_on:
        errors["ends_on"] = "The campaign ends before it starts."
    if campaign.cost is not None and campaign.cost < 0:
        errors["cost"] = "The cost cannot be negative."
    if errors:
        raise ValidationError(errors)
    if created and getattr(user, "is_authenticated", False):
        campaign.created_by = user
    campaign.full_clean()
    campaign.save()
    return campaign


@transaction.atomic
def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a campaign; its touchpoints keep their history and lose only the attribution."""
    campaign.delete()


@transaction.atomic
def segment_save(*, segment: Segment | None = None, data: dict[str, Any], user: Any = None) -> Segment:
    """Create a segment (with `user` as its creator) or change one; its filters are validated and normalised.

    `filters` holds contact-list query parameters (the same filter set the API and the contact
    list use); a segment may build on another one, never on itself.
    """
    created = segment is None
    segment = segment or Segment()
    data = dict(data)
    if "filters" in data:
        filters = data["filters"]
        if segment.pk is not None and isinstance(filters, dict) and filters.get("segment") == segment.pk:
            raise ValidationError({"filters": "A segment cannot refer to itself."})
        try:
            data["filters"] = ContactFilterSet.validate_saved(filters)
        except ValidationError as exc:
            raise ValidationError({"filters": exc.messages}) from None
    _assign(segment, data, SEGMENT_FIELDS)
    if created and getattr(user, "is_authenticated", False):
        segment.created_by = user
    # The filters were checked above; an empty filter set (every contact) is a valid segment.
    segment.full_clean(exclude=["filters"])
    segment.save()
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    """Delete a segment; campaigns that targeted it keep running without a target segment."""
    segment.delete()
