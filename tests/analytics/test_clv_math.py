"""BG/NBD and Gamma-Gamma maths: published CDNOW results, gradients, grouping and predictions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from analytics import clv
from tests.analytics.cdnow import (
    CALIBRATION_END,
    PUBLISHED_BGNBD,
    PUBLISHED_BGNBD_LOGLIK,
    PUBLISHED_CONDITIONAL,
    PUBLISHED_CUSTOMERS,
    PUBLISHED_GAMMA_GAMMA,
    PUBLISHED_REPEAT_CUSTOMERS,
    TOLERANCE,
    load_cdnow,
    relative_error,
)

TRUE_BGNBD = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE_GG = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


@pytest.fixture(scope="module")
def cdnow() -> clv.CustomerSummary:
    rows = load_cdnow()
    return clv.summarize_purchases(
        [row.customer_id for row in rows],
        np.array([row.day for row in rows], dtype="datetime64[D]"),
        [float(row.dollars) for row in rows],
        observation_end=np.datetime64(CALIBRATION_END),
    )


def test_cdnow_summary_has_published_customer_counts(cdnow):
    assert len(cdnow) == PUBLISHED_CUSTOMERS
    assert int((cdnow.x > 0).sum()) == PUBLISHED_REPEAT_CUSTOMERS
    # Everyone's first purchase is in 1997 Q1: T runs from 26.3 weeks (March 31) to 38.9 (January 1).
    assert cdnow.T.min() >= 183 / 7
    assert cdnow.T.max() == pytest.approx(272 / 7)


def test_bgnbd_fit_reproduces_published_cdnow_parameters(cdnow):
    fit = clv.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T)
    assert fit.converged, fit.message
    for name, expected in PUBLISHED_BGNBD.items():
        assert relative_error(getattr(fit.params, name), expected) < TOLERANCE, name
    assert relative_error(fit.loglik, PUBLISHED_BGNBD_LOGLIK) < TOLERANCE
    assert fit.loglik == pytest.approx(PUBLISHED_BGNBD_LOGLIK, abs=0.1)
    assert fit.n_customers == PUBLISHED_CUSTOMERS
    assert fit.n_groups < fit.n_customers
    assert fit.duration_s > 0


def test_gamma_gamma_fit_reproduces_published_cdnow_parameters(cdnow):
    fit = clv.gamma_gamma_fit(cdnow.x, cdnow.m)
    assert fit.converged, fit.message
    assert fit.n_customers == PUBLISHED_REPEAT_CUSTOMERS
    for name, expected in PUBLISHED_GAMMA_GAMMA.items():
        assert relative_error(getattr(fit.params, name), expected) < TOLERANCE, name


def test_conditional_expectation_matches_published_value(cdnow):
    fit = clv.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T)
    c = PUBLISHED_CONDITIONAL
    value = clv.bgnbd_expected_purchases(fit.params, c["t"], [c["x"]], [c["t_x"]], [c["T"]])[0]
    assert value == pytest.approx(c["expected"], abs=0.0005)


def test_grouped_and_ungrouped_fits_agree(cdnow):
    grouped = clv.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T, group=True)
    plain = clv.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T, group=False)
    assert grouped.n_groups < plain.n_groups == PUBLISHED_CUSTOMERS
    assert grouped.loglik == pytest.approx(plain.loglik, abs=1e-6)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(grouped.params, name) == pytest.approx(getattr(plain.params, name), rel=1e-5)


def test_fit_loglik_equals_sum_of_per_customer_loglik(cdnow):
    fit = clv.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T)
    assert clv.bgnbd_loglik(fit.params, cdnow.x, cdnow.t_x, cdnow.T).sum() == pytest.approx(fit.loglik, abs=1e-6)


def test_bgnbd_analytic_gradient_matches_finite_differences(cdnow):
    gx, gt, gT, w, _ = clv.group_customers(cdnow.x, cdnow.t_x, cdnow.T)
    data = clv._BGNBDData(gx, gt, gT, w)
    point = np.log([0.3, 5.0, 0.7, 2.0])
    _, grad = data.neg_mean_loglik(point)
    numeric = approx_fprime(point, lambda p: data.neg_mean_loglik(p)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-7)


def test_gamma_gamma_analytic_gradient_matches_finite_differences(cdnow):
    repeat = cdnow.x > 0
    data = clv._GammaGammaData(cdnow.x[repeat], cdnow.m[repeat])
    point = np.log([5.0, 3.0, 12.0])
    _, grad = data.neg_mean_loglik(point)
    numeric = approx_fprime(point, lambda p: data.neg_mean_loglik(p)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-7)


def test_gamma_gamma_objective_equals_per_customer_loglik(cdnow):
    repeat = cdnow.x > 0
    params = clv.GammaGammaParams(p=5.0, q=3.0, gamma=12.0)
    data = clv._GammaGammaData(cdnow.x[repeat], cdnow.m[repeat])
    value, _ = data.neg_mean_loglik(np.log([params.p, params.q, params.gamma]))
    per_customer = clv.gamma_gamma_loglik(params, cdnow.x[repeat], cdnow.m[repeat])
    assert -value * repeat.sum() == pytest.approx(per_customer.sum(), rel=1e-12)


def test_expected_purchases_euler_form_equals_textbook_formula():
    params = TRUE_BGNBD
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.array([0.0, 1.0, 2.0, 7.0, 15.0])
    t_x = np.array([0.0, 3.0, 30.43, 20.0, 35.0])
    T = np.array([10.0, 30.0, 38.86, 38.0, 39.0])
    t = 39.0
    z = t / (alpha + T + t)
    textbook = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    )
    np.testing.assert_allclose(clv.bgnbd_expected_purchases(params, t, x, t_x, T), textbook, rtol=1e-9)


def test_expected_purchases_stay_finite_for_heavy_buyers():
    # x = 400 overflows ((alpha+T)/(alpha+t_x))^(r+x) and 2F1 in the textbook form.
    x, t_x, T = np.array([400.0, 400.0]), np.array([150.0, 20.0]), np.array([150.0, 150.0])
    value = clv.bgnbd_expected_purchases(TRUE_BGNBD, 52.0, x, t_x, T)
    assert np.all(np.isfinite(value))
    # Bought up to today: close to the rate 400/150 per week for a year; long silent: ~0.
    assert 100 < value[0] < 52 * 400 / 150 * 1.1
    assert value[1] < 1e-6


def test_probability_alive_is_one_without_repeat_purchases_and_falls_with_silence():
    p = clv.bgnbd_probability_alive(TRUE_BGNBD, [0, 3, 3, 3], [0, 30, 20, 5], [39, 39, 39, 39])
    assert p[0] == 1.0
    assert 1 > p[1] > p[2] > p[3] > 0


def test_expected_purchases_grow_with_horizon_and_match_new_customer_curve_at_zero_history():
    horizons = np.array([4.0, 13.0, 26.0, 52.0])
    values = clv.bgnbd_expected_purchases(TRUE_BGNBD, horizons, np.zeros(4), np.zeros(4), np.zeros(4))
    assert np.all(np.diff(values) > 0)
    # With T = 0 and no history the conditional expectation is the population curve E[X(t)].
    np.testing.assert_allclose(values, clv.bgnbd_expected_purchases_new_customer(TRUE_BGNBD, horizons), rtol=1e-9)


def test_population_curve_matches_simulation_mean():
    sim = clv.simulate_customers(200_000, bgnbd=TRUE_BGNBD, gamma_gamma=TRUE_GG, max_age_days=364, seed=3)
    # Among customers with T = 52 weeks exactly, E[x] is E[X(52)] (up to same-day merging).
    year = sim.T == 52.0
    expected = clv.bgnbd_expected_purchases_new_customer(TRUE_BGNBD, 52.0)
    assert sim.x[year].mean() == pytest.approx(float(expected), rel=0.15)


def test_fit_recovers_simulated_parameters():
    sim = clv.simulate_customers(200_000, bgnbd=TRUE_BGNBD, gamma_gamma=TRUE_GG, seed=7)
    bg = clv.bgnbd_fit(sim.x, sim.t_x, sim.T)
    gg = clv.gamma_gamma_fit(sim.x, sim.m)
    assert bg.converged and gg.converged
    for name in ("r", "alpha", "a", "b"):
        assert relative_error(getattr(bg.params, name), getattr(TRUE_BGNBD, name)) < 0.06, name
    for name in ("p", "q", "gamma"):
        assert relative_error(getattr(gg.params, name), getattr(TRUE_GG, name)) < 0.06, name
    assert bg.n_groups < len(sim)


def test_gamma_gamma_expected_spend_shrinks_towards_population_mean():
    params = TRUE_GG
    population = params.p * params.gamma / (params.q - 1)
    spend = clv.gamma_gamma_expected_spend(params, [0, 1, 50], [0.0, 100.0, 100.0])
    assert spend[0] == pytest.approx(population)
    assert population < spend[1] < spend[2] < 100.0


def test_discounted_clv_equals_spend_times_purchases_without_discounting():
    x, t_x, T, m = (
        np.array([0.0, 2.0, 5.0]),
        np.array([0.0, 30.43, 10.0]),
        np.array([20.0, 38.86, 39.0]),
        np.array([0.0, 40.0, 25.0]),
    )
    clv_values = clv.discounted_clv(TRUE_BGNBD, TRUE_GG, x, t_x, T, m, months=12, annual_discount_rate=0.0, margin=0.3)
    expected = (
        0.3
        * clv.gamma_gamma_expected_spend(TRUE_GG, x, m)
        * clv.bgnbd_expected_purchases(TRUE_BGNBD, 12 * clv.WEEKS_PER_MONTH, x, t_x, T)
    )
    np.testing.assert_allclose(clv_values, expected, rtol=1e-9)
    discounted = clv.discounted_clv(TRUE_BGNBD, TRUE_GG, x, t_x, T, m, months=12, annual_discount_rate=0.1, margin=0.3)
    assert np.all(discounted < clv_values)
    assert np.all(discounted > clv_values / 1.1)


def test_summarize_purchases_merges_same_day_and_excludes_first_purchase():
    ids = [7, 7, 7, 7, 9, 9, 5]
    days = np.array(
        ["2020-01-01", "2020-01-01", "2020-01-08", "2020-01-22", "2020-01-15", "2020-03-01", "2020-02-01"],
        dtype="datetime64[D]",
    )
    amounts = [10.0, 5.0, 20.0, 40.0, 8.0, 99.0, 12.0]
    summary = clv.summarize_purchases(ids, days, amounts, observation_end="2020-01-29")
    assert summary.customer_ids.tolist() == [7, 9]  # 5's only purchase is after the end
    assert summary.x.tolist() == [2.0, 0.0]
    assert summary.t_x.tolist() == [3.0, 0.0]
    assert summary.T.tolist() == [4.0, 2.0]
    assert summary.m.tolist() == [30.0, 0.0]


def test_group_customers_inverse_rebuilds_every_customer():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, 500).astype(float)
    t_x = np.where(x > 0, rng.integers(1, 5, 500), 0) / 7
    T = rng.integers(5, 8, 500) / 7
    gx, gt, gT, w, inverse = clv.group_customers(x, t_x, T)
    assert w.sum() == 500
    assert len(set(zip(gx, gt, gT, strict=True))) == len(gx)
    np.testing.assert_array_equal(gx[inverse], x)
    np.testing.assert_array_equal(gt[inverse], t_x)
    np.testing.assert_array_equal(gT[inverse], T)


def test_fits_reject_invalid_input():
    with pytest.raises(ValueError):
        clv.bgnbd_fit([1.0], [5.0], [3.0])  # t_x > T
    with pytest.raises(ValueError):
        clv.bgnbd_fit([0.0], [1.0], [3.0])  # t_x without repeat purchases
    with pytest.raises(ValueError):
        clv.gamma_gamma_fit([0.0, 0.0], [0.0, 0.0])


def test_homogeneous_dropout_fit_converges_on_the_ridge_and_predicts_finitely():
    # Every customer drops out with the same p = 0.1: the likelihood keeps rising as a, b -> inf.
    truth = clv.BGNBDParams(r=1.0, alpha=8.0, a=1e7, b=9e7)
    sim = clv.simulate_customers(50_000, bgnbd=truth, gamma_gamma=TRUE_GG, seed=5)
    fit = clv.bgnbd_fit(sim.x, sim.t_x, sim.T)
    assert fit.converged, fit.message
    assert fit.params.a + fit.params.b > 1e4
    assert fit.params.a / (fit.params.a + fit.params.b) == pytest.approx(0.1, rel=0.1)
    assert fit.params.r == pytest.approx(1.0, rel=0.1)
    expected = clv.bgnbd_expected_purchases(fit.params, 52.0, sim.x, sim.t_x, sim.T)
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    # Averaged over the base, the conditional expectations match the model's population forecast.
    assert expected.mean() == pytest.approx(
        clv.bgnbd_expected_purchases(truth, 52.0, sim.x, sim.t_x, sim.T).mean(), rel=0.05
    )
