from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self) -> None:
        # Connect the receiver that publishes the follow-up task of a touchpoint write.
        from contacts import receivers  # noqa: F401
