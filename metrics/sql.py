"""SQL snippets over the per-contact facts that both the engine (writing) and analytics (reading) need."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone


def month_index_sql(column: str) -> tuple[str, list[Any]]:
    """SQL for the month index (year * 12 + month - 1) of a datetime column in the project's time zone.

    Built from the backend's own EXTRACT SQL, so both vendors convert the time zone the way
    the ORM's ExtractYear/ExtractMonth do.
    """
    tzname = timezone.get_current_timezone_name() if settings.USE_TZ else None
    year, year_params = connection.ops.datetime_extract_sql("year", column, (), tzname)
    month, month_params = connection.ops.datetime_extract_sql("month", column, (), tzname)
    return f"CAST(({year}) * 12 + ({month}) - 1 AS INTEGER)", [*year_params, *month_params]
