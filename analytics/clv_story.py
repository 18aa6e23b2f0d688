"""One story of a customer's value on the contact page: stage, P(alive), RFM segment and risk agree.

The lifecycle stage comes from rules over silence (at_risk, churned), P(alive) from the
purchase model, the RFM segment from quintiles: three views that can disagree (a weekly
buyer quiet for a month can be "at risk" by rule yet very likely active). The story takes
one status from P(alive), says plainly where the stage rule sees it differently and why,
and explains the score in one sentence from the customer's own numbers and the model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from analytics import clv
from analytics.models import CLVModelFit

# P(alive) bands of the status word. "Active" starts where the contact page's risk line
# stops saying "high risk" (CRM_AT_RISK_P_ALIVE, 0.5 by default), so the two never disagree.
LAPSED_BELOW = 0.2


@dataclass(frozen=True, slots=True)
class ValueStory:
    """What the contact page's value story shows."""

    status: str  # "active", "slipping" or "lapsed"
    headline: str
    tone: str  # "ok", "warn" or "bad" (the colour of the line)
    sentence: str
    stage_note: str  # where the stage rule sees it differently, or ""
    predicted_clv: Any
    interval: tuple[Any, Any] | None


def _status(p_alive: float) -> tuple[str, str, str]:
    if p_alive >= float(getattr(settings, "CRM_AT_RISK_P_ALIVE", 0.5)):
        return "active", "Likely still a customer", "ok"
    if p_alive >= LAPSED_BELOW:
        return "slipping", "Slipping away", "warn"
    return "lapsed", "Probably lapsed", "bad"


def _days(then: dt.datetime | None, now: dt.datetime) -> int | None:
    return None if then is None else max((now - then).days, 0)


def value_story(
    *, contact: Any, metrics: Any, fit: CLVModelFit | None, now: dt.datetime | None = None
) -> ValueStory | None:
    """The value story of a contact with purchases and model scores; None otherwise (nothing to tell)."""
    if metrics is None or not metrics.purchase_count or metrics.p_alive is None or fit is None or fit.is_fallback:
        return None
    now = now or timezone.now()
    p = float(metrics.p_alive)
    status, headline, tone = _status(p)
    silent = _days(metrics.last_purchase_at, now)
    n = metrics.purchase_count
    gap = None
    if n > 1 and metrics.first_purchase_at and metrics.last_purchase_at:
        gap = (metrics.last_purchase_at - metrics.first_purchase_at).days / (n - 1)
    model = clv.MODELS[fit.model].label if fit.model in clv.MODELS else fit.model
    history = f"{n} purchase{'s' if n != 1 else ''}"
    if gap is not None:
        history += f", about every {gap:.0f} days"
    if silent is not None:
        history += f", the last {silent} days ago"
    horizon = round(fit.horizon_weeks / clv.WEEKS_PER_MONTH)
    expected = metrics.expected_purchases or 0.0
    sentence = (
        f"{history.capitalize()}: under {model}, fitted on {fit.n_customers:,} customers, someone with this "
        f"history is still buying with probability {p:.0%} and is expected to buy {expected:.1f} times in the "
        f"next {horizon} months."
    )
    if n == 1 and silent is not None:
        sentence += " One purchase says little about their pace, so the silence weighs heavily."
    stage = contact.stage
    stage_note = ""
    exit_stage = getattr(stage, "category", "") == "exit"
    if exit_stage and status == "active":
        # The rule counts days of silence; the model weighs them against the customer's own pace.
        headline, tone = f"{stage.name} by the stage rule, but probably still a customer", "warn"
        stage_note = (
            f"The stage rule moved them to {stage.name} after a silence; for someone buying "
            f"{'this often' if gap else 'like this'} the model still finds them likely active: a good win-back target."
        )
    elif not exit_stage and status == "lapsed" and getattr(stage, "category", "") == "customer":
        stage_note = (
            f"Still in {stage.name}: the stage rule has not yet counted enough silence, but the model already "
            "finds a return unlikely."
        )
    low, high = metrics.predicted_clv_low, metrics.predicted_clv_high
    interval = (low, high) if low is not None and high is not None else None
    return ValueStory(status, headline, tone, sentence, stage_note, metrics.predicted_clv, interval)
