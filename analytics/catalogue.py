"""The metric catalogue: every figure the product shows, defined once.

A KPI card, a chart's table column (and so its CSV column), and every field of the analytics
API name a `Metric` here by key. The label, the plain-words definition, the population, the
time basis, the unit (and so the format) come from this module and nowhere else: templates
show `label` and offer `definition` on demand, `docs/METRICS.md` is generated from it
(`manage.py metrics_docs`), and tests fail when a figure is shown without an entry or the
document is stale. Two figures that answer different questions have different keys and
labels; one question has one key, wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lifecycle_crm.formats import format_value


class Unit(StrEnum):
    COUNT = "count"
    MONEY = "money"
    PERCENT = "percent"
    DAYS = "days"
    DATE = "date"
    LABEL = "label"  # a name or id that identifies a row (a dimension), not a measure
    FLAG = "flag"
    NUMBER = "number"


class TimeBasis(StrEnum):
    EVENT = "by event date"  # events whose own date lies in the period
    COHORT = "by cohort"  # a group fixed by when it started (entered, first bought), followed to the as-of day
    AS_OF = "as of a day"  # a state at the end of a day
    LATEST = "as of the last recompute"  # per-contact facts as the last evaluation/recompute left them
    CAMPAIGN = "over the campaign's life"  # the campaign's own dates plus the attribution window
    NONE = "none"  # labels and parameters


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure: what it is called, what it means, whom it counts, over which time, and how it is shown."""

    key: str
    label: str
    definition: str
    population: str
    time_basis: TimeBasis
    unit: Unit
    api: tuple[str, ...] = ()  # "<report>.<field path>" of every analytics API field carrying it

    def format(self, value: Any) -> str:
        return format_value(self.unit.value, value)


_CUSTOMERS = "Contacts with at least one purchase."
_ALL = "All contacts matching the overview's filters."
_NONE = "—"

METRICS: tuple[Metric, ...] = (
    # ------------------------------------------------------------------ KPI cards
    Metric(
        "kpi.new_contacts",
        "New contacts",
        "Contacts created in the period.",
        _ALL,
        TimeBasis.EVENT,
        Unit.COUNT,
    ),
    Metric(
        "kpi.first_purchases",
        "First purchases",
        "Moves into a customer stage from a prospect stage (or from no stage) whose effective time lies in the "
        "period: contacts who became customers in the period, whenever they were acquired.",
        _ALL,
        TimeBasis.EVENT,
        Unit.COUNT,
    ),
    Metric(
        "kpi.new_contact_conversion",
        "Conversion of new contacts",
        "Of the contacts created in the period, the share that has made at least one purchase by now. Counts "
        "the period's new contacts only, so it is not First purchases divided by New contacts.",
        "Contacts created in the period.",
        TimeBasis.COHORT,
        Unit.PERCENT,
    ),
    Metric(
        "kpi.revenue",
        "Revenue",
        "Sum of purchase amounts whose purchase date lies in the period (refunds not netted).",
        _ALL,
        TimeBasis.EVENT,
        Unit.MONEY,
    ),
    Metric(
        "kpi.churn_rate",
        "Churned share (stage)",
        "Of everyone who is or has been a customer (customer and exit stages), the share now in the Churned "
        "stage; the previous value is the nightly stage snapshot of the day before the period.",
        "Contacts in a customer or exit stage.",
        TimeBasis.AS_OF,
        Unit.PERCENT,
    ),
    Metric(
        "kpi.retention_rate",
        "Not churned (stage)",
        "1 minus the churned share: of everyone who is or has been a customer, the share not in the Churned stage.",
        "Contacts in a customer or exit stage.",
        TimeBasis.AS_OF,
        Unit.PERCENT,
    ),
    Metric(
        "kpi.repeat_rate",
        "Customers with 2+ purchases",
        "Of the customers, the share with two or more purchases (touchpoints), as the engine last counted them.",
        _CUSTOMERS,
        TimeBasis.LATEST,
        Unit.PERCENT,
    ),
    Metric(
        "kpi.churn_moves",
        "Moves to Churned",
        "Moves into the Churned stage whose effective time lies in the period (a contact that churned twice "
        "counts twice).",
        _ALL,
        TimeBasis.EVENT,
        Unit.COUNT,
    ),
    Metric(
        "kpi.avg_historic_clv",
        "Average historic CLV",
        "Mean over customers of purchases minus refunds to date, times the margin (CRM_MARGIN).",
        _CUSTOMERS,
        TimeBasis.LATEST,
        Unit.MONEY,
    ),
    Metric(
        "kpi.avg_predicted_clv",
        "Average predicted CLV",
        "Mean over customers of the predicted CLV of the last customer-value recompute (the CLV distribution "
        "chart's mean over the same customers).",
        "Customers valued by the last recompute.",
        TimeBasis.LATEST,
        Unit.MONEY,
        api=("clv_distribution.mean",),
    ),
    Metric(
        "stage.contacts_now",
        "Contacts in the stage now",
        "Contacts whose current stage is this one.",
        _ALL,
        TimeBasis.AS_OF,
        Unit.COUNT,
    ),
    Metric(
        "stage.contacts_at_start",
        "At period start",
        "Contacts in the stage at the end of the day before the period (the nightly stage snapshot; whole base only).",
        "All contacts.",
        TimeBasis.AS_OF,
        Unit.COUNT,
    ),
    # ------------------------------------------------------------------ contacts per stage over time
    Metric(
        "stage_counts.date",
        "Date",
        "The day of the nightly stage snapshot.",
        _NONE,
        TimeBasis.NONE,
        Unit.DATE,
        api=("stage_counts.dates", "stage_counts.period_start", "stage_counts.period_end"),
    ),
    Metric(
        "stage_counts.contacts",
        "Contacts in the stage",
        "Contacts in the stage at the end of the day (nightly snapshot; whole base only).",
        "All contacts.",
        TimeBasis.AS_OF,
        Unit.COUNT,
        api=("stage_counts.series.counts",),
    ),
    Metric(
        "stage_counts.restated",
        "Restated days",
        "Days whose stored stage counts were corrected after later history arrived (a purchase or move that"
        " happened before the day but was learned after it), each with when it was corrected.",
        _NONE,
        TimeBasis.NONE,
        Unit.DATE,
        api=("stage_counts.restated",),
    ),
    # ------------------------------------------------------------------ funnel
    Metric(
        "stage.name",
        "Stage",
        "A lifecycle stage (its slug, name, position and colour).",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=(
            "funnel.steps.stage",
            "funnel.steps.name",
            "funnel.steps.position",
            "stage_counts.series.stage",
            "stage_counts.series.name",
            "stage_counts.series.colour",
            "top_customers.customers.stage",
        ),
    ),
    Metric(
        "funnel.reached",
        "Reached",
        "Of the contacts who entered the lifecycle in the period (their first placement in a path stage), those "
        "who reached this stage or a later path stage by the as-of day. In the ordered variant: those who entered "
        "every stage up to this one, in order. The Purchase step counts the new contacts who became customers.",
        "Contacts whose first placement in the lifecycle lies in the period.",
        TimeBasis.COHORT,
        Unit.COUNT,
        api=("funnel.steps.reached", "funnel.entered"),
    ),
    Metric(
        "funnel.step_conversion",
        "Step conversion",
        "Reached at this step divided by reached at the previous step.",
        "As Reached.",
        TimeBasis.COHORT,
        Unit.PERCENT,
        api=("funnel.steps.step_conversion",),
    ),
    Metric(
        "funnel.cumulative_conversion",
        "Share of entrants",
        "Reached at this step divided by the contacts who entered the lifecycle in the period.",
        "As Reached.",
        TimeBasis.COHORT,
        Unit.PERCENT,
        api=("funnel.steps.cumulative_conversion",),
    ),
    Metric(
        "funnel.drop_off",
        "Drop-off",
        "Reached at the previous step minus reached at this step.",
        "As Reached.",
        TimeBasis.COHORT,
        Unit.COUNT,
        api=("funnel.steps.drop_off",),
    ),
    Metric(
        "funnel.median_days_to_next",
        "Median days to next",
        "Median time from the first entry into this stage to the first entry into the next one, among contacts "
        "who entered both in that order.",
        "As Reached.",
        TimeBasis.COHORT,
        Unit.DAYS,
        api=("funnel.steps.median_days_to_next",),
    ),
    # ------------------------------------------------------------------ stage flow
    Metric(
        "flow.from_stage",
        "From",
        "The stage left (New = the contact's first placement).",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=("stage_flow.flows.from_stage",),
    ),
    Metric(
        "flow.to_stage",
        "To",
        "The stage entered.",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=("stage_flow.flows.to_stage",),
    ),
    Metric(
        "flow.moves",
        "Moves",
        "Stage moves between the two stages whose effective time lies in the period.",
        _ALL,
        TimeBasis.EVENT,
        Unit.COUNT,
        api=("stage_flow.flows.transitions", "stage_flow.total"),
    ),
    Metric(
        "flow.contacts",
        "Contacts moved",
        "Distinct contacts that made this move in the period.",
        _ALL,
        TimeBasis.EVENT,
        Unit.COUNT,
        api=("stage_flow.flows.contacts",),
    ),
    # ------------------------------------------------------------------ cohorts
    Metric(
        "cohort.month",
        "Cohort",
        "The calendar month (local time) of the customers' first purchase.",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=("cohort_retention.cohorts.month", "cohort_retention.cohorts.cells.k"),
    ),
    Metric(
        "cohort.size",
        "Cohort customers",
        "Customers whose first purchase fell in the cohort month.",
        "Customers, by first-purchase month.",
        TimeBasis.COHORT,
        Unit.COUNT,
        api=("cohort_retention.cohorts.size",),
    ),
    Metric(
        "cohort.month0_revenue",
        "Cohort month-0 revenue",
        "Purchases of the cohort's customers in the cohort month (gross).",
        "Customers, by first-purchase month.",
        TimeBasis.COHORT,
        Unit.MONEY,
        api=("cohort_retention.cohorts.revenue",),
    ),
    Metric(
        "cohort.customers",
        "Customers buying in month k",
        "The cohort's customers with a purchase in the k-th month after the cohort month.",
        "Customers, by first-purchase month.",
        TimeBasis.COHORT,
        Unit.COUNT,
        api=("cohort_retention.cohorts.cells.customers",),
    ),
    Metric(
        "cohort.share",
        "Retention in month k",
        "Customers buying in month k divided by the cohort's customers. A month not over yet on the as-of day "
        "is marked partial: its share can still grow.",
        "Customers, by first-purchase month.",
        TimeBasis.COHORT,
        Unit.PERCENT,
        api=("cohort_retention.cohorts.cells.share",),
    ),
    Metric(
        "cohort.revenue",
        "Revenue in month k",
        "The cohort's purchases in the k-th month after the cohort month (gross).",
        "Customers, by first-purchase month.",
        TimeBasis.COHORT,
        Unit.MONEY,
        api=("cohort_retention.cohorts.cells.revenue",),
    ),
    Metric(
        "cohort.revenue_retention",
        "Revenue retention in month k",
        "Revenue in month k divided by the cohort's month-0 revenue.",
        "Customers, by first-purchase month.",
        TimeBasis.COHORT,
        Unit.PERCENT,
        api=("cohort_retention.cohorts.cells.revenue_retention",),
    ),
    Metric(
        "cohort.partial",
        "Partial month",
        "True when month k is not over on the as-of day (the current month): its figures are so far only.",
        _NONE,
        TimeBasis.AS_OF,
        Unit.FLAG,
        api=("cohort_retention.cohorts.cells.partial",),
    ),
    # ------------------------------------------------------------------ CLV distribution
    Metric(
        "clv.bucket",
        "Predicted CLV range",
        "An equal-width range of predicted CLV from 0 to the maximum (negative values fall into the first).",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=(
            "clv_distribution.buckets.index",
            "clv_distribution.buckets.lower",
            "clv_distribution.buckets.upper",
            "clv_distribution.measure",
            "top_customers.measure",
        ),
    ),
    Metric(
        "clv.customers",
        "Valued customers",
        "Customers with a predicted CLV from the last customer-value recompute (in the range, or in total).",
        "Customers valued by the last recompute.",
        TimeBasis.LATEST,
        Unit.COUNT,
        api=("clv_distribution.customers", "clv_distribution.buckets.customers"),
    ),
    Metric(
        "clv.total",
        "Total predicted CLV",
        "Sum of the customers' predicted CLV (in the range, or in total).",
        "Customers valued by the last recompute.",
        TimeBasis.LATEST,
        Unit.MONEY,
        api=("clv_distribution.total", "clv_distribution.buckets.total"),
    ),
    Metric(
        "clv.median",
        "Median predicted CLV",
        "The middle predicted CLV of the valued customers (mean of the two middle values).",
        "Customers valued by the last recompute.",
        TimeBasis.LATEST,
        Unit.MONEY,
        api=("clv_distribution.median",),
    ),
    Metric(
        "clv.maximum",
        "Highest predicted CLV",
        "The largest predicted CLV among the valued customers.",
        "Customers valued by the last recompute.",
        TimeBasis.LATEST,
        Unit.MONEY,
        api=("clv_distribution.maximum",),
    ),
    # ------------------------------------------------------------------ per contact (top customers)
    Metric(
        "contact.identity",
        "Customer",
        "The contact (id, email, name).",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=("top_customers.customers.contact_id", "top_customers.customers.email", "top_customers.customers.name"),
    ),
    Metric(
        "contact.predicted_clv",
        "Predicted CLV",
        "Discounted value of the contact's expected purchases over the CLV horizon (BG/NBD + Gamma-Gamma), times "
        "the margin; the historic CLV when the models could not be fitted.",
        _CUSTOMERS,
        TimeBasis.LATEST,
        Unit.MONEY,
        api=("top_customers.customers.predicted_clv",),
    ),
    Metric(
        "contact.historic_clv",
        "Historic CLV",
        "The contact's purchases minus refunds to date, times the margin.",
        _CUSTOMERS,
        TimeBasis.LATEST,
        Unit.MONEY,
        api=("top_customers.customers.historic_clv",),
    ),
    Metric(
        "contact.p_alive",
        "P(alive)",
        "The BG/NBD probability that the customer is still active.",
        _CUSTOMERS,
        TimeBasis.LATEST,
        Unit.PERCENT,
        api=("top_customers.customers.p_alive",),
    ),
    Metric(
        "contact.expected_purchases",
        "Expected purchases",
        "Purchases the BG/NBD model expects from the customer over the CLV horizon.",
        _CUSTOMERS,
        TimeBasis.LATEST,
        Unit.NUMBER,
        api=("top_customers.customers.expected_purchases",),
    ),
    Metric(
        "contact.rfm_segment",
        "RFM segment",
        "The named recency/frequency/monetary segment of the last recompute.",
        _CUSTOMERS,
        TimeBasis.LATEST,
        Unit.LABEL,
        api=("top_customers.customers.rfm_segment",),
    ),
    # ------------------------------------------------------------------ campaigns
    Metric(
        "campaign.name",
        "Campaign",
        "The campaign (id, name, channel, objective stage).",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=(
            "campaign_performance.campaigns.campaign_id",
            "campaign_performance.campaigns.name",
            "campaign_performance.campaigns.channel",
            "campaign_performance.campaigns.objective",
        ),
    ),
    Metric(
        "campaign.window",
        "Attribution window",
        "Days after a contact's first touch of the campaign in which their moves and purchases count for it; "
        "the campaign's life runs from its start to its end plus this window.",
        _NONE,
        TimeBasis.NONE,
        Unit.COUNT,
        api=("campaign_performance.window_days",),
    ),
    Metric(
        "campaign.life",
        "Campaign life",
        "From the campaign's start to its end (today while it runs) plus the attribution window.",
        _NONE,
        TimeBasis.CAMPAIGN,
        Unit.DATE,
        api=("campaign_performance.campaigns.life_start", "campaign_performance.campaigns.life_end"),
    ),
    Metric(
        "campaign.reach",
        "Contacts reached",
        "Contacts with a touchpoint attributed to the campaign during its life.",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.COUNT,
        api=("campaign_performance.campaigns.reach",),
    ),
    Metric(
        "campaign.advanced",
        "Advanced",
        "Reached contacts with a forward stage move (or a win-back) within the window after their first touch.",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.COUNT,
        api=("campaign_performance.campaigns.advanced",),
    ),
    Metric(
        "campaign.reached_objective",
        "Reached objective",
        "Reached contacts entering the campaign's objective stage within the window after their first touch.",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.COUNT,
        api=("campaign_performance.campaigns.reached_objective",),
    ),
    Metric(
        "campaign.revenue",
        "Attributed revenue",
        "Purchases of reached contacts within the window after their first touch (first-touch attribution).",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.MONEY,
        api=("campaign_performance.campaigns.revenue",),
    ),
    Metric(
        "campaign.buyers",
        "Buyers",
        "Reached contacts with a purchase within the window after their first touch.",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.COUNT,
        api=("campaign_performance.campaigns.buyers",),
    ),
    Metric(
        "campaign.acquisitions",
        "Acquisitions",
        "Reached contacts whose first purchase ever falls within the window after their first touch.",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.COUNT,
        api=("campaign_performance.campaigns.acquisitions",),
    ),
    Metric(
        "campaign.cost",
        "Cost",
        "The campaign's whole cost.",
        _NONE,
        TimeBasis.CAMPAIGN,
        Unit.MONEY,
        api=("campaign_performance.campaigns.cost",),
    ),
    Metric(
        "campaign.cpa",
        "Cost per acquisition",
        "Cost divided by acquisitions; — without an acquisition.",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.MONEY,
        api=("campaign_performance.campaigns.cost_per_acquisition",),
    ),
    Metric(
        "campaign.roi",
        "ROI",
        "(Attributed revenue x margin - cost) / cost over the campaign's life; — while the campaign has reached "
        "nobody (nothing could be attributed yet) or has no cost.",
        "Contacts the campaign touched.",
        TimeBasis.CAMPAIGN,
        Unit.PERCENT,
        api=("campaign_performance.campaigns.roi", "campaign_performance.margin"),
    ),
    # ------------------------------------------------------------------ channels
    Metric(
        "channel.name",
        "Channel",
        "The contacts' acquisition channel.",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=("channel_performance.channels.channel",),
    ),
    Metric(
        "channel.contacts",
        "New contacts",
        "Contacts acquired (created) in the period through the channel.",
        _ALL,
        TimeBasis.EVENT,
        Unit.COUNT,
        api=("channel_performance.channels.contacts",),
    ),
    Metric(
        "channel.customers",
        "Became customers",
        "Of the channel's new contacts, those with a purchase by the as-of day.",
        "Contacts created in the period.",
        TimeBasis.COHORT,
        Unit.COUNT,
        api=("channel_performance.channels.customers",),
    ),
    Metric(
        "channel.conversion",
        "Conversion of new contacts",
        "Became customers divided by new contacts: per channel, the same figure as the Conversion of new "
        "contacts card.",
        "Contacts created in the period.",
        TimeBasis.COHORT,
        Unit.PERCENT,
        api=("channel_performance.channels.conversion_rate",),
    ),
    Metric(
        "channel.revenue",
        "Revenue of new contacts",
        "Net revenue (purchases minus refunds, all time up to the as-of day) of the channel's new contacts.",
        "Contacts created in the period.",
        TimeBasis.COHORT,
        Unit.MONEY,
        api=("channel_performance.channels.revenue",),
    ),
    Metric(
        "channel.avg_clv",
        "Average predicted CLV of new customers",
        "Mean predicted CLV (last recompute) of the channel's new contacts who became customers.",
        "Contacts created in the period who became customers.",
        TimeBasis.COHORT,
        Unit.MONEY,
        api=("channel_performance.channels.avg_clv",),
    ),
    # ------------------------------------------------------------------ churn report (API)
    Metric(
        "churn.customers",
        "Customers (as of the day)",
        "Contacts with a purchase up to the as-of day (first purchase in the period, when one is given).",
        "Contacts with a purchase up to the as-of day.",
        TimeBasis.AS_OF,
        Unit.COUNT,
        api=("churn.customers",),
    ),
    Metric(
        "churn.inactive",
        "Inactive customers",
        "Customers whose last purchase is more than the inactivity threshold before the as-of day.",
        "Contacts with a purchase up to the as-of day.",
        TimeBasis.AS_OF,
        Unit.COUNT,
        api=("churn.churned", "churn.inactive_days"),
    ),
    Metric(
        "churn.inactive_rate",
        "Inactive share",
        "Inactive customers divided by customers: a purchase-gap measure, not the Churned stage.",
        "Contacts with a purchase up to the as-of day.",
        TimeBasis.AS_OF,
        Unit.PERCENT,
        api=("churn.churn_rate",),
    ),
    Metric(
        "churn.repeat_customers",
        "Customers buying on 2+ days",
        "Customers who bought on two or more distinct days up to the as-of day.",
        "Contacts with a purchase up to the as-of day.",
        TimeBasis.AS_OF,
        Unit.COUNT,
        api=("churn.repeat_customers",),
    ),
    Metric(
        "churn.repeat_rate",
        "Share buying on 2+ days",
        "Customers buying on 2+ days divided by customers (same-day purchases count once, unlike the card "
        "Customers with 2+ purchases).",
        "Contacts with a purchase up to the as-of day.",
        TimeBasis.AS_OF,
        Unit.PERCENT,
        api=("churn.repeat_purchase_rate",),
    ),
    Metric(
        "churn.days_between",
        "Average days between purchases",
        "Mean gap between consecutive purchase days of customers buying on 2+ days.",
        "Customers buying on 2+ days.",
        TimeBasis.AS_OF,
        Unit.DAYS,
        api=("churn.avg_days_between_purchases",),
    ),
    # ------------------------------------------------------------------ report metadata (API)
    Metric(
        "report.as_of",
        "As of",
        "The day the report is about: per-contact facts and histories up to the end of it.",
        _NONE,
        TimeBasis.AS_OF,
        Unit.DATE,
        api=(
            "funnel.as_of",
            "cohort_retention.as_of",
            "channel_performance.as_of",
            "churn.as_of",
            "stage_flow.period_start",
            "stage_flow.period_end",
        ),
    ),
    Metric(
        "report.options",
        "Report options",
        "The options the report was asked with (ordered funnel, conversion window, months shown).",
        _NONE,
        TimeBasis.NONE,
        Unit.LABEL,
        api=("funnel.ordered", "funnel.conversion_window_days", "cohort_retention.months"),
    ),
    Metric(
        "report.served",
        "Result time",
        "When the stored result was computed and the day it is about (absent for a live computation).",
        _NONE,
        TimeBasis.AS_OF,
        Unit.DATE,
        api=tuple(
            f"{name}.{field}"
            for name in (
                "campaign_performance",
                "channel_performance",
                "churn",
                "clv_distribution",
                "cohort_retention",
                "funnel",
                "stage_counts",
                "stage_flow",
                "top_customers",
            )
            for field in ("snapshot", "snapshot.served_from_snapshot", "snapshot.computed_at", "snapshot.as_of")
        ),
    ),
)

CATALOGUE: dict[str, Metric] = {metric.key: metric for metric in METRICS}
BY_API_FIELD: dict[str, Metric] = {path: metric for metric in METRICS for path in metric.api}


def metric(key: str) -> Metric:
    """The catalogue entry of `key`; a KeyError names a figure shown without a definition."""
    return CATALOGUE[key]


def metrics_markdown() -> str:
    """docs/METRICS.md: every figure with its definition, population, time basis, unit and API fields."""
    lines = [
        "# Metrics",
        "",
        "Generated from `analytics/catalogue.py` by `python manage.py metrics_docs`; do not edit by hand",
        "(a test fails when this file and the catalogue differ).",
        "",
        "Every figure the product shows (KPI card, chart column, CSV column, analytics API field) is one",
        "entry below. Money is in the CRM_CURRENCY currency with two decimals; percentages have one decimal;",
        "\u2014 means the figure cannot be computed (yet), never zero.",
        "",
    ]
    for entry in METRICS:
        lines += [
            f"## {entry.label} (`{entry.key}`)",
            "",
            entry.definition,
            "",
            f"- Population: {entry.population}",
            f"- Time basis: {entry.time_basis.value}",
            f"- Unit: {entry.unit.value}",
        ]
        if entry.api:
            lines.append("- API fields: " + ", ".join(f"`{path}`" for path in entry.api))
        lines.append("")
    return "\n".join(lines)
