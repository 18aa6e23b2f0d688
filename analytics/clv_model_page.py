"""What the CLV model page and its API show: charts' series, their CSV tables and plain-words guidance.

Built from the stored live fit and its backtest (no recomputation beyond a small P(alive)
grid), so the page, its CSVs and `/api/v1/analytics/clv/backtest/` always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics import clv
from analytics.models import CLVBacktest, CLVModelFit

# The P(alive) heatmap: purchase-day counts (rows) by weeks since the last purchase (columns).
HEATMAP_FREQUENCIES = tuple(range(11))
HEATMAP_SILENCE_WEEKS = (0, 4, 8, 13, 26, 39, 52, 78, 104)
HEATMAP_AGE_WEEKS = 104  # repeat customers of two years; one-time buyers are as old as their silence
CHART_KEYS = ("tracking", "by_frequency", "p_alive", "parameters")


@dataclass(frozen=True, slots=True)
class CsvTable:
    """One chart's numbers as a table: the CSV behind the chart."""

    columns: list[str]
    rows: list[list[Any]]


def _label(name: str) -> str:
    return clv.MODELS[name].label


def _in_order(models: dict[str, Any]) -> list[str]:
    """The registered models present in `models`, in the registry's order (jsonb reorders keys)."""
    return [name for name in clv.MODEL_NAMES if name in models]


def tracking_series(backtest: CLVBacktest) -> dict[str, Any]:
    """Weekly cumulative repeat purchases, actual and per model, and the split week."""
    result = backtest.result
    weeks = result["tracking"]["week_ends"]
    split = backtest.calibration_end.isoformat()
    split_index = next((i for i, d in enumerate(weeks) if d >= split), len(weeks) - 1)
    return {
        "kind": "tracking",
        "dates": weeks,
        "split": weeks[split_index] if weeks else split,
        "lines": [{"name": "Actual", "values": result["tracking"]["actual"]}]
        + [
            {"name": _label(name), "values": [round(v, 1) for v in result["models"][name]["tracking"]]}
            for name in _in_order(result["models"])
        ],
    }


def by_frequency_series(backtest: CLVBacktest) -> dict[str, Any]:
    """Holdout repeat purchases by calibration frequency: actual beside each model's forecast."""
    result = backtest.result
    freq = result["by_frequency"]
    return {
        "kind": "grouped_bar",
        "labels": freq["labels"],
        "customers": freq["customers"],
        "bars": [{"name": "Actual", "values": freq["actual"]}]
        + [
            {"name": _label(name), "values": [round(v, 1) for v in result["models"][name]["by_frequency_predicted"]]}
            for name in _in_order(result["models"])
        ],
    }


def p_alive_grid(fit: CLVModelFit) -> dict[str, Any]:
    """P(alive) under the live model by purchase days (rows) and weeks since the last purchase (columns)."""
    model = clv.MODELS[fit.model]
    params = model.params_from(fit.params)
    rows, cells = [], []
    silences = np.array(HEATMAP_SILENCE_WEEKS, dtype=np.float64)
    for yi, x in enumerate(HEATMAP_FREQUENCIES):
        if x == 0:
            T = np.maximum(silences, 1.0 / 7.0)
            t_x = np.zeros_like(T)
        else:
            T = np.maximum(float(HEATMAP_AGE_WEEKS), silences + x / 7.0)
            t_x = T - silences
        alive = model.probability_alive(params, np.full(T.size, float(x)), t_x, T)
        rows.append(f"{x + 1} purchase day{'s' if x else ''}")
        cells += [[xi, yi, round(float(p) * 100, 1)] for xi, p in enumerate(alive)]
    return {
        "kind": "heatmap",
        "x": [f"{int(s)} wk" for s in HEATMAP_SILENCE_WEEKS],
        "y": rows,
        "cells": cells,
        "caption": (
            f"P(alive) under {_label(fit.model)}: customers of {HEATMAP_AGE_WEEKS} weeks by purchase days and "
            "weeks since their last purchase (one-time buyers are as old as their silence)."
        ),
    }


def parameter_rows(fit: CLVModelFit) -> list[dict[str, Any]]:
    """Every model's parameters fitted on all data, with standard errors, and the chosen one marked."""
    rows = []
    models = fit.details.get("models", {})
    for name in _in_order(models):
        entry = models[name]
        for key in clv.MODELS[name].param_names:  # PostgreSQL's jsonb does not keep key order
            value = entry["params"][key]
            se = entry["standard_errors"].get(key)
            rows.append(
                {
                    "model": _label(name),
                    "chosen": name == fit.model,
                    "parameter": key,
                    "value": value,
                    "standard_error": se,
                    "relative_error": None if se is None or not value else se / value,
                }
            )
    return rows


def guidance(fit: CLVModelFit, backtest: CLVBacktest | None) -> list[str]:
    """Plain-words sentences on how far to trust the forecast, from the backtest and the fit."""
    if fit.is_fallback:
        return [f"No model is in use: {fit.note} Predicted values are the customers' historic values."]
    lines = [fit.details.get("choice", {}).get("reason", "")]
    if backtest is None:
        lines.append(
            "There was too little history to test the forecast on a holdout, so nobody knows yet how good it is: "
            "use the scores to rank customers, not to plan revenue."
        )
    else:
        chosen = backtest.result["models"].get(fit.model)
        weeks = backtest.result["holdout_weeks"]
        if chosen:
            error = chosen["total_error"]
            lines.append(
                f"Tested on the last {weeks:.0f} weeks, which it did not see while fitting, the model forecast "
                f"{chosen['predicted_total']:,.0f} repeat purchases; customers made {backtest.actual_total:,.0f} "
                f"({error:+.0%})."
            )
            if abs(error) <= 0.1:
                lines.append("Totals are trustworthy: use them to size next period's repeat business.")
            elif abs(error) <= 0.25:
                lines.append("Totals are roughly right: plan with a margin of a quarter either way.")
            else:
                lines.append("Totals missed by more than a quarter: rank customers with it, but do not budget on it.")
            lines.append(
                f"For a single customer the forecast is off by {chosen['mae']:.2f} purchases on average: "
                "compare customers, do not promise one customer's number."
            )
    if fit.n_repeat_customers < 500:
        lines.append(f"Only {fit.n_repeat_customers:,} customers bought twice or more: the estimates are rough.")
    loose = [
        r["parameter"] for r in parameter_rows(fit) if r["chosen"] and r["relative_error"] and r["relative_error"] > 0.5
    ]
    if loose:
        lines.append(f"Some parameters are poorly determined ({', '.join(loose)}): read the intervals, not the points.")
    spend = fit.details.get("spend") or {}
    if spend and not spend.get("use_gamma_gamma"):
        lines.append(
            f"Spend: {spend.get('reason')} Each customer's own average spend, pulled towards the typical "
            "purchase, values their purchases instead."
        )
    elif spend:
        lines.append(f"Spend: {spend.get('reason')}")
    return [line for line in lines if line]


def csv_table(key: str, fit: CLVModelFit, backtest: CLVBacktest | None) -> CsvTable | None:
    """The numbers behind one chart of the page (None when that chart has no data)."""
    if key == "parameters":
        rows = parameter_rows(fit)
        return CsvTable(
            ["Model", "Chosen", "Parameter", "Value", "Standard error"],
            [[r["model"], "yes" if r["chosen"] else "", r["parameter"], r["value"], r["standard_error"]] for r in rows],
        )
    if key == "p_alive":
        grid = p_alive_grid(fit)
        table: dict[int, list[Any]] = {}
        for xi, yi, value in grid["cells"]:
            table.setdefault(yi, [grid["y"][yi]] + [None] * len(grid["x"]))[xi + 1] = value
        return CsvTable(["Purchase days", *(f"P(alive) % at {x}" for x in grid["x"])], list(table.values()))
    if backtest is None:
        return None
    if key == "tracking":
        series = tracking_series(backtest)
        names = [line["name"] for line in series["lines"]]
        return CsvTable(
            ["Week ending", "Period", *names],
            [
                [d, "calibration" if d <= backtest.calibration_end.isoformat() else "holdout"]
                + [line["values"][i] for line in series["lines"]]
                for i, d in enumerate(series["dates"])
            ],
        )
    if key == "by_frequency":
        series = by_frequency_series(backtest)
        return CsvTable(
            ["Calibration repeat purchases", "Customers", *(b["name"] for b in series["bars"])],
            [
                [label, series["customers"][i]] + [b["values"][i] for b in series["bars"]]
                for i, label in enumerate(series["labels"])
            ],
        )
    return None


def clv_backtest_as_dict(backtest: CLVBacktest) -> dict[str, Any]:
    """The public JSON of a backtest (`GET /api/v1/analytics/clv/backtest/`)."""
    return {
        "id": backtest.pk,
        "as_of": backtest.as_of.isoformat(),
        "calibration_end": backtest.calibration_end.isoformat(),
        "holdout_end": backtest.holdout_end.isoformat(),
        "n_customers": backtest.n_customers,
        "n_repeat_customers": backtest.n_repeat_customers,
        "actual_total": backtest.actual_total,
        "chosen_model": backtest.chosen_model,
        "reason": backtest.reason,
        "models": {
            name: {
                "label": _label(name),
                "params": m["params"],
                "loglik": m["loglik"],
                "converged": m["converged"],
                "predicted_total": m["predicted_total"],
                "total_error": m["total_error"],
                "mae": m["mae"],
                "by_frequency_predicted": m["by_frequency_predicted"],
            }
            for name, m in backtest.result["models"].items()
        },
        "by_frequency": backtest.result["by_frequency"],
        "tracking": tracking_series(backtest),
        "created_at": backtest.created_at.isoformat(),
    }
