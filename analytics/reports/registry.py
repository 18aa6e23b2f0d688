"""Every report module, by name: the API's endpoints, the charts and the nightly snapshots read this one list.

Listed by hand (not discovered with importlib) so a report that fails to import fails loudly at
start-up, and the import graph (import-linter) sees every report.
"""

from __future__ import annotations

from types import ModuleType

from analytics.reports import (
    campaign_performance,
    channel_performance,
    churn,
    clv_distribution,
    cohort_retention,
    funnel,
    stage_counts,
    stage_flow,
    top_customers,
)

REPORTS: dict[str, ModuleType] = {
    "campaign_performance": campaign_performance,
    "channel_performance": channel_performance,
    "churn": churn,
    "clv_distribution": clv_distribution,
    "cohort_retention": cohort_retention,
    "funnel": funnel,
    "stage_counts": stage_counts,
    "stage_flow": stage_flow,
    "top_customers": top_customers,
}
