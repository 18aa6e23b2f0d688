"""`manage.py rebuild_daily_facts [--check]`: rewrite the KPI cards' rollups from the rows, or compare only.

Triggers keep the rollups (daily facts, current state, cohorts, acquisitions) exact on every write
(analytics.daily_facts); a rebuild is needed
after a change of TIME_ZONE (its days are local; until then the cards read the rows) and
when rows were written with the triggers disabled (a bulk load with
`session_replication_role = replica`, a restore of some tables) — `--check` tells.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from analytics.daily_facts import daily_facts_drift, daily_facts_rebuild


class Command(BaseCommand):
    help = (
        "Rewrite the rollups the overview reads (PostgreSQL: daily facts, current state, cohorts, acquisitions) "
        "from the "
        "contacts, purchases, stage moves, metrics and purchase months; "
        "with --check, only compare them (exit status 1 if they differ)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="Compare only; write nothing.")

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("The KPI rollups are kept on PostgreSQL only; on this database the cards read the rows.")
        started = time.perf_counter()
        if check:
            drift = daily_facts_drift()
            elapsed = time.perf_counter() - started
            if drift:
                self.stderr.write(
                    f"{len(drift):,} keys differ from the rows (first: {drift[0]}); run rebuild_daily_facts."
                )
                raise SystemExit(1)
            self.stdout.write(
                f"The overview rollups (daily facts, current state, cohorts, acquisitions) are exact ({elapsed:.1f} s)."
            )
            return
        rows = daily_facts_rebuild()
        self.stdout.write(f"{rows:,} rollup rows written in {time.perf_counter() - started:.1f} s.")
