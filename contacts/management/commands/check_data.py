"""`python manage.py check_data`: report stored rows that break the input rules (dates, NUL, sizes)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.data_checks import data_problems


class Command(BaseCommand):
    help = (
        "Find contacts and touchpoints stored before the input rules that break them (dates out of range, "
        "NUL characters, oversized attributes). Exits with status 1 when any are found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=10, help="How many example rows to show per rule.")

    def handle(self, *args, **options) -> None:
        problems = data_problems(limit=options["limit"])
        if not problems:
            self.stdout.write("No stored rows break the input rules.")
            return
        for problem in problems:
            self.stdout.write(f"{problem.rule}: {problem.count:,} row(s) in {problem.table}")
            for pk, value in problem.examples:
                self.stdout.write(f"  id {pk}: {value}")
        total = sum(p.count for p in problems)
        raise CommandError(f"{total:,} stored row(s) break the input rules; fix or delete them (ids above).")
