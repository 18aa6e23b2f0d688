from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        # The engine (stages) runs these after every full evaluation without importing analytics, in this
        # order and with the run's as-of day: customer value first (it rewrites metrics the rollups sum),
        # then the rollups' fold (a run over everyone appends deltas by the hundred thousand, folded now
        # rather than summed by every overview), last the result layer's preset results about that day.
        from analytics import receivers  # noqa: F401  (connects the signal receivers)
        from analytics.daily_facts import daily_facts_compact
        from analytics.refresh import results_refresh
        from analytics.services import customer_value_recompute
        from stages.services import lifecycle_finish_step_register

        lifecycle_finish_step_register(name="customer_value", step=customer_value_recompute)
        lifecycle_finish_step_register(name="daily_facts", step=lambda *, as_of: daily_facts_compact())
        # The stored results are the nightly chain's (and recompute_lifecycle's), not every recompute's.
        lifecycle_finish_step_register(name="results", step=results_refresh, scheduled_only=True)
