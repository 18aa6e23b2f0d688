"""KPI cards of the marketing overview: one aggregate query per card group, each with the previous period.

These are the small headline numbers; the charts come from `analytics.reports`. Every
number is computed from stored rows (transitions, touchpoints, metrics, snapshots); a KPI
that cannot be computed honestly (no snapshot for the period start) is None, shown as "—".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from analytics.models import ContactMetrics, StageSnapshot
from contacts.models import Contact, Touchpoint, TouchpointKind
from stages.models import Stage, StageCategory, StageTransition

PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PERIOD = "30d"
# Up to these period lengths the conversion card probes metrics per contact (see kpi_overview): longer
# when a channel or owner filter leaves a fraction of the contacts in the range.
EXISTS_MAX_DAYS = 120
EXISTS_MAX_DAYS_UNFILTERED = 45


@dataclass(frozen=True)
class OverviewQuery:
    """The overview's filters: a period [start, end) and optional contact filters (all shareable in the URL)."""

    start: dt.datetime
    end: dt.datetime
    channel: str = ""
    campaign_id: int | None = None
    owner_id: int | None = None
    segment_id: int | None = None
    period: str = DEFAULT_PERIOD

    @property
    def previous(self) -> tuple[dt.datetime, dt.datetime]:
        length = self.end - self.start
        return self.start - length, self.start

    @property
    def has_contact_filters(self) -> bool:
        return bool(self.channel or self.campaign_id or self.owner_id or self.segment_id)

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start).total_seconds() / 86400))


@dataclass
class Kpi:
    """One card: the value now, the value in the previous period (None if unknown) and how to show it."""

    key: str
    label: str
    value: Any
    previous: Any = None
    fmt: str = "int"  # int | money | percent
    help: str = ""
    higher_is_better: bool = True

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        if self.fmt == "percent":
            return float(self.value) - float(self.previous)  # percentage points
        if not self.previous:
            return None
        return (float(self.value) - float(self.previous)) / float(self.previous)

    @property
    def trend(self) -> str:
        change = self.change
        if change is None or abs(change) < 0.0005:
            return "flat"
        good = (change > 0) == self.higher_is_better
        return "up" if good else "down"


@dataclass
class StageCount:
    stage: Stage
    count: int
    previous: int | None


@dataclass(frozen=True)
class KpiBase:
    """The period-independent part of the cards: contacts per stage now and the customer-value averages.

    Neither depends on the period (they describe the base as it is now), only on the contact
    filters, so the overview caches them under a key of the filters alone and a switch of
    period for the same filters runs only the period queries.
    """

    stage_counts: dict[int, int]
    customers: int
    repeat: int
    historic: Decimal | None
    predicted: Decimal | None


# Every card in page order, key → label: the cards' own labels, and those of the placeholder shown while they load.
KPI_LABELS: dict[str, str] = {
    "new_contacts": "New contacts",
    "new_customers": "New customers",
    "conversion": "Conversion to customer",
    "revenue": "Revenue",
    "churn_rate": "Churn rate",
    "retention_rate": "Retention rate",
    "repeat_rate": "Repeat-purchase rate",
    "churned": "Moved to churned",
    "avg_clv": "Average historic CLV",
    "predicted_clv": "Average predicted CLV",
}


@dataclass
class Overview:
    query: OverviewQuery
    kpis: list[Kpi] = field(default_factory=list)
    stages: list[StageCount] = field(default_factory=list)


def overview_query_from_params(params: Any, *, now: dt.datetime | None = None) -> tuple[OverviewQuery, dict]:
    """Build the query from URL parameters; returns (query, errors) — bad values fall back to defaults."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    period = params.get("period") or DEFAULT_PERIOD
    if params.get("start") and params.get("end"):
        period = "custom"  # dates typed in win over the preset
    end = now
    if period == "custom":
        try:
            start_day = dt.date.fromisoformat(params.get("start", ""))
            end_day = dt.date.fromisoformat(params.get("end", ""))
            if end_day < start_day:
                raise ValueError
            start = dt.datetime.combine(start_day, dt.time.min, tzinfo=dt.UTC)
            end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        except ValueError:
            errors["period"] = "Give a start and an end date (YYYY-MM-DD), the end not before the start."
            period = DEFAULT_PERIOD
    if period != "custom":
        if period not in PERIODS:
            errors["period"] = f"{period!r} is not a period."
            period = DEFAULT_PERIOD
        start = end - dt.timedelta(days=PERIODS[period])

    def as_id(name: str) -> int | None:
        raw = params.get(name) or ""
        if not raw:
            return None
        if not str(raw).isdigit():
            errors[name] = "Choose from the list."
            return None
        return int(raw)

    from contacts.models import Channel

    channel = params.get("channel") or ""
    if channel and channel not in Channel.values:
        errors["channel"] = "Choose a channel from the list."
        channel = ""
    query = OverviewQuery(
        start=start,
        end=end,
        channel=channel,
        campaign_id=as_id("campaign"),
        owner_id=as_id("owner"),
        segment_id=as_id("segment"),
        period=period,
    )
    return query, errors


def report_filters(query: OverviewQuery):
    """The same filters as `analytics.reports.base.ReportFilters`, so cards and charts select the same contacts."""
    from analytics.reports.base import ReportFilters

    return ReportFilters(
        period_start=query.start.date(),
        period_end=(query.end - dt.timedelta(microseconds=1)).date(),
        channel=query.channel or None,
        campaign_id=query.campaign_id,
        owner_id=query.owner_id,
        segment_id=query.segment_id,
    )


def overview_contacts(*, query: OverviewQuery, user: Any) -> QuerySet[Contact] | None:
    """The ids of the contacts the filters select (None = all), shared with the reports' scope."""
    from analytics.reports.base import contact_scope_queryset

    return contact_scope_queryset(report_filters(query))


@dataclass(frozen=True)
class _CardScope:
    """The overview's contact filters as the KPI queries apply them.

    Channel and owner are columns of the contact: they are compared in place (on the
    contact row the query reads, or joined by primary key) instead of through
    `id IN (SELECT id FROM contacts WHERE …)`, which made PostgreSQL build the whole
    filtered contact set (83k ids for one channel at 1M) before every card. Campaign and
    segment filters stay a subquery (`rest`), built by the reports' own scope so cards and
    charts select the same contacts.
    """

    channel: str
    owner_id: int | None
    rest: QuerySet[Contact] | None

    def apply(self, queryset: QuerySet, contact: str) -> QuerySet:
        """Filter `queryset` whose contact is reached by the lookup path `contact` ("" when it is Contact)."""
        prefix = f"{contact}__" if contact else ""
        if self.channel:
            queryset = queryset.filter(**{f"{prefix}acquisition_channel": self.channel})
        if self.owner_id is not None:
            queryset = queryset.filter(**{f"{prefix}owner_id": self.owner_id})
        if self.rest is not None:
            queryset = queryset.filter(**{f"{contact}_id__in" if contact else "pk__in": self.rest.values("pk")})
        return queryset

    @property
    def is_everyone(self) -> bool:
        return not self.channel and self.owner_id is None and self.rest is None


def _card_scope(query: OverviewQuery) -> _CardScope:
    from analytics.reports.base import contact_scope_queryset

    rest = contact_scope_queryset(replace(report_filters(query), channel=None, owner_id=None))
    return _CardScope(channel=query.channel, owner_id=query.owner_id, rest=rest)


def _snapshot_day(query: OverviewQuery) -> dt.date:
    """The nightly snapshot the stage counts compare with: the day before the period."""
    return (query.start - dt.timedelta(days=1)).date()


def kpi_stage_snapshot_exists(*, query: OverviewQuery) -> bool:
    """Whether the stage chips will show counts at the period's start (whole base only): one look-up of a small table.

    Lets the overview's placeholder reserve that line only when the cards will have it, without a KPI query.
    """
    return not query.has_contact_filters and StageSnapshot.objects.filter(date=_snapshot_day(query)).exists()


def kpi_base(*, query: OverviewQuery) -> KpiBase:
    """The period-independent aggregates for the query's contact filters (its period is not read).

    Two whole-base aggregates, ~100 ms each at 1M: contacts per stage now, and the averages
    over customers' metrics (historic and predicted CLV, repeat-purchase rate).
    """
    scope = _card_scope(query)
    now_counts = dict(scope.apply(Contact.objects.all(), "").order_by().values_list("stage_id").annotate(n=Count("*")))
    value = scope.apply(ContactMetrics.objects.filter(purchase_count__gt=0), "contact").aggregate(
        historic=Avg("historic_clv"),
        predicted=Avg("predicted_clv"),
        customers=Count("pk"),
        repeat=Count("pk", filter=Q(purchase_count__gte=2)),
    )
    return KpiBase(
        stage_counts=now_counts,
        customers=value["customers"],
        repeat=value["repeat"],
        historic=value["historic"],
        predicted=value["predicted"],
    )


def kpi_overview(*, query: OverviewQuery, user: Any, base: KpiBase | None = None) -> Overview:
    """All KPI cards for the period with the previous period beside each, one query per group.

    Every card is computed live from the stored rows, for any filter combination. A daily
    rollup was considered and left out: a past day's figures still change after the nightly
    run (late touchpoints dated in the past, metrics rewritten by every evaluation, channel
    and owner edits, merges), and a distinct count of contacts per period is not a sum of
    per-day counts, so a rollup could not keep every card equal to its live definition.
    Instead each query is shaped so PostgreSQL reads only what the card needs: channel and
    owner compared on the contact row (no `id IN (filtered contacts)` semi-join), the
    created_at range index-only (contact_created_cover_idx), metrics probed per contact on
    short periods. What remains at 1M is two whole-base aggregates (stage counts, customer
    value averages), ~100 ms each, which only a counter kept by the write path could avoid. They
    do not depend on the period, so they come from `kpi_base`, which the caller may pass in
    (the overview caches it per contact filters); `base` must be `kpi_base` of a query with the
    same contact filters.
    """
    scope = _card_scope(query)
    start, end = query.start, query.end
    prev_start, prev_end = query.previous
    cur = Q(created_at__gte=start, created_at__lt=end)
    prev = Q(created_at__gte=prev_start, created_at__lt=prev_end)
    overview = Overview(query=query)

    # Stage counts now; before = the nightly snapshot on the day before the period (whole base only).
    if base is None:
        base = kpi_base(query=query)
    stages = list(Stage.objects.filter(is_active=True))
    now_counts = base.stage_counts
    before: dict[int, int] = {}
    if scope.is_everyone:
        before = dict(StageSnapshot.objects.filter(date=_snapshot_day(query)).values_list("stage_id", "contacts"))
    overview.stages = [StageCount(s, now_counts.get(s.pk, 0), before.get(s.pk) if before else None) for s in stages]

    # New contacts and the share of them that have bought since (metrics are written by the engine
    # on every evaluation): one range scan on created_at, index-only with contact_created_cover_idx
    # (channel and owner are INCLUDEd). Whether each contact bought is read from its metrics row: for
    # short ranges a primary-key probe per contact (at 1M the 30-day view reads ~35k contacts, and
    # PostgreSQL would otherwise hash all 1M metrics rows: 484-660 ms), for longer ones a join, which
    # PostgreSQL runs as one hash join (a probe each would cost more than one pass over the metrics).
    # The range is short up to EXISTS_MAX_DAYS with a channel or owner filter, EXISTS_MAX_DAYS_UNFILTERED
    # without: at 1M, 90 days unfiltered (two periods, ~160k contacts) took 633-680 ms probing and
    # 386-389 ms joined; 90 days of one channel 174-193 ms probing and 295-298 ms joined; 30 days
    # unfiltered 198-228 ms probing and 243-253 ms joined. Both count exactly the same contacts.
    contacts = scope.apply(Contact.objects.filter(created_at__gte=prev_start, created_at__lt=end), "")
    narrowed = bool(query.channel) or query.owner_id is not None
    if query.days <= (EXISTS_MAX_DAYS if narrowed else EXISTS_MAX_DAYS_UNFILTERED):
        bought = Q(Exists(ContactMetrics.objects.filter(contact_id=OuterRef("pk"), purchase_count__gt=0)))
    else:
        bought = Q(metrics__purchase_count__gt=0)
    counts = contacts.aggregate(
        new=Count("pk", filter=cur),
        new_prev=Count("pk", filter=prev),
        conv=Count("pk", filter=cur & bought),
        conv_prev=Count("pk", filter=prev & bought),
    )

    # New customers (first move from a prospect stage, or from nowhere, into a customer stage) and
    # moves into churned: stage ids are resolved here so the query seeks the (to_stage, effective_at)
    # index for just those stages instead of scanning every transition of the period.
    customer_ids = [st.pk for st in stages if st.category == StageCategory.CUSTOMER]
    prospect_ids = [st.pk for st in stages if st.category == StageCategory.PROSPECT]
    churned_ids = [st.pk for st in stages if st.slug == "churned"]
    eff_cur = Q(effective_at__gte=start, effective_at__lt=end)
    eff_prev = Q(effective_at__gte=prev_start, effective_at__lt=prev_end)
    first_buy = Q(to_stage_id__in=customer_ids) & (Q(from_stage__isnull=True) | Q(from_stage_id__in=prospect_ids))
    churned = Q(to_stage_id__in=churned_ids)
    moves = scope.apply(
        StageTransition.objects.filter(
            to_stage_id__in=customer_ids + churned_ids, effective_at__gte=prev_start, effective_at__lt=end
        ),
        "contact",
    )
    move_counts = moves.aggregate(
        customers=Count("contact_id", filter=eff_cur & first_buy, distinct=True),
        customers_prev=Count("contact_id", filter=eff_prev & first_buy, distinct=True),
        churned=Count("contact_id", filter=eff_cur & churned, distinct=True),
        churned_prev=Count("contact_id", filter=eff_prev & churned, distinct=True),
    )

    # Revenue from purchases (served by the purchases-only partial index).
    occ_cur = Q(occurred_at__gte=start, occurred_at__lt=end)
    occ_prev = Q(occurred_at__gte=prev_start, occurred_at__lt=prev_end)
    purchases = scope.apply(
        Touchpoint.objects.filter(kind=TouchpointKind.PURCHASE, occurred_at__gte=prev_start, occurred_at__lt=end),
        "contact",
    )
    money = purchases.aggregate(revenue=Sum("amount", filter=occ_cur), revenue_prev=Sum("amount", filter=occ_prev))

    # Churn rate = share of everyone who has been a customer (customer and exit stages) now in
    # the churned stage: now from the live counts above, at the period's start from the nightly
    # snapshot (whole base only). No extra scan: the analytics churn report, which recomputes
    # purchase gaps over every purchase, takes seconds per call at scale.
    been_customer = set(customer_ids) | {st.pk for st in stages if st.category == StageCategory.EXIT}

    def churn_share(counts: dict[int, int]) -> float | None:
        base = sum(n for pk, n in counts.items() if pk in been_customer)
        return sum(counts.get(pk, 0) for pk in churned_ids) / base if base else None

    churn_rate = churn_share(now_counts)
    churn_prev = churn_share(before) if before else None

    # Customer value now (metrics are a current snapshot; no previous-period value exists): from the base.
    repeat_rate = base.repeat / base.customers if base.customers else None

    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    overview.kpis = [
        Kpi("new_contacts", KPI_LABELS["new_contacts"], counts["new"], counts["new_prev"]),
        Kpi("new_customers", KPI_LABELS["new_customers"], move_counts["customers"], move_counts["customers_prev"]),
        Kpi(
            "conversion",
            KPI_LABELS["conversion"],
            rate(counts["conv"], counts["new"]),
            rate(counts["conv_prev"], counts["new_prev"]),
            fmt="percent",
            help="Share of the period's new contacts that have made a purchase since.",
        ),
        Kpi(
            "revenue",
            KPI_LABELS["revenue"],
            money["revenue"] or Decimal("0"),
            money["revenue_prev"] or Decimal("0"),
            fmt="money",
            help="Sum of purchases in the period.",
        ),
        Kpi(
            "churn_rate",
            KPI_LABELS["churn_rate"],
            churn_rate,
            churn_prev,
            fmt="percent",
            higher_is_better=False,
            help="Share of customers (ever) now in the churned stage; before = the snapshot at the period's start.",
        ),
        Kpi(
            "retention_rate",
            KPI_LABELS["retention_rate"],
            None if churn_rate is None else 1 - churn_rate,
            None if churn_prev is None else 1 - churn_prev,
            fmt="percent",
            help="1 - churn rate.",
        ),
        Kpi(
            "repeat_rate",
            KPI_LABELS["repeat_rate"],
            repeat_rate,
            None,
            fmt="percent",
            help="Customers with two or more purchases, as of the last evaluation.",
        ),
        Kpi(
            "churned",
            KPI_LABELS["churned"],
            move_counts["churned"],
            move_counts["churned_prev"],
            higher_is_better=False,
            help="Contacts the lifecycle rules moved into the churned stage in the period.",
        ),
        Kpi(
            "avg_clv",
            KPI_LABELS["avg_clv"],
            base.historic,
            None,
            fmt="money",
            help=f"Over {base.customers:,} customers, as of the last recompute.",
        ),
        Kpi(
            "predicted_clv",
            KPI_LABELS["predicted_clv"],
            base.predicted,
            None,
            fmt="money",
            help="BG/NBD + Gamma-Gamma, as of the last recompute.",
        ),
    ]
    return overview
