"""Loyalty surfaces: the API (schema, redeem, refusals, scoping), the contact panel, the member link, the admin."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_key_create
from loyalty.codes import member_token, referral_code
from loyalty.models import Membership, PointsEntry, Redemption, Referral, Reward
from loyalty.selectors import member_balance
from loyalty.services import points_adjust
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    _, raw = api_key_create(name="shop", role="integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_api_redeem_and_refusal_with_field_message(api):
    contact = ContactFactory()
    points_adjust(contact=contact, points=600, note="Gift")
    voucher = Reward.objects.get(name="5.00 voucher")
    ok = api.post("/api/v1/loyalty/redemptions/", {"contact": contact.pk, "reward": voucher.pk}, format="json")
    assert ok.status_code == 201, ok.content
    assert ok.json()["points"] == 500 and ok.json()["contact"] == contact.pk
    refused = api.post("/api/v1/loyalty/redemptions/", {"contact": contact.pk, "reward": voucher.pk}, format="json")
    assert refused.status_code == 400
    assert "Not enough points" in str(refused.json())
    assert Redemption.objects.count() == 1
    member = api.get(f"/api/v1/loyalty/members/{contact.pk}/").json()
    assert member["balance"] == 100 and member["referral_code"] == referral_code(contact.pk)
    entries = api.get(f"/api/v1/loyalty/members/{contact.pk}/entries/").json()
    assert [e["kind"] for e in entries["results"]] == ["redeem", "adjust"]


def test_api_referral_sign_up_refuses_self_referral_and_stores_nothing(api):
    contact = ContactFactory()
    response = api.post(
        "/api/v1/loyalty/referrals/sign-up/",
        {"contact": contact.pk, "referral_code": referral_code(contact.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert "referral_code" in response.json() or "referral_code" in str(response.json())
    assert Referral.objects.count() == 0
    friend = ContactFactory()
    linked = api.post(
        "/api/v1/loyalty/referrals/sign-up/",
        {"contact": friend.pk, "referral_code": referral_code(contact.pk)},
        format="json",
    )
    assert linked.status_code == 201 and linked.json()["status"] == "signed_up"


def test_api_adjust_refused_below_zero(api):
    contact = ContactFactory()
    response = api.post(
        "/api/v1/loyalty/adjustments/", {"contact": contact.pk, "points": -5, "note": "x"}, format="json"
    )
    assert response.status_code == 400 and "points" in str(response.json())
    assert PointsEntry.objects.count() == 0


def test_rep_cannot_redeem_for_someone_elses_contact(rep):
    contact = ContactFactory()
    client = APIClient()
    client.force_authenticate(rep)
    voucher = Reward.objects.get(name="Free shipping")
    response = client.post("/api/v1/loyalty/redemptions/", {"contact": contact.pk, "reward": voucher.pk}, format="json")
    assert response.status_code in (403, 404)
    assert Redemption.objects.count() == 0


def test_schema_lists_loyalty_resources_with_typed_fields(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/loyalty/programmes/",
        "/api/v1/loyalty/rewards/",
        "/api/v1/loyalty/redemptions/",
        "/api/v1/loyalty/referrals/",
        "/api/v1/loyalty/referrals/sign-up/",
        "/api/v1/loyalty/adjustments/",
        "/api/v1/loyalty/members/{id}/",
        "/api/v1/loyalty/members/{id}/entries/",
    ):
        assert path in paths, path
    member = schema["components"]["schemas"]["Member"]["properties"]
    assert member["balance"]["type"] == "integer" and member["referral_code"]["type"] == "string"


def test_contact_page_shows_balance_tier_and_redeems(client, admin_user):
    contact = ContactFactory()
    points_adjust(contact=contact, points=700, note="Gift")
    client.force_login(admin_user)
    page = client.get(reverse("web:contact_detail", args=[contact.pk]))
    body = page.content.decode()
    assert 'id="loyalty"' in body and "700 pts" in body and referral_code(contact.pk) in body
    voucher = Reward.objects.get(name="5.00 voucher")
    done = client.post(reverse("web:loyalty_redeem", args=[contact.pk]), {"reward": voucher.pk}, follow=True)
    assert "Redeemed 5.00 voucher" in done.content.decode()
    refused = client.post(reverse("web:loyalty_redeem", args=[contact.pk]), {"reward": voucher.pk}, follow=True)
    assert "Not enough points" in refused.content.decode()
    member = Membership.objects.get(contact=contact)
    assert member_balance(member_id=member.pk) == 200


def test_member_link_redeems_without_login_and_forged_links_fail(client):
    contact = ContactFactory()
    points_adjust(contact=contact, points=250, note="Gift")
    url = reverse("web:loyalty_member", args=[member_token(contact.pk)])
    page = client.get(url)
    assert page.status_code == 200 and "250 points" in page.content.decode()
    shipping = Reward.objects.get(name="Free shipping")
    done = client.post(url, {"reward": shipping.pk})
    assert done.status_code == 200 and "Redeemed Free shipping" in done.content.decode()
    refused = client.post(url, {"reward": shipping.pk})
    assert refused.status_code == 400 and "Not enough points" in refused.content.decode()
    forged = client.get(reverse("web:loyalty_member", args=[member_token(contact.pk) + "x"]))
    assert forged.status_code == 400
    assert Redemption.objects.get().channel == "link"


def test_programme_page_for_marketers_only(client, marketer, rep):
    client.force_login(rep)
    assert client.get(reverse("web:loyalty")).status_code == 403
    client.force_login(marketer)
    page = client.get(reverse("web:loyalty"))
    assert page.status_code == 200 and "Members by tier" in page.content.decode()
    assert reverse("web:loyalty") in client.get(reverse("web:contact_list")).content.decode()


def test_admin_lists_and_ledger_is_read_only(client, admin_user):
    client.force_login(admin_user)
    for model in ("programme", "earningrule", "tier", "reward", "pointsentry", "referral", "membership"):
        assert client.get(f"/admin/loyalty/{model}/").status_code == 200, model
    assert client.get("/admin/loyalty/pointsentry/add/").status_code == 403
