"""The contact list: API filters, keyset pages, export, segments, bulk actions with confirmation and scope."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from campaigns.models import Segment
from contacts.models import Contact
from metrics.models import ContactMetrics
from stages.models import StageTransition
from tests.factories import ContactFactory, TagFactory, stage

pytestmark = pytest.mark.django_db


def test_list_applies_the_api_filters_and_search(marketer_client, rep):
    ContactFactory(first_name="Ada", last_name="Lovelace", owner=rep, stage=stage("purchase"))
    ContactFactory(first_name="Alan", last_name="Turing")
    url = reverse("web:contact_list")
    names = lambda r: [c.full_name for c in r.context["contacts"]]  # noqa: E731
    assert names(marketer_client.get(url, {"q": "ada love"})) == ["Ada Lovelace"]
    assert names(marketer_client.get(url, {"stage": "purchase"})) == ["Ada Lovelace"]
    assert names(marketer_client.get(url, {"owner_id": rep.pk})) == ["Ada Lovelace"]
    assert len(names(marketer_client.get(url))) == 2
    ada = Contact.objects.get(first_name="Ada")
    ContactMetrics.objects.create(contact=ada, rfm_segment="champions")
    assert names(marketer_client.get(url, {"rfm_segment": "champions"})) == ["Ada Lovelace"]


def test_bad_filter_is_explained_not_a_crash(marketer_client):
    response = marketer_client.get(reverse("web:contact_list"), {"stage": "nowhere", "clv_min": "lots"})
    assert response.status_code == 200
    assert set(response.context["filter_errors"]) >= {"stage", "clv_min"}
    assert response.context["contacts"] == []


@pytest.mark.parametrize(
    "ordering", ["-id", "id", "last_name", "-stage_entered_at", "stage_entered_at", "-predicted_clv", "-historic_clv"]
)
def test_keyset_pages_walk_every_contact_once_in_order(marketer_client, ordering, monkeypatch):
    monkeypatch.setattr("contacts.views.lists.PAGE_SIZE", 4)
    for i in range(10):
        contact = ContactFactory(last_name=f"Name{i % 3}")
        # Ties on every sort key, so the id tie-breaker is exercised.
        ContactMetrics.objects.create(contact=contact, predicted_clv=Decimal(i % 3), historic_clv=Decimal(i % 2))
    seen: list[int] = []
    params = {"ordering": ordering}
    for _ in range(5):
        response = marketer_client.get(reverse("web:contact_list"), params)
        seen += [c.pk for c in response.context["contacts"]]
        if not response.context["next_cursor"]:
            break
        params = {"ordering": ordering, "cursor": response.context["next_cursor"]}
    assert sorted(seen) == sorted(Contact.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 10


def test_broken_cursor_is_a_message_not_an_error(marketer_client):
    response = marketer_client.get(reverse("web:contact_list"), {"cursor": "not-a-cursor"})
    assert response.status_code == 200
    assert "cursor" in response.context["filter_errors"]


def test_list_page_query_count_does_not_grow_with_rows(marketer_client, django_assert_max_num_queries):
    tag = TagFactory(name="vip")
    for _ in range(30):
        ContactFactory().tags.add(tag)
    with django_assert_max_num_queries(14):
        marketer_client.get(reverse("web:contact_list"))


def test_export_streams_the_filtered_list_as_csv_safe_for_spreadsheets(marketer_client):
    ContactFactory(first_name="=cmd()", email="a@example.com", stage=stage("purchase"))
    ContactFactory(email="b@example.com")
    response = marketer_client.get(reverse("web:contact_export"), {"stage": "purchase"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "email", "first_name"]
    assert [r[1] for r in rows[1:]] == ["a@example.com"]
    assert rows[1][2] == "'=cmd()"


def test_save_filters_as_segment_then_the_segment_filters_the_list(marketer_client, marketer):
    ContactFactory(stage=stage("purchase"))
    ContactFactory()
    response = marketer_client.post(
        reverse("web:segment_save"), {"name": "Buyers", "query": "stage=purchase&ordering=-id"}
    )
    segment = Segment.objects.get(name="Buyers")
    assert segment.filters == {"stage": "purchase"} and segment.created_by == marketer
    assert response["Location"].endswith(f"?segment={segment.pk}")
    listed = marketer_client.get(reverse("web:contact_list"), {"segment": segment.pk}).context["contacts"]
    assert [c.stage.slug for c in listed] == ["purchase"]


def test_segment_needs_a_filter_and_a_unique_name(marketer_client):
    marketer_client.post(reverse("web:segment_save"), {"name": "Nothing", "query": ""})
    assert not Segment.objects.filter(name="Nothing").exists()
    Segment.objects.create(name="Taken", filters={"stage": "purchase"})
    marketer_client.post(reverse("web:segment_save"), {"name": "taken", "query": "stage=purchase"})
    assert Segment.objects.filter(name__iexact="taken").count() == 1


def test_reps_cannot_save_segments_or_export(rep_client):
    assert rep_client.post(reverse("web:segment_save"), {"name": "x", "query": "stage=purchase"}).status_code == 403
    assert rep_client.get(reverse("web:contact_export")).status_code == 403


def test_bulk_action_asks_for_confirmation_before_changing_anything(rep_client, rep_contact):
    response = rep_client.post(
        reverse("web:contact_bulk"), {"action": "add_tag", "tag": "hot", "ids": [rep_contact.pk]}
    )
    assert response.status_code == 200
    assert b"Confirm" in response.content
    assert not rep_contact.tags.exists()
    rep_client.post(
        reverse("web:contact_bulk"), {"action": "add_tag", "tag": "hot", "ids": [rep_contact.pk], "confirm": "1"}
    )
    assert list(rep_contact.tags.values_list("name", flat=True)) == ["hot"]


def test_bulk_move_stage_needs_a_reason_and_logs_it(rep_client, rep_contact):
    data = {"action": "move_stage", "stage": "consideration", "ids": [rep_contact.pk], "confirm": "1"}
    rep_client.post(reverse("web:contact_bulk"), data)
    rep_contact.refresh_from_db()
    assert rep_contact.stage.slug == "awareness"
    rep_client.post(reverse("web:contact_bulk"), data | {"reason": "Asked for pricing at the fair"})
    rep_contact.refresh_from_db()
    assert rep_contact.stage.slug == "consideration"
    last = StageTransition.objects.filter(contact=rep_contact).latest("id")
    assert last.note == "Asked for pricing at the fair" and last.source == "manual"


def test_bulk_actions_touch_only_contacts_the_user_may_change(rep_client, rep_contact, other_contact):
    response = rep_client.post(
        reverse("web:contact_bulk"),
        {"action": "add_tag", "tag": "fair", "ids": [rep_contact.pk, other_contact.pk], "confirm": "1"},
        follow=True,
    )
    assert list(rep_contact.tags.values_list("name", flat=True)) == ["fair"]
    assert not other_contact.tags.exists()
    assert b"left alone" in response.content


def test_admin_assigns_an_owner_in_bulk(admin_client, rep_contact, other_contact, other_rep):
    admin_client.post(
        reverse("web:contact_bulk"),
        {"action": "assign_owner", "owner": other_rep.pk, "ids": [rep_contact.pk], "confirm": "1"},
    )
    rep_contact.refresh_from_db()
    assert rep_contact.owner == other_rep


def test_outsider_rep_cannot_bulk_change_someone_elses_contact(other_rep_client, rep_contact, rep):
    other_rep_client.post(
        reverse("web:contact_bulk"), {"action": "add_tag", "tag": "mine", "ids": [rep_contact.pk], "confirm": "1"}
    )
    assert not rep_contact.tags.exists()


def test_marketers_bulk_tag_assign_and_export_after_confirming_but_never_move_stages(
    marketer_client, rep_contact, other_contact, other_rep
):
    page = marketer_client.get(reverse("web:contact_list"))
    assert page.context["can_bulk"] is True
    assert [a for a, _ in page.context["bulk_actions"]] == ["assign_owner", "add_tag", "export"]
    ids = [rep_contact.pk, other_contact.pk]
    confirm = marketer_client.post(reverse("web:contact_bulk"), {"action": "add_tag", "tag": "fair-2026", "ids": ids})
    assert confirm.status_code == 200 and confirm.context["count"] == 2
    assert not rep_contact.tags.exists()  # nothing changes before the confirmation
    marketer_client.post(
        reverse("web:contact_bulk"), {"action": "add_tag", "tag": "fair-2026", "ids": ids, "confirm": "1"}
    )
    assert set(Contact.objects.filter(tags__name="fair-2026").values_list("pk", flat=True)) == set(ids)
    marketer_client.post(
        reverse("web:contact_bulk"),
        {"action": "assign_owner", "owner": other_rep.pk, "ids": [rep_contact.pk], "confirm": "1"},
    )
    rep_contact.refresh_from_db()
    assert rep_contact.owner == other_rep
    exported = marketer_client.post(reverse("web:contact_bulk"), {"action": "export", "ids": ids, "confirm": "1"})
    body = b"".join(exported.streaming_content).decode()
    assert exported["Content-Type"].startswith("text/csv")
    assert "owned@example.com" in body and "theirs@example.com" in body and body.count("\n") == 3
    stage_before = other_contact.stage_id
    refused = marketer_client.post(
        reverse("web:contact_bulk"),
        {"action": "move_stage", "stage": "loyalty", "reason": "x", "ids": ids, "confirm": "1"},
        follow=True,
    )
    other_contact.refresh_from_db()
    assert other_contact.stage_id == stage_before
    assert "Your role cannot do that to contacts in bulk." in [str(m) for m in refused.context["messages"]]


def test_clv_sort_lists_contacts_with_a_clv_highest_first(marketer_client):
    low, high, none = ContactFactory(), ContactFactory(), ContactFactory()
    ContactMetrics.objects.create(contact=low, predicted_clv=Decimal("10"))
    ContactMetrics.objects.create(contact=high, predicted_clv=Decimal("900"))
    ContactMetrics.objects.create(contact=none, predicted_clv=None)
    listed = marketer_client.get(reverse("web:contact_list"), {"ordering": "-predicted_clv"}).context["contacts"]
    assert [c.pk for c in listed] == [high.pk, low.pk]
