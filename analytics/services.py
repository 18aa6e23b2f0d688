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
from analytics.models import CLVModelFit
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
) -> CustomerValueResult:
    """Refit BG/NBD + Gamma-Gamma on every customer as of `as_of` and rewrite CLV/RFM metrics.

    Stores a CLVModelFit row every time. With fewer than `min_customers` customers or
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
    if n < min_customers or n_repeat < min_repeat_customers:
        note = (
            f"Too few customers to fit: {n} customers ({n_repeat} with repeat purchases); "
            f"need {min_customers} ({min_repeat_customers}). Predicted figures are historic ones."
        )
    else:
        try:
            predictions, fit_fields = _fit_and_predict(
                inputs,
                historic_clv=historic_clv,
                historic_spend=historic_spend,
                horizon_months=horizon_months,
                annual_discount_rate=annual_discount_rate,
                margin=margin,
            )
        except (ValueError, FloatingPointError, ArithmeticError) as exc:
            note = f"The fit failed ({exc}); predicted figures are historic ones."
            logger.warning("CLV fit as of %s failed: %s", as_of, exc)
    is_fallback = predictions is None
    if predictions is None:
        predictions = _fallback_predictions(historic_clv=historic_clv, historic_spend=historic_spend)
    elif fit_fields.get("note"):
        note = fit_fields.pop("note")

    with transaction.atomic():
        rows_written = _metrics_write(history, predictions, as_of=as_of)
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


def _fit_and_predict(
    inputs: clv.CustomerSummary,
    *,
    historic_clv: np.ndarray,
    historic_spend: np.ndarray,
    horizon_months: int,
    annual_discount_rate: float,
    margin: float,
) -> tuple[_Predictions, dict[str, Any]]:
    bg = clv.bgnbd_fit(inputs.x, inputs.t_x, inputs.T)
    if not bg.converged or not all(math.isfinite(v) for v in bg.params.as_dict().values()):
        raise ValueError(f"BG/NBD did not converge: {bg.message}")
    fields: dict[str, Any] = {**bg.params.as_dict(), "bgnbd_loglik": bg.loglik}
    horizon_weeks = horizon_months * clv.WEEKS_PER_MONTH
    expected = clv.bgnbd_expected_purchases(bg.params, horizon_weeks, inputs.x, inputs.t_x, inputs.T)
    p_alive = clv.bgnbd_probability_alive(bg.params, inputs.x, inputs.t_x, inputs.T)

    # Gamma-Gamma needs positive mean spend and q > 1 (a finite mean); otherwise spend
    # falls back to each customer's historic mean while the purchase model still applies.
    positive = (inputs.x > 0) & (inputs.m > 0)
    gg = None
    if positive.sum() >= 2:
        try:
            gg = clv.gamma_gamma_fit(inputs.x[positive], inputs.m[positive])
        except ValueError:
            gg = None
    if gg is not None and gg.converged and gg.params.q > 1:
        fields.update({**gg.params.as_dict(), "gg_loglik": gg.loglik})
        spend = clv.gamma_gamma_expected_spend(gg.params, inputs.x, inputs.m)
        predicted = clv.discounted_clv(
            bg.params,
            gg.params,
            inputs.x,
            inputs.t_x,
            inputs.T,
            inputs.m,
            months=horizon_months,
            annual_discount_rate=annual_discount_rate,
            margin=margin,
        )
    else:
        fields["note"] = "Gamma-Gamma could not be fitted (q <= 1 or no spend variation); spend is historic."
        spend = historic_spend
        purchases = clv.discounted_expected_purchases(
            bg.params,
            inputs.x,
            inputs.t_x,
            inputs.T,
            months=horizon_months,
            annual_discount_rate=annual_discount_rate,
        )
        predicted = margin * spend * purchases
    return (
        _Predictions(
            historic_clv=historic_clv,
            expected_purchases=expected,
            p_alive=p_alive,
            expected_spend=np.round(spend, 2),
            predicted_clv=np.round(predicted, 2),
        ),
        fields,
    )


def _fallback_predictions(*, historic_clv: np.ndarray, historic_spend: np.ndarray) -> _Predictions:
    unknown = np.full(historic_clv.shape[0], np.nan)
    return _Predictions(
        historic_clv=historic_clv,
        expected_purchases=unknown,
        p_alive=unknown.copy(),
        expected_spend=np.round(historic_spend, 2),
        predicted_clv=historic_clv.copy(),
    )


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
)
_SQLITE_ROWS_PER_INSERT = 500  # 14 columns x 500 rows stays under SQLite's 32,766 variables


# Text formats of the temporary table's columns for COPY (PostgreSQL), in _TMP_COLUMNS order.
_COPY_FORMATS = ("d", "d", ".2f", ".2f", ".6f", ".6f", "d", "d", ".2f", ".2f", ".6f", ".6f", ".2f", ".2f")


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
                   historic_clv, expected_purchases, p_alive, expected_spend, predicted_clv
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
                predicted_clv = NULL
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


# ------------------------------------------------------------------ report snapshots


@dataclass(frozen=True, slots=True)
class ReportSnapshotRefreshResult:
    as_of: dt.date
    stored: int  # snapshots written by this run (distinct report + query)
    deleted: int  # stale snapshots removed (about an earlier day, not rewritten by this run)
    seconds: float
    seconds_by_report: dict[str, float]  # live computation time summed per report

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "as_of": self.as_of.isoformat()}


def report_default_queries(*, channels: list[str | None]) -> list[tuple[Any, Any]]:
    """(entry point, query) for each report module's default query (what the API asks with no parameters),
    unfiltered and per acquisition channel; reports refusing a channel filter get the unfiltered one only."""
    import importlib
    import pkgutil

    from django.core.exceptions import ValidationError

    import analytics.reports
    from analytics.reports.base import ReportFilters

    calls = []
    for info in sorted(pkgutil.iter_modules(analytics.reports.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"analytics.reports.{info.name}")
        run = getattr(module, f"{info.name}_report", None)
        query_class = next(
            (
                obj
                for name, obj in vars(module).items()
                if name.endswith("Query") and isinstance(obj, type) and obj.__module__ == module.__name__
            ),
            None,
        )
        if run is None or query_class is None:
            continue
        for channel in channels:
            query = query_class(filters=ReportFilters(channel=channel))
            try:
                query.validate()
            except ValidationError:
                continue
            calls.append((run, query))
    return calls


def report_snapshots_refresh(*, periods: tuple[str, ...] | None = None) -> ReportSnapshotRefreshResult:
    """Compute and store the snapshots of the default report queries, then drop snapshots of earlier days.

    The dashboard and the API ask the same few queries all day and each costs seconds cold
    at scale; stored once a night (after the lifecycle recompute), they are answered with
    one indexed lookup. Snapshotted: every report's API default query and the dashboard's
    charts for the preset `periods` (CRM_REPORT_SNAPSHOT_PERIODS, the overview's default
    period by default), each unfiltered and per acquisition channel. The dashboard's
    queries are recorded by running its own chart builders, so the stored keys are exactly
    the queries the page asks. Each report is computed by its own set-based statement.
    """
    from analytics.kpis import DEFAULT_PERIOD, overview_query_from_params
    from analytics.models import ReportSnapshot
    from analytics.reports.base import report_snapshots_recording
    from analytics.views import CHARTS, chart_run
    from contacts.models import Channel

    if periods is None:
        periods = tuple(_setting("CRM_REPORT_SNAPSHOT_PERIODS", None) or (DEFAULT_PERIOD,))
    started_at = timezone.now()
    started = time.perf_counter()
    channels: list[str | None] = [None, *Channel.values]
    with report_snapshots_recording():
        for run, query in report_default_queries(channels=channels):
            run(query)
        for period in periods:
            for channel in channels:
                overview_query, errors = overview_query_from_params({"period": period, "channel": channel or ""})
                if errors:
                    raise ValueError(f"Bad report snapshot period {period!r}: {errors}")
                for spec in CHARTS:
                    chart_run(spec, overview_query)
    today = timezone.localdate()
    deleted, _ = ReportSnapshot.objects.filter(as_of__lt=today, computed_at__lt=started_at).delete()
    seconds_by_report: dict[str, float] = {}
    stored = 0
    for report, duration in ReportSnapshot.objects.filter(computed_at__gte=started_at).values_list(
        "report", "duration"
    ):
        stored += 1
        seconds_by_report[report] = round(seconds_by_report.get(report, 0.0) + duration.total_seconds(), 3)
    return ReportSnapshotRefreshResult(
        as_of=today,
        stored=stored,
        deleted=deleted,
        seconds=round(time.perf_counter() - started, 3),
        seconds_by_report=dict(sorted(seconds_by_report.items())),
    )
