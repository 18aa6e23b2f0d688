"""Write docs/METRICS.md from the metric catalogue (analytics.catalogue)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analytics.catalogue import metrics_markdown

DEFAULT_PATH = Path(settings.BASE_DIR) / "docs" / "METRICS.md"


class Command(BaseCommand):
    help = "Generate docs/METRICS.md from analytics/catalogue.py (--check: fail when the file is stale)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", default=str(DEFAULT_PATH), help="Where to write (default docs/METRICS.md).")
        parser.add_argument("--check", action="store_true", help="Write nothing; fail when the file differs.")

    def handle(self, *args, output: str, check: bool, **options) -> None:
        path = Path(output)
        text = metrics_markdown()
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise CommandError(f"{path} is stale: run `python manage.py metrics_docs`.")
            self.stdout.write(f"{path} is up to date.")
            return
        path.write_text(text, encoding="utf-8")
        self.stdout.write(f"Wrote {path}.")
