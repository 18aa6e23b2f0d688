"""Synthetic customer bases drawn from the BG/NBD and Gamma-Gamma processes (tests and benchmarks)."""

from __future__ import annotations

import numpy as np

from analytics.clv.bgnbd import BGNBDParams
from analytics.clv.common import DAYS_PER_WEEK, CustomerSummary
from analytics.clv.gamma_gamma import GammaGammaParams


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


def simulate_purchase_days(
    n: int,
    *,
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    history_days: int = 3 * 365,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Purchase rows (customer id, day number 0..history_days-1, amount) drawn from BG/NBD and Gamma-Gamma.

    What the backtest needs (purchase days, not summaries). Each customer's first purchase
    day is uniform over the history; while alive they buy at lambda ~ Gamma(r, alpha) per
    week and drop out after each repeat purchase with p ~ Beta(a, b). Given the Poisson
    count of would-be purchases up to the end, their times are uniform order statistics;
    the first min(count, lifetime purchases) are kept. Vectorised over all customers.
    """
    rng = np.random.default_rng(seed)
    first = rng.integers(0, history_days, size=n)
    age_days = history_days - 1 - first
    lam = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, size=n)
    p_drop = rng.beta(bgnbd.a, bgnbd.b, size=n)
    lifetime = rng.geometric(np.clip(p_drop, 1e-12, 1.0))
    arrivals = rng.poisson(lam * age_days / DAYS_PER_WEEK)
    owner = np.repeat(np.arange(n), arrivals)
    offsets = rng.random(owner.size)
    order = np.lexsort((offsets, owner))
    owner, offsets = owner[order], offsets[order]
    starts = np.cumsum(arrivals) - arrivals
    rank = np.arange(owner.size) - starts[owner]
    keep = rank < lifetime[owner]
    owner, offsets = owner[keep], offsets[keep]
    repeat_days = first[owner] + 1 + np.minimum(np.floor(offsets * age_days[owner]), age_days[owner] - 1)
    ids = np.concatenate([np.arange(n), owner]) + 1
    days = np.concatenate([first, repeat_days.astype(np.int64)])
    nu = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, size=n)
    amounts = np.round(rng.gamma(gamma_gamma.p, 1.0 / nu[ids - 1]), 2) + 0.01
    return ids, days, amounts
