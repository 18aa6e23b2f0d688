"""Fixtures of the API tests: an API client per role (session users and API keys), and a clean throttle cache."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.selectors import api_key_cache_clear
from accounts.services import api_key_create


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters live in the cache, verified keys in a per-process cache; each test starts with none.
    cache.clear()
    api_key_cache_clear()
    yield
    cache.clear()
    api_key_cache_clear()


def client_for(user=None, *, key: str | None = None) -> APIClient:
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    elif user is not None:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def integration_key(db):
    _, raw = api_key_create(name="web shop", role="integration")
    return raw


@pytest.fixture
def integration_client(integration_key):
    return client_for(key=integration_key)


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def marketer_client(marketer):
    return client_for(marketer)


@pytest.fixture
def rep_client(rep):
    return client_for(rep)
