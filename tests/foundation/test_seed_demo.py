"""`seed_demo`: deterministic for a seed and an end date, believable, consistent stage histories, safe to re-run."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from io import StringIO
from itertools import pairwise

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count

from campaigns.models import Campaign, CampaignMember, Segment
from contacts.models import Contact, Touchpoint
from stages.models import StageTransition

pytestmark = pytest.mark.django_db(transaction=False)

END = dt.date(2026, 6, 30)
CONTACTS = 250


@pytest.fixture(autouse=True)
def frozen_clock():
    # The engine and the recorded times read the clock; the day after the demo's history ends.
    with time_machine.travel(dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC), tick=True):
        yield


def _seed(*extra: str, seed: int = 7, contacts: int = CONTACTS) -> str:
    out = StringIO()
    call_command(
        "seed_demo",
        "--contacts",
        str(contacts),
        "--seed",
        str(seed),
        "--end-date",
        END.isoformat(),
        *extra,
        stdout=out,
    )
    return out.getvalue()


def _fingerprint() -> dict[str, list]:
    """Everything seed_demo decides, keyed by natural keys (ids and recorded_at may differ between runs)."""
    return {
        "contacts": list(
            Contact.objects.order_by("email").values_list(
                "email",
                "first_name",
                "last_name",
                "company",
                "external_id",
                "owner__username",
                "acquisition_channel",
                "acquisition_campaign__utm_campaign",
                "acquired_at",
                "marketing_consent",
                "unsubscribed_at",
                "attributes",
                "stage__slug",
                "stage_entered_at",
            )
        ),
        "tags": sorted(Contact.tags.through.objects.values_list("contact__email", "tag__name")),
        "touchpoints": sorted(
            Touchpoint.objects.values_list(
                "contact__email",
                "kind",
                "channel",
                "occurred_at",
                "amount",
                "score",
                "campaign__utm_campaign",
                "source",
                "external_id",
                "logged_by__username",
            ),
            key=repr,
        ),
        "transitions": sorted(
            StageTransition.objects.values_list(
                "contact__email", "from_stage__slug", "to_stage__slug", "effective_at", "source", "is_win_back"
            ),
            key=repr,
        ),
        "campaigns": list(
            Campaign.objects.order_by("utm_campaign").values_list(
                "name", "utm_campaign", "channel", "starts_on", "ends_on", "cost", "status", "objective__slug"
            )
        ),
        "members": sorted(CampaignMember.objects.values_list("campaign__utm_campaign", "contact__email")),
    }


def test_seed_demo_is_deterministic_for_a_seed_and_differs_for_another():
    _seed()
    first = _fingerprint()
    _seed("--reset")
    assert _fingerprint() == first
    _seed("--reset", seed=8)
    other = _fingerprint()
    assert other["contacts"] != first["contacts"]
    assert other["touchpoints"] != first["touchpoints"]


def test_every_seeded_contact_has_a_stage_and_a_chained_transition_history():
    _seed()
    contacts = {c.pk: c for c in Contact.objects.select_related("stage")}
    assert len(contacts) == CONTACTS
    history: dict[int, list[StageTransition]] = {}
    for transition in StageTransition.objects.order_by("contact_id", "id"):
        history.setdefault(transition.contact_id, []).append(transition)
    assert set(history) == set(contacts)
    for pk, contact in contacts.items():
        chain = history[pk]
        assert chain[0].from_stage_id is None, contact
        assert chain[0].effective_at == contact.acquired_at
        for previous, current in pairwise(chain):
            assert current.from_stage_id == previous.to_stage_id, (contact, previous, current)
            assert current.effective_at >= previous.effective_at, (contact, previous, current)
        assert chain[-1].to_stage_id == contact.stage_id, contact
        assert contact.stage_entered_at == chain[-1].effective_at, contact


def test_seeded_journeys_look_like_a_business():
    _seed()
    stages = Counter(dict(Contact.objects.values_list("stage__slug").annotate(n=Count("id"))))
    # Prospects who never bought, customers, and customers who lapsed all exist.
    assert stages["awareness"] and stages["engagement"] and stages["consideration"]
    assert stages["purchase"] + stages["retention"] + stages["loyalty"] + stages["advocacy"] > 0
    assert stages["at_risk"] + stages["churned"] > 0
    kinds = Counter(dict(Touchpoint.objects.values_list("kind").annotate(n=Count("id"))))
    for kind in ("site_visit", "email_open", "purchase", "survey_response", "demo", "call"):
        assert kinds[kind] > 0, kind
    # Buy-till-you-die: some customers buy again and again, most buy once or twice.
    per_customer = Counter(
        Touchpoint.objects.filter(kind="purchase")
        .values_list("contact_id")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert per_customer[1] > 0 and any(n >= 4 for n in per_customer)
    assert Touchpoint.objects.filter(occurred_at__gte=dt.datetime(2026, 6, 30, tzinfo=dt.UTC)).count() == 0
    assert Touchpoint.objects.filter(occurred_at__lt=dt.datetime(2024, 6, 30, tzinfo=dt.UTC)).count() == 0
    assert Touchpoint.objects.exclude(campaign=None).exists()
    assert Campaign.objects.count() >= 8 and Segment.objects.count() >= 3
    owners = set(Contact.objects.exclude(owner=None).values_list("owner__username", flat=True))
    assert owners == {"rep", "rep2"}


def test_seed_demo_creates_the_demo_users_with_roles_and_prints_their_passwords():
    out = _seed("--password", "demo-pass-123")
    users = {u.username: u for u in get_user_model().objects.prefetch_related("groups")}
    assert users["admin"].is_staff and users["admin"].is_superuser
    assert [g.name for g in users["marketer"].groups.all()] == ["Marketers"]
    assert [g.name for g in users["rep"].groups.all()] == ["Sales reps"]
    assert [g.name for g in users["rep2"].groups.all()] == ["Sales reps"]
    for username in ("admin", "marketer", "rep", "rep2"):
        assert users[username].check_password("demo-pass-123")
        assert f"{username}" in out
    assert "demo-pass-123" in out


def test_seed_demo_prints_random_passwords_that_work():
    out = _seed(contacts=20)
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ")}
    assert set(lines) == {"admin", "marketer", "rep", "rep2"}
    assert get_user_model().objects.get(username="rep").check_password(lines["rep"])


def test_seed_demo_refuses_to_run_twice_without_reset():
    _seed(contacts=20)
    with pytest.raises(CommandError, match="--reset"):
        _seed(contacts=20)
    assert Contact.objects.count() == 20


def test_seed_demo_rejects_bad_arguments():
    with pytest.raises(CommandError, match="at least 1"):
        _seed(contacts=0)
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("seed_demo", "--end-date", "30/06/2026", stdout=StringIO())


def test_seed_demo_if_empty_seeds_an_empty_database_once_and_then_does_nothing():
    _seed("--if-empty", contacts=20)
    assert Contact.objects.count() == 20
    out = _seed("--if-empty", contacts=30)
    assert "already has contacts" in out
    assert Contact.objects.count() == 20
