"""`manage.py outbox_relay`: publish (or, without a broker, run) every pending outbox event now."""

from django.core.management.base import BaseCommand

from outbox.selectors import outbox_backlog
from outbox.services import outbox_relay


class Command(BaseCommand):
    help = "Publish every due outbox event to Celery (in the embedded mode: run them in-process)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="events per pass")

    def handle(self, *args, limit: int, **options) -> None:
        published = failed = 0
        while True:
            result = outbox_relay(limit=limit)
            published += result.published
            failed += result.failed
            if result.failed or result.claimed < limit:
                break
        backlog = outbox_backlog()
        self.stdout.write(f"published {published}, failed {failed}; {backlog['pending']} still pending")
