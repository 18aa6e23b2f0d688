"""The CDNOW sample (../shared/data/cdnow_sample.txt) and its published results, for CLV tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

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
