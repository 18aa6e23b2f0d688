from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from plays.hooks import webhook_publisher_register
        from webhooks import receivers  # noqa: F401 - connects the signal receivers
        from webhooks.services import BUILDERS, webhook_event_publish

        # Plays (below webhooks) publish webhook events through this registration, never by import.
        webhook_publisher_register(
            contact_events=lambda: [name for name, (key, _) in BUILDERS.items() if key == "contacts"],
            publish=webhook_event_publish,
        )
