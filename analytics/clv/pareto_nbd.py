"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), by maximum likelihood on grouped customers.

While alive a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); their lifetime is
exponential with rate mu ~ Gamma(s, beta), so dropout can happen at any time, also before
a first repeat purchase. Following Fader & Hardie's note ("A Note on Implementing the
Pareto/NBD Model in MATLAB", 2005), with I(t) = integral from t to infinity of
(alpha+u)^-(r+x) (beta+u)^-(s+1) du:

    L = Gamma(r+x) alpha^r beta^s / Gamma(r)
        * [ (alpha+T)^-(r+x) (beta+T)^-s + s (I(t_x) - I(T)) ]

The textbook I(t) is 2F1(r+s+x, s+1; r+s+x+1; z) / (r+s+x) / (alpha+t)^(r+s+x) (when
alpha >= beta; symmetric otherwise): for a heavy buyer or a long age the power underflows
and the 2F1 overflows. Here Euler's transformation turns it into a power in log space times
2F1(1, b; c; z) = sum_k prod_{j<k} (b+j)/(c+j) z^k with c > b and 0 <= z < 1: every term is
positive and at most z^k, so the sum lies in [1, 1/(1-z)] and is never near overflow. The
series coefficients depend on x only and the powers of z on t only, so the sums (and their
derivatives in b, c and z, for an analytic gradient) for all distinct x and t are a few
matrix products.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import gammaln

from analytics.clv.common import (
    _LOG_BOUNDS,
    _OPT_OPTIONS,
    FloatArray,
    PurchaseFit,
    _as_float,
    _converged,
    _dot,
    initial_rate,
    prepare_inputs,
)

# The series is truncated where z^K < 1e-17 (its terms are below z^k); K is capped so that a
# line search wandering to alpha/beta beyond ~100 costs time, not memory.
_SERIES_EPS = 1e-17
_SERIES_MAX_TERMS = 4000


@dataclass(frozen=True, slots=True)
class ParetoNBDParams:
    """Pareto/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta); weeks."""

    r: float
    alpha: float
    s: float
    beta: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _pairs(xi: NDArray[np.intp], t: FloatArray, n_x: int) -> tuple[NDArray[np.intp], FloatArray, NDArray[np.intp]]:
    """Distinct (x, t) pairs sorted by t ascending (so by z descending for any parameters).

    Returns the x index of each pair, its t, and each row's pair.
    """
    ut, ti = np.unique(t, return_inverse=True)
    key = ti.astype(np.int64) * n_x + xi
    ukey, inverse = np.unique(key, return_inverse=True)
    return (ukey % n_x).astype(np.intp), ut[ukey // n_x], inverse.reshape(-1)


def _series(b: FloatArray, c: FloatArray, pxi: NDArray[np.intp], z: FloatArray, grad: bool) -> dict[str, FloatArray]:
    """2F1(1, b; c; z) and its partial derivatives in b, c and z, per pair (row pxi of b, c; z descending).

    Summed term by term over all pairs at once; a pair leaves the sum once z^k < eps, and as
    z is sorted descending the pairs still summing are always a prefix, so each pair costs
    only its own number of terms.
    """
    n = z.size
    with np.errstate(divide="ignore"):
        own = np.where(z > 0.0, np.ceil(math.log(_SERIES_EPS) / np.log(np.maximum(z, 1e-300))) + 1.0, 1.0)
    own = np.minimum(own, _SERIES_MAX_TERMS).astype(np.int64)
    terms = int(own.max()) if n else 1
    # Nonincreasing along the pairs (z is descending): pairs still summing at step k are a prefix.
    active = np.searchsorted(-own, -np.arange(terms), side="left")
    k = np.arange(terms, dtype=np.float64)
    bj = b[:, None] + k[None, :-1]
    cj = c[:, None] + k[None, :-1]
    zero = np.zeros((b.size, 1))
    coef = np.exp(np.concatenate([zero, np.cumsum(np.log(bj / cj), axis=1)], axis=1))
    series = [coef]
    if grad:
        hb = np.concatenate([zero, np.cumsum(1.0 / bj, axis=1)], axis=1)
        hc = np.concatenate([zero, np.cumsum(1.0 / cj, axis=1)], axis=1)
        series += [coef * hb, -coef * hc, coef * k[None, :]]
    columns = [np.ascontiguousarray(m.T) for m in series]  # (terms, n_x): one row per power
    sums = [np.zeros(n) for _ in columns]
    power = np.ones(n)  # z^k on the active prefix
    previous = np.zeros(n)  # z^(k-1), for d/dz
    for step in range(terms):
        m = int(active[step])
        if m == 0:
            break
        rows = pxi[:m]
        for j, (col, acc) in enumerate(zip(columns, sums, strict=True)):
            if j == 3:
                acc[:m] += col[step][rows] * previous[:m]
            else:
                acc[:m] += col[step][rows] * power[:m]
        previous[:m] = power[:m]
        power[:m] *= z[:m]
    out = {"S": sums[0]}
    if grad:
        out.update(Sb=sums[1], Sc=sums[2], Sz=sums[3])
    return out


def _log_F(
    r: float, alpha: float, s: float, beta: float, ux: FloatArray, pxi: NDArray[np.intp], pt: FloatArray, grad: bool
) -> dict[str, FloatArray]:
    """log F(x, t) = log((r+s+x) I(t)) per distinct (x, t) pair, with d/d(r, alpha, s, beta)."""
    rx = r + ux[pxi]
    la = np.log(alpha + pt)
    lb = np.log(beta + pt)
    c = r + s + ux + 1.0
    if alpha >= beta:
        z = (alpha - beta) / (alpha + pt)
        ser = _series(r + ux, c, pxi, z, grad)
        log_f = -s * lb - rx * la + np.log(ser["S"])
    else:
        z = (beta - alpha) / (beta + pt)
        ser = _series(np.full_like(ux, s + 1.0), c, pxi, z, grad)
        log_f = (1.0 - rx) * la - (s + 1.0) * lb + np.log(ser["S"])
    out = {"logF": log_f}
    if not grad:
        return out
    S = ser["S"]
    l_b, l_c, l_z = ser["Sb"] / S, ser["Sc"] / S, ser["Sz"] / S
    inv_a = 1.0 / (alpha + pt)
    inv_b = 1.0 / (beta + pt)
    if alpha >= beta:
        out["dr"] = -la + l_b + l_c
        out["ds"] = -lb + l_c
        out["dalpha"] = -rx * inv_a + l_z * (beta + pt) * inv_a**2
        out["dbeta"] = -s * inv_b - l_z * inv_a
    else:
        out["dr"] = -la + l_c
        out["ds"] = -lb + l_b + l_c
        out["dalpha"] = (1.0 - rx) * inv_a - l_z * inv_b
        out["dbeta"] = -(s + 1.0) * inv_b + l_z * (alpha + pt) * inv_b**2
    return out


class _ParetoNBDData:
    """Precomputed structure of the Pareto/NBD likelihood for one grouped data set."""

    n_params = 4

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.total_weight = float(w.sum())
        self.ux, self.xi = np.unique(x, return_inverse=True)
        self.wx = np.bincount(self.xi, weights=w, minlength=self.ux.size)
        self.ux_int = self.ux.astype(np.int64)
        self.j = np.arange(int(self.ux_int.max()) if self.ux_int.size else 0, dtype=np.float64)
        # I(t_x) and I(T) depend on (x, t) pairs only: far fewer than customers or (x, t_x, T) rows.
        self.t_pxi, self.t_pt, self.ti = _pairs(self.xi, t_x, self.ux.size)
        self.T_pxi, self.T_pt, self.Ti = _pairs(self.xi, T, self.ux.size)
        self.x, self.T, self.w = x, T, w

    def terms(self, params: FloatArray, grad: bool) -> dict[str, FloatArray]:
        """Per-row u = log P(data, alive at T) part, v and w (the two I terms), their mix and gradients."""
        r, alpha, s, beta = params
        x, T = self.x, self.T
        ft = _log_F(r, alpha, s, beta, self.ux, self.t_pxi, self.t_pt, grad)
        fT = _log_F(r, alpha, s, beta, self.ux, self.T_pxi, self.T_pt, grad)
        log_rsx = np.log(r + s + self.ux)[self.xi]
        log_aT = np.log(alpha + T)
        log_bT = np.log(beta + T)
        u = -(r + x) * log_aT - s * log_bT
        v = math.log(s) + ft["logF"][self.ti] - log_rsx
        w = math.log(s) + fT["logF"][self.Ti] - log_rsx
        m = np.maximum(u, v)
        eu, ev, ew = np.exp(u - m), np.exp(v - m), np.exp(w - m)
        # I(t_x) >= I(T), so ev >= ew; eu > 0 keeps the sum positive even when they cancel.
        total = eu + np.maximum(ev - ew, 0.0)
        out = {"logD": m + np.log(total), "p_alive": eu / total}
        if grad:
            out.update(ft=ft, fT=fT, wu=eu / total, wv=ev / total, ww=ew / total, log_aT=log_aT, log_bT=log_bT)
        return out

    def neg_mean_loglik(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """Negative mean log-likelihood and its gradient in log-parameters."""
        params = np.exp(log_params)
        r, alpha, s, beta = params
        n, wx, j = self.total_weight, self.wx, self.j
        lg = np.concatenate([[0.0], np.cumsum(np.log(r + j))])[self.ux_int]
        dg = np.concatenate([[0.0], np.cumsum(1.0 / (r + j))])[self.ux_int]
        t = self.terms(params, grad=True)
        w = self.w
        ll = _dot(wx, lg) + n * (r * math.log(alpha) + s * math.log(beta)) + _dot(w, t["logD"])
        xi, ti, Ti, x, T = self.xi, self.ti, self.Ti, self.x, self.T
        wu, wv, ww = t["wu"], t["wv"], t["ww"]
        ft, fT = t["ft"], t["fT"]
        inv_rsx = (1.0 / (r + s + self.ux))[xi]

        def mix(key: str) -> FloatArray:
            return wv * ft[key][ti] - ww * fT[key][Ti]

        d_r = -wu * t["log_aT"] + mix("dr") - (wv - ww) * inv_rsx
        d_s = -wu * t["log_bT"] + mix("ds") + (wv - ww) * (1.0 / s - inv_rsx)
        d_alpha = -wu * (r + x) / (alpha + T) + mix("dalpha")
        d_beta = -wu * s / (beta + T) + mix("dbeta")
        g_r = _dot(wx, dg) + n * math.log(alpha) + _dot(w, d_r)
        g_alpha = n * r / alpha + _dot(w, d_alpha)
        g_s = n * math.log(beta) + _dot(w, d_s)
        g_beta = n * s / beta + _dot(w, d_beta)
        grad = np.array([g_r * r, g_alpha * alpha, g_s * s, g_beta * beta])
        return -ll / n, -grad / n


def pareto_nbd_loglik(params: ParetoNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Per-customer Pareto/NBD log-likelihood (in log space; stable for large x and T)."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    data = _ParetoNBDData(x, t_x, T, np.ones_like(x))
    p = params
    terms = data.terms(np.array([p.r, p.alpha, p.s, p.beta]), grad=False)
    return gammaln(p.r + x) - gammaln(p.r) + p.r * np.log(p.alpha) + p.s * np.log(p.beta) + terms["logD"]


def pareto_nbd_fit(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None, group: bool = True
) -> PurchaseFit:
    """Fit Pareto/NBD by maximum likelihood (L-BFGS-B on log-parameters, analytic gradient, grouped customers)."""
    started = time.perf_counter()
    x, t_x, T, w = prepare_inputs(x, t_x, T, weights, group)
    data = _ParetoNBDData(x, t_x, T, w)
    # alpha from the mean purchase rate; beta a little above it so the series starts short.
    alpha0 = 1.0 / initial_rate(x, T, w)
    start = np.log(np.array([1.0, alpha0, 1.0, alpha0 * 1.1]))
    result = minimize(
        data.neg_mean_loglik, start, jac=True, method="L-BFGS-B", bounds=[_LOG_BOUNDS] * 4, options=_OPT_OPTIONS
    )
    r, alpha, s, beta = (float(v) for v in np.exp(result.x))
    return PurchaseFit(
        model="pareto_nbd",
        params=ParetoNBDParams(r=r, alpha=alpha, s=s, beta=beta),
        loglik=float(-result.fun * data.total_weight),
        n_customers=round(data.total_weight),
        n_groups=int(x.size),
        iterations=int(result.nit),
        converged=_converged(result),
        message=str(result.message),
        duration_s=time.perf_counter() - started,
    )


def pareto_nbd_probability_alive(params: ParetoNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T): the 'still alive' share of the likelihood; below 1 for one-time buyers."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    if x.size == 0:
        return np.empty(0)
    data = _ParetoNBDData(x, t_x, T, np.ones_like(x))
    p = params
    return data.terms(np.array([p.r, p.alpha, p.s, p.beta]), grad=False)["p_alive"]


def _lifetime_factor(s: float, base: FloatArray, t: FloatArray) -> FloatArray:
    """base/(s-1) * [1 - (base/(base+t))^(s-1)], with its limit base*log(1+t/base) at s = 1."""
    log_growth = np.log1p(t / base)
    if abs(s - 1.0) < 1e-9:
        return base * log_growth
    return base * -np.expm1(-(s - 1.0) * log_growth) / (s - 1.0)


def pareto_nbd_expected_purchases(
    params: ParetoNBDParams, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T] = (r+x)/(alpha+T) * (beta+T)/(s-1) [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive)."""
    x, t_x, T = _as_float(x), _as_float(t_x), _as_float(T)
    t = _as_float(t)
    x, t_x, T, t = np.broadcast_arrays(x, t_x, T, t)
    p = params
    alive = pareto_nbd_probability_alive(p, x.ravel(), t_x.ravel(), T.ravel()).reshape(x.shape)
    return (p.r + x) / (p.alpha + T) * _lifetime_factor(p.s, p.beta + T, t) * alive


def pareto_nbd_expected_purchases_new_customer(params: ParetoNBDParams, t: float | ArrayLike) -> FloatArray:
    """E[X(t)] for a customer just acquired: r/alpha * beta/(s-1) [1 - (beta/(beta+t))^(s-1)]."""
    t = _as_float(t)
    p = params
    return p.r / p.alpha * _lifetime_factor(p.s, np.full_like(t, p.beta), t)
