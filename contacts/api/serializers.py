"""Serializers of the contacts API: shapes and field types only; every rule is enforced by the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign
from contacts.models import Channel, Contact, Touchpoint, TouchpointKind
from stages.api.serializers import StageTransitionSerializer
from stages.models import Stage

ZERO = Decimal("0.00")


class ContactMetricsSerializer(serializers.Serializer):
    """The contact's value figures from the nightly recompute (zeros and nulls until it has run)."""

    purchases = serializers.IntegerField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    historic_clv = serializers.DecimalField(max_digits=14, decimal_places=2)
    predicted_clv = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    p_alive = serializers.FloatField(allow_null=True)
    expected_purchases = serializers.FloatField(allow_null=True)
    rfm_segment = serializers.CharField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)


def iso_datetime(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> str | None:
    """A datetime as DRF renders it: ISO 8601 in the current time zone (or `tz`), `Z` for UTC.

    Pass `tz` (the current time zone, looked up once) when rendering many values: looking it
    up per value through the request-local storage cost ~10 ms per 50-contact page."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = value.astimezone(tz or timezone.get_current_timezone())
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def metrics_dict(contact: Contact, tz: dt.tzinfo | None = None) -> dict:
    try:
        m = contact.metrics
    except Contact.metrics.RelatedObjectDoesNotExist:
        m = None
    if m is None:
        return {
            "purchases": 0,
            "revenue": "0.00",
            "historic_clv": "0.00",
            "predicted_clv": None,
            "p_alive": None,
            "expected_purchases": None,
            "rfm_segment": None,
            "computed_at": None,
        }
    return {
        "purchases": m.purchase_count,
        "revenue": f"{m.revenue:.2f}",
        "historic_clv": f"{m.historic_clv:.2f}",
        "predicted_clv": None if m.predicted_clv is None else f"{m.predicted_clv:.2f}",
        "p_alive": m.p_alive,
        "expected_purchases": m.expected_purchases,
        "rfm_segment": m.rfm_segment or None,
        "computed_at": iso_datetime(m.computed_at, tz),
    }


class TagNamesField(serializers.ListField):
    """Tag names; read from the prefetched tags (no query per contact)."""

    def get_attribute(self, instance: Contact) -> list[str]:
        return sorted(tag.name for tag in instance.tags.all())


class ContactSerializer(serializers.Serializer):
    """A contact. On create, `stage` (a slug) may place it; afterwards the stage changes only by a move."""

    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="User id of the owning sales rep. A sales rep creating a contact becomes its owner.",
    )
    acquisition_channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    acquisition_campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True
    )
    acquired_at = serializers.DateTimeField(required=False)
    tags = TagNamesField(
        child=serializers.CharField(max_length=64), required=False, max_length=100, help_text="Tag names."
    )
    marketing_consent = serializers.BooleanField(required=False)
    attributes = serializers.DictField(required=False, help_text="Custom attributes (a JSON object).")
    stage = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Stage.objects.filter(is_active=True),
        required=False,
        help_text="Stage slug. Settable on create only; change it later with POST /contacts/{id}/move/.",
    )
    stage_entered_at = serializers.DateTimeField(read_only=True)
    stage_source = serializers.CharField(read_only=True)
    consent_updated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    unsubscribed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    metrics = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(ContactMetricsSerializer)
    def get_metrics(self, contact: Contact) -> dict:
        return metrics_dict(contact)

    def to_representation(self, contact: Contact) -> dict:
        """The same output as the declared fields, built directly: DRF's field-by-field path costs
        about 1 ms per contact, which is most of a 50-row page (the fields still drive input and the schema)."""
        tz = timezone.get_current_timezone()
        tags = getattr(contact, "prefetched_tags", None)  # contacts.selectors.contact_list(for_api=True)
        if tags is None:
            tags = contact.tags.all()
        return {
            "id": contact.pk,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "phone": contact.phone,
            "company": contact.company,
            "external_id": contact.external_id,
            "owner": contact.owner_id,
            "acquisition_channel": contact.acquisition_channel,
            "acquisition_campaign": contact.acquisition_campaign_id,
            "acquired_at": iso_datetime(contact.acquired_at, tz),
            "tags": sorted(tag.name for tag in tags),
            "marketing_consent": contact.marketing_consent,
            "attributes": contact.attributes,
            "stage": contact.stage.slug,
            "stage_entered_at": iso_datetime(contact.stage_entered_at, tz),
            "stage_source": contact.stage_source,
            "consent_updated_at": iso_datetime(contact.consent_updated_at, tz),
            "unsubscribed_at": iso_datetime(contact.unsubscribed_at, tz),
            "metrics": metrics_dict(contact, tz),
            "created_at": iso_datetime(contact.created_at, tz),
            "updated_at": iso_datetime(contact.updated_at, tz),
        }

    def service_data(self) -> dict:
        """validated_data in the form contacts.services takes (stage as its slug)."""
        data = dict(self.validated_data)
        if "stage" in data:
            data["stage"] = data["stage"].slug
        return data


class ContactUpsertResultSerializer(ContactSerializer):
    created = serializers.BooleanField(read_only=True, help_text="True when the upsert created the contact.")


class TouchpointSerializer(serializers.ModelSerializer):
    """A stored touchpoint."""

    class Meta:
        model = Touchpoint
        fields = [
            "id",
            "contact",
            "kind",
            "channel",
            "occurred_at",
            "amount",
            "score",
            "campaign",
            "source",
            "external_id",
            "note",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "logged_by",
            "created_at",
        ]
        read_only_fields = fields


class TouchpointInputSerializer(serializers.Serializer):
    """One touchpoint to store. Name the contact by exactly one of `contact`, `contact_external_id`,
    `contact_email`. A retried push with the same `external_id` returns the stored touchpoint."""

    contact = serializers.IntegerField(required=False, allow_null=True, help_text="Contact id.")
    contact_external_id = serializers.CharField(required=False, allow_null=True, max_length=100)
    contact_email = serializers.CharField(required=False, allow_null=True, max_length=254)
    kind = serializers.ChoiceField(choices=TouchpointKind.choices)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, help_text="Default: other.")
    occurred_at = serializers.DateTimeField(required=False, help_text="ISO 8601; a bare date means its noon UTC.")
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True, help_text="Purchases and refunds only."
    )
    score = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=10, help_text="Survey responses only."
    )
    external_id = serializers.CharField(
        required=False, allow_null=True, max_length=100, help_text="Your id; makes the push idempotent."
    )
    campaign = serializers.IntegerField(required=False, allow_null=True, help_text="Campaign id.")
    utm_source = serializers.CharField(required=False, allow_blank=True, max_length=100)
    utm_medium = serializers.CharField(required=False, allow_blank=True, max_length=100)
    utm_campaign = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Attributes to the campaign with this UTM code."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class TouchpointCreatedSerializer(TouchpointSerializer):
    created = serializers.BooleanField(help_text="False when this external_id was already stored (nothing written).")

    class Meta(TouchpointSerializer.Meta):
        fields = [*TouchpointSerializer.Meta.fields, "created"]
        read_only_fields = fields


class TouchpointBulkItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position in the request list.")
    id = serializers.IntegerField()
    contact = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    created = serializers.BooleanField()


class TouchpointBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many touchpoints this request stored.")
    existing = serializers.IntegerField(help_text="How many were already stored (same source and external_id).")
    results = TouchpointBulkItemSerializer(many=True)


class ContactMoveSerializer(serializers.Serializer):
    stage = serializers.SlugRelatedField(slug_field="slug", queryset=Stage.objects.all(), help_text="Target slug.")
    reason = serializers.CharField(max_length=2000, help_text="Why; kept in the contact's history.")


class ContactMoveResultSerializer(serializers.Serializer):
    contact = ContactSerializer()
    transition = StageTransitionSerializer()
