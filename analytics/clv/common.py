"""Shared pieces of the customer-value models: inputs, grouping, optimiser settings, fit results.

Per customer the models take x (repeat purchases: distinct purchase days after the first
one), t_x (time from the first to the last purchase, 0 when x = 0), T (time from the first
purchase to the end of the observation) and m (mean spend of the repeat purchases). The
time unit is the week everywhere, as in the published results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


DAYS_PER_WEEK = 7.0
WEEKS_PER_MONTH = 52.0 / 12.0

# Optimiser settings: tight enough that the published CDNOW parameters are reproduced
# to four significant digits; the objective is the mean log-likelihood per customer, so
# these tolerances do not depend on the size of the customer base.
_OPT_OPTIONS = {"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20}
# Parameters live in [1e-8, 1e8]. Without a bound the likelihood can rise forever along a
# ridge: data with no heterogeneity in dropout sends a and b to infinity at a fixed ratio
# (a point-mass Beta). At 1e8 the model is that limit to many digits, and predictions stay
# finite (see bgnbd_expected_purchases).
_LOG_BOUNDS = (math.log(1e-8), math.log(1e8))
# L-BFGS-B may stop with "ABNORMAL" when the line search cannot improve the last bits of
# the objective although the optimum is reached; a tiny gradient (per customer) says so.
_GRADIENT_OK = 1e-6


def _converged(result: Any) -> bool:
    if result.success:
        return True
    return bool(np.all(np.isfinite(result.x)) and np.max(np.abs(result.jac)) < _GRADIENT_OK)


def _dot(a: FloatArray, b: FloatArray) -> float:
    """Inner product without BLAS: OpenBLAS threads a 1-D dot, which on a busy 2-core
    machine made the whole fit 1.6x slower than einsum's single-threaded SIMD loop."""
    return float(np.einsum("i,i->", a, b))


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """Per-customer model inputs, aligned arrays sorted by customer id (time unit: weeks)."""

    customer_ids: NDArray[Any]
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    m: FloatArray

    def __len__(self) -> int:
        return int(self.customer_ids.shape[0])


# ------------------------------------------------------------------- input helpers


def _as_float(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _validate_bgnbd_inputs(x: FloatArray, t_x: FloatArray, T: FloatArray) -> None:
    if not (x.shape == t_x.shape == T.shape) or x.ndim != 1:
        raise ValueError("x, t_x and T must be 1-D arrays of the same length")
    if x.size and (
        np.any(x < 0)
        or np.any(x != np.floor(x))
        or np.any(t_x < 0)
        or np.any(t_x > T + 1e-9)
        or np.any((x == 0) & (t_x != 0))
    ):
        raise ValueError("need integer x >= 0, 0 <= t_x <= T, and t_x = 0 when x = 0")


def summarize_purchases(
    customer_ids: ArrayLike,
    dates: ArrayLike,
    amounts: ArrayLike,
    *,
    observation_end: np.datetime64 | str,
) -> CustomerSummary:
    """Turn purchase rows (customer, date, amount) into per-customer (x, t_x, T, m).

    CDNOW conventions: times in weeks; purchases on the same day are merged into one (their
    amounts summed); the first purchase day counts in neither x nor m; rows after
    `observation_end` are ignored; T runs from the first purchase to `observation_end`.
    """
    ids = np.asarray(customer_ids)
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    amt = _as_float(amounts)
    end = np.datetime64(observation_end, "D").astype(np.int64)
    if not (ids.shape == days.shape == amt.shape):
        raise ValueError("customer_ids, dates and amounts must have the same length")
    keep = days <= end
    ids, days, amt = ids[keep], days[keep], amt[keep]
    if ids.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return CustomerSummary(ids[:0], empty, empty.copy(), empty.copy(), empty.copy())

    order = np.lexsort((days, ids))
    ids, days, amt = ids[order], days[order], amt[order]
    # Merge same-day purchases: one row per (customer, day).
    new_day = np.ones(ids.size, dtype=bool)
    new_day[1:] = (ids[1:] != ids[:-1]) | (days[1:] != days[:-1])
    day_starts = np.flatnonzero(new_day)
    day_ids, day_days = ids[day_starts], days[day_starts]
    day_amt = np.add.reduceat(amt, day_starts)
    # Per customer: first/last day, number of days, total and first-day spend.
    new_cust = np.ones(day_ids.size, dtype=bool)
    new_cust[1:] = day_ids[1:] != day_ids[:-1]
    cust_starts = np.flatnonzero(new_cust)
    cust_ends = np.append(cust_starts[1:], day_ids.size) - 1
    n_days = cust_ends - cust_starts + 1
    first, last = day_days[cust_starts], day_days[cust_ends]
    total = np.add.reduceat(day_amt, cust_starts)
    x = (n_days - 1).astype(np.float64)
    repeat_spend = total - day_amt[cust_starts]
    m = np.divide(repeat_spend, x, out=np.zeros_like(repeat_spend), where=x > 0)
    return CustomerSummary(
        customer_ids=day_ids[cust_starts],
        x=x,
        t_x=(last - first) / DAYS_PER_WEEK,
        T=(end - first) / DAYS_PER_WEEK,
        m=m,
    )


def group_customers(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, NDArray[np.intp]]:
    """Collapse customers to distinct (x, t_x, T) rows.

    Returns (x, t_x, T, weights, inverse) where `inverse` maps each customer to its row,
    so per-row predictions expand back with `pred[inverse]`. Each column is coded with a
    1-D `np.unique` and the codes are combined into one int64 key, which is several times
    faster than `np.unique(axis=0)` on a (n, 3) float array.
    """
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    ux, cx = np.unique(x, return_inverse=True)
    ut, ct = np.unique(t_x, return_inverse=True)
    uT, cT = np.unique(T, return_inverse=True)
    key = (cx.astype(np.int64) * ut.size + ct) * uT.size + cT
    ukey, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    gT = ukey % uT.size
    rest = ukey // uT.size
    gt = rest % ut.size
    gx = rest // ut.size
    return ux[gx], ut[gt], uT[gT], counts.astype(np.float64), inverse.reshape(-1)


@dataclass(frozen=True, slots=True)
class PurchaseFit:
    """Outcome of a purchase-model maximum-likelihood fit (MBG/NBD, Pareto/NBD; BG/NBD has its own twin).

    `loglik` is the total over all `n_customers`; `n_groups` the distinct (x, t_x, T) rows
    the optimiser saw.
    """

    model: str
    params: Any
    loglik: float
    n_customers: int
    n_groups: int
    iterations: int
    converged: bool
    message: str
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            **self.params.as_dict(),
            "loglik": self.loglik,
            "n_customers": self.n_customers,
            "n_groups": self.n_groups,
            "iterations": self.iterations,
            "converged": self.converged,
            "message": self.message,
            "duration_s": self.duration_s,
        }


def prepare_inputs(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None, group: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Validated float arrays, collapsed to distinct (x, t_x, T) rows with weights unless given weights."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    _validate_bgnbd_inputs(x, t_x, T)
    if x.size == 0:
        raise ValueError("cannot fit a purchase model on zero customers")
    w = np.ones_like(x) if weights is None else _as_float(weights)
    if group and weights is None:
        x, t_x, T, w, _ = group_customers(x, t_x, T)
    return x, t_x, T, w


def initial_rate(x: FloatArray, T: FloatArray, w: FloatArray) -> float:
    """The base's mean purchase rate per week (sum x / sum T): a scale-aware starting alpha is 1 / rate."""
    return max(_dot(w, x) / max(_dot(w, T), 1e-12), 1e-6)
