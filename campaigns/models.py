"""Campaigns, the saved contact filters (segments) they target, and their members."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Channel


class Segment(models.Model):
    """A saved contact filter, evaluated live.

    `filters` holds the query parameters of `contacts.filters.ContactFilterSet` (the same
    filter set the API and the contact list use), e.g. `{"stage": ["at_risk"], "tag": "vip"}`.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    filters = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"


class Campaign(models.Model):
    """A marketing campaign: touchpoints are attributed to it, its objective is a target stage."""

    name = models.CharField(max_length=160)
    description = models.TextField(blank=True)
    objective = models.ForeignKey(
        "stages.Stage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The stage this campaign aims to move contacts into.",
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns")
    utm_campaign = models.CharField(  # noqa: DJ001 - NULL = no code, ignored by the unique constraint
        max_length=100, null=True, blank=True, help_text="UTM code; touchpoints with this utm_campaign are attributed."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["utm_campaign"], condition=Q(utm_campaign__isnull=False), name="campaign_utm_unique"
            ),
            models.CheckConstraint(condition=Q(cost__gte=0), name="campaign_cost_non_negative"),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignMember(models.Model):
    """A contact enrolled in a campaign (by a play, an import or by hand)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="campaign_memberships")
    enrolled_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16, default="manual")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_member_unique")]
        indexes = [
            # A contact's campaigns (contact page, merge).
            models.Index(fields=["contact"], name="campaign_member_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.campaign_id}"
