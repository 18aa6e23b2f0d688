from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = "Loyalty and referrals"

    def ready(self) -> None:
        # Stage rules read tier and referral facts through metrics this app registers with the
        # engine's registry (stages.rules.metric_register): the engine never imports loyalty.
        from contacts.hooks import contact_create_input_register, contact_merge_handler_register
        from loyalty import receivers, rule_metrics  # noqa: F401
        from loyalty.services import loyalty_contacts_merge, referral_apply

        rule_metrics.register()
        # A new contact created with `referral_code` (API, CSV import) is linked to its referrer.
        contact_create_input_register("referral_code", referral_apply)
        # Merging two members folds their ledgers into one (contacts.merge calls it).
        contact_merge_handler_register("loyalty", loyalty_contacts_merge)
