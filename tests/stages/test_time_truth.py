"""Issue 17: when it happened versus when we learned it; no side effects from the past or from simulations."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from analytics.charts import restated_note
from analytics.reports.base import ReportFilters
from analytics.reports.stage_counts import StageCountsQuery, stage_counts_report
from contacts.models import Contact
from contacts.services import contact_create
from contacts.touchpoint_services import touchpoint_bulk_create, touchpoint_create
from metrics.models import ContactMetrics
from plays.models import Play, PlayRun, PlayStatus, Task
from stages.engine import lifecycle_evaluate
from stages.models import StageRule, StageSnapshot, StageTransition
from stages.services import lifecycle_recompute, stage_snapshot_write
from tests.factories import ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def plays_on(db):
    """The default plays (thank-you, at-risk task, win-back email…) switched on, as a business would."""
    Play.objects.update(status=PlayStatus.ACTIVE)


def chain(contact: Contact) -> list[tuple[str | None, str, dt.datetime]]:
    rows = StageTransition.objects.filter(contact=contact).order_by("effective_at", "id")
    return [(t.from_stage.slug if t.from_stage else None, t.to_stage.slug, t.effective_at) for t in rows]


def assert_coherent(contact: Contact) -> None:
    """One first placement, each move's from is the previous to, the contact's stage is the last to."""
    history = chain(contact)
    assert [row[0] for row in history].count(None) == 1 and history[0][0] is None
    for previous, row in itertools.pairwise(history):
        assert row[0] == previous[1] and row[2] >= previous[2]
    contact.refresh_from_db()
    assert (contact.stage.slug, contact.stage_entered_at) == (history[-1][1], history[-1][2])


def state() -> dict:
    """Everything an evaluation could write or send, to compare before and after a dry run."""
    return {
        "transitions": sorted(StageTransition.objects.values_list("pk", "contact_id", "to_stage_id", "effective_at")),
        "contacts": sorted(Contact.objects.values_list("pk", "stage_id", "stage_entered_at", "stage_source")),
        "metrics": sorted(ContactMetrics.objects.values_list("contact_id", "purchase_count", "computed_at")),
        "snapshots": sorted(StageSnapshot.objects.values_list("date", "stage_id", "contacts")),
        "runs": PlayRun.objects.count(),
        "tasks": Task.objects.count(),
        "mail": len(mail.outbox),
    }


# --- finding: old purchases pushed for a new contact ----------------------------------------------


def test_old_purchases_pushed_for_a_new_contact_send_neither_thank_you_nor_we_miss_you(
    frozen, plays_on, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(NOW - dt.timedelta(minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        contact = contact_create(data={"email": "late@example.com", "marketing_consent": True}, source="api")
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_bulk_create(
            rows=[
                {"contact": contact.pk, "kind": "purchase", "amount": "40", "occurred_at": ago(365)},
                {"contact": contact.pk, "kind": "purchase", "amount": "60", "occurred_at": ago(200)},
            ]
        )
    assert [m.subject for m in mail.outbox] == []
    assert list(PlayRun.objects.values_list("play__name", "occurrence_key", "status", "note")) == []
    # Each move carries the effective time of its cause, not the time we were told.
    assert chain(contact) == [
        (None, "awareness", ago(365)),
        ("awareness", "purchase", ago(365)),
        ("purchase", "retention", ago(200)),
        ("retention", "at_risk", ago(20)),
    ]
    assert_coherent(contact)


def test_old_purchases_pushed_one_by_one_in_any_order_end_with_the_same_history(
    frozen, plays_on, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(NOW - dt.timedelta(minutes=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        contact = contact_create(data={"email": "late2@example.com", "marketing_consent": True}, source="api")
    for minute, days in ((1, 200), (0, 365)):  # the newer one first: the older one arrives late, restating history
        with (
            time_machine.travel(NOW - dt.timedelta(minutes=minute), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            touchpoint_create(
                data={"contact": contact.pk, "kind": "purchase", "amount": "10", "occurred_at": ago(days)},
                source="api",
            )
    assert mail.outbox == [] and not PlayRun.objects.exists()
    assert [(f, t, when) for f, t, when in chain(contact)] == [
        (None, "awareness", ago(365)),
        ("awareness", "purchase", ago(365)),
        ("purchase", "retention", ago(200)),
        ("retention", "at_risk", ago(20)),
    ]
    assert_coherent(contact)


def test_a_fresh_purchase_still_thanks_the_customer(frozen, plays_on, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_create(data={"email": "new@example.com", "marketing_consent": True}, source="api")
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_create(data={"contact": contact.pk, "kind": "purchase", "amount": "10"}, source="api")
    assert [m.subject.split(",")[0] for m in mail.outbox] == ["Thank you for your first order"]


def test_imported_history_emails_nobody(frozen, plays_on, django_capture_on_commit_callbacks):
    contact = ContactFactory(marketing_consent=True, acquired_at=ago(30))
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_bulk_create(
            rows=[{"contact": contact.pk, "kind": "purchase", "amount": "10", "occurred_at": ago(0.1)}],
            source="import",
            max_batch=None,
        )
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase"  # the import is evaluated...
    assert mail.outbox == [] and not PlayRun.objects.exists()  # ...quietly


def test_an_import_may_opt_in_to_plays(frozen, plays_on, django_capture_on_commit_callbacks):
    contact = ContactFactory(marketing_consent=True, acquired_at=ago(30))
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_bulk_create(
            rows=[{"contact": contact.pk, "kind": "purchase", "amount": "10", "occurred_at": ago(0.1)}],
            source="import",
            max_batch=None,
            announce=True,
        )
    assert len(mail.outbox) == 1


# --- finding: --as-of 2030-01-01 -------------------------------------------------------------------


def _lapsed_customers(n: int = 3) -> list[Contact]:
    contacts = []
    for i in range(n):
        contact = ContactFactory(acquired_at=ago(500), marketing_consent=True)
        TouchpointFactory(contact=contact, kind="purchase", amount=10, occurred_at=ago(100 + i))
        contacts.append(contact)
    lifecycle_evaluate(contact_ids=[c.pk for c in contacts])
    return contacts


def test_future_as_of_is_refused_without_dry_run(frozen, plays_on):
    _lapsed_customers()
    before = state()
    with pytest.raises(CommandError) as exc:
        call_command("recompute_lifecycle", "--as-of", "2030-01-01", "--no-progress", stdout=StringIO())
    assert "future" in str(exc.value) and "--dry-run" in str(exc.value)
    assert state() == before
    with pytest.raises(ValueError):
        lifecycle_evaluate(as_of=dt.date(2030, 1, 1))


def test_dry_run_of_any_day_computes_who_would_move_and_writes_nothing(frozen, plays_on, tmp_path):
    contacts = _lapsed_customers(3)
    stage_snapshot_write(date=NOW.date())
    before = state()
    out = StringIO()
    path = tmp_path / "movers.csv"
    call_command(
        "recompute_lifecycle",
        "--as-of",
        "2030-01-01",
        "--dry-run",
        "--csv",
        str(path),
        "--page-size",
        "2",
        "--no-progress",
        stdout=out,
    )
    text = out.getvalue()
    assert "nothing was written" in text and "would move 3" in text
    assert "purchase → churned: 3" in text
    assert "page 1 of 2" in text and f"contact {contacts[0].pk}:" in text
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(r["contact_id"]) for r in rows) == sorted(c.pk for c in contacts)
    assert {r["to_stage"] for r in rows} == {"churned"}
    assert state() == before


def test_past_as_of_writes_history_up_to_that_day_and_triggers_nothing(frozen, plays_on):
    contact = ContactFactory(acquired_at=ago(500), marketing_consent=True)
    TouchpointFactory(contact=contact, kind="purchase", amount=10, occurred_at=ago(300))
    day = ago(100).date()
    call_command("recompute_lifecycle", "--as-of", day.isoformat(), "--no-progress", stdout=StringIO())
    contact.refresh_from_db()
    assert contact.stage.slug == "at_risk"
    assert all(row[2] <= NOW - dt.timedelta(days=99) for row in chain(contact))
    assert mail.outbox == [] and not PlayRun.objects.exists() and not Task.objects.exists()


def test_a_customer_who_buys_after_churning_is_won_back(frozen):
    contact = ContactFactory(acquired_at=ago(800))
    TouchpointFactory(contact=contact, kind="purchase", amount=10, occurred_at=ago(400))
    lifecycle_evaluate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    assert contact.stage.slug == "churned" and contact.stage_entered_at <= NOW
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        TouchpointFactory(contact=contact, kind="purchase", amount=10, occurred_at=timezone.now())
        lifecycle_evaluate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    assert contact.stage.slug == "retention"


def test_no_move_is_ever_dated_in_the_future(frozen):
    contact = ContactFactory(acquired_at=ago(30))
    TouchpointFactory(contact=contact, kind="purchase", amount=10, occurred_at=NOW + dt.timedelta(hours=6))
    lifecycle_evaluate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    assert contact.stage.slug == "purchase" and contact.stage_entered_at == NOW


# --- finding: model-driven moves dated at the last purchase ----------------------------------------


def test_p_alive_move_is_effective_on_the_evaluation_day_and_the_at_risk_play_acts(
    frozen, plays_on, django_capture_on_commit_callbacks
):
    StageRule.objects.filter(stage__slug="at_risk").update(is_active=False)
    StageRule.objects.create(
        name="Slipping away",
        stage=stage("at_risk"),
        conditions=[
            {"metric": "total_purchases", "op": ">=", "value": 1, "params": {}},
            {"metric": "p_alive", "op": "<", "value": 0.3, "params": {}},
        ],
    )
    contact = ContactFactory(acquired_at=ago(400), owner=None)
    TouchpointFactory(contact=contact, kind="purchase", amount=10, occurred_at=ago(130))
    lifecycle_evaluate(contact_ids=[contact.pk])
    ContactMetrics.objects.filter(contact=contact).update(p_alive=0.1)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle_evaluate(contact_ids=[contact.pk])
    move = StageTransition.objects.filter(contact=contact).latest("effective_at", "id")
    assert move.to_stage.slug == "at_risk"
    assert move.effective_at == NOW  # not the last purchase, 130 days ago
    assert PlayRun.objects.filter(play__name="Owner task on entering at-risk", contact=contact).exists()


# --- snapshots restated ------------------------------------------------------------------------------


def test_a_late_fact_restates_the_stored_snapshots_it_contradicts(frozen, django_capture_on_commit_callbacks):
    contact = ContactFactory(acquired_at=ago(400))
    day = ago(50).date()
    stage_snapshot_write(date=day)
    awareness = StageSnapshot.objects.get(date=day, stage__slug="awareness")
    purchase = StageSnapshot.objects.get(date=day, stage__slug="purchase")
    assert (awareness.restated_at, purchase.contacts) == (None, 0)
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_create(
            data={"contact": contact.pk, "kind": "purchase", "amount": "10", "occurred_at": ago(60)}, source="api"
        )
    awareness.refresh_from_db()
    purchase.refresh_from_db()
    assert purchase.contacts == 1 and purchase.previous_contacts == 0 and purchase.restated_at == NOW
    assert awareness.contacts == awareness.previous_contacts - 1
    # The restated counts equal a snapshot rebuilt from the history now.
    rebuilt = {s.stage_id: s.contacts for s in StageSnapshot.objects.filter(date=day)}
    stage_snapshot_write(date=day)
    assert {s.stage_id: s.contacts for s in StageSnapshot.objects.filter(date=day)} == rebuilt


def test_recompute_service_refuses_a_future_day_but_simulates_it():
    with pytest.raises(Exception) as exc:
        lifecycle_recompute(as_of=timezone.localdate() + dt.timedelta(days=1))
    assert "future" in str(exc.value)
    result = lifecycle_recompute(as_of=timezone.localdate() + dt.timedelta(days=1), dry_run=True)
    assert result.evaluation.dry_run and result.snapshot_date is None


def test_the_stage_chart_says_which_days_were_restated(frozen, django_capture_on_commit_callbacks):
    contact = ContactFactory(acquired_at=ago(400))
    day = ago(50).date()
    stage_snapshot_write(date=day)
    query = StageCountsQuery(filters=ReportFilters(period_start=ago(60).date(), period_end=ago(40).date()))
    assert stage_counts_report(query).restated == []
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_create(
            data={"contact": contact.pk, "kind": "purchase", "amount": "10", "occurred_at": ago(60)}, source="api"
        )
    result = stage_counts_report(query)
    assert [d for d, _ in result.restated] == [day]
    assert f"Restated after later history arrived: {day.isoformat()}." in restated_note(result)


def test_imported_contacts_and_touchpoints_publish_no_webhook(frozen, django_capture_on_commit_callbacks):
    from contacts.signals import contacts_created, touchpoints_created

    heard: list[tuple[str, bool]] = []

    def contacts_listener(sender, **kwargs):
        heard.append(("contacts", True))

    def touchpoints_listener(sender, **kwargs):
        # Receivers (stages, plays, webhooks) read `announce`: False means evaluate quietly, publish nothing.
        heard.append(("touchpoints", kwargs.get("announce", True)))

    contacts_created.connect(contacts_listener)
    touchpoints_created.connect(touchpoints_listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            contact = contact_create(data={"email": "imp@example.com"}, source="import")
            touchpoint_bulk_create(
                rows=[{"contact": contact.pk, "kind": "purchase", "amount": "5", "occurred_at": ago(0.1)}],
                source="import",
                max_batch=None,
            )
        assert heard == [("touchpoints", False)]
        heard.clear()
        with django_capture_on_commit_callbacks(execute=True):
            live = contact_create(data={"email": "live@example.com"}, source="api")
            touchpoint_create(data={"contact": live.pk, "kind": "site_visit"}, source="api")
        assert heard == [("contacts", True), ("touchpoints", True)]
    finally:
        contacts_created.disconnect(contacts_listener)
        touchpoints_created.disconnect(touchpoints_listener)
