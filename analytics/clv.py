"""Customer lifetime value models: BG/NBD and Gamma-Gamma, fitted by maximum likelihood.

Pure NumPy/SciPy (no Django), so the same code serves the nightly recompute, the
tests that reproduce the published CDNOW results and the benchmark against `lifetimes`.

Models and conventions
----------------------
* BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while
  alive a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each repeat
  purchase they drop out with probability p ~ Beta(a, b).
* Gamma-Gamma (Fader & Hardie 2013): the spend of each purchase is Gamma(p, nu) with
  nu ~ Gamma(q, gamma); fitted on customers with at least one repeat purchase from their
  mean repeat spend m.
* Per customer the models take x (repeat purchases: distinct purchase days after the
  first one), t_x (time from the first to the last purchase, 0 when x = 0), T (time from
  the first purchase to the end of the observation) and m (mean spend of the repeat
  purchases). The time unit is the week everywhere, as in the published results, so the
  fitted alpha is comparable between fits and with the literature.

Why it is fast
--------------
The likelihood depends on a customer only through (x, t_x, T), so customers are first
grouped by those distinct triples with a weight each (a 1M-customer base collapses to
far fewer rows, because dates are days). Terms that depend only on x (log-gammas and
digammas), only on T or only on t_x are evaluated once per distinct value and gathered;
customers with x = 0 contribute a term that depends on T alone. The gradient is
analytic (no finite differences), and L-BFGS-B works on log-parameters so positivity
needs no bounds. The log-likelihood is computed in log space with `logaddexp`, and the
conditional expectation uses the Euler transform of 2F1, which stays finite where the
textbook form over/underflows.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class BGNBDParams:
    """BG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout ~ Beta(a, b); time unit weeks."""

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BGNBDFit:
    """Outcome of a BG/NBD maximum-likelihood fit.

    `loglik` is the total log-likelihood over all `n_customers` (comparable with the
    published -9582.4 on CDNOW); `n_groups` is the number of distinct (x, t_x, T) rows
    the optimiser actually saw.
    """

    params: BGNBDParams
    loglik: float
    n_customers: int
    n_groups: int
    iterations: int
    converged: bool
    message: str
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.params.as_dict(),
            "loglik": self.loglik,
            "n_customers": self.n_customers,
            "n_groups": self.n_groups,
            "iterations": self.iterations,
            "converged": self.converged,
            "message": self.message,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True, slots=True)
class GammaGammaFit:
    """Outcome of a Gamma-Gamma maximum-likelihood fit over customers with x > 0."""

    params: GammaGammaParams
    loglik: float
    n_customers: int
    iterations: int
    converged: bool
    message: str
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.params.as_dict(),
            "loglik": self.loglik,
            "n_customers": self.n_customers,
            "iterations": self.iterations,
            "converged": self.converged,
            "message": self.message,
            "duration_s": self.duration_s,
        }


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


# -------------------------------------------------------------------------- BG/NBD


class _BGNBDData:
    """Precomputed structure of the BG/NBD likelihood for one data set (see module doc)."""

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.total_weight = float(w.sum())
        # Terms that depend on x only are evaluated once per distinct x.
        self.ux, xi = np.unique(x, return_inverse=True)
        self.wx = np.bincount(xi, weights=w, minlength=self.ux.size)
        self.ux_int = self.ux.astype(np.int64)
        self.j = np.arange(int(self.ux_int.max()) if self.ux_int.size else 0, dtype=np.float64)
        # Customers with x = 0 contribute -r * log(alpha + T): only T matters.
        zero = x == 0
        self.T0, T0i = np.unique(T[zero], return_inverse=True)
        self.w0 = np.bincount(T0i, weights=w[zero], minlength=self.T0.size)
        pos = ~zero
        xp, tp, Tp, wp = x[pos], t_x[pos], T[pos], w[pos]
        self.uT, self.Ti = np.unique(Tp, return_inverse=True)
        self.ut, self.ti = np.unique(tp, return_inverse=True)
        self.uxp, self.xpi = np.unique(xp, return_inverse=True)
        self.xp, self.wp = xp, wp
        self.sum_wp = float(wp.sum())

    def neg_mean_loglik(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """Negative mean log-likelihood and its gradient in log-parameters."""
        r, alpha, a, b = np.exp(log_params)
        wx = self.wx
        # x-only part, A1 + A2 of Fader-Hardie-Lee. x is an integer, so the log-gamma and
        # digamma differences are finite sums over j < x: log G(r+x) - log G(r) =
        # sum log(r+j), and B(a, b+x)/B(a, b) = prod (b+j)/(a+b+j). Unlike differences of
        # log-gammas this stays exact when a and b are huge (near-homogeneous dropout),
        # where cancelling 1e9-sized log-gammas made the objective too noisy to optimise.
        j = self.j
        log_ratio = np.log1p(-a / (a + b + j))  # log((b+j)/(a+b+j))
        inv_ab = 1.0 / (a + b + j)
        inv_b = 1.0 / (b + j)
        cum = np.cumsum(np.stack([np.log(r + j), 1.0 / (r + j), log_ratio, inv_ab, inv_b]), axis=1)
        cum = np.concatenate([np.zeros((5, 1)), cum], axis=1)[:, self.ux_int]
        lg_r, dg_r, a2, sum_inv_ab, sum_inv_b = cum
        ll = _dot(wx, lg_r + a2) + r * math.log(alpha) * self.total_weight
        g_r = _dot(wx, dg_r) + math.log(alpha) * self.total_weight
        g_alpha = r / alpha * self.total_weight
        g_a = -_dot(wx, sum_inv_ab)
        g_b = _dot(wx, sum_inv_b - sum_inv_ab)

        # x = 0: alive for sure in the likelihood, term -r * log(alpha + T).
        if self.T0.size:
            log_aT0 = np.log(alpha + self.T0)
            ll -= r * _dot(self.w0, log_aT0)
            g_r -= _dot(self.w0, log_aT0)
            g_alpha -= r * _dot(self.w0, (1.0 / (alpha + self.T0)))

        # x > 0: log( exp(A3) + exp(A4) ) with
        #   A3 = -(r+x) log(alpha+T)                       (still alive at T)
        #   A4 = log a - log(b+x-1) - (r+x) log(alpha+t_x)   (dropped out after t_x)
        if self.xp.size:
            log_aT = np.log(alpha + self.uT)[self.Ti]
            log_at = np.log(alpha + self.ut)[self.ti]
            c4 = (math.log(a) - np.log(b + self.uxp - 1.0))[self.xpi]
            rx = r + self.xp
            A3 = -rx * log_aT
            A4 = c4 - rx * log_at
            lse = np.logaddexp(A3, A4)
            w4 = np.exp(A4 - lse)  # posterior weight of "dropped out after t_x"
            w3 = 1.0 - w4
            wp = self.wp
            ll += _dot(wp, lse)
            g_r -= _dot(wp, (w3 * log_aT + w4 * log_at))
            inv_aT = (1.0 / (alpha + self.uT))[self.Ti]
            inv_at = (1.0 / (alpha + self.ut))[self.ti]
            g_alpha -= _dot(wp, (rx * (w3 * inv_aT + w4 * inv_at)))
            ww4 = wp * w4
            g_a += float(ww4.sum()) / a
            g_b -= _dot(ww4, (1.0 / (b + self.xp - 1.0)))

        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        n = self.total_weight
        return -ll / n, -grad / n


def bgnbd_loglik(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Per-customer BG/NBD log-likelihood (FHL 2005 eq. 6), computed in log space."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(b + x - 1.0) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def _initial_bgnbd(x: FloatArray, T: FloatArray, w: FloatArray) -> FloatArray:
    # Start with r = 1 and alpha from the mean purchase rate (r / alpha ~ sum x / sum T),
    # a = b = 1: scale-aware, so a base measured over years converges as fast as CDNOW.
    rate = max(_dot(w, x) / max(_dot(w, T), 1e-12), 1e-6)
    return np.log(np.array([1.0, 1.0 / rate, 1.0, 1.0]))


def bgnbd_fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    group: bool = True,
) -> BGNBDFit:
    """Fit the BG/NBD model by maximum likelihood (L-BFGS-B on log-parameters).

    With `group=True` customers are first collapsed to distinct (x, t_x, T) rows with
    weights; `weights` may also be given for data that is grouped already.
    """
    started = time.perf_counter()
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    _validate_bgnbd_inputs(x, t_x, T)
    if x.size == 0:
        raise ValueError("cannot fit BG/NBD on zero customers")
    w = np.ones_like(x) if weights is None else _as_float(weights)
    if group and weights is None:
        x, t_x, T, w, _ = group_customers(x, t_x, T)
    data = _BGNBDData(x, t_x, T, w)
    result = minimize(
        data.neg_mean_loglik,
        _initial_bgnbd(x, T, w),
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS] * 4,
        options=_OPT_OPTIONS,
    )
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return BGNBDFit(
        params=BGNBDParams(r=r, alpha=alpha, a=a, b=b),
        loglik=float(-result.fun * data.total_weight),
        n_customers=round(data.total_weight),
        n_groups=int(x.size),
        iterations=int(result.nit),
        converged=_converged(result),
        message=str(result.message),
        duration_s=time.perf_counter() - started,
    )


def _log_alive_odds(params: BGNBDParams, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, -inf for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            x > 0,
            np.log(a) - np.log(b + x - 1.0) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)),
            -np.inf,
        )


def bgnbd_probability_alive(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) (FHL 2005 appendix): 1 / (1 + odds of having dropped out)."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    return expit(-_log_alive_odds(params, x, t_x, T))


def bgnbd_expected_purchases(
    params: BGNBDParams, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next `t` weeks (FHL 2005 eq. 10).

    The factor (1-z)^(r+x) * 2F1(r+x, b+x; a+b+x-1; z), z = t/(alpha+T+t), is evaluated in
    whichever of two algebraically equal forms has the smaller power of (1-z): as written
    when r+x <= a-1, else by Euler's transformation (1-z)^(a-1) * 2F1(a+b-1-r, a-1;
    a+b+x-1; z). A large power underflows while its 2F1 overflows, so the textbook form
    breaks for heavy buyers (large x) and the Euler form when dropout is nearly
    homogeneous (large a and b, which a fit reaches when the data shows no heterogeneity).
    """
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    t = _as_float(t)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T, t = np.broadcast_arrays(x, t_x, T, t)
    z = t / (alpha + T + t)
    tail = np.empty(z.shape, dtype=np.float64)
    textbook = (r + x) <= (a - 1.0)
    euler = ~textbook
    if textbook.any():
        zt, xt = z[textbook], x[textbook]
        tail[textbook] = np.power(1.0 - zt, r + xt) * hyp2f1(r + xt, b + xt, a + b + xt - 1.0, zt)
    if euler.any():
        ze, xe = z[euler], x[euler]
        tail[euler] = np.power(1.0 - ze, a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + xe - 1.0, ze)
    p_alive = expit(-_log_alive_odds(params, x, t_x, T))
    return (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail) * p_alive


def bgnbd_expected_purchases_new_customer(params: BGNBDParams, t: float | ArrayLike) -> FloatArray:
    """E[X(t)] for a customer just acquired (FHL 2005 eq. 7): the model's population curve."""
    t = _as_float(t)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    tail = np.power(alpha / (alpha + t), r) * hyp2f1(r, b, a + b - 1.0, z)
    return (a + b - 1.0) / (a - 1.0) * (1.0 - tail)


# --------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_loglik(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend m over x > 0 purchases."""
    x, m = _as_float(x), _as_float(m)
    p, q, g = params.p, params.q, params.gamma
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(g)
        + (p * x - 1.0) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(g + m * x)
    )


class _GammaGammaData:
    """Precomputed sums of the Gamma-Gamma likelihood: only log(gamma + m x) is per row."""

    def __init__(self, x: FloatArray, m: FloatArray) -> None:
        self.n = float(x.size)
        self.x, self.mx = x, m * x
        self.ux, xi = np.unique(x, return_inverse=True)
        self.nx = np.bincount(xi, minlength=self.ux.size).astype(np.float64)
        log_m = np.log(m)
        self.sum_x_logm = _dot(x, log_m)
        self.sum_logm = float(log_m.sum())
        self.sum_x_logx = _dot(x, np.log(x))
        self.sum_x = float(x.sum())

    def neg_mean_loglik(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        p, q, g = np.exp(log_params)
        ux, nx, n = self.ux, self.nx, self.n
        px_q = p * ux + q
        ll = _dot(nx, (gammaln(px_q) - gammaln(p * ux))) - n * gammaln(q) + n * q * math.log(g)
        ll += p * self.sum_x_logm - self.sum_logm + p * self.sum_x_logx
        log_gmx = np.log(g + self.mx)
        row_px_q = p * self.x + q
        ll -= _dot(row_px_q, log_gmx)
        dig = digamma(px_q)
        g_p = _dot(nx, (ux * (dig - digamma(p * ux)))) + self.sum_x_logm + self.sum_x_logx
        g_p -= _dot(self.x, log_gmx)
        g_q = _dot(nx, dig) - n * digamma(q) + n * math.log(g) - float(log_gmx.sum())
        g_g = n * q / g - _dot(row_px_q, (1.0 / (g + self.mx)))
        grad = np.array([g_p * p, g_q * q, g_g * g])
        return -ll / n, -grad / n


def gamma_gamma_fit(x: ArrayLike, m: ArrayLike) -> GammaGammaFit:
    """Fit the Gamma-Gamma spend model on customers with x > 0 (rows with x = 0 are ignored)."""
    started = time.perf_counter()
    x, m = _as_float(x), _as_float(m)
    if x.shape != m.shape:
        raise ValueError("x and m must have the same length")
    keep = x > 0
    x, m = x[keep], m[keep]
    if x.size == 0:
        raise ValueError("cannot fit Gamma-Gamma without repeat customers")
    if np.any(m <= 0):
        raise ValueError("mean repeat spend must be positive for customers with x > 0")
    data = _GammaGammaData(x, m)
    # Start from p = q = 2 and gamma matching the mean spend (E[m] = p gamma / (q - 1)).
    start = np.log(np.array([2.0, 2.0, max(float(m.mean()) / 2.0, 1e-6)]))
    result = minimize(
        data.neg_mean_loglik, start, jac=True, method="L-BFGS-B", bounds=[_LOG_BOUNDS] * 3, options=_OPT_OPTIONS
    )
    p, q, g = (float(v) for v in np.exp(result.x))
    return GammaGammaFit(
        params=GammaGammaParams(p=p, q=q, gamma=g),
        loglik=float(-result.fun * data.n),
        n_customers=int(x.size),
        iterations=int(result.nit),
        converged=_converged(result),
        message=str(result.message),
        duration_s=time.perf_counter() - started,
    )


def gamma_gamma_expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """E[spend per purchase | x, m] (Fader & Hardie 2013 eq. 5): p(gamma + x m) / (p x + q - 1).

    For x = 0 this is the population mean p gamma / (q - 1). Needs q > 1 (finite mean).
    """
    x, m = _as_float(x), _as_float(m)
    p, q, g = params.p, params.q, params.gamma
    m = np.where(x > 0, m, 0.0)
    return p * (g + x * m) / (p * x + q - 1.0)


# --------------------------------------------------------------------------- CLV


def discounted_expected_purchases(
    bgnbd: BGNBDParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    months: int = 12,
    annual_discount_rate: float = 0.10,
) -> FloatArray:
    """sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + d)^k over the next `months` months.

    t_k = k months (in weeks: k * 52/12) and d = (1 + annual rate)^(1/12) - 1 is the
    monthly discount rate: the purchases expected in each month are valued at its end.
    With a zero rate this is E[Y(horizon)].
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    monthly = (1.0 + annual_discount_rate) ** (1.0 / 12.0) - 1.0
    # Depends on (x, t_x, T) only: evaluate 2F1 once per distinct row.
    gx, gt, gT, _, inverse = group_customers(x, t_x, T)
    discounted = np.zeros_like(gx)
    previous = np.zeros_like(gx)
    for k in range(1, months + 1):
        cumulative = bgnbd_expected_purchases(bgnbd, k * WEEKS_PER_MONTH, gx, gt, gT)
        discounted += (cumulative - previous) / (1.0 + monthly) ** k
        previous = cumulative
    return discounted[inverse]


def discounted_clv(
    bgnbd: BGNBDParams,
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
    Gamma-Gamma spend times the BG/NBD purchases of each coming month, each month
    discounted at the monthly equivalent of `annual_discount_rate`.
    """
    spend = gamma_gamma_expected_spend(gamma_gamma, x, m)
    purchases = discounted_expected_purchases(
        bgnbd, x, t_x, T, months=months, annual_discount_rate=annual_discount_rate
    )
    return margin * spend * purchases


# ---------------------------------------------------------------------- simulation


def simulate_customers(
    n: int,
    *,
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    max_age_days: int = 3 * 365,
    seed: int = 0,
) -> CustomerSummary:
    """Draw `n` customers from the BG/NBD and Gamma-Gamma processes (for tests and benchmarks).

    Each customer's first purchase lies uniformly in the last `max_age_days` days (T in whole
    days, as in a real base). While alive they buy at rate lambda ~ Gamma(r, alpha) per week;
    after each repeat purchase they drop out with probability p ~ Beta(a, b), so the number of
    repeat purchases they would ever make is Geometric(p). Given n Poisson arrivals in (0, T],
    the x-th arrival time is T * Beta(x, n - x + 1). Times are rounded down to whole days.
    Spend per purchase is Gamma(p, nu), nu ~ Gamma(q, gamma), so the mean of x purchases is
    Gamma(p x, nu) / x, rounded to cents.
    """
    rng = np.random.default_rng(seed)
    T_days = rng.integers(1, max_age_days + 1, size=n)
    T = T_days / DAYS_PER_WEEK
    lam = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, size=n)
    p_drop = rng.beta(bgnbd.a, bgnbd.b, size=n)
    lifetime_purchases = rng.geometric(np.clip(p_drop, 1e-12, 1.0))
    arrivals = rng.poisson(lam * T)
    x = np.minimum(arrivals, lifetime_purchases).astype(np.int64)
    t_x = np.zeros(n)
    pos = x > 0
    t_x[pos] = T[pos] * rng.beta(x[pos], arrivals[pos] - x[pos] + 1)
    # Whole days; the last purchase may not fall on day 0 when x > 0, nor after T.
    t_days = np.clip(np.floor(t_x * DAYS_PER_WEEK), 1, T_days) * pos
    # Two purchases on one day merge into one, so x cannot exceed the days available.
    x = np.minimum(x, t_days).astype(np.float64)
    nu = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, size=n)
    m = np.zeros(n)
    m[pos] = np.round(rng.gamma(gamma_gamma.p * x[pos], 1.0 / nu[pos]) / x[pos], 2)
    m[pos] = np.maximum(m[pos], 0.01)
    return CustomerSummary(
        customer_ids=np.arange(1, n + 1),
        x=x,
        t_x=t_days / DAYS_PER_WEEK,
        T=T_days / DAYS_PER_WEEK,
        m=m,
    )
