"""Reads of the analytics app that are not reports: the latest CLV fit."""

from __future__ import annotations

from typing import Any

from analytics.models import CLVModelFit


def clv_model_fit_latest() -> CLVModelFit | None:
    """The most recent CLV fit (by creation time), or None before the first recompute."""
    return CLVModelFit.objects.order_by("-created_at", "-id").first()


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
    }
