from django.apps import AppConfig


class StagesConfig(AppConfig):
    name = "stages"
    verbose_name = "Lifecycle stages"

    def ready(self) -> None:
        from stages import receivers  # noqa: F401 - connects the receivers
