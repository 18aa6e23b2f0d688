"""Writes of the analytics app: the customer-value recompute (CLV, probability alive, RFM).

`customer_value_recompute` is set-based end to end: one aggregate query reads every
customer's purchase history summary, the models are fitted and applied in NumPy, and the
results reach ContactMetrics through a temporary table and ONE `INSERT … SELECT … ON
CONFLICT DO UPDATE` that also computes the RFM quintiles with NTILE window functions.
Never `bulk_update` (PERFORMANCE.md: `CASE WHEN pk=…` per row, minutes of JIT per batch).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics import clv
from analytics.clv import backtest as clv_backtest
from analytics.clv.scoring import LiveFit, fit_live, score_customers
from analytics.clv.selection import AUTO, ModelChoice, choose_model
from analytics.models import CLVBacktest, CLVFitKind, CLVModelFit
from analytics.selectors import purchase_days_as_of
from contacts.models import Touchpoint, TouchpointKind
from metrics.models import RfmSegment

logger = logging.getLogger(__name__)

# Defaults, each overridable in settings (and so from the environment by the lead's settings).
DEFAULT_HORIZON_MONTHS = 12
DEFAULT_ANNUAL_DISCOUNT_RATE = 0.10
# Below these counts the fit is not trusted: predicted figures fall back to historic ones.
DEFAULT_MIN_CUSTOMERS = 100
DEFAULT_MIN_REPEAT_CUSTOMERS = 30

_TEMP_TABLE = "analytics_customer_value_tmp"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


@dataclass(frozen=True, slots=True)
class PurchaseHistory:
    """Per-customer purchase summary as of a date, aligned NumPy arrays (one row per customer)."""

    contact_ids: np.ndarray
    purchase_count: np.ndarray  # purchase touchpoints
    purchase_days: np.ndarray  # distinct purchase days (x + 1)
    first_day: np.ndarray  # datetime64[D]
    last_day: np.ndarray  # datetime64[D]
    first_purchase_epoch: np.ndarray  # seconds since 1970 (UTC) of the first purchase touchpoint
    last_purchase_epoch: np.ndarray
    total_spend: np.ndarray
    first_day_spend: np.ndarray
    refunds: np.ndarray

    def __len__(self) -> int:
        return int(self.contact_ids.shape[0])


@dataclass(frozen=True, slots=True)
class CustomerValueResult:
    """What one recompute did: the stored fit and how many contacts it wrote."""

    fit_id: int
    as_of: dt.date
    n_customers: int
    n_repeat_customers: int
    is_fallback: bool
    note: str
    duration_s: float
    rows_written: int = 0  # ContactMetrics rows inserted or changed (unchanged ones are skipped)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def _day_end(as_of: dt.date) -> dt.datetime:
    """The first instant after `as_of` in the project's time zone: purchases before it count."""
    return timezone.make_aware(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min))


def purchase_history_as_of(*, as_of: dt.date) -> PurchaseHistory:
    """Every customer's purchase summary up to the end of `as_of`, in ONE query.

    The per-(contact, day) grouping is built by the ORM (TruncDate gives each vendor's
    time-zone-correct day truncation, which merges same-day purchases as the CLV models
    require) and embedded as a CTE in raw SQL, because the ORM cannot say "aggregate an
    aggregate" with a window function over it (the first day's spend). Refunds are summed
    in the same statement.
    """
    end = _day_end(as_of)
    per_day = (
        Touchpoint.objects.filter(kind=TouchpointKind.PURCHASE, occurred_at__lt=end)
        .annotate(day=TruncDate("occurred_at"))
        .values("contact_id", "day")
        .annotate(
            spend=Sum("amount"),
            n=Count("*"),
            first_at=Min("occurred_at"),
            last_at=Max("occurred_at"),
        )
        .order_by()
    )
    day_sql, day_params = per_day.query.sql_with_params()
    refunds = (
        Touchpoint.objects.filter(kind=TouchpointKind.REFUND, occurred_at__lt=end)
        .values("contact_id")
        .annotate(refunded=Sum("amount"))
        .order_by()
    )
    refund_sql, refund_params = refunds.query.sql_with_params()
    sql = f"""
        WITH purchase_days AS ({day_sql}),
        ranked AS (
            SELECT contact_id, day, spend, n, first_at, last_at,
                   ROW_NUMBER() OVER (PARTITION BY contact_id ORDER BY day) AS rn
            FROM purchase_days
        ),
        per_contact AS (
            SELECT contact_id,
                   SUM(n) AS purchase_count,
                   COUNT(*) AS purchase_days,
                   MIN(day) AS first_day,
                   MAX(day) AS last_day,
                   MIN(first_at) AS first_at,
                   MAX(last_at) AS last_at,
                   CAST(SUM(spend) AS FLOAT) AS total_spend,
                   CAST(SUM(CASE WHEN rn = 1 THEN spend ELSE 0 END) AS FLOAT) AS first_day_spend
            FROM ranked
            GROUP BY contact_id
        ),
        refunds AS ({refund_sql})
        SELECT p.contact_id, p.purchase_count, p.purchase_days, {_day_number_sql("p.first_day")},
               {_day_number_sql("p.last_day")}, {_epoch_sql("p.first_at")}, {_epoch_sql("p.last_at")},
               p.total_spend, p.first_day_spend, CAST(COALESCE(r.refunded, 0) AS FLOAT)
        FROM per_contact p LEFT JOIN refunds r ON r.contact_id = p.contact_id
        ORDER BY p.contact_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, (*day_params, *refund_params))
        rows = cursor.fetchall()
    # Every column is a number (days and seconds since 1970 computed in SQL), so the rows
    # become NumPy arrays without building a Python date object per customer.
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 10)
    ints = table[:, :5].astype(np.int64)
    return PurchaseHistory(
        contact_ids=ints[:, 0],
        purchase_count=ints[:, 1],
        purchase_days=ints[:, 2],
        first_day=ints[:, 3].astype("datetime64[D]"),
        last_day=ints[:, 4].astype("datetime64[D]"),
        first_purchase_epoch=table[:, 5],
        last_purchase_epoch=table[:, 6],
        total_spend=table[:, 7],
        first_day_spend=table[:, 8],
        refunds=table[:, 9],
    )


def _day_number_sql(expr: str) -> str:
    """Days since 1970-01-01 of a date value (TruncDate's output: a date, or ISO text on SQLite)."""
    if connection.vendor == "postgresql":
        return f"({expr} - DATE '1970-01-01')"
    return f"CAST(julianday({expr}) - 2440587.5 AS INTEGER)"


def _epoch_sql(expr: str) -> str:
    """Seconds since 1970 (UTC) of a stored timestamp."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {expr})"
    return f"((julianday({expr}) - 2440587.5) * 86400.0)"


def _from_epoch_sql(expr: str) -> str:
    """A timestamp column value from seconds since 1970 (inverse of `_epoch_sql`)."""
    if connection.vendor == "postgresql":
        return f"to_timestamp({expr})"
    # %% because the statement is executed with parameters (the backend turns %% into %).
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {expr}, 'unixepoch')"


@dataclass(frozen=True, slots=True)
class _Predictions:
    historic_clv: np.ndarray
    expected_purchases: np.ndarray  # NaN = not predicted (fallback)
    p_alive: np.ndarray
    expected_spend: np.ndarray
    predicted_clv: np.ndarray
    clv_low: np.ndarray  # the 80 % interval of predicted_clv (NaN = none)
    clv_high: np.ndarray


def _model_inputs(history: PurchaseHistory, as_of: dt.date) -> clv.CustomerSummary:
    """(x, t_x, T, m) in weeks with the CDNOW conventions, from the SQL summary."""
    as_of_day = np.datetime64(as_of, "D")
    x = (history.purchase_days - 1).astype(np.float64)
    repeat_spend = history.total_spend - history.first_day_spend
    m = np.divide(repeat_spend, x, out=np.zeros_like(repeat_spend), where=x > 0)
    return clv.CustomerSummary(
        customer_ids=history.contact_ids,
        x=x,
        t_x=(history.last_day - history.first_day).astype(np.float64) / clv.DAYS_PER_WEEK,
        T=(as_of_day - history.first_day).astype(np.float64) / clv.DAYS_PER_WEEK,
        m=m,
    )


def customer_value_recompute(
    *,
    as_of: dt.date,
    horizon_months: int | None = None,
    annual_discount_rate: float | None = None,
    margin: float | None = None,
    min_customers: int | None = None,
    min_repeat_customers: int | None = None,
    calibration_end: dt.date | None = None,
) -> CustomerValueResult:
    """Backtest the purchase models, fit them and Gamma-Gamma on every customer as of `as_of`, rewrite CLV/RFM.

    The purchase days up to `as_of` are split at `calibration_end` (default: the last
    quarter of the history is the holdout); each model is fitted on the calibration part
    and scored on the holdout (a CLVBacktest with one backtest CLVModelFit per model); the
    model with the best holdout error (or the one pinned by CRM_CLV_MODEL) scores every
    customer after a refit on all data. Stores a live CLVModelFit row every time.

    With fewer than `min_customers` customers or
    `min_repeat_customers` repeat customers (or a fit that fails), the fit row is marked
    `is_fallback` with the reason and predicted figures fall back to historic ones:
    predicted CLV = historic CLV, expected spend = historic mean spend per purchase day,
    expected purchases and probability alive unknown (NULL).
    """
    started = time.perf_counter()
    horizon_months = int(horizon_months or _setting("CRM_CLV_HORIZON_MONTHS", DEFAULT_HORIZON_MONTHS))
    if annual_discount_rate is None:
        annual_discount_rate = float(_setting("CRM_CLV_ANNUAL_DISCOUNT_RATE", DEFAULT_ANNUAL_DISCOUNT_RATE))
    margin = float(_setting("CRM_MARGIN", 1.0) if margin is None else margin)
    min_customers = int(
        _setting("CRM_CLV_MIN_CUSTOMERS", DEFAULT_MIN_CUSTOMERS) if min_customers is None else min_customers
    )
    if min_repeat_customers is None:
        min_repeat_customers = int(_setting("CRM_CLV_MIN_REPEAT_CUSTOMERS", DEFAULT_MIN_REPEAT_CUSTOMERS))

    history = purchase_history_as_of(as_of=as_of)
    inputs = _model_inputs(history, as_of)
    n = len(history)
    n_repeat = int((inputs.x > 0).sum())
    historic_clv = np.round((history.total_spend - history.refunds) * margin, 2)
    # Mean spend per purchase day: the spend estimate whenever Gamma-Gamma cannot be used.
    historic_spend = history.total_spend / np.maximum(history.purchase_days, 1)
    horizon_weeks = horizon_months * clv.WEEKS_PER_MONTH

    fit_fields: dict[str, Any] = {}
    note = ""
    predictions: _Predictions | None = None
    live: LiveFit | None = None
    backtest: clv_backtest.BacktestResult | None = None
    choice: ModelChoice | None = None
    if n < min_customers or n_repeat < min_repeat_customers:
        note = (
            f"Too few customers to fit: {n} customers ({n_repeat} with repeat purchases); "
            f"need {min_customers} ({min_repeat_customers}). Predicted figures are historic ones."
        )
    else:
        try:
            backtest, no_backtest = _backtest_run(
                as_of=as_of,
                calibration_end=calibration_end,
                min_customers=min_customers,
                min_repeat_customers=min_repeat_customers,
            )
            choice = choose_model(backtest, pinned=str(_setting("CRM_CLV_MODEL", AUTO)))
            if backtest is None and not choice.pinned:
                choice = ModelChoice(choice.model, f"{no_backtest} {choice.reason}", False)
            predictions, live, fit_fields = _fit_and_predict(
                inputs,
                history=history,
                historic_clv=historic_clv,
                historic_spend=historic_spend,
                choice=choice,
                horizon_months=horizon_months,
                annual_discount_rate=annual_discount_rate,
                margin=margin,
            )
        except (ValueError, FloatingPointError, ArithmeticError, np.linalg.LinAlgError) as exc:
            note = f"The fit failed ({exc}); predicted figures are historic ones."
            logger.warning("CLV fit as of %s failed: %s", as_of, exc)
            predictions, live = None, None
    is_fallback = predictions is None
    if predictions is None:
        predictions = _fallback_predictions(historic_clv=historic_clv, historic_spend=historic_spend)
    elif fit_fields.get("note"):
        note = fit_fields.pop("note")

    with transaction.atomic():
        rows_written = _metrics_write(history, predictions, as_of=as_of)
        backtest_row = _backtest_store(backtest, choice, as_of=as_of) if backtest is not None else None
        if live is not None and choice is not None:
            fit_fields.update(_live_fields(live, backtest_row, backtest))
        fit = CLVModelFit.objects.create(
            as_of=as_of,
            n_customers=n,
            n_repeat_customers=n_repeat,
            horizon_weeks=horizon_weeks,
            discount_rate=annual_discount_rate,
            is_fallback=is_fallback,
            note=note,
            duration_seconds=time.perf_counter() - started,
            **fit_fields,
        )
    return CustomerValueResult(
        fit_id=fit.pk,
        as_of=as_of,
        n_customers=n,
        n_repeat_customers=n_repeat,
        is_fallback=is_fallback,
        note=note,
        duration_s=fit.duration_seconds,
        rows_written=rows_written,
    )


def _backtest_run(
    *, as_of: dt.date, calibration_end: dt.date | None, min_customers: int, min_repeat_customers: int
) -> tuple[clv_backtest.BacktestResult | None, str]:
    """The calibration/holdout backtest of every model on the purchase days up to `as_of`, or None and why not."""
    ids, days = purchase_days_as_of(as_of_end=_day_end(as_of))
    if ids.size == 0:
        return None, "No purchases to backtest on."
    holdout_end = int(np.datetime64(as_of, "D").astype(np.int64))
    if calibration_end is None:
        cal_end = clv_backtest.default_calibration_end(int(days.min()), holdout_end)
    else:
        cal_end = int(np.datetime64(calibration_end, "D").astype(np.int64))
    if holdout_end - cal_end < 7 or cal_end <= int(days.min()):
        return None, "The history is too short to keep a holdout of at least a week."
    split = clv_backtest.calibration_split(ids, days, calibration_end=cal_end, holdout_end=holdout_end)
    n_repeat = int((split.x > 0).sum())
    if split.x.size < min_customers or n_repeat < min_repeat_customers:
        return None, (
            f"Too few customers before the calibration date to backtest: {split.x.size} ({n_repeat} with "
            f"repeat purchases); need {min_customers} ({min_repeat_customers})."
        )
    return clv_backtest.backtest(ids, days, calibration_end=cal_end, holdout_end=holdout_end), ""


def _fit_and_predict(
    inputs: clv.CustomerSummary,
    *,
    history: PurchaseHistory,
    historic_clv: np.ndarray,
    historic_spend: np.ndarray,
    choice: ModelChoice,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
) -> tuple[_Predictions, LiveFit, dict[str, Any]]:
    live = fit_live(inputs, choice=choice, purchase_spend=historic_spend)
    chosen = live.chosen
    if not chosen.converged or not all(math.isfinite(v) for v in chosen.params.as_dict().values()):
        raise ValueError(f"{clv.MODELS[choice.model].label} did not converge: {chosen.message}")
    scores = score_customers(
        live,
        inputs,
        total_spend=history.total_spend,
        purchase_days=history.purchase_days.astype(np.float64),
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        margin=margin,
    )
    bg = live.fits["bgnbd"]
    fields: dict[str, Any] = {**bg.params.as_dict(), "bgnbd_loglik": bg.loglik}
    if live.gamma_gamma is not None:
        fields.update({**live.gamma_gamma.params.as_dict(), "gg_loglik": live.gamma_gamma.loglik})
    if not live.spend.use_gamma_gamma:
        fields["note"] = f"{live.spend.reason} Spend per purchase is each customer's own, shrunk to the median."
    predictions = _Predictions(
        historic_clv=historic_clv,
        expected_purchases=scores.expected_purchases,
        p_alive=scores.p_alive,
        expected_spend=np.round(scores.expected_spend, 2),
        predicted_clv=np.round(scores.predicted_clv, 2),
        clv_low=np.round(scores.clv_low, 2),
        clv_high=np.round(scores.clv_high, 2),
    )
    return predictions, live, fields


def _fallback_predictions(*, historic_clv: np.ndarray, historic_spend: np.ndarray) -> _Predictions:
    unknown = np.full(historic_clv.shape[0], np.nan)
    return _Predictions(
        historic_clv=historic_clv,
        expected_purchases=unknown,
        p_alive=unknown.copy(),
        expected_spend=np.round(historic_spend, 2),
        predicted_clv=historic_clv.copy(),
        clv_low=unknown.copy(),
        clv_high=unknown.copy(),
    )


def _backtest_store(
    backtest: clv_backtest.BacktestResult, choice: ModelChoice | None, *, as_of: dt.date
) -> CLVBacktest:
    """Record a backtest: the run with its series, and one backtest fit row per model (params, LL, errors)."""
    row = CLVBacktest.objects.create(
        as_of=as_of,
        calibration_end=dt.date.fromisoformat(str(np.datetime64(backtest.calibration_end, "D"))),
        holdout_end=dt.date.fromisoformat(str(np.datetime64(backtest.holdout_end, "D"))),
        n_customers=backtest.n_customers,
        n_repeat_customers=backtest.n_repeat_customers,
        actual_total=backtest.actual_total,
        chosen_model=choice.model if choice else "bgnbd",
        reason=choice.reason if choice else "",
        result=backtest.as_dict(),
        duration_seconds=backtest.duration_s,
    )
    CLVModelFit.objects.bulk_create(
        CLVModelFit(
            kind=CLVFitKind.BACKTEST,
            model=name,
            backtest=row,
            as_of=row.calibration_end,
            n_customers=backtest.n_customers,
            n_repeat_customers=backtest.n_repeat_customers,
            params=result.params,
            loglik=result.loglik,
            holdout_predicted=result.predicted_total,
            holdout_actual=result.actual_total,
            holdout_mae=result.mae,
            horizon_weeks=(backtest.holdout_end - backtest.calibration_end) / clv.DAYS_PER_WEEK,
            duration_seconds=result.fit_seconds,
            note="" if result.converged else "The calibration fit did not converge.",
        )
        for name, result in backtest.models.items()
    )
    return row


def _live_fields(
    live: LiveFit, backtest_row: CLVBacktest | None, backtest: clv_backtest.BacktestResult | None
) -> dict[str, Any]:
    """The live fit row's issue-18 columns: chosen model, its parameters and errors, every model's fit."""
    name = live.choice.model
    fields: dict[str, Any] = {
        "kind": CLVFitKind.LIVE,
        "model": name,
        "params": live.chosen.params.as_dict(),
        "standard_errors": live.uncertainty[name].standard_errors,
        "loglik": live.chosen.loglik,
        "backtest": backtest_row,
        "details": {
            "choice": {"model": name, "reason": live.choice.reason, "pinned": live.choice.pinned},
            "models": live.models_as_dict(),
            "spend": live.spend.as_dict(),
            "durations": live.durations,
        },
    }
    if backtest is not None and name in backtest.models:
        result = backtest.models[name]
        fields.update(
            holdout_predicted=result.predicted_total, holdout_actual=result.actual_total, holdout_mae=result.mae
        )
    return fields


# --------------------------------------------------------------------------- RFM

# Named segments from the recency score R and the frequency-monetary score
# FM = (F + M) / 2 (integer division), after the usual R x FM segment grid. Every one of
# the 25 (R, FM) cells maps to exactly one segment; checked in order.
RFM_SEGMENT_GRID: tuple[tuple[RfmSegment, tuple[int, ...], tuple[int, ...]], ...] = (
    (RfmSegment.CHAMPIONS, (5,), (4, 5)),
    (RfmSegment.LOYAL, (3, 4), (4, 5)),
    (RfmSegment.POTENTIAL_LOYALISTS, (4, 5), (2, 3)),
    (RfmSegment.NEW_CUSTOMERS, (5,), (1,)),
    (RfmSegment.PROMISING, (4,), (1,)),
    (RfmSegment.NEED_ATTENTION, (3,), (3,)),
    (RfmSegment.ABOUT_TO_SLEEP, (3,), (1, 2)),
    (RfmSegment.AT_RISK, (1, 2), (3, 4)),
    (RfmSegment.CANT_LOSE, (1, 2), (5,)),
    (RfmSegment.HIBERNATING, (2,), (1, 2)),
    (RfmSegment.LOST, (1,), (1, 2)),
)


def rfm_segment_for(recency_score: int, frequency_score: int, monetary_score: int) -> str:
    """The named segment of one score triple (the same grid as the SQL CASE below)."""
    fm = (frequency_score + monetary_score) // 2
    for segment, rs, fms in RFM_SEGMENT_GRID:
        if recency_score in rs and fm in fms:
            return segment.value
    raise ValueError(f"scores out of range: {recency_score}, {frequency_score}, {monetary_score}")


def _segment_case_sql() -> str:
    branches = " ".join(
        f"WHEN r_score IN ({', '.join(map(str, rs))}) AND (f_score + m_score) / 2 IN ({', '.join(map(str, fms))}) "
        f"THEN '{segment.value}'"
        for segment, rs, fms in RFM_SEGMENT_GRID
    )
    return f"CASE {branches} ELSE '' END"


# -------------------------------------------------------------------------- write

_TMP_COLUMNS = (
    ("contact_id", "BIGINT PRIMARY KEY"),
    ("purchase_count", "INTEGER NOT NULL"),
    ("revenue", "NUMERIC(14, 2) NOT NULL"),
    ("refunds", "NUMERIC(14, 2) NOT NULL"),
    ("first_purchase_epoch", "DOUBLE PRECISION NOT NULL"),
    ("last_purchase_epoch", "DOUBLE PRECISION NOT NULL"),
    ("recency_days", "INTEGER NOT NULL"),
    ("frequency", "INTEGER NOT NULL"),
    ("monetary", "DOUBLE PRECISION NOT NULL"),
    ("historic_clv", "NUMERIC(14, 2) NOT NULL"),
    ("expected_purchases", "DOUBLE PRECISION"),
    ("p_alive", "DOUBLE PRECISION"),
    ("expected_spend", "NUMERIC(12, 2)"),
    ("predicted_clv", "NUMERIC(14, 2)"),
    ("predicted_clv_low", "NUMERIC(14, 2)"),
    ("predicted_clv_high", "NUMERIC(14, 2)"),
)
_OWN_COLUMNS = (
    "recency_score",
    "frequency_score",
    "monetary_score",
    "rfm_segment",
    "historic_clv",
    "expected_purchases",
    "p_alive",
    "expected_spend",
    "predicted_clv",
    "predicted_clv_low",
    "predicted_clv_high",
)
_SQLITE_ROWS_PER_INSERT = 500  # 16 columns x 500 rows stays under SQLite's 32,766 variables


# Text formats of the temporary table's columns for COPY (PostgreSQL), in _TMP_COLUMNS order.
_COPY_FORMATS = ("d", "d", ".2f", ".2f", ".6f", ".6f", "d", "d", ".2f", ".2f", ".6f", ".6f", ".2f", ".2f", ".2f", ".2f")


def _tmp_columns(history: PurchaseHistory, predictions: _Predictions, as_of: dt.date) -> list[np.ndarray]:
    """The temporary table's columns as arrays (NaN = NULL), in _TMP_COLUMNS order."""
    net = np.round(history.total_spend - history.refunds, 2)
    recency = (np.datetime64(as_of, "D") - history.last_day).astype(np.int64)
    return [
        history.contact_ids,
        history.purchase_count,
        net,
        np.round(history.refunds, 2),
        history.first_purchase_epoch,
        history.last_purchase_epoch,
        recency,
        history.purchase_days,
        net,
        predictions.historic_clv,
        np.round(predictions.expected_purchases, 6),
        np.round(predictions.p_alive, 6),
        predictions.expected_spend,
        predictions.predicted_clv,
        predictions.clv_low,
        predictions.clv_high,
    ]


def _as_text(values: np.ndarray, fmt: str) -> list[str]:
    if fmt == "d":
        return [str(v) for v in values.tolist()]
    spec = "{:" + fmt + "}"
    if values.dtype.kind == "f" and np.isnan(values).any():
        return [r"\N" if v != v else spec.format(v) for v in values.tolist()]
    return [spec.format(v) for v in values.tolist()]


def _tmp_load(cursor: Any, columns: list[np.ndarray]) -> None:
    """Fill the temporary table: COPY on PostgreSQL, multi-row INSERTs on SQLite."""
    names = ", ".join(name for name, _ in _TMP_COLUMNS)
    if not len(columns[0]):
        return
    if connection.vendor == "postgresql":
        text = zip(*(_as_text(values, fmt) for values, fmt in zip(columns, _COPY_FORMATS, strict=True)), strict=True)
        buffer = io.StringIO("\n".join("\t".join(row) for row in text) + "\n")
        cursor.cursor.copy_expert(f"COPY {_TEMP_TABLE} ({names}) FROM STDIN", buffer)
        return
    as_lists = [
        [None if v != v else v for v in values.tolist()] if values.dtype.kind == "f" else values.tolist()
        for values in columns
    ]
    rows = list(zip(*as_lists, strict=True))
    one = "(" + ", ".join(["%s"] * len(_TMP_COLUMNS)) + ")"
    for start in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
        batch = rows[start : start + _SQLITE_ROWS_PER_INSERT]
        cursor.execute(
            f"INSERT INTO {_TEMP_TABLE} ({names}) VALUES {', '.join([one] * len(batch))}",
            [value for row in batch for value in row],
        )


ANALYZE_AFTER_ROWS = 10000  # a bulk write this big refreshes the planner's statistics of ContactMetrics


def _metrics_write(history: PurchaseHistory, predictions: _Predictions, *, as_of: dt.date) -> int:
    """Write the CLV/RFM columns of ContactMetrics for every customer, set-based.

    The computed rows go to a temporary table (COPY on PostgreSQL); then ONE
    `INSERT … SELECT … ON CONFLICT DO UPDATE` computes the RFM quintiles with NTILE
    over all customers, names the segment, and sets only this recompute's columns on
    existing rows (the lifecycle engine owns the base columns; a missing row is created
    with base columns from the same purchase summary). A second statement clears the
    columns of contacts that are no longer customers as of `as_of`.
    """
    now = timezone.now()
    columns_sql = ", ".join(f"{name} {kind}" for name, kind in _TMP_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLE}")
        on_commit = " ON COMMIT DROP" if connection.vendor == "postgresql" else ""
        cursor.execute(f"CREATE TEMPORARY TABLE {_TEMP_TABLE} ({columns_sql}){on_commit}")
        _tmp_load(cursor, _tmp_columns(history, predictions, as_of))
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {_TEMP_TABLE}")
        updates = ", ".join(f"{name} = excluded.{name}" for name in _OWN_COLUMNS)
        # Only rows whose values changed are rewritten (PERFORMANCE.md: half the time of a
        # full rewrite); the inputs are rounded, so an unchanged customer compares equal.
        distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
        changed = " OR ".join(f"analytics_contactmetrics.{name} {distinct} excluded.{name}" for name in _OWN_COLUMNS)
        cursor.execute(
            f"""
            INSERT INTO analytics_contactmetrics (
                contact_id, purchase_count, revenue, refunds, first_purchase_at, last_purchase_at,
                touch_count, computed_at, {", ".join(_OWN_COLUMNS)}
            )
            SELECT contact_id, purchase_count, revenue, refunds,
                   {_from_epoch_sql("first_purchase_epoch")}, {_from_epoch_sql("last_purchase_epoch")},
                   0, %s, r_score, f_score, m_score, {_segment_case_sql()},
                   historic_clv, expected_purchases, p_alive, expected_spend, predicted_clv,
                   predicted_clv_low, predicted_clv_high
            FROM (
                SELECT t.*,
                       NTILE(5) OVER (ORDER BY recency_days DESC, frequency, contact_id) AS r_score,
                       NTILE(5) OVER (ORDER BY frequency, monetary, contact_id) AS f_score,
                       NTILE(5) OVER (ORDER BY monetary, frequency, contact_id) AS m_score
                FROM {_TEMP_TABLE} t
            ) scored
            WHERE true
            ON CONFLICT (contact_id) DO UPDATE SET {updates} WHERE {changed}
            """,
            [connection.ops.adapt_datetimefield_value(now)],
        )
        written = max(cursor.rowcount, 0)
        cursor.execute(
            f"""
            UPDATE analytics_contactmetrics
            SET recency_score = NULL, frequency_score = NULL, monetary_score = NULL, rfm_segment = '',
                historic_clv = 0, expected_purchases = NULL, p_alive = NULL, expected_spend = NULL,
                predicted_clv = NULL, predicted_clv_low = NULL, predicted_clv_high = NULL
            WHERE NOT EXISTS (SELECT 1 FROM {_TEMP_TABLE} t WHERE t.contact_id = analytics_contactmetrics.contact_id)
              AND (rfm_segment <> '' OR predicted_clv IS NOT NULL OR historic_clv <> 0
                   OR recency_score IS NOT NULL OR p_alive IS NOT NULL)
            """
        )
        written += max(cursor.rowcount, 0)
        if connection.vendor != "postgresql":
            cursor.execute(f"DROP TABLE {_TEMP_TABLE}")
        elif written >= ANALYZE_AFTER_ROWS:
            # Reports plan on these columns (p_alive, predicted_clv IS NOT NULL); with the
            # statistics of before the write PostgreSQL guessed one valued customer instead of
            # 431,000 and chose nested loops (minutes at 1M). Autovacuum would get there later.
            cursor.execute("ANALYZE analytics_contactmetrics")
    return written
