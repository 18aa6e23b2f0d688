"""The bodies webhook receivers get, as OpenAPI components and `x-webhooks` (one per event).

Why here: docs/API.md describes the payloads in prose; a generated client needs them as
schemas to parse a delivery. These serializers describe what `webhooks.services` builds
(`_contacts_data`, `_touchpoints_data`, `_transitions_data`, the ping); a test validates
real deliveries against them. OpenAPI 3.0 has no `webhooks` section (3.1 has), so the
schema carries them as components plus the `x-webhooks` extension that Redoc renders.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.plumbing import process_webhooks
from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers

from contacts.models import Channel, TouchpointKind, TouchpointSource
from loyalty.models import RedemptionChannel, ReferralStatus
from stages.models import TransitionSource
from webhooks.models import WebhookEvent


class WebhookContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    external_id = serializers.CharField(allow_null=True)
    first_name = serializers.CharField(allow_blank=True)
    last_name = serializers.CharField(allow_blank=True)
    owner = serializers.IntegerField(allow_null=True, help_text="User id of the owner.")
    stage = serializers.CharField(help_text="Stage slug.")
    stage_entered_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class WebhookTouchpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    contact = serializers.IntegerField()
    contact_external_id = serializers.CharField(allow_null=True)
    contact_email = serializers.EmailField()
    kind = serializers.ChoiceField(choices=TouchpointKind.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    occurred_at = serializers.DateTimeField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    score = serializers.IntegerField(allow_null=True, min_value=0, max_value=10)
    campaign = serializers.IntegerField(allow_null=True)
    source = serializers.ChoiceField(choices=TouchpointSource.choices)
    external_id = serializers.CharField(allow_null=True)


class WebhookContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    external_id = serializers.CharField(allow_null=True)


class WebhookTransitionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    contact = WebhookContactRefSerializer()
    from_stage = serializers.CharField(allow_null=True)
    to_stage = serializers.CharField()
    effective_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=TransitionSource.choices)
    is_win_back = serializers.BooleanField()
    note = serializers.CharField(allow_blank=True)


def _envelope(name: str, event: str, data: serializers.Serializer, doc: str) -> type[serializers.Serializer]:
    """A delivery body: event id (for de-duplication), type, creation time and the objects."""
    fields: dict[str, Any] = {
        "id": serializers.UUIDField(help_text="The event id; the same on every retry of this delivery."),
        "type": serializers.ChoiceField(choices=[str(event)]),
        "created_at": serializers.DateTimeField(),
        "data": data,
        "__doc__": doc,
    }
    return type(name, (serializers.Serializer,), fields)


StageChangedData = type(
    "WebhookStageChangedData", (serializers.Serializer,), {"transitions": WebhookTransitionSerializer(many=True)}
)
ContactCreatedData = type(
    "WebhookContactCreatedData", (serializers.Serializer,), {"contacts": WebhookContactSerializer(many=True)}
)
TouchpointCreatedData = type(
    "WebhookTouchpointCreatedData", (serializers.Serializer,), {"touchpoints": WebhookTouchpointSerializer(many=True)}
)
PingData = type("WebhookPingData", (serializers.Serializer,), {"subscription": serializers.IntegerField()})

WebhookStageChangedEvent = _envelope(
    "WebhookStageChangedEvent",
    WebhookEvent.CONTACT_STAGE_CHANGED,
    StageChangedData(),
    "`contact.stage_changed`: up to 100 stage moves per delivery.",
)
WebhookContactCreatedEvent = _envelope(
    "WebhookContactCreatedEvent",
    WebhookEvent.CONTACT_CREATED,
    ContactCreatedData(),
    "`contact.created`: up to 100 new contacts per delivery.",
)
WebhookTouchpointCreatedEvent = _envelope(
    "WebhookTouchpointCreatedEvent",
    WebhookEvent.TOUCHPOINT_CREATED,
    TouchpointCreatedData(),
    "`touchpoint.created`: up to 100 new touchpoints per delivery.",
)
WebhookPingEvent = _envelope(
    "WebhookPingEvent", WebhookEvent.PING, PingData(), "`ping`: a test delivery asked for by its subscriber."
)


class WebhookTierChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    contact = WebhookContactRefSerializer()
    programme = serializers.CharField(help_text="Programme slug.")
    from_tier = serializers.CharField(allow_null=True, help_text="Tier slug before (null on a first tier).")
    to_tier = serializers.CharField(
        allow_null=True, help_text="Tier slug after (null when the member lost every tier)."
    )
    effective_at = serializers.DateTimeField()


class WebhookRewardRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class WebhookRedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    contact = WebhookContactRefSerializer()
    programme = serializers.CharField(help_text="Programme slug.")
    reward = WebhookRewardRefSerializer()
    points = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=RedemptionChannel.choices)
    created_at = serializers.DateTimeField()


class WebhookReferralSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    referrer = WebhookContactRefSerializer()
    referred = WebhookContactRefSerializer(allow_null=True)
    status = serializers.ChoiceField(choices=ReferralStatus.choices)
    signed_up_at = serializers.DateTimeField(allow_null=True)
    purchased_at = serializers.DateTimeField(allow_null=True)


TierChangedData = type(
    "WebhookTierChangedData", (serializers.Serializer,), {"tier_changes": WebhookTierChangeSerializer(many=True)}
)
RewardRedeemedData = type(
    "WebhookRewardRedeemedData", (serializers.Serializer,), {"redemptions": WebhookRedemptionSerializer(many=True)}
)
ReferralConvertedData = type(
    "WebhookReferralConvertedData", (serializers.Serializer,), {"referrals": WebhookReferralSerializer(many=True)}
)
WebhookTierChangedEvent = _envelope(
    "WebhookTierChangedEvent",
    WebhookEvent.LOYALTY_TIER_CHANGED,
    TierChangedData(),
    "`loyalty.tier_changed`: up to 100 tier changes per delivery.",
)
WebhookRewardRedeemedEvent = _envelope(
    "WebhookRewardRedeemedEvent",
    WebhookEvent.LOYALTY_REWARD_REDEEMED,
    RewardRedeemedData(),
    "`loyalty.reward_redeemed`: up to 100 redemptions per delivery.",
)
WebhookReferralConvertedEvent = _envelope(
    "WebhookReferralConvertedEvent",
    WebhookEvent.LOYALTY_REFERRAL_CONVERTED,
    ReferralConvertedData(),
    "`loyalty.referral_converted`: up to 100 referred friends' first purchases per delivery.",
)

PAYLOADS = {
    WebhookEvent.CONTACT_STAGE_CHANGED: WebhookStageChangedEvent,
    WebhookEvent.CONTACT_CREATED: WebhookContactCreatedEvent,
    WebhookEvent.TOUCHPOINT_CREATED: WebhookTouchpointCreatedEvent,
    WebhookEvent.PING: WebhookPingEvent,
    WebhookEvent.LOYALTY_TIER_CHANGED: WebhookTierChangedEvent,
    WebhookEvent.LOYALTY_REWARD_REDEEMED: WebhookRewardRedeemedEvent,
    WebhookEvent.LOYALTY_REFERRAL_CONVERTED: WebhookReferralConvertedEvent,
}

_SIGNED = (
    "POSTed to the subscription's URL, signed: `X-CRM-Signature: v1=<hex HMAC-SHA256(secret, "
    '"<X-CRM-Timestamp>." + body)>`. Answer 2xx within the timeout; anything else is retried.'
)
WEBHOOKS = [
    OpenApiWebhook(
        name=str(event),
        decorator=extend_schema(
            summary=serializer.__doc__,
            description=_SIGNED,
            request=serializer,
            responses={200: OpenApiResponse(description="Received (any 2xx).")},
        ),
    )
    for event, serializer in PAYLOADS.items()
]


def webhook_payload_components(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular post-processing hook: add the payload components and `x-webhooks` to the schema."""
    webhooks = process_webhooks(WEBHOOKS, generator.registry)
    built = generator.registry.build({}).get("schemas", {})
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in built.items():
        schemas.setdefault(name, schema)
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    result["x-webhooks"] = webhooks
    return result
