"""Which purchase model drives the live scores: the best holdout error, unless an admin pins one.

The criterion is the per-customer mean absolute error of the holdout forecast: it is what a
marketer acting on single customers' scores cares about, and unlike the total it cannot be
won by errors that cancel between customers. Models whose calibration fit did not converge
are not eligible.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.clv.backtest import BacktestResult
from analytics.clv.registry import MODELS

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The chosen model and, in plain words, why."""

    model: str
    reason: str
    pinned: bool


def choose_model(backtest: BacktestResult | None, *, pinned: str = AUTO) -> ModelChoice:
    """The live model: `pinned` when it names a model, else the lowest holdout MAE; BG/NBD without a backtest."""
    if pinned and pinned != AUTO:
        if pinned not in MODELS:
            raise ValueError(f"unknown purchase model {pinned!r}; choose 'auto' or one of {', '.join(MODELS)}")
        return ModelChoice(pinned, f"{MODELS[pinned].label} is pinned by an administrator.", True)
    eligible = {} if backtest is None else {n: m for n, m in backtest.models.items() if m.converged}
    if not eligible:
        return ModelChoice(
            "bgnbd", "No holdout backtest was possible (too little history), so the default BG/NBD is used.", False
        )
    ranked = sorted(eligible.values(), key=lambda m: (m.mae, abs(m.total_error)))
    best = ranked[0]
    others = ", ".join(f"{MODELS[m.model].label} {m.mae:.3f}" for m in ranked[1:])
    reason = (
        f"{MODELS[best.model].label} had the smallest error per customer on the holdout "
        f"({best.mae:.3f} purchases{'; ' + others if others else ''}) and forecast "
        f"{best.predicted_total:,.0f} repeat purchases against {best.actual_total:,.0f} actual."
    )
    return ModelChoice(best.model, reason, False)
