"""The lifecycle engine: default rules, movement policy, history, idempotency and --as-of."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact
from metrics.models import ContactMetrics
from stages.engine import lifecycle_evaluate
from stages.models import StageSnapshot, StageTransition
from stages.services import contact_move_stage, lifecycle_recompute
from tests.factories import ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


def contact_in(slug: str = "awareness", *, entered_days_ago: int = 1000) -> Contact:
    return ContactFactory(stage=stage(slug), acquired_at=days_ago(entered_days_ago))


def touch(contact: Contact, kind: str, when: dt.datetime, **extra):
    return TouchpointFactory(contact=contact, kind=kind, occurred_at=when, **extra)


def evaluate(contact: Contact, **kwargs):
    result = lifecycle_evaluate(contact_ids=[contact.pk], **kwargs)
    contact.refresh_from_db()
    return result


def last_transition(contact: Contact) -> StageTransition:
    return StageTransition.objects.filter(contact=contact).order_by("-effective_at", "-id").first()


# --- each default rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("email_open", "engagement"),
        ("webinar", "engagement"),
        ("meeting", "engagement"),
        ("quote_request", "consideration"),
        ("trial_signup", "consideration"),
        ("demo", "consideration"),
        ("site_visit", "awareness"),
        ("ad_click", "awareness"),
    ],
)
def test_prospect_touches_place_contact_by_default_rules(frozen, kind, expected):
    contact = contact_in()
    tp = touch(contact, kind, days_ago(2))
    evaluate(contact)
    assert contact.stage.slug == expected
    if expected != "awareness":
        transition = last_transition(contact)
        assert transition.effective_at == tp.occurred_at
        assert transition.touchpoint_id == tp.pk
        assert transition.source == "rule"
        assert transition.rule.stage.slug == expected


def test_first_purchase_moves_to_purchase_effective_at_the_purchase(frozen):
    contact = contact_in("engagement")
    purchase = touch(contact, "purchase", days_ago(10))
    evaluate(contact)
    assert contact.stage.slug == "purchase"
    assert contact.stage_entered_at == purchase.occurred_at
    transition = last_transition(contact)
    assert (transition.from_stage.slug, transition.to_stage.slug) == ("engagement", "purchase")
    assert transition.touchpoint_id == purchase.pk
    assert transition.rule.name == "First purchase"


def test_second_purchase_within_a_year_moves_to_retention(frozen):
    contact = contact_in("purchase")
    touch(contact, "purchase", days_ago(300))
    second = touch(contact, "purchase", days_ago(5))
    evaluate(contact)
    assert contact.stage.slug == "retention"
    assert last_transition(contact).touchpoint_id == second.pk


def test_second_purchase_more_than_a_year_later_is_not_retention(frozen):
    contact = contact_in("purchase")
    touch(contact, "purchase", days_ago(500))
    touch(contact, "purchase", days_ago(5))
    evaluate(contact)
    assert contact.stage.slug == "purchase"


def test_four_purchases_move_to_loyalty(frozen):
    contact = contact_in("retention")
    for days in (100, 80, 40, 3):
        touch(contact, "purchase", days_ago(days))
    evaluate(contact)
    assert contact.stage.slug == "loyalty"


def test_promoter_customer_moves_to_loyalty_but_promoter_prospect_does_not(frozen):
    customer = contact_in("purchase")
    touch(customer, "purchase", days_ago(30))
    touch(customer, "survey_response", days_ago(2), score=10)
    prospect = contact_in("engagement")
    touch(prospect, "survey_response", days_ago(2), score=10)
    detractor = contact_in("purchase")
    touch(detractor, "purchase", days_ago(30))
    touch(detractor, "survey_response", days_ago(20), score=10)
    touch(detractor, "survey_response", days_ago(2), score=3)  # the latest score counts
    lifecycle_evaluate(contact_ids=[customer.pk, prospect.pk, detractor.pk])
    for c in (customer, prospect, detractor):
        c.refresh_from_db()
    assert customer.stage.slug == "loyalty"
    assert prospect.stage.slug == "engagement"
    assert detractor.stage.slug == "purchase"


@pytest.mark.parametrize("kind", ["referral", "review"])
def test_customer_referral_or_review_moves_to_advocacy(frozen, kind):
    contact = contact_in("loyalty")
    touch(contact, "purchase", days_ago(20))
    touch(contact, kind, days_ago(1))
    evaluate(contact)
    assert contact.stage.slug == "advocacy"


# --- policy ---------------------------------------------------------------------------------


def test_rules_never_move_a_contact_backwards(frozen):
    contact = contact_in("loyalty", entered_days_ago=50)
    touch(contact, "purchase", days_ago(20))  # qualifies only for "purchase" (position below loyalty)
    touch(contact, "email_open", days_ago(1))
    result = evaluate(contact)
    assert result.moved == 0
    assert contact.stage.slug == "loyalty"


def test_skipped_stages_are_one_transition(frozen):
    contact = contact_in("awareness")
    touch(contact, "email_open", days_ago(30))
    touch(contact, "purchase", days_ago(20))
    evaluate(contact)
    assert contact.stage.slug == "purchase"
    rows = list(StageTransition.objects.filter(contact=contact, source="rule"))
    assert len(rows) == 1
    assert (rows[0].from_stage.slug, rows[0].to_stage.slug) == ("awareness", "purchase")
    assert rows[0].to_stage.position - rows[0].from_stage.position > 10  # analytics can tell it skipped


def test_silence_moves_customer_to_at_risk_when_threshold_crossed(frozen):
    contact = contact_in("retention")
    last = touch(contact, "purchase", days_ago(200))
    evaluate(contact)
    assert contact.stage.slug == "at_risk"
    transition = last_transition(contact)
    assert transition.effective_at == last.occurred_at + dt.timedelta(days=180)
    assert transition.touchpoint_id is None


def test_silence_past_a_year_churns_in_one_transition(frozen):
    contact = contact_in("purchase")
    last = touch(contact, "purchase", days_ago(400))
    evaluate(contact)
    assert contact.stage.slug == "churned"
    assert last_transition(contact).effective_at == last.occurred_at + dt.timedelta(days=365)
    assert StageTransition.objects.filter(contact=contact, source="rule").count() == 1


def test_at_risk_then_churned_as_time_passes():
    with time_machine.travel(NOW, tick=False):
        contact = contact_in("purchase")
        last = touch(contact, "purchase", days_ago(100))
        evaluate(contact)
        assert contact.stage.slug == "purchase"
    with time_machine.travel(NOW + dt.timedelta(days=90), tick=False):
        evaluate(contact)
        assert contact.stage.slug == "at_risk"
    with time_machine.travel(NOW + dt.timedelta(days=300), tick=False):
        evaluate(contact)
        assert contact.stage.slug == "churned"
    path = list(
        StageTransition.objects.filter(contact=contact, source="rule").values_list("to_stage__slug", "effective_at")
    )
    assert path == [
        ("at_risk", last.occurred_at + dt.timedelta(days=180)),
        ("churned", last.occurred_at + dt.timedelta(days=365)),
    ]


def test_prospects_never_go_at_risk(frozen):
    contact = contact_in("consideration")
    touch(contact, "quote_request", days_ago(900))
    evaluate(contact)
    assert contact.stage.slug == "consideration"


def test_purchase_after_at_risk_is_a_win_back(frozen):
    contact = contact_in("at_risk", entered_days_ago=30)
    touch(contact, "purchase", days_ago(300))
    purchase = touch(contact, "purchase", days_ago(2))
    evaluate(contact)
    assert contact.stage.slug == "retention"
    transition = last_transition(contact)
    assert transition.is_win_back
    assert transition.from_stage.slug == "at_risk"
    assert transition.touchpoint_id == purchase.pk


def test_exit_contacts_do_not_move_on_other_touches(frozen):
    contact = contact_in("churned", entered_days_ago=30)
    touch(contact, "purchase", days_ago(500))
    touch(contact, "review", days_ago(3))
    evaluate(contact)
    assert contact.stage.slug == "churned"


def test_manual_move_requires_reason_and_is_logged(frozen, admin_user):
    from django.core.exceptions import ValidationError

    contact = contact_in("engagement")
    with pytest.raises(ValidationError) as exc:
        contact_move_stage(contact=contact, stage=stage("loyalty"), reason="  ")
    assert "reason" in exc.value.message_dict
    transition = contact_move_stage(
        contact=contact, stage=stage("loyalty"), reason="Signed a 3-year deal", user=admin_user
    )
    contact.refresh_from_db()
    assert contact.stage.slug == "loyalty"
    assert contact.stage_source == "manual"
    assert (transition.note, transition.user, transition.source) == ("Signed a 3-year deal", admin_user, "manual")
    with pytest.raises(ValidationError):
        contact_move_stage(contact=contact, stage="loyalty", reason="again")


def test_manual_placement_is_respected_until_new_events(frozen):
    contact = contact_in("retention")
    for days in (200, 150, 100, 50, 20):
        touch(contact, "purchase", days_ago(days))
    evaluate(contact)
    assert contact.stage.slug == "loyalty"
    contact_move_stage(contact=contact, stage=stage("engagement"), reason="Wrong account merged; re-qualify")
    evaluate(contact)
    assert contact.stage.slug == "engagement"  # old purchases don't undo the manual move
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        touch(contact, "purchase", timezone.now())
        evaluate(contact)
    assert contact.stage.slug == "loyalty"  # a new purchase after the move lets the rules move it on
    assert contact.stage_source == "rule"


# --- history, idempotency, as-of ------------------------------------------------------------


def test_rerun_is_idempotent(frozen):
    contacts = [contact_in() for _ in range(5)]
    for i, contact in enumerate(contacts):
        touch(contact, "purchase", days_ago(10 + i))
    first = lifecycle_evaluate()
    transitions = StageTransition.objects.count()
    second = lifecycle_evaluate()
    assert first.moved == 5
    assert second.moved == 0
    assert StageTransition.objects.count() == transitions


def test_as_of_ignores_later_touchpoints_and_uses_that_day(frozen):
    contact = contact_in("awareness")
    touch(contact, "email_click", days_ago(40))
    touch(contact, "purchase", days_ago(10))
    lifecycle_evaluate(as_of=(NOW - dt.timedelta(days=20)).date())
    contact.refresh_from_db()
    assert contact.stage.slug == "engagement"
    lifecycle_evaluate()
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase"


def test_metrics_rows_written_with_net_revenue(frozen):
    contact = contact_in()
    touch(contact, "purchase", days_ago(30), amount=Decimal("120.00"))
    touch(contact, "purchase", days_ago(10), amount=Decimal("80.50"))
    touch(contact, "refund", days_ago(5), amount=Decimal("20.00"))
    touch(contact, "email_open", days_ago(1))
    bare = contact_in()
    lifecycle_evaluate(contact_ids=[contact.pk, bare.pk])
    metrics = ContactMetrics.objects.get(contact=contact)
    assert metrics.purchase_count == 2
    assert metrics.revenue == Decimal("180.50")
    assert metrics.refunds == Decimal("20.00")
    assert metrics.touch_count == 4
    assert metrics.first_purchase_at == days_ago(30)
    assert metrics.last_purchase_at == days_ago(10)
    assert metrics.last_touch_at == days_ago(1)
    empty = ContactMetrics.objects.get(contact=bare)
    assert (empty.purchase_count, empty.touch_count, empty.last_touch_at) == (0, 0, None)


def test_historic_clv_is_as_fresh_as_revenue_and_applies_the_margin(frozen, settings):
    settings.CRM_MARGIN = 0.4
    contact = contact_in()
    touch(contact, "purchase", days_ago(10), amount=Decimal("120.00"))
    touch(contact, "refund", days_ago(5), amount=Decimal("20.00"))
    lifecycle_evaluate(contact_ids=[contact.pk])
    assert ContactMetrics.objects.get(contact=contact).historic_clv == Decimal("40.00")  # (120 - 20) x 0.4
    touch(contact, "purchase", days_ago(1), amount=Decimal("50.00"))
    lifecycle_evaluate(contact_ids=[contact.pk])  # the real-time path: no nightly run in between
    assert ContactMetrics.objects.get(contact=contact).historic_clv == Decimal("60.00")


def test_recompute_writes_idempotent_snapshot(frozen):
    for _ in range(3):
        touch(contact_in(), "purchase", days_ago(5))
    contact_in()
    lifecycle_recompute()
    lifecycle_recompute()
    counts = dict(StageSnapshot.objects.filter(date=NOW.date()).values_list("stage__slug", "contacts"))
    assert counts["purchase"] == 3
    assert counts["awareness"] == 1
    assert counts["churned"] == 0
    assert StageSnapshot.objects.filter(date=NOW.date()).count() == 9


def test_past_snapshot_rebuilt_from_history(frozen):
    contact = contact_in("awareness")
    touch(contact, "purchase", days_ago(5))
    lifecycle_recompute()
    lifecycle_recompute(as_of=(NOW - dt.timedelta(days=10)).date())
    past = dict(
        StageSnapshot.objects.filter(date=(NOW - dt.timedelta(days=10)).date()).values_list("stage__slug", "contacts")
    )
    assert past["awareness"] == 1
    assert past["purchase"] == 0


def test_one_contact_evaluation_query_budget(frozen):
    contact = contact_in()
    touch(contact, "purchase", days_ago(3))
    from webhooks.services import webhook_active_events

    webhook_active_events()  # the webhook receiver's subscription lookup is cached: warm it for both runs
    lifecycle_evaluate(contact_ids=[contact_in().pk])  # and the rule set, so both runs measure the steady state
    with CaptureQueriesContext(connection) as one:
        lifecycle_evaluate(contact_ids=[contact.pk])
    many = [contact_in() for _ in range(30)]
    for other in many:
        touch(other, "purchase", days_ago(3))
    with CaptureQueriesContext(connection) as thirty:
        lifecycle_evaluate(contact_ids=[c.pk for c in many])
    # One fingerprint query for the cached rule set, then per chunk a fixed set of statements
    # (savepoint, aggregate, metrics upsert, plan+write — one statement on PostgreSQL, four on
    # SQLite — a second pass over the moved contacts, which finds nothing more, the purchase
    # months — one statement on PostgreSQL, two on SQLite — and a drop), plus the announcement of
    # the move in the same transaction: the receivers' outbox row(s).
    assert len(one) <= (9 if connection.vendor == "postgresql" else 16) + 1
    assert len(thirty) == len(one)
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase"


def test_stage_changed_signal_carries_transition_ids(frozen, django_capture_on_commit_callbacks):
    from stages.signals import stage_changed

    received = []

    def listener(sender, transition_ids, **kwargs):
        received.extend(transition_ids)

    stage_changed.connect(listener)
    try:
        contact = contact_in()
        touch(contact, "purchase", days_ago(1))  # news: within the event window (3 days old would be history)
        with django_capture_on_commit_callbacks(execute=True):
            result = lifecycle_evaluate(contact_ids=[contact.pk])
    finally:
        stage_changed.disconnect(listener)
    assert received == result.transition_ids
    assert StageTransition.objects.get(pk=received[0]).to_stage.slug == "purchase"
