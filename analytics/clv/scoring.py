"""Live scores: fit the purchase models and Gamma-Gamma on all data, then score every customer.

`fit_live` fits every purchase model on the grouped customers (so the model page can show
each one's parameters and standard errors), Gamma-Gamma on the repeat customers and judges
it (analytics.clv.spend); the model chosen from the backtest (analytics.clv.selection)
drives `score_customers`: expected purchases over the horizon, P(alive), spend per
purchase, discounted predicted CLV and its 80 % interval. NumPy only, so the benchmark
measures exactly what the nightly recompute runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from analytics.clv.common import (
    WEEKS_PER_MONTH,
    CustomerSummary,
    FloatArray,
    GroupedCustomers,
    PurchaseFit,
    group_customers,
)
from analytics.clv.gamma_gamma import GammaGammaFit, gamma_gamma_expected_spend, gamma_gamma_fit
from analytics.clv.intervals import ParameterUncertainty, interval_factors, parameter_uncertainty
from analytics.clv.registry import MODEL_NAMES, MODELS
from analytics.clv.selection import ModelChoice
from analytics.clv.spend import SpendCheck, shrunk_spend, spend_check
from analytics.clv.value import discounted_expected_purchases_grouped


@dataclass(frozen=True, slots=True)
class LiveFit:
    """Every purchase model fitted on all data, the chosen one, and the spend model with its check."""

    choice: ModelChoice
    fits: dict[str, PurchaseFit]
    uncertainty: dict[str, ParameterUncertainty]
    gamma_gamma: GammaGammaFit | None
    spend: SpendCheck
    grouped: GroupedCustomers
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def chosen(self) -> PurchaseFit:
        return self.fits[self.choice.model]

    def models_as_dict(self) -> dict[str, Any]:
        """Per model: parameters, standard errors, log-likelihood, convergence (JSON for the fit row)."""
        return {
            name: {
                "label": MODELS[name].label,
                "params": fit.params.as_dict(),
                "standard_errors": self.uncertainty[name].standard_errors,
                "loglik": fit.loglik,
                "converged": fit.converged,
                "n_customers": fit.n_customers,
            }
            for name, fit in self.fits.items()
        }


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-customer predictions, aligned with the summary's customers."""

    expected_purchases: FloatArray  # over the horizon, undiscounted
    p_alive: FloatArray
    expected_spend: FloatArray
    predicted_clv: FloatArray
    clv_low: FloatArray
    clv_high: FloatArray


def fit_live(
    summary: CustomerSummary,
    *,
    choice: ModelChoice,
    purchase_spend: FloatArray,
    models: tuple[str, ...] = MODEL_NAMES,
) -> LiveFit:
    """Fit the purchase models on all customers (grouped once) and Gamma-Gamma on the repeat customers.

    `purchase_spend` is the spend of every purchase day (for the typical purchase the spend
    check reports). The chosen model is always fitted, even when not in `models`.
    """
    durations: dict[str, float] = {}
    started_all = time.perf_counter()
    grouped = GroupedCustomers.from_customers(summary.x, summary.t_x, summary.T)
    gx, gt, gT, gw = grouped.x, grouped.t_x, grouped.T, grouped.w
    durations["group"] = time.perf_counter() - started_all
    fits: dict[str, PurchaseFit] = {}
    uncertainty: dict[str, ParameterUncertainty] = {}
    for name in dict.fromkeys((*models, choice.model)):
        started = time.perf_counter()
        model = MODELS[name]
        fit = model.fit(gx, gt, gT, grouped=grouped)
        fits[name] = fit
        uncertainty[name] = parameter_uncertainty(model, fit.params, gx, gt, gT, gw, grouped)
        durations[name] = time.perf_counter() - started
    started = time.perf_counter()
    positive = (summary.x > 0) & (summary.m > 0)
    gg: GammaGammaFit | None = None
    if positive.sum() >= 2:
        try:
            gg = gamma_gamma_fit(summary.x[positive], summary.m[positive])
        except ValueError:
            gg = None
    check = spend_check(gg, summary.x, summary.m, purchase_spend)
    durations["gamma_gamma"] = time.perf_counter() - started
    return LiveFit(choice, fits, uncertainty, gg, check, grouped, durations)


def score_customers(
    live: LiveFit,
    summary: CustomerSummary,
    *,
    total_spend: FloatArray,
    purchase_days: FloatArray,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
) -> Scores:
    """Score every customer with the chosen model (see module doc); evaluated once per distinct (x, t_x, T)."""
    model = MODELS[live.choice.model]
    params = live.chosen.params
    horizon_weeks = horizon_months * WEEKS_PER_MONTH
    g = live.grouped
    if g.inverse is not None and g.inverse.size == len(summary):
        gx, gt, gT, inverse = g.x, g.t_x, g.T, g.inverse  # the grouping of the fit: these very customers
    else:
        gx, gt, gT, _, inverse = group_customers(summary.x, summary.t_x, summary.T)
    expected = model.expected_purchases(params, horizon_weeks, gx, gt, gT)[inverse]
    p_alive = model.probability_alive(params, gx, gt, gT)[inverse]
    discounted = discounted_expected_purchases_grouped(
        params, gx, gt, gT, months=horizon_months, annual_discount_rate=annual_discount_rate
    )[inverse]
    if live.spend.use_gamma_gamma and live.gamma_gamma is not None:
        spend = gamma_gamma_expected_spend(live.gamma_gamma.params, summary.x, summary.m)
    else:
        median = live.spend.observed_median or 0.0
        spend = shrunk_spend(total_spend, purchase_days, median)
    predicted = margin * spend * discounted
    low, high = interval_factors(
        model,
        params,
        live.uncertainty[live.choice.model].cov_log,
        summary.x,
        summary.t_x,
        summary.T,
        horizon_weeks=horizon_weeks,
    )
    return Scores(
        expected_purchases=expected,
        p_alive=p_alive,
        expected_spend=spend,
        predicted_clv=predicted,
        clv_low=predicted * low,
        clv_high=predicted * high,
    )
