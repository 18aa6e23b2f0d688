"""BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"), by maximum likelihood.

While alive a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each repeat
purchase they drop out with probability p ~ Beta(a, b). Nobody drops out before a first
repeat purchase, so every one-time buyer has P(alive) = 1: the weakness MBG/NBD and
Pareto/NBD fix (issue 18), and why the model is chosen on a holdout, not assumed.

Why it is fast: the likelihood depends on a customer only through (x, t_x, T), so
customers are grouped by those distinct triples with a weight each; terms that depend only
on x, T or t_x are evaluated once per distinct value and gathered; the gradient is
analytic; L-BFGS-B works on log-parameters. The conditional expectation uses the Euler
transform of 2F1, which stays finite where the textbook form over/underflows.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

from analytics.clv.common import (
    _LOG_BOUNDS,
    _OPT_OPTIONS,
    FloatArray,
    GroupedCustomers,
    _as_float,
    _converged,
    _dot,
    _validate_bgnbd_inputs,
    group_customers,
    two_state_mixture,
)


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

    @property
    def model(self) -> str:
        return "bgnbd"


# -------------------------------------------------------------------------- BG/NBD


class _BGNBDData:
    """Precomputed structure of the BG/NBD likelihood for one data set (see module doc)."""

    n_params = 4

    def __init__(
        self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray, grouped: GroupedCustomers | None = None
    ) -> None:
        g = grouped if grouped is not None else GroupedCustomers(x, t_x, T, w)
        self.g = g
        self.total_weight = g.total_weight
        self.ux, self.wx = g.ux, g.wx
        self.ux_int = self.ux.astype(np.int64)
        self.j = np.arange(int(self.ux_int.max()) if self.ux_int.size else 0, dtype=np.float64)
        # x = 0 customers cannot have dropped out (no repeat purchase yet): their A4 is -inf.
        self.dead_x = self.ux[g.dead.x_index]
        self.dead_possible = self.dead_x > 0

    def neg_mean_loglik(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """Negative mean log-likelihood and its gradient in log-parameters."""
        r, alpha, a, b = np.exp(log_params)
        wx, g = self.wx, self.g
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

        # log( exp(A3) + exp(A4) ), each term per pair (see PairIndex):
        #   A3 = -(r+x) log(alpha+T)                         (still alive at T)
        #   A4 = log a - log(b+x-1) - (r+x) log(alpha+t_x)   (dropped out after t_x; impossible when x = 0)
        al, de = g.alive, g.dead
        rx_T = r + self.ux[al.x_index]
        rx_t = r + self.dead_x
        log_aT = np.log(alpha + al.t)
        log_at = np.log(alpha + de.t)
        A3 = -rx_T * log_aT
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_bx = np.where(self.dead_possible, 1.0 / (b + self.dead_x - 1.0), 0.0)
            A4 = np.where(self.dead_possible, math.log(a) + np.log(inv_bx) - rx_t * log_at, -np.inf)
        total, s3, s4 = two_state_mixture(A3, A4, g)
        ll += total
        g_r -= _dot(s3, log_aT) + _dot(s4, log_at)
        g_alpha -= _dot(s3, rx_T / (alpha + al.t)) + _dot(s4, rx_t / (alpha + de.t))
        g_a += float(s4.sum()) / a
        g_b -= _dot(s4, inv_bx)

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
    grouped: GroupedCustomers | None = None,
) -> BGNBDFit:
    """Fit the BG/NBD model by maximum likelihood (L-BFGS-B on log-parameters).

    With `group=True` customers are first collapsed to distinct (x, t_x, T) rows with
    weights; `weights` may also be given for data that is grouped already, or `grouped`
    (then x, t_x and T are ignored) to share one grouping between models.
    """
    started = time.perf_counter()
    if grouped is None:
        x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
        _validate_bgnbd_inputs(x, t_x, T)
        if x.size == 0:
            raise ValueError("cannot fit BG/NBD on zero customers")
        w = np.ones_like(x) if weights is None else _as_float(weights)
        if group and weights is None:
            x, t_x, T, w, _ = group_customers(x, t_x, T)
        grouped = GroupedCustomers(x, t_x, T, w)
    x, T, w = grouped.x, grouped.T, grouped.w
    data = _BGNBDData(x, grouped.t_x, T, w, grouped)
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
