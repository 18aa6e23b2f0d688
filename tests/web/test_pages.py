"""Every dashboard page for every role: who may open it, who gets 403, and that the page shows real content."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import CampaignFactory, ContactFactory, SegmentFactory, TouchpointFactory, UserFactory, stage

pytestmark = pytest.mark.django_db


def _pages(contact_id: int, campaign_id: int) -> dict[str, str]:
    return {
        "overview": reverse("web:overview"),
        "contact_list": reverse("web:contact_list"),
        "contact_detail": reverse("web:contact_detail", args=[contact_id]),
        "my_contacts": reverse("web:my_contacts"),
        "duplicates": reverse("web:duplicates"),
        "campaign_list": reverse("web:campaign_list"),
        "campaign_detail": reverse("web:campaign_detail", args=[campaign_id]),
        "campaign_create": reverse("web:campaign_create"),
        "campaign_edit": reverse("web:campaign_edit", args=[campaign_id]),
        "import_list": reverse("web:import_list"),
        "contact_export": reverse("web:contact_export"),
        "chart_csv": reverse("web:chart_csv", args=["funnel"]),
        "overview_chart": reverse("web:overview_chart", args=["funnel"]),
        "overview_kpis": reverse("web:overview_kpis"),
    }


ALLOWED = {
    "admin": {
        "overview", "contact_list", "contact_detail", "my_contacts", "duplicates", "campaign_list", "campaign_detail",
        "campaign_create", "campaign_edit", "import_list", "contact_export", "chart_csv", "overview_chart",
        "overview_kpis",
    },
    "marketer": {
        "overview", "contact_list", "contact_detail", "campaign_list", "campaign_detail", "campaign_create",
        "campaign_edit", "import_list", "contact_export", "chart_csv", "overview_chart", "overview_kpis",
    },
    "rep": {"contact_list", "contact_detail", "my_contacts", "duplicates"},
    "outsider": set(),
}  # fmt: skip


@pytest.mark.parametrize("role", ["admin", "marketer", "rep", "outsider"])
def test_each_page_opens_for_the_roles_that_use_it_and_is_forbidden_to_the_others(
    role, admin_client, marketer_client, rep_client, outsider_client, rep_contact
):
    client = {"admin": admin_client, "marketer": marketer_client, "rep": rep_client, "outsider": outsider_client}[role]
    campaign = CampaignFactory()
    for name, url in _pages(rep_contact.pk, campaign.pk).items():
        response = client.get(url)
        expected = 200 if name in ALLOWED[role] else 403
        assert response.status_code == expected, f"{role} {name}: {response.status_code}"


def test_anonymous_users_are_sent_to_the_login_page(client, rep_contact):
    for url in _pages(rep_contact.pk, CampaignFactory().pk).values():
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_the_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content


def test_home_sends_marketers_to_the_overview_and_reps_to_their_contacts(marketer_client, rep_client):
    assert marketer_client.get("/")["Location"] == reverse("web:overview")
    assert rep_client.get("/")["Location"] == reverse("web:my_contacts")


def test_home_keeps_a_shared_links_filters(marketer_client):
    assert marketer_client.get("/?period=365d&channel=email")["Location"] == (
        reverse("web:overview") + "?period=365d&channel=email"
    )


def test_navigation_shows_each_role_only_what_it_may_use(marketer_client, rep_client):
    marketer_page = marketer_client.get(reverse("web:contact_list")).content.decode()
    rep_page = rep_client.get(reverse("web:contact_list")).content.decode()
    assert reverse("web:overview") in marketer_page and reverse("web:import_list") in marketer_page
    assert reverse("web:my_contacts") not in marketer_page
    assert reverse("web:overview") not in rep_page and reverse("web:import_list") not in rep_page
    assert reverse("web:my_contacts") in rep_page


def test_overview_shows_kpis_and_stage_counts_from_the_data(marketer_client):
    ContactFactory.create_batch(3)
    page = marketer_client.get(reverse("web:overview"), {"period": "90d"})
    assert page.status_code == 200
    # Neither cards nor charts are computed with a cold page: placeholders, fetched by charts.js.
    assert page.context["overview"] is None
    assert page.content.count(b"data-kpis-src=") == 1
    assert page.content.count(b"data-chart-src=") == 7
    response = marketer_client.get(reverse("web:overview_kpis"), {"period": "90d"}, HTTP_X_CRM_FRAGMENT="1")
    overview = response.context["overview"]
    counts = {sc.stage.slug: sc.count for sc in overview.stages}
    assert counts["awareness"] == 3
    new_contacts = next(k for k in overview.kpis if k.key == "new_contacts")
    assert new_contacts.value == 3  # the factory creates contacts 30 days ago, inside the 90-day period


def test_overview_filters_live_in_the_url_and_bad_values_are_explained(marketer_client):
    response = marketer_client.get(reverse("web:overview"), {"period": "bogus", "channel": "nope"})
    assert response.status_code == 200
    assert set(response.context["filter_errors"]) == {"period", "channel"}
    response = marketer_client.get(reverse("web:overview"), {"start": "2026-01-01", "end": "2026-01-31"})
    query = response.context["query"]
    assert query.period == "custom" and query.days == 31


def test_overview_segment_filter_narrows_the_kpis(marketer_client):
    ContactFactory(acquisition_channel="email")
    ContactFactory(acquisition_channel="referral")
    segment = SegmentFactory(filters={"channel": ["email"]})
    response = marketer_client.get(reverse("web:overview_kpis"), {"segment": segment.pk, "period": "90d"})
    counts = {sc.stage.slug: sc.count for sc in response.context["overview"].stages}
    assert counts["awareness"] == 1


def test_chart_csv_download_has_the_same_numbers_as_the_table(marketer_client):
    ContactFactory.create_batch(2)
    response = marketer_client.get(reverse("web:chart_csv", args=["funnel"]), {"period": "90d"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().strip().splitlines()
    assert lines[0].startswith("Stage,Reached")
    assert marketer_client.get(reverse("web:chart_csv", args=["nothing"])).status_code == 404


def test_contact_page_shows_journey_history_and_risk_line(rep_client, rep_contact):
    TouchpointFactory(contact=rep_contact, kind="purchase", note="First order")
    response = rep_client.get(reverse("web:contact_detail", args=[rep_contact.pk]))
    body = response.content.decode()
    assert "First order" in body and "Purchase" in body
    assert response.context["risk_text"]
    assert response.context["can_write"] is True
    assert 'id="quick-form"' in body


def test_contact_page_of_someone_elses_contact_is_read_only_for_a_rep(rep_client, other_contact):
    response = rep_client.get(reverse("web:contact_detail", args=[other_contact.pk]))
    assert response.status_code == 200
    assert response.context["can_write"] is False
    assert b'id="quick-form"' not in response.content


def test_missing_contact_is_404(rep_client):
    assert rep_client.get(reverse("web:contact_detail", args=[999999])).status_code == 404


def test_my_contacts_lists_only_the_reps_own_contacts_at_risk_first(rep_client, rep, other_contact):
    calm = ContactFactory(owner=rep, email="calm@example.com")
    risky = ContactFactory(owner=rep, email="risky@example.com", stage=stage("at_risk"))
    response = rep_client.get(reverse("web:my_contacts"))
    listed = [c.pk for c in response.context["page"].object_list]
    assert listed[0] == risky.pk and calm.pk in listed
    assert other_contact.pk not in listed
    assert response.context["page"].object_list[0].attention_label == "At risk"


def test_empty_states_say_what_to_do(rep_client, marketer_client):
    assert b"You own no contacts yet" in rep_client.get(reverse("web:my_contacts")).content
    assert b"No campaigns yet" in marketer_client.get(reverse("web:campaign_list")).content
    assert b"Import a CSV of contacts" in marketer_client.get(reverse("web:contact_list")).content


def test_overview_figures_are_cached_briefly_and_refresh_recomputes_them(marketer_client):
    ContactFactory()
    url = reverse("web:overview_kpis")
    first = marketer_client.get(url, {"period": "90d"})
    ContactFactory()
    cached = marketer_client.get(url, {"period": "90d"})
    assert cached.context["computed_at"] == first.context["computed_at"]
    assert {sc.stage.slug: sc.count for sc in cached.context["overview"].stages}["awareness"] == 1
    fresh = marketer_client.get(url, {"period": "90d", "refresh": "1"})
    assert {sc.stage.slug: sc.count for sc in fresh.context["overview"].stages}["awareness"] == 2
    assert "refresh" not in fresh.context["filter_query"]


def test_cards_once_computed_are_embedded_in_the_page_from_the_result_cache(marketer_client):
    """One read path: the cards a fragment computed are in the result layer's cache, which the page embeds."""
    ContactFactory()
    rep = UserFactory()
    ContactFactory(owner=rep)
    first = marketer_client.get(reverse("web:overview_kpis"), {"period": "30d"}, HTTP_X_CRM_FRAGMENT="1")
    computed_at = first.context["computed_at"]
    # A first look at a rep's contacts needs no warm-up on PostgreSQL: the base is a sum of the current-state rollup.
    with CaptureQueriesContext(connection) as queries:
        response = marketer_client.get(
            reverse("web:overview_kpis"), {"period": "90d", "owner": rep.pk}, HTTP_X_CRM_FRAGMENT="1"
        )
    sqls = [q["sql"] for q in queries.captured_queries]
    assert response.status_code == 200
    if connection.vendor == "postgresql":
        assert any("analytics_statefact" in sql for sql in sqls) and not any("AVG(" in sql.upper() for sql in sqls)
    ContactFactory()
    page = marketer_client.get(reverse("web:overview"), {"period": "30d"})
    assert page.context["computed_at"] == computed_at  # the cached cards, embedded in the page
    assert b"data-kpis-fragment" in page.content and b"data-kpis-src" not in page.content
