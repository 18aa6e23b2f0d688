"""Calibration/holdout backtest of the purchase models on a business's own purchase days.

Split the history at a calibration date: every customer whose first purchase falls on or
before it is summarised over the calibration period (x, t_x, T), each model is fitted on
that, and its conditional expectation for the holdout length is compared with the repeat
purchase days each customer actually made in the holdout: in total, by calibration
frequency (0..7+), and per customer (mean absolute error). A weekly tracking series puts
the actual cumulative repeat purchases of those customers beside each model's expectation
(the model's population curve summed over the customers' first-purchase days, as in Fader,
Hardie & Lee's tracking plots), with the split week marked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from analytics.clv.common import DAYS_PER_WEEK, FloatArray, GroupedCustomers
from analytics.clv.registry import MODEL_NAMES, purchase_model

FREQUENCY_BUCKETS = 8  # calibration frequency 0, 1, ..., 6 and "7+"


@dataclass(frozen=True, slots=True)
class CalibrationSplit:
    """Per calibration customer: (x, t_x, T) over the calibration period and holdout repeat days."""

    customer_ids: np.ndarray
    first_day: np.ndarray  # day numbers (days since 1970)
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    holdout: FloatArray  # distinct purchase days in (calibration_end, holdout_end]
    calibration_end: int
    holdout_end: int

    @property
    def holdout_weeks(self) -> float:
        return (self.holdout_end - self.calibration_end) / DAYS_PER_WEEK


@dataclass(frozen=True, slots=True)
class ModelBacktest:
    """One model's backtest: its calibration fit and holdout errors."""

    model: str
    params: dict[str, float]
    loglik: float
    converged: bool
    predicted_total: float
    actual_total: float
    mae: float
    by_frequency_predicted: list[float]
    tracking: list[float]  # expected cumulative repeat purchases at each week end
    fit_seconds: float

    @property
    def total_error(self) -> float:
        """Relative error of the holdout total (predicted / actual - 1)."""
        return self.predicted_total / self.actual_total - 1.0 if self.actual_total else float("nan")


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Every model's backtest on one split, with the actual series they are compared with."""

    calibration_end: int
    holdout_end: int
    n_customers: int
    n_repeat_customers: int
    actual_total: float
    by_frequency_actual: list[float]
    by_frequency_customers: list[int]
    week_ends: list[int]  # day numbers of the tracking weeks' ends
    tracking_actual: list[float]
    models: dict[str, ModelBacktest] = field(default_factory=dict)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calibration_end": _iso(self.calibration_end),
            "holdout_end": _iso(self.holdout_end),
            "holdout_weeks": round((self.holdout_end - self.calibration_end) / DAYS_PER_WEEK, 3),
            "n_customers": self.n_customers,
            "n_repeat_customers": self.n_repeat_customers,
            "actual_total": self.actual_total,
            "by_frequency": {
                "labels": [*(str(i) for i in range(FREQUENCY_BUCKETS - 1)), f"{FREQUENCY_BUCKETS - 1}+"],
                "customers": self.by_frequency_customers,
                "actual": self.by_frequency_actual,
            },
            "tracking": {"week_ends": [_iso(d) for d in self.week_ends], "actual": self.tracking_actual},
            "models": {
                name: {
                    "params": m.params,
                    "loglik": m.loglik,
                    "converged": m.converged,
                    "predicted_total": m.predicted_total,
                    "total_error": m.total_error,
                    "mae": m.mae,
                    "by_frequency_predicted": m.by_frequency_predicted,
                    "tracking": m.tracking,
                }
                for name, m in self.models.items()
            },
            "duration_s": self.duration_s,
        }


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def default_calibration_end(first_day: int, last_day: int) -> int:
    """The default split: the last quarter of the history (in whole weeks) is the holdout."""
    span_weeks = (last_day - first_day) // 7
    return int(last_day - 7 * max(span_weeks // 4, 1))


def calibration_split(
    customer_ids: ArrayLike, days: ArrayLike, *, calibration_end: int, holdout_end: int
) -> CalibrationSplit:
    """Summarise distinct purchase days (customer, day number) into calibration (x, t_x, T) and holdout counts."""
    return _calibration_split(customer_ids, days, calibration_end=calibration_end, holdout_end=holdout_end)[0]


def _calibration_split(
    customer_ids: ArrayLike, days: ArrayLike, *, calibration_end: int, holdout_end: int
) -> tuple[CalibrationSplit, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The split, and the distinct (customer, day) rows it came from (for the tracking series).

    Rows may repeat a day (they are merged); days after `holdout_end` are ignored; customers
    whose first purchase is after `calibration_end` are not part of the backtest.
    """
    ids = np.asarray(customer_ids)
    d = np.asarray(days, dtype=np.int64)
    if not calibration_end < holdout_end:
        raise ValueError("the calibration end must come before the holdout end")
    keep = d <= holdout_end
    ids, d = ids[keep], d[keep]
    # Distinct (customer, day) in order: one int64 key per row, one sort and a mask. (A
    # lexsort, or np.unique without an inverse, whose hash path took seconds at 1M, were
    # several times slower.) Non-integer ids are coded first.
    if ids.dtype.kind in "iu":
        uid, code = None, ids.astype(np.int64)
    else:
        uid, code = np.unique(ids, return_inverse=True)
        code = code.reshape(-1).astype(np.int64)
    low = int(d.min()) if d.size else 0
    span = int(d.max()) - low + 1 if d.size else 1
    base = int(code.min()) if code.size else 0
    key = np.sort((code - base) * span + (d - low))
    key = key[np.r_[True, key[1:] != key[:-1]]] if key.size else key
    code, d = key // span + base, key % span + low
    ids = code if uid is None else uid[code]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else np.empty(0, dtype=np.intp)
    first = d[starts]
    cust = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, ids.size]))
    in_cal = d <= calibration_end
    cal_days = np.bincount(cust, weights=in_cal, minlength=starts.size).astype(np.int64)
    # Days are sorted within a customer, so the calibration days come first: the last of
    # them sits at start + count - 1 (for customers born after the split it is unused).
    last_cal = d[starts + np.maximum(cal_days, 1) - 1]
    holdout = np.bincount(cust, weights=~in_cal, minlength=starts.size)
    born = first <= calibration_end
    x = cal_days[born] - 1.0
    return CalibrationSplit(
        customer_ids=ids[starts][born],
        first_day=first[born],
        x=x,
        t_x=(last_cal[born] - first[born]) / DAYS_PER_WEEK,
        T=(calibration_end - first[born]) / DAYS_PER_WEEK,
        holdout=holdout[born].astype(np.float64),
        calibration_end=int(calibration_end),
        holdout_end=int(holdout_end),
    ), (ids, d, cust, born)


def _buckets(x: FloatArray) -> np.ndarray:
    return np.minimum(x, FREQUENCY_BUCKETS - 1).astype(np.int64)


def backtest(
    customer_ids: ArrayLike,
    days: ArrayLike,
    *,
    calibration_end: int | None = None,
    holdout_end: int | None = None,
    models: tuple[str, ...] = MODEL_NAMES,
) -> BacktestResult:
    """Fit each model on the calibration period and score its holdout forecast (see module doc).

    `days` are day numbers (days since 1970) of purchases; `holdout_end` defaults to the last
    purchase day and `calibration_end` to `default_calibration_end`.
    """
    started = time.perf_counter()
    d_all = np.asarray(days, dtype=np.int64)
    if d_all.size == 0:
        raise ValueError("no purchases to backtest on")
    if holdout_end is None:
        holdout_end = int(d_all.max())
    if calibration_end is None:
        calibration_end = default_calibration_end(int(d_all.min()), holdout_end)
    split, (_ids, d, cust, born) = _calibration_split(
        customer_ids, d_all, calibration_end=calibration_end, holdout_end=holdout_end
    )
    if split.x.size == 0:
        raise ValueError("no customer made a first purchase before the calibration end")
    buckets = _buckets(split.x)
    by_freq_customers = np.bincount(buckets, minlength=FREQUENCY_BUCKETS)
    by_freq_actual = np.bincount(buckets, weights=split.holdout, minlength=FREQUENCY_BUCKETS)

    # Tracking: weekly cumulative repeat purchase days of the calibration customers, actual
    # and expected, from the first week end after the first purchase to the holdout end.
    origin = int(split.first_day.min())
    n_weeks = int(np.ceil((holdout_end - origin) / 7.0))
    week_ends = origin + 7 * np.arange(1, n_weeks + 1)
    week_ends[-1] = min(week_ends[-1], holdout_end)
    firsts = split.first_day
    repeat = np.ones(d.size, dtype=bool)
    repeat[np.r_[0, np.flatnonzero(np.diff(cust)) + 1]] = False  # a customer's first day is no repeat
    born_rows = born[cust]
    repeat_days = d[repeat & born_rows]
    week_of = np.searchsorted(week_ends, repeat_days, side="left")
    tracking_actual = np.cumsum(np.bincount(week_of, minlength=n_weeks)[:n_weeks]).astype(np.float64)
    birth_days, birth_counts = np.unique(firsts, return_counts=True)
    # The population curve depends on the age in days only: evaluate it once per distinct age.
    age_days = week_ends[:, None] - birth_days[None, :]
    ages, age_index = np.unique(age_days[age_days > 0], return_inverse=True)

    grouped = GroupedCustomers.from_customers(split.x, split.t_x, split.T)
    gx, gt, gT, inverse = grouped.x, grouped.t_x, grouped.T, grouped.inverse
    result_models: dict[str, ModelBacktest] = {}
    for name in models:
        model = purchase_model(name)
        fit_started = time.perf_counter()
        fit = model.fit(gx, gt, gT, grouped=grouped)
        predicted = model.expected_purchases(fit.params, split.holdout_weeks, gx, gt, gT)[inverse]
        curve = np.zeros(age_days.shape)
        curve[age_days > 0] = model.expected_new_customer(fit.params, ages / DAYS_PER_WEEK)[age_index]
        result_models[name] = ModelBacktest(
            model=name,
            params=fit.params.as_dict(),
            loglik=fit.loglik,
            converged=fit.converged,
            predicted_total=float(predicted.sum()),
            actual_total=float(split.holdout.sum()),
            mae=float(np.abs(predicted - split.holdout).mean()),
            by_frequency_predicted=np.bincount(buckets, weights=predicted, minlength=FREQUENCY_BUCKETS).tolist(),
            tracking=(curve @ birth_counts.astype(np.float64)).tolist(),
            fit_seconds=time.perf_counter() - fit_started,
        )
    return BacktestResult(
        calibration_end=int(calibration_end),
        holdout_end=int(holdout_end),
        n_customers=int(split.x.size),
        n_repeat_customers=int((split.x > 0).sum()),
        actual_total=float(split.holdout.sum()),
        by_frequency_actual=by_freq_actual.tolist(),
        by_frequency_customers=by_freq_customers.astype(int).tolist(),
        week_ends=week_ends.astype(int).tolist(),
        tracking_actual=tracking_actual.tolist(),
        models=result_models,
        duration_s=time.perf_counter() - started,
    )
