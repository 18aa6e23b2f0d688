"""Campaign performance: reach, stage advances and revenue after a campaign touch, CPA and ROI.

Each campaign is measured over its own life, not a dashboard period: its touches from the
start of `starts_on` to the end of `ends_on` (up to now while it runs), and what followed each
contact's first touch within the attribution window, so the life ends `window_days` after the
campaign does (`life_start`, `life_end`, shown on the page). A campaign's whole cost is thus
set against everything it could earn. The period, when an API caller gives one, further
narrows the touches. Per campaign, over the contacts it touched, each from their FIRST touch:
* reach: contacts touched;
* advanced: contacts with a forward stage move (to a non-exit stage further along the
  path, or out of an exit stage: a win-back) within `window_days` after that touch;
  `reached_objective`: contacts entering the campaign's objective stage in that window;
* revenue: their purchases within the window (first-touch window attribution);
* acquisitions: contacts whose first purchase ever falls in the window;
* CPA = cost / acquisitions; ROI = (revenue x CRM_MARGIN - cost) / cost, None ("—") while the
  campaign has reached nobody: nothing could be attributed to it yet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    as_money,
    contact_scope_sql,
    day_end,
    day_start,
    days_between_sql,
    dt_param,
    ratio,
    run_sql,
    scope_clause,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable

DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True, slots=True)
class CampaignPerformanceQuery:
    """`filters.campaign_id` selects one campaign; other contact filters restrict the reached contacts."""

    filters: ReportFilters = field(default_factory=ReportFilters)
    window_days: int = field(default=DEFAULT_WINDOW_DAYS, metadata={"minimum": 1, "maximum": 3660})

    def validate(self) -> None:
        self.filters.validate()
        if not 1 <= self.window_days <= 3660:
            raise ValidationError({"window_days": "Between 1 and 3660 days."})


@dataclass(frozen=True, slots=True)
class CampaignPerformance:
    campaign_id: int
    name: str
    channel: str
    objective: str | None
    cost: Decimal
    reach: int
    advanced: int
    reached_objective: int
    revenue: Decimal
    buyers: int
    acquisitions: int
    cost_per_acquisition: Decimal | None
    roi: float | None
    life_start: dt.date | None = None  # the campaign's start
    life_end: dt.date | None = None  # its end (today while it runs) plus the attribution window


@dataclass(frozen=True, slots=True)
class CampaignPerformanceResult:
    window_days: int
    margin: float
    campaigns: list[CampaignPerformance]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@report_result()
def campaign_performance_report(query: CampaignPerformanceQuery) -> CampaignPerformanceResult:
    """Every campaign's (or one campaign's) performance, in ONE statement of CTEs joined per campaign."""
    query.validate()
    filters = query.filters
    # The campaign filter selects campaigns here; the remaining contact filters scope the touches.
    scope, scope_params = scope_clause(
        "t.contact_id", contact_scope_sql(dataclasses.replace(filters, campaign_id=None))
    )
    today = timezone.localdate()
    # A touch counts while the campaign lives: its local day from starts_on to ends_on (open while it runs),
    # compared as local dates so both vendors cut the days in the project's time zone.
    tzname = timezone.get_current_timezone_name() if settings.USE_TZ else None
    touch_day, day_params = connection.ops.datetime_cast_date_sql("t.occurred_at", (), tzname)
    params: list[Any] = [*day_params, *day_params]
    touch_where = (
        f"t.campaign_id IS NOT NULL AND {touch_day} >= l.starts_on AND (l.ends_on IS NULL OR {touch_day} <= l.ends_on)"
    )
    if filters.period_start:
        touch_where += " AND t.occurred_at >= %s"
        params.append(dt_param(day_start(filters.period_start)))
    if filters.period_end:
        touch_where += " AND t.occurred_at < %s"
        params.append(dt_param(day_end(filters.period_end)))
    params += scope_params
    window = query.window_days
    campaign_where = ""
    if filters.campaign_id is not None:
        campaign_where = " WHERE c.id = %s"
    sql = f"""
        WITH touches AS (
            SELECT t.campaign_id, t.contact_id, MIN(t.occurred_at) AS first_touch
            FROM contacts_touchpoint t JOIN campaigns_campaign l ON l.id = t.campaign_id
            WHERE {touch_where}{scope}
            GROUP BY t.campaign_id, t.contact_id
        ),
        reach AS (SELECT campaign_id, COUNT(*) AS reach FROM touches GROUP BY campaign_id),
        moves AS (
            SELECT tc.campaign_id,
                   COUNT(DISTINCT CASE WHEN fs.id IS NOT NULL AND ts.category <> 'exit'
                                        AND (fs.category = 'exit' OR ts.position > fs.position)
                                       THEN tc.contact_id END) AS advanced,
                   COUNT(DISTINCT CASE WHEN tr.to_stage_id = c.objective_id THEN tc.contact_id END) AS objective
            FROM touches tc
            JOIN campaigns_campaign c ON c.id = tc.campaign_id
            JOIN stages_stagetransition tr ON tr.contact_id = tc.contact_id
            JOIN stages_stage ts ON ts.id = tr.to_stage_id
            LEFT JOIN stages_stage fs ON fs.id = tr.from_stage_id
            WHERE tr.effective_at >= tc.first_touch
              AND {days_between_sql("tc.first_touch", "tr.effective_at")} <= {window}
            GROUP BY tc.campaign_id
        ),
        revenue AS (
            SELECT tc.campaign_id, SUM(p.amount) AS revenue, COUNT(DISTINCT p.contact_id) AS buyers
            FROM touches tc
            JOIN contacts_touchpoint p ON p.contact_id = tc.contact_id AND p.kind = 'purchase'
            WHERE p.occurred_at >= tc.first_touch
              AND {days_between_sql("tc.first_touch", "p.occurred_at")} <= {window}
            GROUP BY tc.campaign_id
        ),
        first_purchase AS (
            SELECT contact_id, MIN(occurred_at) AS first_at FROM contacts_touchpoint
            WHERE kind = 'purchase' AND contact_id IN (SELECT contact_id FROM touches)
            GROUP BY contact_id
        ),
        acquired AS (
            SELECT tc.campaign_id, COUNT(*) AS acquisitions
            FROM touches tc JOIN first_purchase fp ON fp.contact_id = tc.contact_id
            WHERE fp.first_at >= tc.first_touch
              AND {days_between_sql("tc.first_touch", "fp.first_at")} <= {window}
            GROUP BY tc.campaign_id
        )
        SELECT c.id, c.name, c.channel, o.slug, c.cost, c.starts_on, c.ends_on,
               COALESCE(r.reach, 0), COALESCE(mv.advanced, 0), COALESCE(mv.objective, 0),
               COALESCE(rv.revenue, 0), COALESCE(rv.buyers, 0), COALESCE(aq.acquisitions, 0)
        FROM campaigns_campaign c
        LEFT JOIN stages_stage o ON o.id = c.objective_id
        LEFT JOIN reach r ON r.campaign_id = c.id
        LEFT JOIN moves mv ON mv.campaign_id = c.id
        LEFT JOIN revenue rv ON rv.campaign_id = c.id
        LEFT JOIN acquired aq ON aq.campaign_id = c.id
        {campaign_where}
        ORDER BY c.starts_on DESC, c.id DESC
    """
    if filters.campaign_id is not None:
        params.append(filters.campaign_id)
    rows = run_sql(sql, params)
    margin = _margin()
    campaigns = []
    for cid, name, channel, objective, cost, starts_on, ends_on, *figures in rows:
        reach, advanced, objective_n, revenue, buyers, acquisitions = figures
        cost, revenue = as_money(cost), as_money(revenue)
        starts_on, ends_on = _as_date(starts_on), _as_date(ends_on)
        last_day = ends_on if ends_on is not None and ends_on < today else today
        campaigns.append(
            CampaignPerformance(
                campaign_id=int(cid),
                name=name,
                channel=channel,
                objective=objective,
                cost=cost,
                reach=int(reach),
                advanced=int(advanced),
                reached_objective=int(objective_n),
                revenue=revenue,
                buyers=int(buyers),
                acquisitions=int(acquisitions),
                cost_per_acquisition=(cost / int(acquisitions)).quantize(Decimal("0.01")) if acquisitions else None,
                roi=ratio(float(revenue) * margin - float(cost), cost) if int(reach) else None,
                life_start=starts_on,
                life_end=last_day + dt.timedelta(days=window),
            )
        )
    return CampaignPerformanceResult(window_days=query.window_days, margin=margin, campaigns=campaigns)


def _margin() -> float:
    return float(getattr(settings, "CRM_MARGIN", 1.0))


def _as_date(value: Any) -> dt.date | None:
    """A date column's value (ISO text on SQLite)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
