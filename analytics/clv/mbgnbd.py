"""MBG/NBD (Batislam, Denizel & Filiztekin 2007), by maximum likelihood on grouped customers.

BG/NBD with one change: a customer may also drop out right after the FIRST purchase (the
dropout coin is tossed at every purchase, the first one included). So a one-time buyer who
has been silent for a long time is no longer certainly alive, which is what a CRM's stage
"churned" needs to agree with. Likelihood of (x, t_x, T):

    L = Gamma(r+x) alpha^r / Gamma(r) * B(a, b+x+1) / B(a, b)
        * [ (alpha+T)^-(r+x) + a / (b+x) * (alpha+t_x)^-(r+x) ]

The same structure as BG/NBD (analytics.clv.bgnbd): x-only terms as finite sums over j <= x,
the bracket in log space, an analytic gradient in log-parameters.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

from analytics.clv.common import (
    _LOG_BOUNDS,
    _OPT_OPTIONS,
    FloatArray,
    GroupedCustomers,
    PurchaseFit,
    _as_float,
    _converged,
    _dot,
    initial_rate,
    two_state_mixture,
)


@dataclass(frozen=True, slots=True)
class MBGNBDParams:
    """MBG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout at each purchase ~ Beta(a, b); weeks."""

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class _MBGNBDData:
    """Precomputed structure of the MBG/NBD likelihood for one grouped data set."""

    n_params = 4

    def __init__(
        self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray, grouped: GroupedCustomers | None = None
    ) -> None:
        g = grouped if grouped is not None else GroupedCustomers(x, t_x, T, w)
        self.g = g
        self.total_weight = g.total_weight
        self.ux, self.wx = g.ux, g.wx
        self.ux_int = self.ux.astype(np.int64)
        # B(a, b+x+1)/B(a, b) is a product over j = 0..x: one more factor than BG/NBD.
        self.j = np.arange(int(self.ux_int.max()) + 1 if self.ux_int.size else 0, dtype=np.float64)

    def neg_mean_loglik(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """Negative mean log-likelihood and its gradient in log-parameters."""
        r, alpha, a, b = np.exp(log_params)
        wx, j = self.wx, self.j
        log_ratio = np.log1p(-a / (a + b + j))  # log((b+j)/(a+b+j))
        inv_ab = 1.0 / (a + b + j)
        inv_b = 1.0 / (b + j)
        jr = j[:-1] if j.size else j
        lg = np.concatenate([[0.0], np.cumsum(np.log(r + jr))])
        dg = np.concatenate([[0.0], np.cumsum(1.0 / (r + jr))])
        beta_terms = np.cumsum(np.stack([log_ratio, inv_ab, inv_b]), axis=1)
        lg_r, dg_r = lg[self.ux_int], dg[self.ux_int]
        a2, sum_inv_ab, sum_inv_b = beta_terms[:, self.ux_int]  # sums over j = 0..x
        n = self.total_weight
        ll = _dot(wx, lg_r + a2) + r * math.log(alpha) * n
        g_r = _dot(wx, dg_r) + math.log(alpha) * n
        g_alpha = r / alpha * n
        g_a = -_dot(wx, sum_inv_ab)
        g_b = _dot(wx, sum_inv_b - sum_inv_ab)

        # log( (alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x) ), every customer (x = 0 included),
        # each term per (x, T) or (x, t_x) pair (see PairIndex).
        al, de = self.g.alive, self.g.dead
        rx_T = r + self.ux[al.x_index]
        rx_t = r + self.ux[de.x_index]
        log_aT = np.log(alpha + al.t)
        log_at = np.log(alpha + de.t)
        A3 = -rx_T * log_aT
        A4 = (math.log(a) - np.log(b + self.ux))[de.x_index] - rx_t * log_at
        total, s3, s4 = two_state_mixture(A3, A4, self.g)
        ll += total
        g_r -= _dot(s3, log_aT) + _dot(s4, log_at)
        g_alpha -= _dot(s3, rx_T / (alpha + al.t)) + _dot(s4, rx_t / (alpha + de.t))
        g_a += float(s4.sum()) / a
        g_b -= _dot(s4, 1.0 / (b + self.ux[de.x_index]))
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return -ll / n, -grad / n


def mbgnbd_loglik(params: MBGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Per-customer MBG/NBD log-likelihood, straight from the formula (the check on the grouped objective)."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x + 1.0) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return a1 + a2 + np.logaddexp(a3, a4)


def mbgnbd_fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    group: bool = True,
    grouped: GroupedCustomers | None = None,
) -> PurchaseFit:
    """Fit MBG/NBD by maximum likelihood (L-BFGS-B on log-parameters, analytic gradient, grouped customers)."""
    started = time.perf_counter()
    if grouped is None:
        grouped = GroupedCustomers.of(x, t_x, T, weights, group)
    x, T, w = grouped.x, grouped.T, grouped.w
    data = _MBGNBDData(x, grouped.t_x, T, w, grouped)
    start = np.log(np.array([1.0, 1.0 / initial_rate(x, T, w), 1.0, 1.0]))
    result = minimize(
        data.neg_mean_loglik, start, jac=True, method="L-BFGS-B", bounds=[_LOG_BOUNDS] * 4, options=_OPT_OPTIONS
    )
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return PurchaseFit(
        model="mbgnbd",
        params=MBGNBDParams(r=r, alpha=alpha, a=a, b=b),
        loglik=float(-result.fun * data.total_weight),
        n_customers=round(data.total_weight),
        n_groups=int(x.size),
        iterations=int(result.nit),
        converged=_converged(result),
        message=str(result.message),
        duration_s=time.perf_counter() - started,
    )


def _log_dead_odds(params: MBGNBDParams, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))


def mbgnbd_probability_alive(params: MBGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)); below 1 for one-time buyers."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    return expit(-_log_dead_odds(params, x, t_x, T))


def mbgnbd_expected_purchases(
    params: MBGNBDParams, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next `t` weeks.

    (a+b+x)/(a-1) * [1 - (1-z)^(r+x) 2F1(r+x, b+x+1; a+b+x; z)] * P(alive), z = t/(alpha+T+t),
    with the factor (1-z)^(r+x) 2F1(...) taken in whichever of it and its Euler transform
    (1-z)^(a-1) 2F1(a+b-r, a-1; a+b+x; z) has the smaller power, as for BG/NBD.
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
        tail[textbook] = np.power(1.0 - zt, r + xt) * hyp2f1(r + xt, b + xt + 1.0, a + b + xt, zt)
    if euler.any():
        ze, xe = z[euler], x[euler]
        tail[euler] = np.power(1.0 - ze, a - 1.0) * hyp2f1(a + b - r, a - 1.0, a + b + xe, ze)
    p_alive = expit(-_log_dead_odds(params, x, t_x, T))
    return (a + b + x) / (a - 1.0) * (1.0 - tail) * p_alive


def mbgnbd_expected_purchases_new_customer(params: MBGNBDParams, t: float | ArrayLike) -> FloatArray:
    """E[X(t)] for a customer just acquired: b/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]."""
    t = _as_float(t)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    tail = np.power(alpha / (alpha + t), r) * hyp2f1(r, b + 1.0, a + b, t / (alpha + t))
    return b / (a - 1.0) * (1.0 - tail)
