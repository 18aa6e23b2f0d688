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
from django.utils import formats, timezone

from analytics.catalogue import Metric, metric
from analytics.daily_facts import DayFigures, StateFigures, daily_facts_enabled, daily_facts_sum, state_facts_sum
from analytics.reports.base import ReportFilters, contact_scope_queryset, day_start
from contacts.models import Channel, Contact, Touchpoint, TouchpointKind
from metrics.models import ContactMetrics
from stages.models import Stage, StageCategory, StageSnapshot, StageTransition

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
    def last_day(self) -> dt.date:
        """The period's last local day (`end` is the exclusive instant after it: never show that as the end)."""
        return timezone.localdate(self.end - dt.timedelta(microseconds=1))

    @property
    def first_day(self) -> dt.date:
        return timezone.localdate(self.start)

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
    def metric(self) -> Metric:
        """The card's catalogue entry: its definition, population and time basis."""
        return metric(KPI_METRICS[self.key])

    @property
    def display(self) -> str:
        """The value in the catalogue's format for its unit ("—" when unknown)."""
        return self.metric.format(self.value)

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


# The period-independent part of the cards: contacts per stage now and the customer-value averages.
# Neither depends on the period (they describe the base as it is now), only on the contact filters,
# so the overview caches them under a key of the filters alone and a switch of period for the same
# filters runs only the period queries. The same figures the current-state rollup sums to.
KpiBase = StateFigures


# Every card in page order: card key → its metric in the catalogue (label, definition, unit from there).
KPI_METRICS: dict[str, str] = {
    "new_contacts": "kpi.new_contacts",
    "new_customers": "kpi.first_purchases",
    "conversion": "kpi.new_contact_conversion",
    "revenue": "kpi.revenue",
    "churn_rate": "kpi.churn_rate",
    "retention_rate": "kpi.retention_rate",
    "repeat_rate": "kpi.repeat_rate",
    "churned": "kpi.churn_moves",
    "avg_clv": "kpi.avg_historic_clv",
    "predicted_clv": "kpi.avg_predicted_clv",
}
# Card key → label, in page order: the cards' labels and those of the placeholder shown while they load.
KPI_LABELS: dict[str, str] = {key: metric(name).label for key, name in KPI_METRICS.items()}


@dataclass
class Overview:
    query: OverviewQuery
    kpis: list[Kpi] = field(default_factory=list)
    stages: list[StageCount] = field(default_factory=list)


def parse_day(value: str) -> dt.date:
    """A typed day in the active locale's input formats (DATE_INPUT_FORMATS) or ISO; ValueError otherwise."""
    text = str(value or "").strip()
    for fmt in ("%Y-%m-%d", *formats.get_format("DATE_INPUT_FORMATS")):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r}")


def overview_query_from_params(params: Any, *, now: dt.datetime | None = None) -> tuple[OverviewQuery, dict]:
    """Build the query from URL parameters; returns (query, errors) — bad values fall back to defaults."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    period = params.get("period") or DEFAULT_PERIOD
    if params.get("start") and params.get("end"):
        period = "custom"  # dates typed in win over the preset
    if period == "custom":
        try:
            start_day = parse_day(params.get("start", ""))
            end_day = parse_day(params.get("end", ""))
            if end_day < start_day:
                raise ValueError
            start, end = day_start(start_day), day_start(end_day + dt.timedelta(days=1))
        except ValueError:
            example = formats.date_format(timezone.localdate(now), "SHORT_DATE_FORMAT")
            errors["period"] = f"Give a start and an end date (like {example}), the end not before the start."
            period = DEFAULT_PERIOD
    if period != "custom":
        if period not in PERIODS:
            errors["period"] = f"{period!r} is not a period."
            period = DEFAULT_PERIOD
        # The last N days are N whole local days, today included (so far), like the charts' periods.
        tomorrow = timezone.localdate(now) + dt.timedelta(days=1)
        start, end = day_start(tomorrow - dt.timedelta(days=PERIODS[period])), day_start(tomorrow)

    def as_id(name: str) -> int | None:
        raw = params.get(name) or ""
        if not raw:
            return None
        if not str(raw).isdigit():
            errors[name] = "Choose from the list."
            return None
        return int(raw)

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

    On PostgreSQL, for the whole base or a channel and/or owner, a sum of the current-state
    rollup the triggers keep (analytics.daily_facts, a few dozen rows). Otherwise (SQLite;
    campaign or segment filters) two aggregates over the rows, 0.1-0.3 s each at 1M: contacts
    per stage now, and the averages over customers' metrics (historic and predicted CLV,
    repeat-purchase rate).
    """
    scope = _card_scope(query)
    if daily_facts_enabled() and scope.rest is None:
        return state_facts_sum(channel=scope.channel, owner_id=scope.owner_id)
    now_counts = dict(scope.apply(Contact.objects.all(), "").order_by().values_list("stage_id").annotate(n=Count("*")))
    value = scope.apply(ContactMetrics.objects.filter(purchase_count__gt=0), "contact").aggregate(
        historic=Avg("historic_clv"),
        predicted=Avg("predicted_clv"),
        customers=Count("pk"),
        repeaters=Count("pk", filter=Q(purchase_count__gte=2)),
    )
    return KpiBase(
        stage_counts=now_counts,
        customers=value["customers"],
        repeaters=value["repeaters"],
        historic=value["historic"],
        predicted=value["predicted"],
    )


@dataclass(frozen=True)
class _StageIds:
    customer: list[int]
    prospect: list[int]
    churned: list[int]


Span = tuple[dt.datetime, dt.datetime]


def _figures_from_rows(
    scope: _CardScope, windows: dict[str, list[Span]], stage_ids: _StageIds, *, probe: bool
) -> dict[str, DayFigures]:
    """Per label, the period figures over its time windows [a, b), read from the rows: three aggregates.

    New contacts and the share of them that have bought since (metrics are written by the engine
    on every evaluation): a range scan on created_at, index-only with contact_created_cover_idx
    (channel and owner are INCLUDEd). Whether each contact bought is read from its metrics row:
    with `probe`, a primary-key probe per contact (short ranges: at 1M the 30-day view reads
    ~35k contacts, and PostgreSQL would otherwise hash all 1M metrics rows: 484-660 ms), else a
    join, which PostgreSQL runs as one hash join. Both count exactly the same contacts.
    New customers (moves into a customer stage from a prospect stage or from none) and moves into
    churned: stage ids resolved by the caller, so the query seeks the (to_stage, effective_at)
    index for just those stages. Revenue: the purchases-only partial index.
    """
    labels = [label for label, spans in windows.items() if spans]
    if not labels:
        return {label: DayFigures() for label in windows}

    def within(field: str, spans: list[Span]) -> Q:
        q = Q(pk__in=[])
        for a, b in spans:
            q |= Q(**{f"{field}__gte": a, f"{field}__lt": b})
        return q

    every = [span for label in labels for span in windows[label]]
    if probe:
        bought = Q(Exists(ContactMetrics.objects.filter(contact_id=OuterRef("pk"), purchase_count__gt=0)))
    else:
        bought = Q(metrics__purchase_count__gt=0)
    contacts = scope.apply(Contact.objects.filter(within("created_at", every)), "")
    counts = contacts.aggregate(
        **{f"new_{label}": Count("pk", filter=within("created_at", windows[label])) for label in labels},
        **{f"conv_{label}": Count("pk", filter=within("created_at", windows[label]) & bought) for label in labels},
    )
    first_buy = Q(to_stage_id__in=stage_ids.customer) & (
        Q(from_stage__isnull=True) | Q(from_stage_id__in=stage_ids.prospect)
    )
    churned = Q(to_stage_id__in=stage_ids.churned)
    moves = scope.apply(
        StageTransition.objects.filter(
            within("effective_at", every), to_stage_id__in=stage_ids.customer + stage_ids.churned
        ),
        "contact",
    )
    move_counts = moves.aggregate(
        **{f"buy_{label}": Count("pk", filter=within("effective_at", windows[label]) & first_buy) for label in labels},
        **{f"churn_{label}": Count("pk", filter=within("effective_at", windows[label]) & churned) for label in labels},
    )
    purchases = scope.apply(
        Touchpoint.objects.filter(within("occurred_at", every), kind=TouchpointKind.PURCHASE), "contact"
    )
    money = purchases.aggregate(
        **{f"revenue_{label}": Sum("amount", filter=within("occurred_at", windows[label])) for label in labels}
    )
    figures = {label: DayFigures() for label in windows}
    for label in labels:
        figures[label] = DayFigures(
            contacts=counts[f"new_{label}"],
            buyers=counts[f"conv_{label}"],
            revenue=money[f"revenue_{label}"] or Decimal("0"),
            first_buys=move_counts[f"buy_{label}"],
            churn_moves=move_counts[f"churn_{label}"],
        )
    return figures


def _split_days(a: dt.datetime, b: dt.datetime) -> tuple[tuple[dt.date, dt.date] | None, list[Span]]:
    """[a, b) as its whole local days [first, last) (None if there are none) and the partial days at its edges.

    Periods are whole local days (no edges), except a previous period across a change of
    daylight-saving time (an hour at one end) and a period given as instants.
    """
    first_day = timezone.localdate(a)
    if day_start(first_day) < a:
        first_day += dt.timedelta(days=1)
    last_day = timezone.localdate(b)
    first, last = day_start(first_day), day_start(last_day)
    if first >= last:
        return None, [(a, b)] if a < b else []
    edges = [span for span in ((a, first), (last, b)) if span[0] < span[1]]
    return (first_day, last_day), edges


def _figures_from_daily_facts(
    scope: _CardScope, periods: dict[str, Span], stage_ids: _StageIds
) -> dict[str, DayFigures]:
    """The period figures from the daily rollup (analytics.daily_facts) for whole days, the rows for the edges.

    Exactly the figures `_figures_from_rows` gives for the whole periods: the rollup is kept by
    triggers on every write, in local days; a period's partial days, if any (see `_split_days`),
    are read from the rows.
    """
    split = {label: _split_days(a, b) for label, (a, b) in periods.items()}
    whole = {label: days for label, (days, _) in split.items() if days is not None}
    figures = _figures_from_rows(scope, {label: edges for label, (_, edges) in split.items()}, stage_ids, probe=True)
    if whole:
        summed = daily_facts_sum(
            periods=whole,
            channel=scope.channel,
            owner_id=scope.owner_id,
            customer_ids=stage_ids.customer,
            prospect_ids=stage_ids.prospect,
            churned_ids=stage_ids.churned,
        )
        for label, days in summed.items():
            figures[label] = figures[label] + days
    return figures


def kpi_overview(*, query: OverviewQuery, user: Any, base: KpiBase | None = None) -> Overview:
    """All KPI cards for the period with the previous period beside each, one query per group.

    The period cards (new contacts, conversion, new customers, revenue, churn moves) come, on
    PostgreSQL and for the whole base or a channel and/or owner, from the daily rollup that
    triggers keep exact on every write (analytics.daily_facts): whole days from it, the partial
    days at the period's edges from the rows. Elsewhere (SQLite; campaign or segment filters,
    which select contacts no rollup key describes) they are read from the rows, each query
    shaped so PostgreSQL reads only what the card needs (`_figures_from_rows`). New customers and
    churns count moves, so a sum of days equals the period (a contact that churned twice in a
    year counts twice). The rest (stage counts now, customer-value averages) does not depend on
    the period and comes from `kpi_base` (the current-state rollup, or the rows where that does
    not serve), which the caller may pass in (the overview caches it per contact filters);
    `base` must be `kpi_base` of a query with the same contact filters.
    """
    scope = _card_scope(query)
    start, end = query.start, query.end
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

    customer_ids = [st.pk for st in stages if st.category == StageCategory.CUSTOMER]
    prospect_ids = [st.pk for st in stages if st.category == StageCategory.PROSPECT]
    churned_ids = [st.pk for st in stages if st.slug == "churned"]
    stage_ids = _StageIds(customer_ids, prospect_ids, churned_ids)
    periods = {"cur": (start, end), "prev": query.previous}
    if daily_facts_enabled() and scope.rest is None:
        figures = _figures_from_daily_facts(scope, periods, stage_ids)
    else:
        narrowed = bool(query.channel) or query.owner_id is not None
        probe = query.days <= (EXISTS_MAX_DAYS if narrowed else EXISTS_MAX_DAYS_UNFILTERED)
        figures = _figures_from_rows(scope, {label: [span] for label, span in periods.items()}, stage_ids, probe=probe)
    cur, prev = figures["cur"], figures["prev"]

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
    repeat_rate = base.repeaters / base.customers if base.customers else None

    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    overview.kpis = [
        Kpi("new_contacts", KPI_LABELS["new_contacts"], cur.contacts, prev.contacts),
        Kpi(
            "new_customers",
            KPI_LABELS["new_customers"],
            cur.first_buys,
            prev.first_buys,
            help="Moves into a customer stage from a prospect stage (or from none) in the period.",
        ),
        Kpi(
            "conversion",
            KPI_LABELS["conversion"],
            rate(cur.buyers, cur.contacts),
            rate(prev.buyers, prev.contacts),
            fmt="percent",
            help="Share of the period's new contacts that have made a purchase since.",
        ),
        Kpi(
            "revenue",
            KPI_LABELS["revenue"],
            cur.revenue,
            prev.revenue,
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
            help="The share of customers (ever) not in the churned stage: 100% minus the churn rate.",
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
            cur.churn_moves,
            prev.churn_moves,
            higher_is_better=False,
            help="Moves into the churned stage in the period (a contact that churned twice counts twice).",
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
            help=(
                "What each customer is expected to spend from now on, from how often and how much they have"
                " bought; as of the last nightly update."
            ),
        ),
    ]
    return overview
