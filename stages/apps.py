from django.apps import AppConfig


class StagesConfig(AppConfig):
    name = "stages"
    verbose_name = "Lifecycle stages"

    def ready(self) -> None:
        # Connect the receivers that enqueue evaluations for the contacts' events (the contacts app,
        # below this one, announces them and never imports the engine).
        from stages import receivers  # noqa: F401
