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


@dataclass(frozen=True, slots=True)
class PairIndex:
    """Distinct (x, t) pairs of a set of rows, sorted by t then x.

    `x_index` is each pair's index into the distinct x values, `t` its time, `t_index` its
    index into the distinct times `ut`, and `row` maps each row to its pair. Every term of
    the purchase-model likelihoods that is not x-only depends on (x, t_x) or (x, T) alone,
    and there are far fewer such pairs than distinct (x, t_x, T) rows (at 1M customers over
    three years: ~26k pairs each against ~400k rows), so those terms and their derivatives
    are computed per pair; the rows only combine them and scatter weights back with bincount.
    """

    x_index: NDArray[np.intp]
    t: FloatArray
    t_index: NDArray[np.intp]
    ut: FloatArray
    row: NDArray[np.intp]

    @property
    def size(self) -> int:
        return int(self.t.size)

    @classmethod
    def build(cls, xi: NDArray[np.intp], t: FloatArray, n_x: int) -> PairIndex:
        ut, ti = np.unique(t, return_inverse=True)
        key = ti.astype(np.int64) * n_x + xi
        ukey, inverse = np.unique(key, return_inverse=True)
        t_index = (ukey // n_x).astype(np.intp)
        return cls((ukey % n_x).astype(np.intp), ut[t_index], t_index, ut, inverse.reshape(-1).astype(np.intp))

    def sum(self, weights: FloatArray) -> FloatArray:
        """Per pair, the sum of `weights` over its rows."""
        return np.bincount(self.row, weights=weights, minlength=self.size)


class GroupedCustomers:
    """Customers grouped by distinct (x, t_x, T) with weights, and the pair indexes every model's likelihood uses.

    Built once per data set and shared by all purchase models' fits, their standard errors
    and the scores: the sorting behind np.unique is the costly part at a million customers.
    `inverse` (when built from customers) maps each customer to its row.
    """

    def __init__(
        self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray, inverse: NDArray[np.intp] | None = None
    ) -> None:
        self.x, self.t_x, self.T, self.w, self.inverse = x, t_x, T, w, inverse
        self.total_weight = float(w.sum())
        self.ux, self.xi = np.unique(x, return_inverse=True)
        self.xi = self.xi.reshape(-1)
        self.wx = np.bincount(self.xi, weights=w, minlength=self.ux.size)
        self.alive = PairIndex.build(self.xi, T, self.ux.size)  # (x, T)
        self.dead = PairIndex.build(self.xi, t_x, self.ux.size)  # (x, t_x)
        self.alive_weight = self.alive.sum(w)

    @classmethod
    def from_customers(cls, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> GroupedCustomers:
        """Validate and group per-customer arrays."""
        x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
        _validate_bgnbd_inputs(x, t_x, T)
        gx, gt, gT, w, inverse = group_customers(x, t_x, T)
        return cls(gx, gt, gT, w, inverse)

    @classmethod
    def of(cls, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None, group: bool) -> GroupedCustomers:
        """The fit functions' inputs (customers, or rows already grouped with `weights`) as a GroupedCustomers."""
        x, t_x, T, w = prepare_inputs(x, t_x, T, weights, group)
        return cls(x, t_x, T, w)


def two_state_mixture(
    a_alive: FloatArray, a_dead: FloatArray, g: GroupedCustomers
) -> tuple[float, FloatArray, FloatArray]:
    """Sum over rows of w * log(exp(A3) + exp(A4)), A3 per (x, T) pair and A4 per (x, t_x) pair.

    Returns the sum and the posterior weights summed per pair: sum of w * P(state 3) per
    (x, T) pair and of w * P(state 4) per (x, t_x) pair, which is all the gradient needs
    (d/dtheta of the sum = sum_T dA3 * S3 + sum_t dA4 * S4). A4 may be -inf (state 4
    impossible, as BG/NBD's dropout for x = 0).
    """
    d = a_dead[g.dead.row] - a_alive[g.alive.row]
    # softplus(d) and the logistic of d from one exp and one log1p (stable for either sign).
    e = np.exp(-np.abs(d))
    positive = d > 0
    w4 = g.w * np.where(positive, 1.0, e) / (1.0 + e)
    s4 = g.dead.sum(w4)
    s3 = g.alive_weight - g.alive.sum(w4)
    total = _dot(g.alive_weight, a_alive) + _dot(g.w, np.log1p(e)) + _dot(g.w[positive], d[positive])
    return total, s3, s4
