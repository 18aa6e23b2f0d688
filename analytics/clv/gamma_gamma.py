"""Gamma-Gamma spend model (Fader & Hardie 2013), fitted by maximum likelihood.

The spend of each purchase is Gamma(p, nu) with nu ~ Gamma(q, gamma); fitted on customers
with at least one repeat purchase from their mean repeat spend m. It assumes spend is
independent of purchase frequency, and has a finite mean only when q > 1: the service
checks both before using it (see analytics.clv.spend).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from analytics.clv.common import _LOG_BOUNDS, _OPT_OPTIONS, FloatArray, _as_float, _converged, _dot


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


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
