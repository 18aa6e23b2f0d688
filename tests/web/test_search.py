"""The global search box in the top bar: finds contacts by name, email, company, phone and external id (issue 21)."""

import pytest
from django.urls import reverse

from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {
        "phone": ContactFactory(email="ph@example.com", phone="+44 20 7946 0958", first_name="Pia", last_name="Hone"),
        "external": ContactFactory(email="ex@example.com", external_id="SHOP-77121", first_name="Eli", last_name="Xt"),
        "company": ContactFactory(email="co@example.com", company="Kite Outdoor", first_name="Cai", last_name="Oh"),
    }


@pytest.mark.parametrize(
    ("query", "who"),
    [("7946 0958", "phone"), ("shop-77121", "external"), ("kite", "company"), ("ex@example", "external")],
)
def test_the_top_bar_search_finds_a_contact_by_any_of_its_identifiers(rep_client, people, query, who):
    response = rep_client.get(reverse("web:contact_list"), {"q": query})
    assert response.status_code == 200
    found = {c.pk for c in response.context["contacts"]}
    assert found == {people[who].pk}


def test_every_page_carries_the_search_box_for_a_signed_in_user(rep_client):
    html = rep_client.get(reverse("web:contact_list")).content.decode()
    assert 'role="search"' in html and 'id="top-q"' in html
