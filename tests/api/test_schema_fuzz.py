"""Property-based fuzz of every API operation from the OpenAPI schema (schemathesis): no 5xx, no schema violations.

Runs in-process against the WSGI app with an admin key (the widest permissions). Webhook
deliveries are switched off, and the webhook operations that would resolve a user-given
host name (creating or changing a subscription's URL) are left out, so the fuzz never
sends anything off this process.
"""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_key_create
from tests.factories import CampaignFactory, ContactFactory, SegmentFactory, TouchpointFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 12  # per operation; about a minute for the ~50 operations on 2 cores


def _load_schema():
    """The schema exactly as /api/schema/ serves it (generated in-process: no database needed at collection)."""
    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema().exclude(path_regex=r"^/api/v1/webhooks/(\{id\}/)?$", method=["POST", "PATCH"])


@pytest.fixture
def keep_connection():
    """Like Django's test client: a request must not close the test's database connection (and its transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(db, keep_connection):
    _, raw = api_key_create(name="fuzz", role="admin")
    # A little data so that ids in paths sometimes exist and lists have rows to serialise.
    contacts = ContactFactory.create_batch(3, external_id=None)
    for contact in contacts:
        TouchpointFactory(contact=contact)
    CampaignFactory(utm_campaign="fuzz")
    SegmentFactory(filters={"stage": ["awareness"]})
    return raw


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@override_settings(WEBHOOKS_DELIVERY_ENABLED=False, WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
def test_api_operation_never_errors_and_matches_its_schema(case, admin_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, checks=CHECKS, excluded_checks=[])
