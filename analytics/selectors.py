"""Reads of the analytics app that are not reports: the latest CLV fit and backtest, purchase days."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from django.db import connection
from django.db.models.functions import TruncDate

from analytics import clv_model_page
from analytics.models import CLVBacktest, CLVFitKind, CLVModelFit
from contacts.models import Touchpoint, TouchpointKind


def clv_model_fit_latest() -> CLVModelFit | None:
    """The most recent live CLV fit (by creation time), or None before the first recompute.

    Backtest rows (calibration fits) are not "the model": they are read with their backtest.
    """
    return clv_live_fit_latest()


def clv_model_fit_as_dict(fit: CLVModelFit) -> dict[str, Any]:
    """The public JSON shape of a fit (`GET /api/v1/analytics/clv/model/`, issue 4)."""
    return {
        "id": fit.pk,
        "as_of": fit.as_of.isoformat(),
        "n_customers": fit.n_customers,
        "n_repeat_customers": fit.n_repeat_customers,
        "is_fallback": fit.is_fallback,
        "note": fit.note,
        "horizon_weeks": fit.horizon_weeks,
        "discount_rate": fit.discount_rate,
        "duration_seconds": fit.duration_seconds,
        "created_at": fit.created_at.isoformat(),
        "bgnbd": {"r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b, "loglik": fit.bgnbd_loglik},
        "gamma_gamma": {"p": fit.p, "q": fit.q, "gamma": fit.gamma, "loglik": fit.gg_loglik},
        # Issue 18: the model behind the scores, why, how it did on the holdout, and every model's fit.
        "model": fit.model,
        "model_label": fit.get_model_display(),
        "choice": fit.details.get("choice"),
        "params": fit.params,
        "standard_errors": fit.standard_errors,
        "loglik": fit.loglik,
        "holdout": None
        if fit.holdout_mae is None
        else {"predicted": fit.holdout_predicted, "actual": fit.holdout_actual, "mae": fit.holdout_mae},
        "backtest_id": fit.backtest_id,
        "models": fit.details.get("models", {}),
        "spend": fit.details.get("spend"),
        "guidance": clv_model_page.guidance(fit, fit.backtest),
    }


def clv_live_fit_latest() -> CLVModelFit | None:
    """The most recent live CLV fit (the one behind the contacts' scores), or None before the first recompute."""
    return (
        CLVModelFit.objects.filter(kind=CLVFitKind.LIVE)
        .select_related("backtest")
        .order_by("-created_at", "-id")
        .first()
    )


def clv_backtest_latest() -> CLVBacktest | None:
    """The most recent calibration/holdout backtest, with its per-model fit rows prefetched."""
    return CLVBacktest.objects.prefetch_related("fits").order_by("-created_at", "-id").first()


def purchase_days_as_of(*, as_of_end: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """(contact id, day number since 1970) of every distinct purchase day before `as_of_end`, in ONE query.

    The backtest needs each customer's purchase days, not only the summary: the holdout
    repeats and the weekly tracking series come from them. Days are the project's time-zone
    days (TruncDate), as in the purchase summary, so the two agree.
    """
    per_day = (
        Touchpoint.objects.filter(kind=TouchpointKind.PURCHASE, occurred_at__lt=as_of_end)
        .annotate(day=TruncDate("occurred_at"))
        .values("contact_id", "day")
        .distinct()
        .order_by()
    )
    sql, params = per_day.query.sql_with_params()
    if connection.vendor == "postgresql":
        day_number = "(d.day - DATE '1970-01-01')"
    else:
        day_number = "CAST(julianday(d.day) - 2440587.5 AS INTEGER)"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT d.contact_id, {day_number} FROM ({sql}) d", params)
        rows = cursor.fetchall()
    table = np.array(rows, dtype=np.int64).reshape(len(rows), 2)
    return table[:, 0], table[:, 1]
