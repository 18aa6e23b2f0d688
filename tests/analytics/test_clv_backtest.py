"""Backtest, model choice, spend-model checks and intervals (issue 18), on CDNOW and synthetic bases."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import clv
from analytics.clv.backtest import FREQUENCY_BUCKETS, backtest, calibration_split, default_calibration_end
from analytics.clv.gamma_gamma import GammaGammaFit
from analytics.clv.intervals import interval_factors, parameter_uncertainty
from analytics.clv.selection import choose_model
from analytics.clv.spend import MAX_CORRELATION, shrunk_spend, spend_check
from tests.analytics.cdnow import load_cdnow, relative_error

CAL_END = int(np.datetime64("1997-09-30", "D").astype(np.int64))
HOLDOUT_END = int(np.datetime64("1998-06-30", "D").astype(np.int64))
# lifetimes 0.11.3 on the CDNOW holdout (shared/data/README.md): forecast total and per-customer MAE.
REFERENCE = {"bgnbd": (1653.4, 0.7855), "mbgnbd": (1576.7, 0.7648), "pareto_nbd": (1665.5, 0.7545)}


@pytest.fixture(scope="module")
def cdnow_days() -> tuple[np.ndarray, np.ndarray]:
    rows = load_cdnow()
    ids = np.array([row.customer_id for row in rows])
    days = np.array([row.day for row in rows], dtype="datetime64[D]").astype(np.int64)
    return ids, days


@pytest.fixture(scope="module")
def cdnow_backtest(cdnow_days):
    return backtest(*cdnow_days, calibration_end=CAL_END, holdout_end=HOLDOUT_END)


def test_cdnow_backtest_counts_the_published_holdout(cdnow_backtest):
    assert cdnow_backtest.n_customers == 2357
    assert cdnow_backtest.actual_total == 1882
    assert sum(cdnow_backtest.by_frequency_actual) == 1882
    assert sum(cdnow_backtest.by_frequency_customers) == 2357
    assert len(cdnow_backtest.by_frequency_actual) == FREQUENCY_BUCKETS


@pytest.mark.parametrize("name", list(REFERENCE))
def test_cdnow_backtest_matches_reference_forecasts_and_errors(cdnow_backtest, name):
    result = cdnow_backtest.models[name]
    total, mae = REFERENCE[name]
    assert relative_error(result.predicted_total, total) < 0.01
    assert result.mae == pytest.approx(mae, abs=0.001)
    assert sum(result.by_frequency_predicted) == pytest.approx(result.predicted_total)


def test_tracking_series_is_cumulative_and_ends_at_all_repeat_purchases(cdnow_backtest, cdnow_days):
    actual = np.array(cdnow_backtest.tracking_actual)
    assert np.all(np.diff(actual) >= 0)
    ids, days = cdnow_days
    pairs = np.unique(np.stack([ids, days]), axis=1)
    assert actual[-1] == pairs.shape[1] - 2357  # every purchase day but each customer's first
    for model in cdnow_backtest.models.values():
        assert len(model.tracking) == len(actual)
        assert np.all(np.diff(model.tracking) >= 0)
        # The population curves follow the actual series within 10 % over the whole period.
        assert model.tracking[-1] == pytest.approx(actual[-1], rel=0.1)


def test_auto_choice_takes_the_smallest_holdout_error_and_says_why(cdnow_backtest):
    choice = choose_model(cdnow_backtest)
    assert choice.model == "pareto_nbd" and not choice.pinned
    assert "Pareto/NBD" in choice.reason and "0.755" in choice.reason


def test_a_pinned_model_wins_and_an_unknown_one_is_refused(cdnow_backtest):
    assert choose_model(cdnow_backtest, pinned="mbgnbd").model == "mbgnbd"
    with pytest.raises(ValueError, match="unknown purchase model"):
        choose_model(cdnow_backtest, pinned="nope")
    assert choose_model(None).model == "bgnbd"


def test_default_split_keeps_the_last_quarter_as_holdout():
    assert default_calibration_end(0, 400) == 400 - 7 * (57 // 4)


def test_calibration_split_merges_same_day_purchases_and_drops_later_customers():
    split = calibration_split([1, 1, 1, 1, 2, 3], [0, 0, 7, 20, 5, 15], calibration_end=10, holdout_end=30)
    assert split.customer_ids.tolist() == [1, 2]
    assert split.x.tolist() == [1.0, 0.0]
    assert split.t_x.tolist() == [1.0, 0.0]
    assert split.holdout.tolist() == [1.0, 0.0]


def test_standard_errors_match_the_inverse_hessian_published_by_clvtools(cdnow_days):
    """CLVTools' Pareto/NBD on CDNOW reports standard errors r 0.0476, alpha 0.8427, s 0.1873, beta 6.2111."""
    split = calibration_split(*cdnow_days, calibration_end=CAL_END, holdout_end=HOLDOUT_END)
    x, t_x, T, w, _ = clv.group_customers(split.x, split.t_x, split.T)
    model = clv.MODELS["pareto_nbd"]
    fit = model.fit(x, t_x, T, weights=w, group=False)
    se = parameter_uncertainty(model, fit.params, x, t_x, T, w).standard_errors
    assert se["r"] == pytest.approx(0.0476, rel=0.02)
    assert se["alpha"] == pytest.approx(0.8427, rel=0.02)
    assert se["s"] == pytest.approx(0.1873, rel=0.02)
    assert se["beta"] == pytest.approx(6.2111, rel=0.02)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_intervals_bracket_the_point_estimate_and_narrow_with_more_customers(name):
    model = clv.MODELS[name]
    widths = []
    for n in (2_000, 50_000):
        base = clv.simulate_customers(
            n,
            bgnbd=clv.BGNBDParams(r=0.5, alpha=6.0, a=0.9, b=2.5),
            gamma_gamma=clv.GammaGammaParams(p=6.0, q=4.0, gamma=15.0),
            seed=11,
        )
        x, t_x, T, w, _ = clv.group_customers(base.x, base.t_x, base.T)
        fit = model.fit(x, t_x, T, weights=w, group=False)
        cov = parameter_uncertainty(model, fit.params, x, t_x, T, w).cov_log
        low, high = interval_factors(model, fit.params, cov, base.x, base.t_x, base.T, horizon_weeks=52.0)
        assert np.all(low <= 1.0) and np.all(high >= 1.0)
        widths.append(float(np.median(high - low)))
    assert widths[1] < widths[0] / 2  # 25x the data: about 1/5 the width


def _gg_fit(p: float, q: float, gamma: float) -> GammaGammaFit:
    return GammaGammaFit(clv.GammaGammaParams(p=p, q=q, gamma=gamma), -1.0, 10, 5, True, "ok", 0.0)


def test_spend_check_refuses_q_at_most_one_and_says_so():
    x, m = np.array([1.0, 2.0, 3.0, 1.0]), np.array([10.0, 12.0, 11.0, 9.0])
    check = spend_check(_gg_fit(2.0, 0.9, 5.0), x, m, m)
    assert not check.use_gamma_gamma and "q is 0.90" in check.reason


def test_spend_check_refuses_spend_that_moves_with_frequency():
    x = np.arange(1.0, 41.0)
    m = 10.0 * x
    check = spend_check(_gg_fit(6.0, 4.0, 100.0), x, m, m)
    assert check.correlation > MAX_CORRELATION
    assert not check.use_gamma_gamma and "correlation" in check.reason


def test_spend_check_warns_when_implied_mean_is_far_from_observed():
    """The demo's finding: q = 1.24 implied a mean spend of 554 against purchases around 116."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, 500).astype(float)
    m = rng.gamma(4.0, 116.0 / 4.0, 500)
    check = spend_check(_gg_fit(2.0, 1.24, 66.5), x, m, m)
    assert check.implied_mean == pytest.approx(554.2, rel=0.01)
    assert not check.use_gamma_gamma and "far from the observed" in check.reason


def test_spend_check_accepts_cdnow(cdnow_days):
    rows = load_cdnow()
    summary = clv.summarize_purchases(
        [r.customer_id for r in rows],
        np.array([r.day for r in rows], dtype="datetime64[D]"),
        [float(r.dollars) for r in rows],
        observation_end=np.datetime64("1997-09-30"),
    )
    fit = clv.gamma_gamma_fit(summary.x, summary.m)
    check = spend_check(fit, summary.x, summary.m, summary.m[summary.x > 0])
    assert check.use_gamma_gamma, check.reason
    assert abs(check.correlation) < MAX_CORRELATION


def test_shrunk_spend_pulls_one_time_buyers_to_the_median():
    spend = shrunk_spend(np.array([1000.0, 1000.0]), np.array([1.0, 20.0]), 100.0)
    assert spend[0] == pytest.approx(400.0)
    assert spend[1] == pytest.approx(1200.0 / 22.0)
