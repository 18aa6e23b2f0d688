"""The KPI cards' rollups (analytics.daily_facts): exact after every kind of write, and the cards read from them.

`daily_facts_drift()` compares the stored rollups (daily facts and current state) plus their
pending deltas with the same sums computed from the rows; every writer of the project runs
below and the drift must stay empty after each one, folded or not. The cards from the
rollups must equal the cards from the rows for every filter the rollups serve, whatever the
period's edges.
"""

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from analytics import kpis
from analytics.daily_facts import daily_facts_compact, daily_facts_drift, daily_facts_rebuild
from analytics.kpis import _split_days, kpi_overview, overview_query_from_params
from analytics.models import (
    AcquisitionFact,
    AcquisitionFactDelta,
    CohortFact,
    CohortFactDelta,
    DailyFact,
    DailyFactDelta,
    StateFact,
    StateFactDelta,
)
from analytics.reports import channel_performance, cohort_retention
from analytics.results import results_bypassed
from analytics.services import customer_value_recompute
from contacts import bulk
from contacts.import_runs import import_run
from contacts.importing import import_start, import_upload
from contacts.merge import contact_merge
from contacts.models import Contact, Touchpoint
from contacts.services import contact_create, contact_delete, contact_update
from contacts.touchpoint_services import touchpoint_create
from metrics.models import ContactMetrics
from stages.models import Stage, StageTransition
from stages.services import contact_move_stage, lifecycle_recompute
from tests.analytics.test_kpis import _filter_combinations, random_crm  # noqa: F401 - the fixture
from tests.factories import ContactFactory, UserFactory
from tests.services import postgres_only

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_split_days_gives_whole_local_days_and_the_partial_edges(settings, zone):
    settings.TIME_ZONE = zone
    local = ZoneInfo(zone)
    a = dt.datetime(2026, 3, 1, 15, 30, tzinfo=local)
    b = dt.datetime(2026, 3, 31, 15, 30, tzinfo=local)
    assert _split_days(a, b) == (
        (dt.date(2026, 3, 2), dt.date(2026, 3, 31)),
        [(a, dt.datetime(2026, 3, 2, tzinfo=local)), (dt.datetime(2026, 3, 31, tzinfo=local), b)],
    )
    midnight = dt.datetime(2026, 3, 1, tzinfo=local)
    assert _split_days(midnight, midnight + dt.timedelta(days=2)) == ((dt.date(2026, 3, 1), dt.date(2026, 3, 3)), [])
    # Within one day: no whole day, the span itself is read from the rows.
    assert _split_days(a, a + dt.timedelta(hours=3)) == (None, [(a, a + dt.timedelta(hours=3))])
    # The same instants given in another zone split the same way.
    assert _split_days(a.astimezone(dt.UTC), b.astimezone(dt.UTC)) == _split_days(a, b)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_preset_periods_are_whole_local_days_today_included(settings, zone):
    settings.TIME_ZONE = zone
    now = dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)
    query, _ = overview_query_from_params({"period": "30d"}, now=now)
    local = ZoneInfo(zone)
    assert query.start == dt.datetime(2026, 10, 25, tzinfo=local)
    assert query.end == dt.datetime(2026, 11, 24, tzinfo=local)
    assert query.previous == (dt.datetime(2026, 9, 25, tzinfo=local), query.start)
    assert _split_days(query.start, query.end) == ((dt.date(2026, 10, 25), dt.date(2026, 11, 24)), [])
    custom, _ = overview_query_from_params({"start": "2026-03-01", "end": "2026-03-31"}, now=now)
    assert (custom.start, custom.end) == (dt.datetime(2026, 3, 1, tzinfo=local), dt.datetime(2026, 4, 1, tzinfo=local))


@postgres_only
def test_every_writer_keeps_the_rollup_exact(admin_user):
    steps = []

    def exact(step: str) -> None:
        drift = daily_facts_drift()
        assert drift == [], f"{step}: {drift}"
        steps.append(step)

    rep, other_rep = UserFactory(), UserFactory()
    when = timezone.now() - dt.timedelta(days=40)
    alice = contact_create(data={"email": "alice@example.com", "acquisition_channel": "email"})
    bob = contact_create(data={"email": "bob@example.com", "acquisition_channel": "referral", "owner": rep})
    exact("contacts created through the service")
    for i, who in enumerate([alice, bob, alice]):
        touchpoint_create(
            data={"contact": who.pk, "kind": "purchase", "amount": f"{100 + i}.50", "occurred_at": when.isoformat()}
        )
    touchpoint_create(data={"contact": bob.pk, "kind": "site_visit"})
    exact("touchpoints logged")
    lifecycle_recompute()
    assert StageTransition.objects.filter(contact__in=[alice, bob]).exists()
    assert ContactMetrics.objects.filter(contact=alice, purchase_count__gt=0).exists()
    exact("lifecycle engine run over everyone (stages moved, metrics written, customer value recomputed)")
    daily_facts_compact()
    assert not DailyFactDelta.objects.exists() and DailyFact.objects.exists()
    assert not StateFactDelta.objects.exists() and StateFact.objects.filter(customers__gt=0).exists()
    assert not CohortFactDelta.objects.exists() and CohortFact.objects.filter(customers__gt=0).exists()
    assert not AcquisitionFactDelta.objects.exists() and AcquisitionFact.objects.filter(customers__gt=0).exists()
    exact("deltas folded")
    ContactMetrics.objects.filter(contact=alice).update(predicted_clv=None)
    exact("a predicted CLV cleared")
    customer_value_recompute(as_of=timezone.localdate())
    assert ContactMetrics.objects.filter(contact=alice, predicted_clv__isnull=False).exists()
    exact("customer value recomputed")

    contact_update(contact=alice, data={"acquisition_channel": "paid_search", "owner": other_rep})
    exact("channel and owner edited")
    bulk.contacts_assign_owner(contacts=Contact.objects.filter(pk__in=[alice.pk, bob.pk]), owner=rep)
    exact("bulk owner change")
    Contact.objects.filter(pk=bob.pk).update(created_at=when - dt.timedelta(days=3))
    exact("created_at changed")
    Contact.objects.filter(pk=bob.pk).update(acquired_at=when - dt.timedelta(days=5))
    exact("acquired_at changed")
    contact_move_stage(contact=alice, stage=Stage.objects.get(slug="churned"), reason="asked to leave", user=admin_user)
    exact("manual stage move")
    purchase = Touchpoint.objects.filter(contact=alice, kind="purchase").first()
    Touchpoint.objects.filter(pk=purchase.pk).update(amount=Decimal("7.25"), occurred_at=when - dt.timedelta(days=9))
    exact("purchase amount and day edited")
    Touchpoint.objects.filter(pk=purchase.pk).update(kind="refund")
    exact("purchase turned into a refund")

    csv = "email,first_name,channel,owner\ncarol@example.com,Carol,email,\nalice@example.com,Alice,,\n"
    job = import_upload(kind="contacts", file_name="c.csv", raw=csv.encode())
    import_start(job=job, mapping=job.mapping, enqueue=False)
    assert import_run(job_id=job.pk).created_count == 1
    exact("contacts imported")
    carol = Contact.objects.get(email="carol@example.com")
    rows = "contact_email,kind,amount,occurred_at,external_id\n" + "".join(
        f"carol@example.com,purchase,{10 + i}.00,2026-0{1 + i % 9}-15T10:00:00Z,carol-{i}\n" for i in range(12)
    )
    job = import_upload(kind="touchpoints", file_name="t.csv", raw=rows.encode())
    import_start(job=job, mapping=job.mapping, enqueue=False)
    assert import_run(job_id=job.pk).created_count == 12
    lifecycle_recompute(contact_ids=[carol.pk])
    exact("touchpoints imported and the contact evaluated (real-time path)")

    contact_merge(survivor=carol, other=alice, user=admin_user)
    assert not Contact.objects.filter(pk=alice.pk).exists()
    exact("merge")
    contact_delete(contact=bob, user=admin_user)
    exact("contact deleted through the service")

    # A raw delete, parent first (foreign keys are deferred), then its children.
    dave = ContactFactory(acquisition_channel="email")
    touchpoint_create(data={"contact": dave.pk, "kind": "purchase", "amount": "55.00"})
    lifecycle_recompute(contact_ids=[dave.pk])
    exact("another contact")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contact WHERE id = %s", [dave.pk])
        exact("raw delete of the contact alone")
        for table in ("contacts_touchpoint", "stages_stagetransition", "analytics_contactmetrics"):
            cursor.execute(f"DELETE FROM {table} WHERE contact_id = %s", [dave.pk])
        cursor.execute("DELETE FROM analytics_contactpurchasemonth WHERE contact_id = %s", [dave.pk])
        cursor.execute("DELETE FROM contacts_contact_tags WHERE contact_id = %s", [dave.pk])
    exact("then its children")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction holds deferred foreign-key checks
        cursor.execute("TRUNCATE analytics_contactmetrics")
    exact("metrics truncated (no transition table: the rollups following it are rewritten)")
    lifecycle_recompute()
    exact("everyone evaluated again")

    daily_facts_compact()
    exact("folded again")
    written = daily_facts_rebuild()
    assert written == sum(m.objects.count() for m in (DailyFact, StateFact, CohortFact, AcquisitionFact)) > 0
    assert not DailyFactDelta.objects.exists() and not StateFactDelta.objects.exists()
    exact("rebuilt")
    assert len(steps) == 24


@pytest.fixture
def zone(request, settings):
    """The project's TIME_ZONE for the test; the rollup is rebuilt in it (rolled back with the test)."""
    from analytics import daily_facts

    settings.TIME_ZONE = request.param
    if connection.vendor == "postgresql" and request.param != "UTC":
        daily_facts_rebuild()
    yield request.param
    daily_facts._installed_zone.clear()  # the rebuild's comment on the table is rolled back


@postgres_only
def test_a_change_of_time_zone_switches_the_cards_to_the_rows_until_a_rebuild(settings):
    from analytics import daily_facts

    assert daily_facts.daily_facts_enabled()
    settings.TIME_ZONE = "America/New_York"
    assert not daily_facts.daily_facts_enabled()  # the rollup's days are UTC days
    ContactFactory(created_at=dt.datetime(2026, 11, 20, 2, 0, tzinfo=UTC))  # 19 November in New York
    assert daily_facts_drift()  # local days differ from the stored ones
    daily_facts_rebuild()
    try:
        assert daily_facts.daily_facts_enabled() and daily_facts_drift() == []
    finally:
        daily_facts._installed_zone.clear()


@postgres_only
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"], indirect=True)
def test_the_cards_from_the_rollup_equal_the_cards_from_the_rows(random_crm, monkeypatch, zone):  # noqa: F811
    """For every filter combination, with pending deltas and folded, in whole local days and partial ones."""
    calls, state_calls = [], []
    original, original_state = kpis.daily_facts_sum, kpis.state_facts_sum
    monkeypatch.setattr(kpis, "daily_facts_sum", lambda **kw: calls.append(kw) or original(**kw))
    monkeypatch.setattr(kpis, "state_facts_sum", lambda **kw: state_calls.append(kw) or original_state(**kw))

    def cards(query, *, rollup: bool):
        monkeypatch.setattr(kpis, "daily_facts_enabled", lambda: rollup)
        overview = kpi_overview(query=query, user=None)
        stages = [(s.stage.slug, s.count, s.previous) for s in overview.stages]
        return stages, [(k.key, k.value, k.previous) for k in overview.kpis]

    served = 0
    assert daily_facts_drift() == []
    if zone != "UTC":  # the rebuild folded the fixture's deltas: write some more
        ContactFactory(acquisition_channel="email")
    for fold in (False, True):
        if fold:
            assert DailyFactDelta.objects.exists() and StateFactDelta.objects.exists()
            daily_facts_compact()
            assert not DailyFactDelta.objects.exists() and not StateFactDelta.objects.exists()
        for params in _filter_combinations(random_crm):
            query, _ = overview_query_from_params(params)
            # Whole local days, and a period given as instants (partial days at both ends, read from the rows).
            for shift in (dt.timedelta(0), dt.timedelta(hours=7, minutes=30)):
                query = replace(query, start=query.start + shift, end=query.end - shift / 3)
                before = len(calls), len(state_calls)
                assert cards(query, rollup=True) == cards(query, rollup=False), (params, shift, fold)
                served += (len(calls), len(state_calls)) == (before[0] + 1, before[1] + 1)
    # The rollups served every combination without a campaign or segment filter.
    assert served == 2 * 2 * sum(1 for p in _filter_combinations(random_crm) if not {"campaign", "segment"} & set(p))


CHARTS = {
    "cohorts": (
        cohort_retention,
        "cohort_facts_sum",
        lambda f: cohort_retention.cohort_retention_report(cohort_retention.CohortRetentionQuery(filters=f)),
        CohortFact,
        CohortFactDelta,
    ),
    "channels": (
        channel_performance,
        "acquisition_facts_sum",
        lambda f: channel_performance.channel_performance_report(
            channel_performance.ChannelPerformanceQuery(filters=f)
        ),
        AcquisitionFact,
        AcquisitionFactDelta,
    ),
}


@postgres_only
@pytest.mark.parametrize("chart", CHARTS)
def test_the_charts_from_their_rollups_equal_the_charts_from_the_rows(random_crm, monkeypatch, chart):  # noqa: F811
    """Every filter combination, with pending deltas and folded; campaign and segment views read the rows."""
    from stages.engine_facts import purchase_months_backfill

    module, summer, run, folded, deltas = CHARTS[chart]
    purchase_months_backfill()
    ContactMetrics.objects.filter(pk__in=ContactMetrics.objects.filter(purchase_count__gt=0).values("pk")[:20]).update(
        predicted_clv=Decimal("123.45")
    )
    summed = []
    original = getattr(module, summer)
    monkeypatch.setattr(module, summer, lambda **kw: summed.append(kw) or original(**kw))

    def result(query, *, rollup: bool):
        monkeypatch.setattr(module, "daily_facts_enabled", lambda: rollup)
        with results_bypassed():
            return run(kpis.report_filters(query))

    assert deltas.objects.exists()
    served = 0
    for fold in (False, True):
        if fold:
            daily_facts_compact()
            assert not deltas.objects.exists()
        for params in _filter_combinations(random_crm):
            query, _ = overview_query_from_params(params)
            before = len(summed)
            assert result(query, rollup=True) == result(query, rollup=False), (params, fold)
            served += len(summed) > before
    assert served == 2 * sum(1 for p in _filter_combinations(random_crm) if not {"campaign", "segment"} & set(p))
    assert folded.objects.filter(customers__gt=0).exists()


@postgres_only
def test_rebuild_command_checks_and_rebuilds(capsys):
    contact = ContactFactory(acquisition_channel="email")
    touchpoint_create(data={"contact": contact.pk, "kind": "purchase", "amount": "12.00"})
    call_command("rebuild_daily_facts", "--check")
    assert "exact" in capsys.readouterr().out
    DailyFactDelta.objects.all().delete()  # what a bulk load with the triggers disabled would leave
    with pytest.raises(SystemExit):
        call_command("rebuild_daily_facts", "--check")
    assert "differ" in capsys.readouterr().err
    call_command("rebuild_daily_facts")
    assert "rows" in capsys.readouterr().out
    assert daily_facts_drift() == []


def test_the_rollup_is_kept_on_postgresql_only():
    """On SQLite (development) nothing is appended and the cards read the rows (the test above, on SQLite, too)."""
    ContactFactory()
    if connection.vendor == "postgresql":
        assert DailyFactDelta.objects.filter(contacts=1).exists()
        assert daily_facts_compact() >= 1
    else:
        assert not DailyFactDelta.objects.exists()
        assert daily_facts_compact() == 0 and daily_facts_drift() == []
