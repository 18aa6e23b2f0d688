"""Issue 19 finding 11: webhook bodies are in the OpenAPI schema, and real deliveries match it."""

import copy

import jsonschema
import pytest
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator

from contacts.touchpoint_services import touchpoint_bulk_create
from stages.services import contact_move_stage
from tests.factories import ContactFactory, stage
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services import webhook_event_publish, webhook_ping, webhook_subscription_create

pytestmark = pytest.mark.django_db


def _json_schema(node):
    """OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a union with null."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _validate(schema, component: str, body: dict) -> None:
    document = _json_schema(copy.deepcopy(schema))
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{component}", "components": document["components"]})


def test_every_event_has_a_webhook_entry_and_a_component(schema):
    assert set(schema["x-webhooks"]) == set(WebhookEvent.values)
    for name in ("WebhookStageChangedEvent", "WebhookContactCreatedEvent", "WebhookTouchpointCreatedEvent"):
        assert name in schema["components"]["schemas"]


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=True, WEBHOOKS_DELIVERY_ENABLED=False)
def test_real_deliveries_of_every_event_match_their_schema(schema, django_capture_on_commit_callbacks):
    subscription, _ = webhook_subscription_create(
        name="all", url="http://127.0.0.1:9/hook", events=[e for e in WebhookEvent.values if e != "ping"]
    )
    contact = ContactFactory(external_id=None)
    with_ext = ContactFactory(external_id="C-1")
    transition = contact_move_stage(contact=contact, stage=stage("loyalty"), reason="VIP")
    results = touchpoint_bulk_create(
        rows=[
            {"contact": contact.pk, "kind": "purchase", "amount": "12.50"},
            {"contact": with_ext.pk, "kind": "survey_response", "score": 9, "external_id": "S-1"},
        ],
        source="api",
        enqueue=False,
    )
    webhook_event_publish(event=WebhookEvent.CONTACT_STAGE_CHANGED, object_ids=[transition.pk])
    webhook_event_publish(event=WebhookEvent.CONTACT_CREATED, object_ids=[contact.pk, with_ext.pk])
    webhook_event_publish(event=WebhookEvent.TOUCHPOINT_CREATED, object_ids=[r.pk for r in results])
    webhook_ping(subscription=subscription)
    components = {
        WebhookEvent.CONTACT_STAGE_CHANGED: "WebhookStageChangedEvent",
        WebhookEvent.CONTACT_CREATED: "WebhookContactCreatedEvent",
        WebhookEvent.TOUCHPOINT_CREATED: "WebhookTouchpointCreatedEvent",
        WebhookEvent.PING: "WebhookPingEvent",
    }
    seen = set()
    for delivery in WebhookDelivery.objects.filter(subscription=subscription):
        _validate(schema, components[delivery.event], delivery.payload)
        seen.add(delivery.event)
    assert seen == set(components)


def test_a_body_of_the_wrong_shape_fails_the_schema(schema):
    with pytest.raises(jsonschema.ValidationError):
        _validate(schema, "WebhookPingEvent", {"id": "x", "type": "ping", "created_at": "2026-01-01T00:00:00Z"})
