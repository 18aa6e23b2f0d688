"""The CLV model page for marketers (/analytics/clv/model/) and the CSV behind each of its charts.

Reads the stored live fit and its backtest only (analytics.clv_model_page builds the series),
so it is served in milliseconds whatever the size of the base.
"""

from __future__ import annotations

import csv

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.web_access import MARKETING, roles_required
from analytics import clv, clv_model_page
from analytics.selectors import clv_live_fit_latest


@roles_required(MARKETING)
@require_GET
def clv_model_view(request: HttpRequest) -> HttpResponse:
    """The chosen purchase model and why, its backtest charts, the P(alive) heatmap, parameters and guidance."""
    fit = clv_live_fit_latest()
    context: dict = {"fit": fit}
    if fit is not None:
        backtest = fit.backtest
        context |= {
            "backtest": backtest,
            "guidance": clv_model_page.guidance(fit, backtest),
            "parameters": clv_model_page.parameter_rows(fit),
            "spend": fit.details.get("spend") or {},
            "charts": {
                "p_alive": clv_model_page.p_alive_grid(fit) if not fit.is_fallback else None,
                "tracking": clv_model_page.tracking_series(backtest) if backtest else None,
                "by_frequency": clv_model_page.by_frequency_series(backtest) if backtest else None,
            },
            "models": {
                name: {**backtest.result["models"][name], "label": clv.MODELS[name].label}
                for name in clv.MODEL_NAMES
                if backtest and name in backtest.result["models"]
            },
            "tables": {
                key: clv_model_page.csv_table(key, fit, backtest)
                for key in ("tracking", "by_frequency", "p_alive")
                if not (fit.is_fallback and key == "p_alive")
            },
        }
    return render(request, "analytics/clv_model.html", context)


@roles_required(MARKETING)
@require_GET
def clv_model_csv_view(request: HttpRequest, key: str) -> HttpResponse:
    """The numbers behind one chart of the CLV model page as CSV."""
    fit = clv_live_fit_latest()
    if key not in clv_model_page.CHART_KEYS or fit is None or (fit.is_fallback and key != "parameters"):
        raise Http404("No such chart.")
    table = clv_model_page.csv_table(key, fit, fit.backtest)
    if table is None:
        raise Http404("This chart has no data: no backtest has been run yet.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="clv-{key}-{fit.as_of:%Y%m%d}.csv"'
    writer = csv.writer(response)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return response
