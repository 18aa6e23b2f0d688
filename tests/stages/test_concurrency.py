"""Concurrency on PostgreSQL: a move committed while the engine evaluates is never overwritten or duplicated."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from contacts.models import Contact
from stages.engine import lifecycle_evaluate
from stages.models import StageTransition
from tests.factories import ContactFactory, TouchpointFactory, stage
from tests.services import postgres_only, require_postgres


def _in_two_threads(work) -> None:
    """Run `work` in two threads at once and wait for both (each closes its own connection)."""
    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_engine_skips_and_re_evaluates_a_contact_moved_under_it():
    require_postgres()
    contact = ContactFactory()
    TouchpointFactory(contact=contact, kind="purchase")
    locked = threading.Event()

    def manual_move_holding_the_row():
        from stages.services import contact_move_stage

        try:
            with transaction.atomic():
                Contact.objects.select_for_update().get(pk=contact.pk)
                locked.set()
                time.sleep(0.7)  # the engine's UPDATE waits on this row lock meanwhile
                contact_move_stage(contact=contact, stage=stage("loyalty"), reason="Key account, set by hand")
        finally:
            connection.close()

    mover = threading.Thread(target=manual_move_holding_the_row)
    mover.start()
    assert locked.wait(5)
    result = lifecycle_evaluate(contact_ids=[contact.pk])  # reads "awareness", then blocks, then finds it moved
    mover.join(10)
    contact.refresh_from_db()
    assert contact.stage.slug == "loyalty"
    assert contact.stage_source == "manual"
    assert result.moved == 0
    assert result.conflicts_retried == 1
    assert not StageTransition.objects.filter(contact=contact, source="rule").exists()
    assert StageTransition.objects.filter(contact=contact).count() == 2  # created + the manual move


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_evaluations_write_one_transition():
    require_postgres()
    contacts = [ContactFactory() for _ in range(20)]
    for contact in contacts:
        TouchpointFactory(contact=contact, kind="trial_signup")
    ids = [c.pk for c in contacts]
    results = []

    def evaluate():
        try:
            results.append(lifecycle_evaluate(contact_ids=ids).moved)
        finally:
            connection.close()

    _in_two_threads(evaluate)
    assert sum(results) == 20
    assert StageTransition.objects.filter(contact_id__in=ids, source="rule").count() == 20
    assert set(Contact.objects.filter(pk__in=ids).values_list("stage__slug", flat=True)) == {"consideration"}


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_evaluations_of_new_purchases_both_commit_the_purchase_months():
    """Both evaluations insert the same new (contact, month) rows: the second must not fail on the unique key."""
    require_postgres()
    from metrics.models import ContactPurchaseMonth

    contacts = [ContactFactory() for _ in range(40)]
    for contact in contacts:
        TouchpointFactory(contact=contact, kind="purchase", amount="12.50")
    ids = [c.pk for c in contacts]
    errors, barrier = [], threading.Barrier(2)

    def evaluate():
        try:
            barrier.wait(5)
            lifecycle_evaluate(contact_ids=ids, rules=[])  # no move, so no contact row lock orders the two
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    _in_two_threads(evaluate)
    assert errors == []
    rows = ContactPurchaseMonth.objects.filter(contact_id__in=ids)
    assert rows.count() == 40
    assert set(rows.values_list("purchases", "revenue")) == {(1, Decimal("12.50"))}
