"""A lost database connection answers 503 with Retry-After (a clear, retryable error), never a 500 traceback."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from accounts.services import api_key_create
from contacts.models import Touchpoint
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_bulk_ingest_during_a_database_restart_answers_503_with_a_retry_hint():
    _, key = api_key_create(name="web shop", role="integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    contact = ContactFactory()
    rows = [{"contact": contact.pk, "kind": "site_visit", "external_id": f"r-{n}"} for n in range(3)]
    lost = OperationalError("terminating connection due to administrator command")
    with mock.patch("contacts.touchpoint_services.touchpoint_bulk_create", side_effect=lost):
        response = client.post("/api/v1/touchpoints/", rows, format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Retry" in response.json()["detail"]
    assert not Touchpoint.objects.exists()
    retried = client.post("/api/v1/touchpoints/", rows, format="json")
    assert retried.status_code in (200, 201), retried.content
    assert Touchpoint.objects.count() == 3


def test_a_dashboard_page_answers_503_as_text(admin_user, client):
    client.force_login(admin_user)
    with mock.patch("lifecycle_crm.health._check_database", side_effect=OperationalError("server closed")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/plain")
