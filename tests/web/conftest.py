"""Fixtures of the dashboard tests: logged-in clients per role and a small set of contacts."""

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import ContactFactory


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The overview caches its figures; each test starts from none.
    cache.clear()
    yield
    cache.clear()


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def marketer_client(marketer):
    return login(marketer)


@pytest.fixture
def rep_client(rep):
    return login(rep)


@pytest.fixture
def other_rep_client(other_rep):
    return login(other_rep)


@pytest.fixture
def outsider_client(outsider):
    return login(outsider)


@pytest.fixture
def admin_client(admin_user):
    return login(admin_user)


@pytest.fixture
def rep_contact(rep):
    return ContactFactory(owner=rep, email="owned@example.com", first_name="Olive", last_name="Owned")


@pytest.fixture
def other_contact(other_rep):
    return ContactFactory(owner=other_rep, email="theirs@example.com", first_name="Theo", last_name="Theirs")
