"""Reads of campaigns and segments for the API and the dashboard."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from campaigns.models import Campaign, Segment
from contacts.selectors import contact_list


def campaign_list() -> QuerySet[Campaign]:
    """Every campaign, newest first, with what a list row shows (objective stage, target segment)."""
    return Campaign.objects.select_related("objective", "segment").order_by("-id")


def campaign_get(*, pk: int) -> Campaign:
    """One campaign with its objective, segment and creator (Campaign.DoesNotExist when absent)."""
    return Campaign.objects.select_related("objective", "segment", "created_by").get(pk=pk)


def segment_list() -> QuerySet[Segment]:
    """Every segment, newest first."""
    return Segment.objects.order_by("-id")


def segment_contacts(*, segment: Segment, user: Any, ordering: str | None = None) -> QuerySet:
    """The contacts in a segment now, within `user`'s scope: its saved filters evaluated live."""
    filters: dict[str, Any] = {"segment": segment.pk}
    if ordering:
        filters["ordering"] = ordering
    return contact_list(user=user, filters=filters)
