"""Every evaluation path of the engine reaches the same stages, history and metrics.

The real-time path (a few ids: one pass with every aggregate column) and the chunked path
(ranges and long id lists: the aggregate without event-time columns, then only the
candidates re-aggregated with them, or the whole chunk when most of it may move) must
agree on each contact's stage, each transition (from, to, effective time, rule, triggering
touchpoint, win-back mark) and the metrics row.
"""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction

from contacts.models import Contact, Touchpoint
from metrics.models import ContactMetrics
from stages import engine
from stages.engine import lifecycle_evaluate
from stages.models import StageTransition
from stages.services import contact_move_stage
from tests.factories import ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def population() -> list[Contact]:
    """One contact per situation the default rules distinguish, in id order."""
    people: list[Contact] = []

    def person(slug: str = "awareness", *touches: tuple[str, float, dict]) -> Contact:
        contact = ContactFactory(stage=stage(slug), acquired_at=ago(1000))
        for kind, days, extra in touches:
            TouchpointFactory(contact=contact, kind=kind, occurred_at=ago(days), **extra)
        people.append(contact)
        # Two contacts no rule moves after each, so small chunks have few candidates.
        people.append(ContactFactory(stage=stage("consideration"), acquired_at=ago(1000)))
        people.append(ContactFactory(stage=stage("engagement"), acquired_at=ago(1000)))
        return contact

    money = {"amount": Decimal("50.00")}
    person()  # nothing at all
    person("awareness", ("site_visit", 3, {}))  # touches no rule counts
    person("awareness", ("email_open", 30, {}), ("webinar", 9, {}))  # engagement at the webinar
    person("awareness", ("email_open", 30, {}), ("quote_request", 12, {}))  # skips to consideration
    person("engagement", ("purchase", 40, money))  # first purchase
    person("purchase", ("purchase", 300, money), ("purchase", 20, money))  # retention
    person("retention", *[("purchase", d, money) for d in (200, 150, 90, 30)])  # loyalty
    person("purchase", ("purchase", 60, money), ("survey_response", 5, {"score": 9}))  # promoter
    person("purchase", ("purchase", 60, money), ("survey_response", 5, {"score": 4}))  # detractor stays
    person("loyalty", ("purchase", 60, money), ("referral", 7, {}))  # advocacy
    person("purchase", ("purchase", 200, money))  # silent: at risk
    person("retention", ("purchase", 500, money), ("purchase", 400, money))  # silent a year: churned
    person("at_risk", ("purchase", 300, money), ("purchase", 2, money))  # win-back
    person("consideration", ("purchase", 100, money), ("refund", 90, {"amount": Decimal("10.00")}))
    manual = person("retention", *[("purchase", d, money) for d in (200, 150, 100, 50)])
    contact_move_stage(contact=manual, stage=stage("engagement"), reason="re-qualify")  # a candidate, not a mover
    gone = person("purchase", ("purchase", 10, money))
    ContactMetrics.objects.create(contact=gone, purchase_count=1, revenue=Decimal("50.00"), touch_count=1)
    Touchpoint.objects.filter(contact=gone).delete()  # metrics must be reset to zero
    return people


def outcome(people: list[Contact]) -> dict:
    ids = [p.pk for p in people]
    stages = dict(Contact.objects.filter(pk__in=ids).values_list("pk", "stage__slug"))
    history = sorted(
        StageTransition.objects.filter(contact_id__in=ids, source="rule").values_list(
            "contact_id",
            "from_stage__slug",
            "to_stage__slug",
            "effective_at",
            "rule__name",
            "touchpoint_id",
            "is_win_back",
        )
    )
    metrics = sorted(
        ContactMetrics.objects.filter(contact_id__in=ids).values_list(
            "contact_id",
            "purchase_count",
            "revenue",
            "refunds",
            "first_purchase_at",
            "last_purchase_at",
            "last_touch_at",
            "touch_count",
            "historic_clv",
        )
    )
    return {"stages": stages, "history": history, "metrics": metrics}


def run(people: list[Contact], how) -> dict:
    """Evaluate one way inside a transaction that is rolled back, so each way starts from the same data."""
    with transaction.atomic():
        how()
        result = outcome(people)
        transaction.set_rollback(True)
    return result


@pytest.fixture
def people():
    with time_machine.travel(NOW, tick=False):
        yield population()


def test_chunked_paths_agree_with_the_real_time_path(people, monkeypatch):
    with time_machine.travel(NOW, tick=False):
        real_time = run(people, lambda: [lifecycle_evaluate(contact_ids=[p.pk]) for p in people])
        assert real_time["stages"][people[6].pk] == "engagement"
        assert real_time["stages"][people[36].pk] == "retention"  # won back, two purchases in a year
        assert any(row[-1] for row in real_time["history"])  # marked as a win-back
        assert len(real_time["history"]) >= 10

        aggregated: list[str] = []
        original = engine._aggregate

        def spy(cursor, chunk, compiled, cutoff, *, events=True):
            aggregated.append("range" if not chunk.ids else "ids" if events else "id list")
            return original(cursor, chunk, compiled, cutoff, events=events)

        monkeypatch.setattr(engine, "_aggregate", spy)

        # Ranges: one chunk for everybody (most may move: the chunk is re-aggregated whole) ...
        assert run(people, lambda: lifecycle_evaluate(chunk_size=1000)) == real_time
        # ... and chunks of six, with few candidates each (only those are re-aggregated).
        aggregated.clear()
        assert run(people, lambda: lifecycle_evaluate(chunk_size=6)) == real_time
        assert "ids" in aggregated and "range" in aggregated
        # Long id lists take the chunked path too.
        monkeypatch.setattr(engine, "SINGLE_STATEMENT_MAX", 1)
        ids = [p.pk for p in people]
        assert run(people, lambda: lifecycle_evaluate(contact_ids=ids, chunk_size=5)) == real_time
        monkeypatch.setattr(engine, "CANDIDATE_IDS_MAX", 0)  # never by ids: whole chunks
        aggregated.clear()
        assert run(people, lambda: lifecycle_evaluate(chunk_size=6)) == real_time
        assert "ids" not in aggregated


def test_steady_rerun_moves_nobody_and_rewrites_no_metrics(people):
    with time_machine.travel(NOW, tick=False):
        lifecycle_evaluate(chunk_size=4)
        computed = dict(ContactMetrics.objects.values_list("contact_id", "computed_at"))
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        again = lifecycle_evaluate(chunk_size=4)
    assert again.moved == 0
    assert again.contacts == len(people)
    # Unchanged values are not written again (computed_at keeps the first run's time).
    assert dict(ContactMetrics.objects.values_list("contact_id", "computed_at")) == computed


def test_dry_run_on_chunks_plans_the_same_moves_without_writing(people):
    with time_machine.travel(NOW, tick=False):
        before = outcome(people)
        planned = lifecycle_evaluate(chunk_size=4, dry_run=True)
        assert outcome(people) == before
        applied = lifecycle_evaluate(chunk_size=4)
        movers = StageTransition.objects.filter(source="rule").values("contact_id").distinct().count()
    # A dry run plans one pass: the first move of every contact that moves.
    assert planned.dry_run and planned.transition_ids == []
    assert planned.moved == movers > 0
    assert applied.moved >= movers  # some contacts move twice in one run (purchase, then at risk)
