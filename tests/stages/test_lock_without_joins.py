"""Issue 19 finding 4: a manual move or a merge waiting on a contact that an evaluation is moving.

`SELECT … FOR UPDATE` over a join to the stage lost the contact on PostgreSQL's re-check
once the evaluation committed a new stage (the joined stage row no longer matched), so the
move answered 500 (Contact.DoesNotExist). Locks now take the contact row alone. Each test
holds an evaluation's transaction open, waits until the move or merge is blocked on the
row lock (pg_stat_activity, a state rather than a duration), then lets the evaluation commit.
"""

import contextlib
import threading
import time

import pytest
from django.db import connection, connections, transaction

from contacts.merge import contact_merge
from contacts.models import Contact
from stages.engine import lifecycle_evaluate
from stages.models import StageTransition
from stages.services import contact_move_stage
from tests.factories import ContactFactory, TouchpointFactory, stage
from tests.services import postgres_only, require_postgres

WAIT = 30  # seconds: an upper bound for a busy machine, never an expectation


def _wait_for_lock_waiters(count: int) -> None:
    """Poll until `count` sessions of this test database wait on a lock (fail after WAIT seconds)."""
    deadline = time.monotonic() + WAIT
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.02)
    pytest.fail(f"no {count} session(s) blocked on a row lock within {WAIT} s")


def _evaluation_held_open(contact_ids: list[int], held: threading.Event, release: threading.Event, errors: list):
    """Evaluate these contacts (the rules move them) inside a transaction kept open until `release`."""
    try:
        with transaction.atomic():
            result = lifecycle_evaluate(contact_ids=contact_ids)
            assert result.moved == len(contact_ids)
            held.set()
            release.wait(WAIT)
    except Exception as exc:
        errors.append(exc)
        held.set()
    finally:
        connection.close()


def _in_thread(work, errors: list) -> threading.Thread:
    def run():
        try:
            work()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_manual_move_waiting_on_an_evaluation_that_changes_the_stage_succeeds():
    require_postgres()
    contact = ContactFactory()
    TouchpointFactory(contact=contact, kind="purchase", amount="20.00")  # the rules move it to purchase
    held, release, errors = threading.Event(), threading.Event(), []
    evaluator = threading.Thread(target=_evaluation_held_open, args=([contact.pk], held, release, errors))
    evaluator.start()
    assert held.wait(WAIT) and not errors
    transitions = []
    mover = _in_thread(
        lambda: transitions.append(
            contact_move_stage(contact=Contact.objects.get(pk=contact.pk), stage=stage("loyalty"), reason="VIP")
        ),
        errors,
    )
    _wait_for_lock_waiters(1)
    release.set()
    evaluator.join(WAIT)
    mover.join(WAIT)
    assert errors == []
    (transition,) = transitions
    assert transition.from_stage.slug == "purchase"  # the stage the evaluation committed, read after the wait
    contact.refresh_from_db()
    assert (contact.stage.slug, contact.stage_source) == ("loyalty", "manual")
    history = list(
        StageTransition.objects.filter(contact=contact).order_by("pk").values_list("to_stage__slug", flat=True)
    )
    assert history == ["awareness", "purchase", "loyalty"]


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_merge_waiting_on_an_evaluation_that_changes_a_stage_succeeds():
    require_postgres()
    survivor = ContactFactory(email="keep@example.com")
    other = ContactFactory(email="dupe@example.com")
    TouchpointFactory(contact=other, kind="purchase", amount="20.00")
    held, release, errors = threading.Event(), threading.Event(), []
    evaluator = threading.Thread(target=_evaluation_held_open, args=([other.pk], held, release, errors))
    evaluator.start()
    assert held.wait(WAIT) and not errors
    merges = []
    merger = _in_thread(
        lambda: merges.append(
            contact_merge(survivor=Contact.objects.get(pk=survivor.pk), other=Contact.objects.get(pk=other.pk))
        ),
        errors,
    )
    _wait_for_lock_waiters(1)
    release.set()
    evaluator.join(WAIT)
    merger.join(WAIT)
    assert errors == []
    assert not Contact.objects.filter(pk=other.pk).exists()
    survivor.refresh_from_db()
    assert survivor.stage.slug == "purchase"  # the more advanced stage, as committed by the evaluation
    assert merges[0].moved["stage_after"] == "purchase"


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_many_moves_against_concurrent_evaluations_never_fail():
    """Moves and evaluations racing freely on the same contacts: every move succeeds or is a clear 'already there'."""
    require_postgres()
    from django.core.exceptions import ValidationError

    contacts = [ContactFactory() for _ in range(10)]
    for contact in contacts:
        TouchpointFactory(contact=contact, kind="trial_signup")
    ids = [c.pk for c in contacts]
    errors: list = []
    start = threading.Barrier(2)

    def evaluate():
        start.wait(WAIT)
        for _ in range(3):
            lifecycle_evaluate(contact_ids=ids)

    def move():
        start.wait(WAIT)
        for pk in ids:
            # "Already there" is a clear ValidationError (a 400), not a crash.
            with contextlib.suppress(ValidationError):
                contact_move_stage(contact=Contact.objects.get(pk=pk), stage=stage("retention"), reason="Renewed")

    threads = [_in_thread(evaluate, errors), _in_thread(move, errors)]
    for thread in threads:
        thread.join(WAIT * 2)
    assert errors == []
    assert set(Contact.objects.filter(pk__in=ids).values_list("stage__slug", flat=True)) == {"retention"}
