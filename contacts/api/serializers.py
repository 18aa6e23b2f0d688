"""Serializers of the contacts API: shapes and field types only; every rule is enforced by the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign
from contacts.models import Channel, ConsentEvent, Contact, Touchpoint, TouchpointKind
from lifecycle_crm.api.schema import ATTRIBUTES_SCHEMA
from lifecycle_crm.validation import validate_attributes, validate_moment
from stages.api.serializers import StageTransitionSerializer
from stages.models import Stage

ZERO = Decimal("0.00")


class ContactMetricsSerializer(serializers.Serializer):
    """The contact's value figures from the nightly recompute (zeros and nulls until it has run)."""

    purchases = serializers.IntegerField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    historic_clv = serializers.DecimalField(max_digits=14, decimal_places=2)
    predicted_clv = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    # The 80 % interval of predicted_clv (issue 18); null when the model gave none.
    predicted_clv_low = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    predicted_clv_high = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
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
            "predicted_clv_low": None,
            "predicted_clv_high": None,
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
        "predicted_clv_low": None if m.predicted_clv_low is None else f"{m.predicted_clv_low:.2f}",
        "predicted_clv_high": None if m.predicted_clv_high is None else f"{m.predicted_clv_high:.2f}",
        "p_alive": m.p_alive,
        "expected_purchases": m.expected_purchases,
        "rfm_segment": m.rfm_segment or None,
        "computed_at": iso_datetime(m.computed_at, tz),
    }


class TagNamesField(serializers.ListField):
    """Tag names; read from the prefetched tags (no query per contact)."""

    def get_attribute(self, instance: Contact) -> list[str]:
        return sorted(tag.name for tag in instance.tags.all())


@extend_schema_field(ATTRIBUTES_SCHEMA)
class AttributesField(serializers.DictField):
    """The contact's custom attributes: a JSON object checked by lifecycle_crm.validation."""


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
    acquired_at = serializers.DateTimeField(required=False, validators=[validate_moment])
    tags = TagNamesField(
        child=serializers.CharField(max_length=64), required=False, max_length=100, help_text="Tag names."
    )
    marketing_consent = serializers.BooleanField(required=False)
    # The consent ledger (issue 17): where and why consent changed, written with marketing_consent.
    consent_source = serializers.CharField(
        required=False,
        write_only=True,
        max_length=40,
        help_text="Where the person gave or withdrew consent (e.g. preference_centre). Required, with"
        " consent_reason, to re-consent a contact who unsubscribed (else 409).",
    )
    consent_reason = serializers.CharField(required=False, write_only=True, max_length=2000)
    consent_text = serializers.CharField(
        required=False, write_only=True, max_length=10000, help_text="The consent text the person was shown."
    )
    attributes = AttributesField(required=False, validators=[validate_attributes])
    stage = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Stage.objects.filter(is_active=True),
        required=False,
        help_text="Stage slug. Settable on create only; change it later with POST /contacts/{id}/move/.",
    )
    referral_code = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="Create only: the referral code of the contact who referred this one (loyalty); links the two.",
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
        if not data.get("referral_code"):
            data.pop("referral_code", None)
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
    occurred_at = serializers.DateTimeField(
        required=False, validators=[validate_moment], help_text="ISO 8601; a bare date means its noon UTC."
    )
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


class ContactStageTimeSerializer(serializers.Serializer):
    """One stage of a contact's journey: visits, entry and exit, latest and cumulative time in it (seconds)."""

    stage = serializers.CharField()
    visits = serializers.IntegerField()
    first_entered_at = serializers.DateTimeField()
    last_entered_at = serializers.DateTimeField()
    last_exited_at = serializers.DateTimeField(allow_null=True)
    latest_seconds = serializers.IntegerField()
    total_seconds = serializers.IntegerField()
    is_current = serializers.BooleanField()


class ConsentEventSerializer(serializers.ModelSerializer):
    """One row of a contact's consent ledger (append-only)."""

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "action",
            "granted",
            "source",
            "reason",
            "text_shown",
            "ip_address",
            "user",
            "api_key",
            "actor_name",
            "created_at",
        ]
        read_only_fields = fields


class ContactEraseSerializer(serializers.Serializer):
    """Input of an erasure: why (e.g. the request's reference), kept in the consent ledger."""

    reason = serializers.CharField(max_length=2000)
