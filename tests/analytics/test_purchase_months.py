"""The cohort-retention rollup (ContactPurchaseMonth) that the lifecycle engine keeps with the metrics."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics.reports.cohort_retention import CohortRetentionQuery, cohort_retention_report
from contacts.models import Touchpoint
from metrics.models import ContactPurchaseMonth
from stages.engine import lifecycle_evaluate
from stages.engine_facts import purchase_months_backfill
from tests.analytics.report_data import at, contacts_create, touchpoints_create

pytestmark = pytest.mark.django_db


def _month(value: dt.datetime) -> int:
    local = timezone.localtime(value)
    return local.year * 12 + local.month - 1


def _expected() -> set[tuple[int, int, int, int, Decimal]]:
    """(contact, month, cohort, purchases, revenue) from every stored purchase, in Python."""
    cells: dict[tuple[int, int], list] = defaultdict(lambda: [0, Decimal(0)])
    for t in Touchpoint.objects.filter(kind="purchase"):
        cell = cells[(t.contact_id, _month(t.occurred_at))]
        cell[0] += 1
        cell[1] += t.amount or 0
    first: dict[int, int] = {}
    for contact, month in cells:
        first[contact] = min(first.get(contact, month), month)
    return {(c, m, first[c], n, money) for (c, m), (n, money) in cells.items()}


def _stored() -> set[tuple[int, int, int, int, Decimal]]:
    return set(ContactPurchaseMonth.objects.values_list("contact_id", "month", "cohort", "purchases", "revenue"))


def _random_purchases(rng: random.Random, contacts: list, n: int) -> None:
    rows = []
    for _ in range(n):
        when = at(dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 700)), rng.randint(0, 23), rng.randint(0, 59))
        kind = rng.choice(["purchase", "purchase", "purchase", "refund", "site_visit"])
        amount = f"{rng.randint(1, 50000) / 100:.2f}" if kind in ("purchase", "refund") else None
        rows.append((rng.choice(contacts).pk, kind, when, amount, None))
    touchpoints_create(rows)


@pytest.mark.parametrize(
    ("time_zone", "after_edits"), [("UTC", "real_time"), ("America/New_York", "real_time"), ("UTC", "nightly")]
)
def test_the_engine_keeps_the_rollup_equal_to_the_purchases_through_edits(settings, time_zone, after_edits):
    """After edits, the real-time evaluation of the touched contacts or the nightly run over everyone
    (which rewrites the months of the contacts whose metrics changed) brings the rollup up to date."""
    settings.TIME_ZONE = time_zone
    rng = random.Random(7)
    contacts = contacts_create(40, rng=rng)
    _random_purchases(rng, contacts, 300)
    lifecycle_evaluate(chunk_size=9)  # the nightly run, in several id ranges
    assert _stored() == _expected()
    assert ContactPurchaseMonth.objects.count() > 100

    # Edits the real-time evaluation of the touched contacts must follow: a purchase deleted, an
    # amount changed, one backdated before everything (a new cohort for all that contact's rows),
    # new purchases, and a contact whose purchases are all gone.
    purchases = list(Touchpoint.objects.filter(kind="purchase").order_by("id"))
    touched = set()
    purchases[0].delete()
    touched.add(purchases[0].contact_id)
    Touchpoint.objects.filter(pk=purchases[1].pk).update(amount=Decimal("1.23"))
    touched.add(purchases[1].contact_id)
    Touchpoint.objects.filter(pk=purchases[2].pk).update(occurred_at=at(dt.date(2022, 6, 15)))
    touched.add(purchases[2].contact_id)
    gone = purchases[3].contact_id
    Touchpoint.objects.filter(contact_id=gone, kind="purchase").delete()
    touched.add(gone)
    _random_purchases(rng, contacts[:5], 20)
    touched.update(c.pk for c in contacts[:5])
    if after_edits == "real_time":
        lifecycle_evaluate(contact_ids=sorted(touched))
    else:
        lifecycle_evaluate(chunk_size=9)
    assert _stored() == _expected()
    assert not ContactPurchaseMonth.objects.filter(contact_id=gone).exists()
    backdated = purchases[2].contact_id
    assert set(ContactPurchaseMonth.objects.filter(contact_id=backdated).values_list("cohort", flat=True)) == {
        2022 * 12 + 5
    }


def test_a_steady_rerun_rewrites_no_row():
    rng = random.Random(3)
    contacts = contacts_create(15, rng=rng)
    _random_purchases(rng, contacts, 80)
    lifecycle_evaluate()
    before = set(
        ContactPurchaseMonth.objects.values_list("id", "contact_id", "month", "cohort", "purchases", "revenue")
    )
    lifecycle_evaluate()
    after = set(ContactPurchaseMonth.objects.values_list("id", "contact_id", "month", "cohort", "purchases", "revenue"))
    assert after == before
    assert {row[1:] for row in after} == _expected()


def test_backfill_writes_every_contact():
    rng = random.Random(5)
    contacts = contacts_create(25, rng=rng)
    _random_purchases(rng, contacts, 150)
    assert not ContactPurchaseMonth.objects.exists()
    purchase_months_backfill(chunk_size=10)
    assert _stored() == _expected()


def test_a_purchase_evaluated_in_real_time_shows_in_the_cohorts_at_once():
    (a,) = contacts_create(1)
    touchpoints_create([(a.pk, "purchase", at(dt.date(2024, 1, 10)), "30.00", None)])
    lifecycle_evaluate(contact_ids=[a.pk])
    touchpoints_create([(a.pk, "purchase", at(dt.date(2024, 3, 2)), "12.50", None)])
    lifecycle_evaluate(contact_ids=[a.pk])
    (jan,) = cohort_retention_report(CohortRetentionQuery(as_of=dt.date(2024, 4, 30), months=3)).cohorts
    assert (jan.month, jan.size, jan.revenue) == ("2024-01", 1, Decimal("30.00"))
    assert [(c.k, c.customers, c.revenue) for c in jan.cells] == [
        (0, 1, Decimal("30.00")),
        (1, 0, Decimal("0.00")),
        (2, 1, Decimal("12.50")),
        (3, 0, Decimal("0.00")),
    ]
    # As of a day inside March before the purchase: the month is cut at that day.
    (jan,) = cohort_retention_report(CohortRetentionQuery(as_of=dt.date(2024, 3, 1), months=3)).cohorts
    assert [(c.k, c.customers) for c in jan.cells] == [(0, 1), (1, 0), (2, 0)]


def test_rebuild_command_follows_a_time_zone_change(settings):
    (a,) = contacts_create(1)
    touchpoints_create([(a.pk, "purchase", at(dt.date(2024, 2, 1), 2), "10.00", None)])  # 1 Feb 02:00 UTC
    lifecycle_evaluate(contact_ids=[a.pk])
    assert _stored() == {(a.pk, 2024 * 12 + 1, 2024 * 12 + 1, 1, Decimal("10.00"))}
    settings.TIME_ZONE = "America/New_York"  # 31 Jan 21:00 there
    out = io.StringIO()
    call_command("rebuild_purchase_months", stdout=out)
    assert _stored() == _expected() == {(a.pk, 2024 * 12, 2024 * 12, 1, Decimal("10.00"))}
    assert "1 contact-months written" in out.getvalue()


def test_a_merge_moves_the_months_to_the_survivor():
    from contacts.merge import contact_merge

    survivor, other = contacts_create(2)
    touchpoints_create(
        [
            (survivor.pk, "purchase", at(dt.date(2024, 3, 5)), "20.00", None),
            (other.pk, "purchase", at(dt.date(2024, 1, 9)), "15.00", None),
            (other.pk, "purchase", at(dt.date(2024, 3, 20)), "5.00", None),
        ]
    )
    lifecycle_evaluate()
    contact_merge(survivor=survivor, other=other)
    lifecycle_evaluate(contact_ids=[survivor.pk])  # what the merge enqueues
    assert (
        _stored()
        == _expected()
        == {
            (survivor.pk, 2024 * 12, 2024 * 12, 1, Decimal("15.00")),
            (survivor.pk, 2024 * 12 + 2, 2024 * 12, 2, Decimal("25.00")),
        }
    )
