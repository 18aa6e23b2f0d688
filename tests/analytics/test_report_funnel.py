"""Funnel report: hand-checked fixture, brute force on random histories, one query."""

from __future__ import annotations

import datetime as dt
import random
import statistics

import pytest
import time_machine

from analytics.reports.base import ReportFilters
from analytics.reports.funnel import FunnelQuery, funnel_report
from analytics.results import results_bypassed
from tests.analytics.report_data import PATH, at, contacts_create, transitions_create

pytestmark = pytest.mark.django_db


def _fixed():
    a, b, c = contacts_create(3)
    transitions_create(
        [
            # a: awareness -> engagement (2 days) -> consideration (4 days) -> purchase (10 days)
            (a.pk, None, "awareness", at(dt.date(2024, 3, 1))),
            (a.pk, "awareness", "engagement", at(dt.date(2024, 3, 3))),
            (a.pk, "engagement", "consideration", at(dt.date(2024, 3, 7))),
            (a.pk, "consideration", "purchase", at(dt.date(2024, 3, 17))),
            # b: awareness -> engagement (6 days), then nothing
            (b.pk, None, "awareness", at(dt.date(2024, 3, 2))),
            (b.pk, "awareness", "engagement", at(dt.date(2024, 3, 8))),
            # c: awareness -> purchase directly (skips two stages), later consideration by hand
            (c.pk, None, "awareness", at(dt.date(2024, 3, 5))),
            (c.pk, "awareness", "purchase", at(dt.date(2024, 3, 6))),
            (c.pk, "purchase", "consideration", at(dt.date(2024, 3, 20))),
        ]
    )
    return a, b, c


def test_funnel_fixed_data_hand_checked():
    _fixed()
    result = funnel_report(FunnelQuery(as_of=dt.date(2024, 3, 31), ordered=True))
    steps = {s.stage: s for s in result.steps}
    assert [s.stage for s in result.steps] == PATH
    # Ordered: all three entered awareness; a and b engagement; only a consideration & purchase.
    assert [steps[s].reached for s in PATH] == [3, 2, 1, 1, 0, 0, 0]
    assert steps["engagement"].step_conversion == pytest.approx(2 / 3)
    assert steps["purchase"].cumulative_conversion == pytest.approx(1 / 3)
    assert steps["engagement"].drop_off == 1
    # awareness -> engagement: a 2 days, b 6 days -> median 4.
    assert steps["awareness"].median_days_to_next == pytest.approx(4.0)
    assert steps["engagement"].median_days_to_next == pytest.approx(4.0)
    assert steps["consideration"].median_days_to_next == pytest.approx(10.0)
    assert steps["purchase"].median_days_to_next is None

    any_order = funnel_report(FunnelQuery(as_of=dt.date(2024, 3, 31), ordered=False))
    reached = {s.stage: s.reached for s in any_order.steps}
    # c counts at purchase and (later) consideration when order does not matter.
    assert (reached["consideration"], reached["purchase"]) == (2, 2)


def test_funnel_as_of_a_past_date_ignores_later_moves():
    _fixed()
    result = funnel_report(FunnelQuery(as_of=dt.date(2024, 3, 6), ordered=False))
    reached = {s.stage: s.reached for s in result.steps}
    # On March 6: a reached consideration? no (March 7); b not yet engaged (March 8); c purchased on the 6th,
    # which passes engagement and consideration (reached this stage or a later one).
    assert reached == {
        "awareness": 3,
        "engagement": 2,
        "consideration": 1,
        "purchase": 1,
        "retention": 0,
        "loyalty": 0,
        "advocacy": 0,
    }


def test_funnel_conversion_window_drops_late_stages():
    _fixed()
    result = funnel_report(FunnelQuery(as_of=dt.date(2024, 3, 31), ordered=True, conversion_window_days=7))
    reached = {s.stage: s.reached for s in result.steps}
    # a's consideration is 6 days after its start, purchase 16 days: only the first counts.
    assert (reached["engagement"], reached["consideration"], reached["purchase"]) == (2, 1, 0)


def test_funnel_filters_by_channel_owner_and_period(django_user_model):
    owner = django_user_model.objects.create_user(username="owner1")
    a = contacts_create(1, acquisition_channel="email", owner=owner)[0]
    b = contacts_create(1, acquisition_channel="paid_social")[0]
    transitions_create(
        [
            (a.pk, None, "awareness", at(dt.date(2024, 2, 1))),
            (b.pk, None, "awareness", at(dt.date(2024, 3, 1))),
            (b.pk, "awareness", "engagement", at(dt.date(2024, 3, 2))),
        ]
    )
    base = dict(as_of=dt.date(2024, 3, 31))
    by_channel = funnel_report(FunnelQuery(filters=ReportFilters(channel="paid_social"), **base))
    assert [s.reached for s in by_channel.steps[:2]] == [1, 1]
    by_owner = funnel_report(FunnelQuery(filters=ReportFilters(owner_id=owner.pk), **base))
    assert [s.reached for s in by_owner.steps[:2]] == [1, 0]
    march = funnel_report(FunnelQuery(filters=ReportFilters(period_start=dt.date(2024, 3, 1)), **base))
    assert march.steps[0].reached == 1


def _brute_force(history, *, as_of_end, window_days, period_start, period_end):
    """Straight Python over every contact's transitions: the definition in the module docstring."""
    rank = {slug: i + 1 for i, slug in enumerate(PATH)}
    reached_any = dict.fromkeys(rank.values(), 0)
    reached_ordered = dict.fromkeys(rank.values(), 0)
    durations_any: dict[int, list[float]] = {r: [] for r in rank.values()}
    durations_ordered: dict[int, list[float]] = {r: [] for r in rank.values()}
    for moves in history.values():
        firsts: dict[int, dt.datetime] = {}
        for slug, when in moves:
            if slug in rank and when < as_of_end:
                r = rank[slug]
                firsts[r] = min(firsts.get(r, when), when)
        if not firsts:
            continue
        start = min(firsts.values())
        if (period_start and start < period_start) or (period_end and start >= period_end):
            continue
        if window_days is not None:
            firsts = {r: t for r, t in firsts.items() if (t - start).total_seconds() / 86400 <= window_days}
        for r in range(1, max(firsts) + 1):  # reached this stage or a later one
            reached_any[r] += 1
        ok = True
        for r in sorted(firsts):
            in_order = (ok and r == 1) or (ok and r - 1 in firsts and firsts[r] >= firsts[r - 1])
            ok = in_order
            if ok:
                reached_ordered[r] += 1
            if r + 1 in firsts and firsts[r + 1] >= firsts[r]:
                days = (firsts[r + 1] - firsts[r]).total_seconds() / 86400
                durations_any[r].append(days)
                if ok:
                    durations_ordered[r].append(days)
    return reached_any, reached_ordered, durations_any, durations_ordered


# Seeds 3-6 bound the funnel's start by a period: inside the histories, at their start, up to the
# as-of day, and longer than them.
PERIODS = {
    3: (dt.date(2024, 1, 10), dt.date(2024, 2, 20)),
    4: (dt.date(2024, 1, 25), dt.date(2024, 2, 5)),
    5: (dt.date(2024, 2, 1), dt.date(2024, 3, 15)),
    6: (dt.date(2023, 10, 1), dt.date(2024, 3, 15)),
}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_funnel_equals_brute_force_on_random_histories(seed):
    rng = random.Random(seed)
    contacts = contacts_create(60, rng=rng)
    history: dict[int, list[tuple[str, dt.datetime]]] = {}
    rows = []
    for contact in contacts:
        when = at(dt.date(2024, 1, 1)) + dt.timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86399))
        current = None
        moves = []
        for _ in range(rng.randint(1, 7)):
            target = rng.choice([*PATH, "at_risk"]) if current else rng.choice(PATH[:3])
            if target == current:
                continue
            rows.append((contact.pk, current, target, when))
            moves.append((target, when))
            current = target
            when += dt.timedelta(days=rng.randint(0, 20), seconds=rng.randint(0, 86399))
        history[contact.pk] = moves
    transitions_create(rows)

    as_of = dt.date(2024, 3, 15)
    window = rng.choice([None, 10, 30])
    period = PERIODS.get(seed, (None, None))
    any_counts, ordered_counts, dur_any, dur_ordered = _brute_force(
        history,
        as_of_end=at(as_of + dt.timedelta(days=1), 0),
        window_days=window,
        period_start=at(period[0], 0) if period[0] else None,
        period_end=at(period[1] + dt.timedelta(days=1), 0) if period[1] else None,
    )
    filters = ReportFilters(period_start=period[0], period_end=period[1])
    for ordered, counts, durations in ((True, ordered_counts, dur_ordered), (False, any_counts, dur_any)):
        result = funnel_report(
            FunnelQuery(filters=filters, as_of=as_of, ordered=ordered, conversion_window_days=window)
        )
        assert [s.reached for s in result.steps] == [counts[r] for r in range(1, 8)]
        for r, step in enumerate(result.steps, start=1):
            expected = statistics.median(durations[r]) if durations[r] else None
            if expected is None:
                assert step.median_days_to_next is None
            else:
                assert step.median_days_to_next == pytest.approx(expected, abs=1e-4)


def test_funnel_is_one_query(django_assert_num_queries):
    _fixed()
    # The report's own statement; the snapshot lookup before it is counted in test_snapshots.py.
    with results_bypassed(), django_assert_num_queries(1):
        funnel_report(FunnelQuery(as_of=dt.date(2024, 3, 31), filters=ReportFilters(channel="email", owner_id=1)))


@time_machine.travel(dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC), tick=False)
def test_funnel_defaults_to_today_and_serialises():
    _fixed()
    result = funnel_report(FunnelQuery())
    assert result.as_of == dt.date(2024, 3, 10)
    body = result.as_dict()
    assert body["as_of"] == "2024-03-10" and body["entered"] == 3
    assert body["steps"][0]["stage"] == "awareness"


def test_funnel_rejects_bad_window():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        funnel_report(FunnelQuery(conversion_window_days=0))


def test_funnel_pivots_a_path_longer_than_the_width_it_guessed(monkeypatch, django_assert_num_queries):
    from analytics.reports import funnel

    _fixed()
    query = FunnelQuery(as_of=dt.date(2024, 3, 31), ordered=True, conversion_window_days=30)
    with results_bypassed():
        expected = funnel_report(query)
        monkeypatch.setattr(funnel, "_pivot_width", 3)
        with django_assert_num_queries(2):  # three columns, seven path stages: run again seven wide
            assert funnel_report(query) == expected
        assert funnel._pivot_width == len(PATH)
        with django_assert_num_queries(1):  # and remembered
            assert funnel_report(query) == expected


def test_funnel_path_follows_the_active_stages():
    from stages.models import Stage

    _fixed()
    Stage.objects.filter(slug="engagement").update(is_active=False)
    Stage.objects.create(slug="champion", name="Champion", position=75, category="customer")
    result = funnel_report(FunnelQuery(as_of=dt.date(2024, 3, 31), ordered=True))
    path = [s for s in PATH if s != "engagement"] + ["champion"]
    assert [s.stage for s in result.steps] == path
    # Without engagement: a is in order up to purchase; c up to consideration (its purchase came before it).
    assert [s.reached for s in result.steps] == [3, 2, 1, 0, 0, 0, 0]
    assert result.steps[0].median_days_to_next == pytest.approx(10.5)  # awareness -> consideration: a 6, c 15
    assert result.steps[1].median_days_to_next == pytest.approx(10.0)  # consideration -> purchase: a only
    assert result.steps[-1].median_days_to_next is None


def test_funnel_conversion_window_bound_is_inclusive():
    from django.db import connection

    on_time, late, later = contacts_create(3)
    start = at(dt.date(2024, 3, 1))
    transitions_create(
        [
            (on_time.pk, None, "awareness", start),
            (on_time.pk, "awareness", "engagement", start + dt.timedelta(days=7)),
            (late.pk, None, "awareness", start),
            (late.pk, "awareness", "engagement", start + dt.timedelta(days=7, microseconds=1)),
            (later.pk, None, "awareness", start),
            (later.pk, "awareness", "engagement", start + dt.timedelta(days=7, seconds=1)),
        ]
    )
    result = funnel_report(FunnelQuery(as_of=dt.date(2024, 3, 31), ordered=False, conversion_window_days=7))
    engaged = result.steps[1].reached
    if connection.vendor == "postgresql":  # exact to the microsecond (SQLite's julianday() is not)
        assert engaged == 1
    else:
        assert engaged in (1, 2)
