"""Customer counts per stage over time, read from the daily StageSnapshot (cheap at any scale).

Snapshots are whole-base counts written by the nightly run, so contact filters (channel,
owner, campaign, segment) cannot apply and are refused; only the period does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.reports.base import ReportFilters, date_param, run_sql
from analytics.results import SnapshotInfo, report_result, to_jsonable

DEFAULT_PERIOD_DAYS = 90


@dataclass(frozen=True, slots=True)
class StageCountsQuery:
    """The period bounds snapshot dates; it defaults to the last 90 days."""

    filters: ReportFilters = field(default_factory=ReportFilters)

    def validate(self) -> None:
        self.filters.validate()
        if self.filters.has_contact_filters:
            raise ValidationError(
                {
                    "non_field_errors": "Stage counts come from a daily count of all contacts per stage:"
                    " only the period can be chosen here."
                }
            )

    def period(self) -> tuple[dt.date, dt.date]:
        end = self.filters.period_end or timezone.localdate()
        start = self.filters.period_start or end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        return start, end


@dataclass(frozen=True, slots=True)
class StageSeries:
    stage: str
    name: str
    colour: str
    counts: list[int]  # aligned with StageCountsResult.dates; 0 where a day has no row


@dataclass(frozen=True, slots=True)
class StageCountsResult:
    period_start: dt.date
    period_end: dt.date
    dates: list[dt.date]
    series: list[StageSeries]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot
    # Days whose stored counts were rewritten after later-arriving history contradicted them (issue 17),
    # as (day, when restated): the chart says so instead of changing the past silently.
    restated: list[tuple[dt.date, dt.datetime]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@report_result(closed_periods=True)
def stage_counts_report(query: StageCountsQuery) -> StageCountsResult:
    """Contacts per stage per snapshot day in the period, in ONE statement."""
    query.validate()
    start, end = query.period()
    rows = run_sql(
        """
        SELECT s.date, st.slug, st.name, st.colour, s.contacts, s.restated_at
        FROM analytics_stagesnapshot s JOIN stages_stage st ON st.id = s.stage_id
        WHERE s.date >= %s AND s.date <= %s
        ORDER BY s.date, st.position
        """,
        [date_param(start), date_param(end)],
    )
    dates: list[dt.date] = []
    stages: dict[str, tuple[str, str]] = {}
    values: dict[tuple[dt.date, str], int] = {}
    restated: dict[dt.date, dt.datetime] = {}
    for day, slug, name, colour, contacts, restated_at in rows:
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        if restated_at is not None:
            when = restated_at if isinstance(restated_at, dt.datetime) else dt.datetime.fromisoformat(str(restated_at))
            restated[day] = max(restated.get(day, when), when)
        if not dates or dates[-1] != day:
            dates.append(day)
        stages.setdefault(slug, (name, colour))
        values[(day, slug)] = int(contacts)
    series = [
        StageSeries(stage=slug, name=name, colour=colour, counts=[values.get((d, slug), 0) for d in dates])
        for slug, (name, colour) in stages.items()
    ]
    return StageCountsResult(
        period_start=start, period_end=end, dates=dates, series=series, restated=sorted(restated.items())
    )
