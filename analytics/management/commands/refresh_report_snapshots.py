"""`manage.py refresh_report_snapshots`: store today's results of the default report queries now."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.kpis import PERIODS
from analytics.services import report_snapshots_refresh


class Command(BaseCommand):
    help = (
        "Compute and store the report snapshots (every report's default query and the dashboard's charts, "
        "unfiltered and per channel) as the nightly task does, then print what was stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--period",
            action="append",
            choices=sorted(PERIODS),
            help="Dashboard preset period to snapshot (repeatable; default: CRM_REPORT_SNAPSHOT_PERIODS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        periods = tuple(options["period"]) if options["period"] else None
        result = report_snapshots_refresh(periods=periods)
        self.stdout.write(json.dumps(result.as_dict(), indent=2))
