"""`manage.py rebuild_purchase_months`: rewrite the purchase-month rollup of every contact from its purchases.

The rollup is read by cohort retention and by channel performance as of a past day.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from metrics.models import ContactPurchaseMonth
from stages.engine_facts import purchase_months_backfill


class Command(BaseCommand):
    help = (
        "Rewrite every contact's purchase months (the rollup cohort retention and past-day channel performance "
        "read) from the stored purchases. "
        "The lifecycle engine keeps the rollup current; run this after changing TIME_ZONE (months are local) "
        "or after touchpoints were changed in the database directly."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        purchase_months_backfill()
        rows = ContactPurchaseMonth.objects.count()
        self.stdout.write(f"{rows:,} contact-months written in {time.perf_counter() - started:.1f} s.")
