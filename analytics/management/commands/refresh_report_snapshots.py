"""`manage.py refresh_report_snapshots`: store the preset results (the nightly chain's last step) now."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.kpis import PERIODS
from analytics.refresh import results_refresh


class Command(BaseCommand):
    help = (
        "Compute and store the preset results (every report's default query and the dashboard's charts, "
        "unfiltered and per channel) as the nightly chain's last step does, then print what was stored."
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
        result = results_refresh(periods=periods)
        self.stdout.write(json.dumps(result.as_dict(), indent=2))
