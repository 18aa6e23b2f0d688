"""MBG/NBD and Pareto/NBD maths (issue 18): CDNOW reference fits, gradients, stability against mpmath."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from analytics import clv
from tests.analytics.cdnow import CALIBRATION_END, TOLERANCE, load_cdnow, relative_error

# lifetimes 0.11.3 on the CDNOW calibration data (shared/data/README.md).
REFERENCE = {
    "bgnbd": {"params": {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}, "forecast": 1653.4, "alive": 1.00},
    "mbgnbd": {"params": {"r": 0.5248, "alpha": 6.1831, "a": 0.8914, "b": 1.6140}, "forecast": 1576.7, "alive": 0.41},
    "pareto_nbd": {
        "params": {"r": 0.5533, "alpha": 10.5776, "s": 0.6063, "beta": 11.6712},
        "forecast": 1665.5,
        "alive": 0.34,
    },
}
# Fader & Hardie's MATLAB note: the published Pareto/NBD log-likelihood on CDNOW.
PUBLISHED_PARETO_LOGLIK = -9595.0


@pytest.fixture(scope="module")
def cdnow() -> clv.CustomerSummary:
    rows = load_cdnow()
    return clv.summarize_purchases(
        [row.customer_id for row in rows],
        np.array([row.day for row in rows], dtype="datetime64[D]"),
        [float(row.dollars) for row in rows],
        observation_end=np.datetime64(CALIBRATION_END),
    )


@pytest.fixture(scope="module")
def fits(cdnow) -> dict[str, object]:
    return {name: model.fit(cdnow.x, cdnow.t_x, cdnow.T) for name, model in clv.MODELS.items()}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_each_model_reproduces_the_reference_cdnow_parameters(fits, name):
    fit = fits[name]
    assert fit.converged
    for key, expected in REFERENCE[name]["params"].items():
        assert relative_error(getattr(fit.params, key), expected) < TOLERANCE, (name, key)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_each_model_forecasts_the_cdnow_holdout_like_the_reference(cdnow, fits, name):
    model, params = clv.MODELS[name], fits[name].params
    forecast = model.expected_purchases(params, 39.0, cdnow.x, cdnow.t_x, cdnow.T).sum()
    assert relative_error(forecast, REFERENCE[name]["forecast"]) < 0.01
    alive = model.probability_alive(params, cdnow.x, cdnow.t_x, cdnow.T)[cdnow.x == 0].mean()
    assert alive == pytest.approx(REFERENCE[name]["alive"], abs=0.01)


def test_pareto_nbd_loglik_matches_the_published_value(fits):
    assert fits["pareto_nbd"].loglik == pytest.approx(PUBLISHED_PARETO_LOGLIK, abs=0.1)


@pytest.mark.parametrize("name", ["mbgnbd", "pareto_nbd"])
def test_grouped_objective_equals_sum_of_per_customer_loglik(cdnow, fits, name):
    params = fits[name].params
    per_customer = {"mbgnbd": clv.mbgnbd_loglik, "pareto_nbd": clv.pareto_nbd_loglik}[name]
    assert per_customer(params, cdnow.x, cdnow.t_x, cdnow.T).sum() == pytest.approx(fits[name].loglik, rel=1e-9)


@pytest.mark.parametrize("name", ["mbgnbd", "pareto_nbd"])
@pytest.mark.parametrize("point", [(0.5, 6.0, 0.9, 1.6), (0.5, 12.0, 0.6, 6.0), (2.0, 3.0, 1.5, 40.0)])
def test_analytic_gradient_matches_finite_differences(cdnow, name, point):
    x, t_x, T, w, _ = clv.group_customers(cdnow.x, cdnow.t_x, cdnow.T)
    data = clv.MODELS[name].data_cls(x, t_x, T, w)
    log_params = np.log(np.array(point))
    _, grad = data.neg_mean_loglik(log_params)
    numeric = approx_fprime(log_params, lambda p: data.neg_mean_loglik(p)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def _pareto_loglik_mpmath(r, alpha, s, beta, x, t_x, T) -> float:
    """The textbook Pareto/NBD log-likelihood (Fader-Hardie note, eq. 2 with the 2F1 terms) at 60 digits."""
    with mpmath.workdps(60):
        r, alpha, s, beta, x, t_x, T = (mpmath.mpf(v) for v in (r, alpha, s, beta, x, t_x, T))
        big, small = (alpha, beta) if alpha >= beta else (beta, alpha)
        second = s + 1 if alpha >= beta else r + x

        def term(t):
            return mpmath.hyp2f1(r + s + x, second, r + s + x + 1, (big - small) / (big + t)) / (big + t) ** (r + s + x)

        a0 = term(t_x) - term(T)
        head = mpmath.loggamma(r + x) - mpmath.loggamma(r) + r * mpmath.log(alpha) + s * mpmath.log(beta)
        inner = 1 / ((alpha + T) ** (r + x) * (beta + T) ** s) + s / (r + s + x) * a0
        return float(head + mpmath.log(inner))


@pytest.mark.parametrize(
    "params, row",
    [
        ((0.55, 10.58, 0.61, 11.67), (2, 30.43, 38.86)),  # CDNOW scale, alpha < beta
        ((0.55, 10.58, 0.61, 11.67), (0, 0.0, 38.86)),
        ((0.55, 10.58, 0.61, 11.67), (800, 1040.0, 1043.0)),  # a heavy buyer over 20 years
        ((1.3, 40.0, 0.8, 4.0), (350, 4000.0, 5200.0)),  # alpha >> beta, a century of weeks
        ((0.2, 2.0, 3.0, 90.0), (0, 0.0, 20000.0)),
        ((5.0, 1.0, 0.5, 1.0), (3000, 2600.0, 2609.0)),  # alpha == beta
        ((0.8, 7.0, 1.2, 6.99), (60, 100.0, 100.0)),  # t_x == T
    ],
)
def test_pareto_nbd_loglik_matches_high_precision_values_at_extremes(params, row):
    expected = _pareto_loglik_mpmath(*params, *row)
    got = clv.pareto_nbd_loglik(clv.ParetoNBDParams(*params), [row[0]], [row[1]], [row[2]])[0]
    assert np.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-9)


def test_pareto_nbd_fit_stays_finite_on_a_base_with_long_lives_and_heavy_buyers():
    base = clv.simulate_customers(
        20_000,
        bgnbd=clv.BGNBDParams(r=3.0, alpha=2.0, a=0.4, b=8.0),
        gamma_gamma=clv.GammaGammaParams(p=6.0, q=4.0, gamma=15.0),
        max_age_days=15 * 365,
        seed=3,
    )
    assert base.x.max() > 500
    fit = clv.pareto_nbd_fit(base.x, base.t_x, base.T)
    assert fit.converged and np.isfinite(fit.loglik)
    predicted = clv.pareto_nbd_expected_purchases(fit.params, 52.0, base.x, base.t_x, base.T)
    assert np.all(np.isfinite(predicted)) and np.all(predicted >= 0)


def test_mbgnbd_expected_purchases_euler_form_equals_textbook_formula():
    params = clv.MBGNBDParams(r=0.52, alpha=6.18, a=0.89, b=1.61)
    x, t_x, T = np.array([0.0, 1.0, 4.0]), np.array([0.0, 10.0, 30.0]), np.array([20.0, 30.0, 38.0])
    z = 39.0 / (params.alpha + T + 39.0)
    a, b, r = params.a, params.b, params.r
    textbook = (
        (a + b + x)
        / (a - 1)
        * (1 - (1 - z) ** (r + x) * hyp2f1(r + x, b + x + 1, a + b + x, z))
        * clv.mbgnbd_probability_alive(params, x, t_x, T)
    )
    np.testing.assert_allclose(clv.mbgnbd_expected_purchases(params, 39.0, x, t_x, T), textbook, rtol=1e-10)


def test_pareto_population_curve_is_the_conditional_expectation_of_a_customer_just_acquired(fits):
    params = fits["pareto_nbd"].params
    t = np.array([4.0, 39.0, 200.0])
    new = clv.pareto_nbd_expected_purchases_new_customer(params, t)
    assert np.all(np.diff(new) > 0) and np.all(new > 0)
    cond = clv.pareto_nbd_expected_purchases(params, t, np.zeros(3), np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(cond, new, rtol=1e-10)


def test_mbgnbd_population_curve_matches_simulation_mean(fits):
    """Simulate MBG/NBD directly (dropout coin at every purchase, the first included) and compare E[X(t)]."""
    params = fits["mbgnbd"].params
    rng = np.random.default_rng(7)
    n, t = 200_000, 39.0
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    p = rng.beta(params.a, params.b, size=n)
    # Repeat purchases before dropout: the coin after the first purchase may end it at once (Geometric - 1).
    lifetime_repeats = rng.geometric(p) - 1
    x = np.minimum(rng.poisson(lam * t), lifetime_repeats)
    expected = clv.mbgnbd_expected_purchases_new_customer(params, t)
    assert x.mean() == pytest.approx(float(expected), rel=0.03)


@pytest.mark.parametrize("name", ["mbgnbd", "pareto_nbd"])
def test_a_one_time_buyer_silent_for_a_year_is_probably_gone(fits, name):
    model, params = clv.MODELS[name], fits[name].params
    fresh, silent = model.probability_alive(params, [0.0, 0.0], [0.0, 0.0], [1.0, 52.0])
    assert silent < 0.5 < fresh
    assert clv.bgnbd_probability_alive(fits["bgnbd"].params, [0.0], [0.0], [52.0])[0] == 1.0
