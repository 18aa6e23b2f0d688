"""When Gamma-Gamma may value a customer's purchases, and the fallback when it may not.

Gamma-Gamma (Fader & Hardie 2013) assumes a customer's spend per purchase is independent of
how often they buy, and has a finite mean only when q > 1. It is used only when:
  * q > 1;
  * |Pearson correlation of frequency x and mean spend m| over repeat customers is at most
    `MAX_CORRELATION` (0.3: "weak" by the usual convention; above it the independence the
    model rests on is visibly broken);
  * the implied population mean spend p*gamma/(q-1) is within a factor `MAX_MEAN_RATIO` (2)
    of the observed mean of m: a model whose mean is far off the data (the demo's q = 1.24
    implied 554 against a median purchase of 116) would inflate or deflate every CLV.
Otherwise the spend per purchase is each customer's own mean spend per purchase day shrunk
towards the population median with the weight of `PRIOR_PURCHASES` purchases: stable for a
one-time buyer, close to the customer's own figure for a regular one, robust to outliers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analytics.clv.common import FloatArray
from analytics.clv.gamma_gamma import GammaGammaFit

MAX_CORRELATION = 0.3
MAX_MEAN_RATIO = 2.0
PRIOR_PURCHASES = 2.0


@dataclass(frozen=True, slots=True)
class SpendCheck:
    """The spend model's health: whether Gamma-Gamma is used, the figures it was judged on, and why."""

    use_gamma_gamma: bool
    reason: str
    q: float | None
    correlation: float | None
    implied_mean: float | None
    observed_mean: float | None
    observed_median: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def frequency_spend_correlation(x: FloatArray, m: FloatArray) -> float | None:
    """Pearson correlation of x and m over customers with x > 0 (None when undefined)."""
    keep = (x > 0) & (m > 0)
    if keep.sum() < 3 or np.std(x[keep]) == 0 or np.std(m[keep]) == 0:
        return None
    return float(np.corrcoef(x[keep], m[keep])[0, 1])


def spend_check(fit: GammaGammaFit | None, x: FloatArray, m: FloatArray, purchase_spend: FloatArray) -> SpendCheck:
    """Judge a Gamma-Gamma fit against the rules in the module docstring.

    `purchase_spend` is the spend of each customer's purchase days (all of them, the first
    included): its median is the "typical purchase" shown beside the implied mean.
    """
    keep = (x > 0) & (m > 0)
    observed_mean = float(m[keep].mean()) if keep.any() else None
    median = float(np.median(purchase_spend)) if purchase_spend.size else None
    corr = frequency_spend_correlation(x, m)
    if fit is None or not fit.converged:
        return SpendCheck(False, "Gamma-Gamma could not be fitted.", None, corr, None, observed_mean, median)
    p, q, g = fit.params.p, fit.params.q, fit.params.gamma
    if q <= 1:
        return SpendCheck(
            False,
            f"Gamma-Gamma's q is {q:.2f} (it must exceed 1 for a finite mean spend).",
            q,
            corr,
            None,
            observed_mean,
            median,
        )
    implied = p * g / (q - 1.0)
    if corr is not None and abs(corr) > MAX_CORRELATION:
        return SpendCheck(
            False,
            f"Spend per purchase moves with purchase frequency (correlation {corr:.2f}, "
            f"more than {MAX_CORRELATION}), which Gamma-Gamma assumes away.",
            q,
            corr,
            implied,
            observed_mean,
            median,
        )
    if observed_mean and not (1.0 / MAX_MEAN_RATIO <= implied / observed_mean <= MAX_MEAN_RATIO):
        return SpendCheck(
            False,
            f"Gamma-Gamma implies a mean spend of {implied:,.0f} per purchase, far from the "
            f"observed {observed_mean:,.0f} (typical purchase {median:,.0f}).",
            q,
            corr,
            implied,
            observed_mean,
            median,
        )
    return SpendCheck(
        True,
        f"Gamma-Gamma holds: q = {q:.2f}, frequency-spend correlation "
        f"{'n/a' if corr is None else f'{corr:.2f}'}, implied mean spend {implied:,.0f} "
        f"against {observed_mean:,.0f} observed.",
        q,
        corr,
        implied,
        observed_mean,
        median,
    )


def shrunk_spend(total_spend: FloatArray, purchase_days: FloatArray, median: float) -> FloatArray:
    """Own mean spend per purchase day shrunk to the population median: (total + k*median) / (days + k)."""
    return (total_spend + PRIOR_PURCHASES * median) / (purchase_days + PRIOR_PURCHASES)
