"""The CDNOW sample (../shared/data/cdnow_sample.txt) and its published results, for CLV tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from contacts.models import Contact, Touchpoint
from tests.factories import stage

REPO_ROOT = Path(__file__).resolve().parents[2]
# ../shared/data beside the repo; a helper's worktree (/work/wt/<name>) sits one level deeper.
_CANDIDATES = [root / "shared" / "data" / "cdnow_sample.txt" for root in (REPO_ROOT.parent, REPO_ROOT.parent.parent)]
CDNOW_PATH = next((path for path in _CANDIDATES if path.exists()), _CANDIDATES[0])
CALIBRATION_END = date(1997, 9, 30)

# Fader, Hardie & Lee (2005) and Fader & Hardie (2013), as quoted in shared/data/README.md.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LOGLIK = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PUBLISHED_REPEAT_CUSTOMERS = 946
PUBLISHED_CUSTOMERS = 2357
# A customer with x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
PUBLISHED_CONDITIONAL = {"x": 2.0, "t_x": 30.43, "T": 38.86, "t": 39.0, "expected": 1.226}
TOLERANCE = 0.005  # 0.5 %


@dataclass(frozen=True)
class CdnowRow:
    customer_id: int
    day: date
    cds: int
    dollars: str  # kept as text so it can become an exact Decimal


def load_cdnow() -> list[CdnowRow]:
    """All 6,919 purchase rows; skips the calling test when the shared data is not beside the repo."""
    if not CDNOW_PATH.exists():
        pytest.skip(f"CDNOW sample not found at {CDNOW_PATH} (it lives in ../shared/data beside the repo)")
    rows = []
    with CDNOW_PATH.open() as handle:
        for line in handle:
            parts = line.split()
            if not parts:
                continue
            _master, customer, ymd, cds, dollars = parts
            rows.append(
                CdnowRow(
                    customer_id=int(customer),
                    day=date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:])),
                    cds=int(cds),
                    dollars=dollars,
                )
            )
    return rows


def relative_error(value: float, expected: float) -> float:
    return abs(value - expected) / abs(expected)


def import_cdnow(tmp_path: Path) -> dict[str, int]:
    """The 6,919 CDNOW purchases of 2,357 customers through `manage.py import_touchpoints` (the public contract)."""
    rows = load_cdnow()
    # The contacts themselves are not under test: bulk-created, like an earlier contact import.
    awareness = stage("awareness")
    acquired = timezone.make_aware(dt.datetime(1997, 1, 1))
    Contact.objects.bulk_create(
        [
            Contact(
                email=f"cdnow{cid}@example.com",
                external_id=f"cdnow-{cid}",
                stage=awareness,
                stage_entered_at=acquired,
                acquired_at=acquired,
            )
            for cid in sorted({row.customer_id for row in rows})
        ]
    )
    touchpoints_csv = tmp_path / "cdnow_purchases.csv"
    with touchpoints_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["contact_external_id", "kind", "channel", "occurred_at", "amount", "external_id"])
        for line, row in enumerate(rows, start=1):
            writer.writerow(
                [f"cdnow-{row.customer_id}", "purchase", "web", row.day.isoformat(), row.dollars, f"l{line}"]
            )
    call_command("import_touchpoints", str(touchpoints_csv), stdout=io.StringIO(), stderr=io.StringIO())
    assert Touchpoint.objects.filter(kind="purchase", source="import").count() == len(rows)
    return dict(Contact.objects.filter(external_id__startswith="cdnow-").values_list("external_id", "pk"))
