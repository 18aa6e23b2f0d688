from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = "Loyalty and referrals"

    def ready(self) -> None:
        # Stage rules read tier and referral facts through metrics this app registers with the
        # engine's registry (stages.rules.metric_register): the engine never imports loyalty.
        from loyalty import receivers, rule_metrics  # noqa: F401

        rule_metrics.register()
