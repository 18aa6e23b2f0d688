from django.apps import AppConfig


class PlaysConfig(AppConfig):
    name = "plays"
    verbose_name = "Lifecycle plays"

    def ready(self) -> None:
        # Connect the receivers that turn domain events into play runs (they only enqueue tasks).
        from plays import receivers  # noqa: F401
