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
    GroupedCustomers,
    PairIndex,
    PurchaseFit,
    _as_float,
    _converged,
    _dot,
    initial_rate,
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


def _series_coefficients(b: FloatArray, c: FloatArray, terms: int, grad: bool) -> list[FloatArray]:
    """Per distinct x (rows), the coefficients of z^k (columns): P_k, and for the gradient P_k*H_b, -P_k*H_c, k*P_k."""
    k = np.arange(terms, dtype=np.float64)
    bj = b[:, None] + k[None, :-1]
    cj = c[:, None] + k[None, :-1]
    zero = np.zeros((b.size, 1))
    coef = np.exp(np.concatenate([zero, np.cumsum(np.log(bj / cj), axis=1)], axis=1))
    out = [coef]
    if grad:
        hb = np.concatenate([zero, np.cumsum(1.0 / bj, axis=1)], axis=1)
        hc = np.concatenate([zero, np.cumsum(1.0 / cj, axis=1)], axis=1)
        out += [coef * hb, -coef * hc, coef * k[None, :]]
    return out


def _terms_needed(z: FloatArray) -> NDArray[np.int64]:
    with np.errstate(divide="ignore"):
        own = np.where(z > 0.0, np.ceil(math.log(_SERIES_EPS) / np.log(np.maximum(z, 1e-300))) + 1.0, 1.0)
    return np.minimum(own, _SERIES_MAX_TERMS).astype(np.int64)


def _series(b: FloatArray, c: FloatArray, pairs: PairIndex, z_of_t: FloatArray, grad: bool) -> list[FloatArray]:
    """2F1(1, b; c; z) per pair, and its partial derivatives in b, c and z when `grad` (S, Sb, Sc, Sz).

    Two ways, the cheaper for the shape at hand: with few distinct x and t, the whole grid
    (distinct x) x (distinct t) as matrix products of the coefficients and the powers of z;
    otherwise term by term over the pairs, where a pair leaves the sum once z^k < eps (pairs
    are sorted by t, so by z descending, and the pairs still summing are a prefix).
    """
    z_all = z_of_t  # z per distinct t (descending)
    own = _terms_needed(z_all)
    terms = int(own.max()) if own.size else 1
    coefs = _series_coefficients(b, c, terms, grad)
    if b.size * z_all.size <= 4 * pairs.size:
        k = np.arange(terms, dtype=np.float64)
        powers = np.power(z_all[:, None], k[None, :])
        results = [coefs[0] @ powers.T]
        if grad:
            dpow = np.zeros_like(powers)
            dpow[:, 1:] = k[None, 1:] * powers[:, :-1]
            results += [coefs[1] @ powers.T, coefs[2] @ powers.T, coefs[3] @ dpow.T]
        return [grid[pairs.x_index, pairs.t_index] for grid in results]
    z = z_all[pairs.t_index]
    active = np.searchsorted(-own[pairs.t_index], -np.arange(terms), side="left")
    columns = [np.ascontiguousarray(m.T) for m in coefs]  # (terms, n_x): one row per power
    sums = [np.zeros(pairs.size) for _ in columns]
    power = np.ones(pairs.size)
    previous = np.zeros(pairs.size)  # z^(k-1), for d/dz
    for step in range(terms):
        m = int(active[step])
        if m == 0:
            break
        rows = pairs.x_index[:m]
        for j, (col, acc) in enumerate(zip(columns, sums, strict=True)):
            acc[:m] += col[step][rows] * (previous[:m] if j == 3 else power[:m])
        previous[:m] = power[:m]
        power[:m] *= z[:m]
    return sums


def _log_F(
    r: float, alpha: float, s: float, beta: float, ux: FloatArray, pairs: PairIndex, grad: bool
) -> dict[str, FloatArray]:
    """log F(x, t) = log((r+s+x) I(t)) per distinct (x, t) pair, with d/d(r, alpha, s, beta)."""
    pt = pairs.t
    rx = r + ux[pairs.x_index]
    la = np.log(alpha + pt)
    lb = np.log(beta + pt)
    c = r + s + ux + 1.0
    if alpha >= beta:
        ser = _series(r + ux, c, pairs, (alpha - beta) / (alpha + pairs.ut), grad)
        log_f = -s * lb - rx * la + np.log(ser[0])
    else:
        ser = _series(np.full_like(ux, s + 1.0), c, pairs, (beta - alpha) / (beta + pairs.ut), grad)
        log_f = (1.0 - rx) * la - (s + 1.0) * lb + np.log(ser[0])
    out = {"logF": log_f}
    if not grad:
        return out
    S = ser[0]
    l_b, l_c, l_z = ser[1] / S, ser[2] / S, ser[3] / S
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
    """Precomputed structure of the Pareto/NBD likelihood for one grouped data set.

    Per row the likelihood's bracket is exp(u) + exp(v) - exp(w) with u and w functions of
    the (x, T) pair and v of the (x, t_x) pair: u - w is combined per (x, T) pair first
    (q = exp(u) - exp(w), either sign), so a row only adds exp(v) and q in log space, and the
    gradient's row weights are scattered back to the pairs with bincount.
    """

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
        self.alive, self.dead, self.w = g.alive, g.dead, g.w  # (x, T): the u and w terms; (x, t_x): v

    def terms(self, params: FloatArray, grad: bool) -> dict[str, FloatArray]:
        """Per row log D (the bracket) and P(alive); with `grad` the pair-level pieces of the gradient."""
        r, alpha, s, beta = params
        al, de = self.alive, self.dead
        ft = _log_F(r, alpha, s, beta, self.ux, de, grad)
        fT = _log_F(r, alpha, s, beta, self.ux, al, grad)
        log_s = math.log(s)
        x_T = self.ux[al.x_index]
        log_aT = np.log(alpha + al.t)
        log_bT = np.log(beta + al.t)
        u = -(r + x_T) * log_aT - s * log_bT
        w_T = log_s + fT["logF"] - np.log(r + s + x_T)
        v_t = log_s + ft["logF"] - np.log(r + s + self.ux[de.x_index])
        top = np.maximum(u, w_T)
        eu, ew = np.exp(u - top), np.exp(w_T - top)
        # Per row: D = exp(v) + (exp(u) - exp(w)) = exp(v) + exp(top) * (eu - ew).
        v = v_t[de.row]
        top_row = top[al.row]
        m = np.maximum(v, top_row)
        inner = np.exp(v - m) + (eu - ew)[al.row] * np.exp(top_row - m)
        # D is positive (I(t_x) >= I(T)); rounding may leave a tiny negative where v == w exactly.
        log_d = m + np.log(np.maximum(inner, 1e-300))
        rho = np.exp(top_row - log_d)  # exp(top) / D per row
        out = {"logD": log_d, "p_alive": eu[al.row] * rho}
        if grad:
            out.update(ft=ft, fT=fT, eu=eu, ew=ew, rho=rho, omega_v=np.exp(v - log_d), log_aT=log_aT, log_bT=log_bT)
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
        al, de = self.alive, self.dead
        s_v = de.sum(w * t["omega_v"])  # per (x, t_x) pair: sum of w exp(v)/D
        s_q = al.sum(w * t["rho"])  # per (x, T) pair: sum of w exp(top)/D
        eu, ew, ft, fT = t["eu"], t["ew"], t["ft"], t["fT"]
        x_T = self.ux[al.x_index]
        inv_rsx_T = 1.0 / (r + s + x_T)
        inv_rsx_t = 1.0 / (r + s + self.ux[de.x_index])
        # d log D = [exp(v) dv + exp(top) (eu du - ew dw)] / D, summed with the pair weights.
        dv = {
            "r": ft["dr"] - inv_rsx_t,
            "s": 1.0 / s + ft["ds"] - inv_rsx_t,
            "alpha": ft["dalpha"],
            "beta": ft["dbeta"],
        }
        du = {"r": -t["log_aT"], "s": -t["log_bT"], "alpha": -(r + x_T) / (alpha + al.t), "beta": -s / (beta + al.t)}
        dw = {
            "r": fT["dr"] - inv_rsx_T,
            "s": 1.0 / s + fT["ds"] - inv_rsx_T,
            "alpha": fT["dalpha"],
            "beta": fT["dbeta"],
        }

        def d_log_d(key: str) -> float:
            return _dot(s_v, dv[key]) + _dot(s_q, eu * du[key] - ew * dw[key])

        g_r = _dot(wx, dg) + n * math.log(alpha) + d_log_d("r")
        g_alpha = n * r / alpha + d_log_d("alpha")
        g_s = n * math.log(beta) + d_log_d("s")
        g_beta = n * s / beta + d_log_d("beta")
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
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    group: bool = True,
    grouped: GroupedCustomers | None = None,
) -> PurchaseFit:
    """Fit Pareto/NBD by maximum likelihood (L-BFGS-B on log-parameters, analytic gradient, grouped customers)."""
    started = time.perf_counter()
    if grouped is None:
        grouped = GroupedCustomers.of(x, t_x, T, weights, group)
    x, T, w = grouped.x, grouped.T, grouped.w
    data = _ParetoNBDData(x, grouped.t_x, T, w, grouped)
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
