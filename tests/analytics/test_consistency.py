"""Consistency suite: every overview figure and analytics endpoint equals a brute force in plain Python.

Random data (several seeds), rows on the edges of the period's days (local midnight, the instant
before), in two time zones; the figures as the product computes them (KPI cards, the overview's
charts, the analytics API's JSON) against straight Python over the stored rows. On PostgreSQL the
KPI cards, cohort retention and channel performance are computed twice, from the trigger-kept
rollups and from the rows, so both code paths are proven on the database that has both.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.daily_facts import daily_facts_rebuild
from analytics.kpis import kpi_overview, overview_query_from_params
from contacts.models import Contact, Touchpoint
from metrics.models import ContactMetrics
from stages.models import Stage, StageTransition
from tests.analytics.report_data import CHANNELS, PATH, contacts_create, metrics_write, touchpoints_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 15, 15, 30, tzinfo=dt.UTC)  # the day before the US change to summer time is 8 March


def _local(day: dt.date, *time_args: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(*time_args)))


def _world(seed: int) -> dict[str, Any]:
    """Contacts, moves and purchases in the 70 days before NOW, many of them exactly on a day's edge."""
    rng = random.Random(seed)
    owners = [UserFactory(username=f"cons{seed}a"), UserFactory(username=f"cons{seed}b")]
    stages = {s.slug: s for s in Stage.objects.all()}
    today = timezone.localdate()
    period_start = today - dt.timedelta(days=29)  # the 30-day preset's first day

    def when() -> dt.datetime:
        day = today - dt.timedelta(days=rng.randint(0, 69))
        edge = rng.random()
        if edge < 0.15:
            return _local(day)  # local midnight: the first instant of the day
        if edge < 0.3:
            return _local(day, 23, 59, 59, 999999)  # the last instant of the day
        if edge < 0.4:
            return _local(period_start) - dt.timedelta(microseconds=1)  # just before the period
        return _local(day, rng.randint(0, 23), rng.randint(0, 59))

    contacts = contacts_create(60, rng=rng, owners=[*owners, None])
    created = {c.pk: min(when(), NOW - dt.timedelta(seconds=1)) for c in contacts}
    for contact in contacts:
        contact.created_at = contact.acquired_at = created[contact.pk]
    Contact.objects.bulk_update(contacts, ["created_at", "acquired_at"])
    moves, touches = [], []
    current: dict[int, str] = {}
    for contact in contacts:
        at = created[contact.pk]
        previous = None
        for _ in range(rng.randint(1, 5)):
            target = rng.choice([*PATH, "at_risk", "churned"]) if previous else "awareness"
            if target != previous:
                moves.append(
                    StageTransition(
                        contact=contact,
                        from_stage=stages[previous] if previous else None,
                        to_stage=stages[target],
                        effective_at=at,
                        source="rule",
                    )
                )
                previous = target
            at = min(at + dt.timedelta(days=rng.randint(0, 20), seconds=rng.randint(0, 86399)), NOW)
        current[contact.pk] = previous
        for _ in range(rng.randint(0, 4)):
            touches.append((contact.pk, "purchase", when(), f"{rng.randint(100, 50000) / 100:.2f}", None))
    StageTransition.objects.bulk_create(moves)
    for slug in set(current.values()):
        Contact.objects.filter(pk__in=[pk for pk, s in current.items() if s == slug]).update(stage=stages[slug])
    touchpoints_create(touches)
    metrics_write()  # the engine's per-contact facts from the purchases (no rule: nobody moves)
    for contact_id in ContactMetrics.objects.filter(purchase_count__gt=0).values_list("contact_id", flat=True):
        ContactMetrics.objects.filter(contact_id=contact_id).update(
            predicted_clv=Decimal(rng.randint(0, 300000)) / 100 if rng.random() < 0.9 else None,
            historic_clv=Decimal(rng.randint(0, 200000)) / 100,
        )
    return {"owners": owners}


def _brute_cards(period: str, channel: str = "") -> dict[str, Any]:
    """Every card and its previous value, from the rows in Python (the catalogue's definitions)."""
    query, _ = overview_query_from_params({"period": period, "channel": channel})
    spans = {"cur": (query.start, query.end), "prev": query.previous}
    contacts = {c.pk: c for c in Contact.objects.select_related("stage")}
    chosen = {pk for pk, c in contacts.items() if not channel or c.acquisition_channel == channel}
    metrics = {m.contact_id: m for m in ContactMetrics.objects.all()}
    stages = {s.pk: s for s in Stage.objects.all()}
    moves = list(StageTransition.objects.filter(contact_id__in=chosen))
    purchases = list(Touchpoint.objects.filter(kind="purchase", contact_id__in=chosen))
    out: dict[str, Any] = {}
    for label, (a, b) in spans.items():
        new = [pk for pk in chosen if a <= contacts[pk].created_at < b]
        bought = [pk for pk in new if pk in metrics and metrics[pk].purchase_count > 0]
        first = [
            t
            for t in moves
            if a <= t.effective_at < b
            and stages[t.to_stage_id].category == "customer"
            and (t.from_stage_id is None or stages[t.from_stage_id].category == "prospect")
        ]
        churn = [t for t in moves if a <= t.effective_at < b and stages[t.to_stage_id].slug == "churned"]
        revenue = sum((p.amount for p in purchases if a <= p.occurred_at < b), Decimal("0"))
        out[label] = {
            "new_contacts": len(new),
            "conversion": len(bought) / len(new) if new else None,
            "new_customers": len(first),
            "churned": len(churn),
            "revenue": revenue,
        }
    customers = [metrics[pk] for pk in chosen if pk in metrics and metrics[pk].purchase_count > 0]
    been = [pk for pk in chosen if contacts[pk].stage.category in ("customer", "exit")]
    churned_now = [pk for pk in chosen if contacts[pk].stage.slug == "churned"]
    predicted = [m.predicted_clv for m in customers if m.predicted_clv is not None]
    out["now"] = {
        "churn_rate": len(churned_now) / len(been) if been else None,
        "repeat_rate": sum(1 for m in customers if m.purchase_count >= 2) / len(customers) if customers else None,
        "avg_clv": sum(m.historic_clv for m in customers) / len(customers) if customers else None,
        "predicted_clv": sum(predicted) / len(predicted) if predicted else None,
        "stages": {pk: sum(1 for c in chosen if contacts[c].stage_id == pk) for pk in stages},
    }
    return out


def _close(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs(float(got) - float(want)) < 0.005


def _assert_cards_equal_brute_force(period: str, channel: str = "") -> None:
    query, _ = overview_query_from_params({"period": period, "channel": channel})
    overview = kpi_overview(query=query, user=None)
    cards = {k.key: k for k in overview.kpis}
    want = _brute_cards(period, channel)
    for key in ("new_contacts", "new_customers", "churned", "revenue", "conversion"):
        assert _close(cards[key].value, want["cur"][key]), (key, period, channel, cards[key].value, want["cur"][key])
        assert _close(cards[key].previous, want["prev"][key]), (key, period, channel)
    for key in ("churn_rate", "repeat_rate", "avg_clv", "predicted_clv"):
        assert _close(cards[key].value, want["now"][key]), (key, period, channel, cards[key].value, want["now"][key])
    assert {sc.stage.pk: sc.count for sc in overview.stages} == {
        pk: n for pk, n in want["now"]["stages"].items() if pk in {sc.stage.pk for sc in overview.stages}
    }


def _brute_channels(period: str) -> dict[str, tuple[int, int]]:
    query, _ = overview_query_from_params({"period": period})
    metrics = {m.contact_id: m for m in ContactMetrics.objects.all()}
    result: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for contact in Contact.objects.all():
        if query.start <= contact.acquired_at < query.end:
            result[contact.acquisition_channel][0] += 1
            if contact.pk in metrics and metrics[contact.pk].purchase_count > 0:
                result[contact.acquisition_channel][1] += 1
    return {channel: tuple(v) for channel, v in result.items()}


def _brute_cohorts(months: int = 12) -> dict[tuple[str, int], tuple[int, int]]:
    """(cohort month, k) -> (customers buying in month k, cohort size), local months, up to the end of today."""
    firsts: dict[int, int] = {}
    bought: dict[int, set[int]] = defaultdict(set)
    end_of_today = _local(timezone.localdate() + dt.timedelta(days=1))
    for p in Touchpoint.objects.filter(kind="purchase", occurred_at__lt=end_of_today):
        local = timezone.localtime(p.occurred_at)
        index = local.year * 12 + local.month - 1
        firsts[p.contact_id] = min(firsts.get(p.contact_id, index), index)
        bought[p.contact_id].add(index)
    sizes: dict[int, int] = defaultdict(int)
    for first in firsts.values():
        sizes[first] += 1
    cells: dict[tuple[str, int], tuple[int, int]] = {}
    for cohort, size in sizes.items():
        label = f"{cohort // 12:04d}-{cohort % 12 + 1:02d}"
        last = timezone.localdate().year * 12 + timezone.localdate().month - 1
        for k in range(min(months, last - cohort) + 1):
            n = sum(1 for cid, first in firsts.items() if first == cohort and cohort + k in bought[cid])
            cells[(label, k)] = (n, size)
    return cells


def _api(client: APIClient, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def _check_everything(client: APIClient) -> None:
    for period in ("7d", "30d", "90d"):
        _assert_cards_equal_brute_force(period)
    for channel in CHANNELS:
        _assert_cards_equal_brute_force("30d", channel)
    # Channel performance (API) for the overview's 30 days: contacts and customers per channel.
    query, _ = overview_query_from_params({"period": "30d"})
    start, end = query.first_day.isoformat(), query.last_day.isoformat()
    body = _api(client, f"/api/v1/analytics/channel_performance/?period_start={start}&period_end={end}")
    got = {row["channel"]: (row["contacts"], row["customers"]) for row in body["channels"] if row["contacts"]}
    assert got == _brute_channels("30d")
    # Cohort retention (API): every cell's customers and every cohort's size.
    body = _api(client, "/api/v1/analytics/retention/?months=12")
    got_cells = {
        (cohort["month"], cell["k"]): (cell["customers"], cohort["size"])
        for cohort in body["cohorts"]
        for cell in cohort["cells"]
    }
    want_cells = _brute_cohorts()
    assert {key: value for key, value in got_cells.items() if value[0] or key in want_cells} == want_cells
    # CLV distribution (API): the valued customers, their total and mean.
    body = _api(client, "/api/v1/analytics/clv_distribution/")
    valued = list(ContactMetrics.objects.filter(predicted_clv__isnull=False).values_list("predicted_clv", flat=True))
    assert body["customers"] == len(valued)
    assert Decimal(body["total"]) == sum(valued, Decimal("0.00"))
    # Stage flow (API) over the 30 days: moves per (from, to).
    body = _api(client, f"/api/v1/analytics/flow/?period_start={start}&period_end={end}")
    stages = {s.pk: s.slug for s in Stage.objects.all()}
    want_flow: dict[tuple[str | None, str], int] = defaultdict(int)
    for t in StageTransition.objects.filter(effective_at__gte=query.start, effective_at__lt=query.end):
        want_flow[(stages.get(t.from_stage_id), stages[t.to_stage_id])] += 1
    assert {(f["from_stage"], f["to_stage"]): f["transitions"] for f in body["flows"]} == dict(want_flow)


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_figure_equals_its_brute_force(seed, zone, settings, monkeypatch, marketer):
    settings.TIME_ZONE = zone
    client = APIClient()
    client.force_authenticate(marketer)
    with time_machine.travel(NOW, tick=False):
        _world(seed)
        if connection.vendor == "postgresql":
            daily_facts_rebuild()  # the rollups in this zone (the triggers kept them as the rows went in)
            _check_everything(client)  # from the rollups
            monkeypatch.setattr("analytics.kpis.daily_facts_enabled", lambda: False)
            monkeypatch.setattr("analytics.reports.cohort_retention.daily_facts_enabled", lambda: False)
            monkeypatch.setattr("analytics.reports.channel_performance.daily_facts_enabled", lambda: False)
            from django.core.cache import cache

            cache.clear()
        _check_everything(client)  # from the rows (the only path on SQLite)
