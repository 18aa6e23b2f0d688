"""Discounted expected purchases and predicted CLV for any purchase model.

Discounting is monthly: the purchases a model expects in each coming month are valued at
that month's end at the monthly equivalent of the annual rate. Each function takes the
fitted parameters of any registered model (BGNBDParams, MBGNBDParams, ParetoNBDParams); the
parameter class says which model's formulas apply.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from analytics.clv.common import WEEKS_PER_MONTH, FloatArray, _as_float, group_customers
from analytics.clv.gamma_gamma import GammaGammaParams, gamma_gamma_expected_spend
from analytics.clv.registry import MODELS, PurchaseModel


def model_of(params: Any) -> PurchaseModel:
    """The registered purchase model whose parameter class `params` is."""
    for model in MODELS.values():
        if isinstance(params, model.params_cls):
            return model
    raise TypeError(f"not the parameters of a purchase model: {params!r}")


def discounted_expected_purchases_grouped(
    params: Any, x: FloatArray, t_x: FloatArray, T: FloatArray, *, months: int, annual_discount_rate: float
) -> FloatArray:
    """The discounted sum for rows that are already distinct (x, t_x, T) groups."""
    if months < 1:
        raise ValueError("months must be at least 1")
    expected = model_of(params).expected_purchases
    monthly = (1.0 + annual_discount_rate) ** (1.0 / 12.0) - 1.0
    discounted = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k in range(1, months + 1):
        cumulative = expected(params, k * WEEKS_PER_MONTH, x, t_x, T)
        discounted += (cumulative - previous) / (1.0 + monthly) ** k
        previous = cumulative
    return discounted


def discounted_expected_purchases(
    params: Any,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    months: int = 12,
    annual_discount_rate: float = 0.10,
) -> FloatArray:
    """sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + d)^k over the next `months` months.

    t_k = k months (in weeks: k * 52/12) and d = (1 + annual rate)^(1/12) - 1 is the
    monthly discount rate. With a zero rate this is E[Y(horizon)]. Evaluated once per
    distinct (x, t_x, T) and expanded back to customers.
    """
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    gx, gt, gT, _, inverse = group_customers(x, t_x, T)
    grouped = discounted_expected_purchases_grouped(
        params, gx, gt, gT, months=months, annual_discount_rate=annual_discount_rate
    )
    return grouped[inverse]


def discounted_clv(
    params: Any,
    gamma_gamma: GammaGammaParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m: ArrayLike,
    *,
    months: int = 12,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
) -> FloatArray:
    """Predicted CLV over the next `months`, discounted to today.

    CLV = margin * E[spend per purchase | x, m] * discounted_expected_purchases(...): the
    Gamma-Gamma spend times the purchase model's purchases of each coming month.
    """
    spend = gamma_gamma_expected_spend(gamma_gamma, x, m)
    purchases = discounted_expected_purchases(
        params, x, t_x, T, months=months, annual_discount_rate=annual_discount_rate
    )
    return margin * spend * purchases
