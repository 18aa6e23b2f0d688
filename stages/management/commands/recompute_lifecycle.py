"""`python manage.py recompute_lifecycle [--as-of YYYY-MM-DD] [--chunk-size N] [--contact ID ...]`.

Runs the nightly work in the foreground with a progress bar: every contact's stage and
base metrics, the day's stage snapshot and the customer-value refresh. With --contact,
only those contacts are evaluated (no snapshot, no customer value).
"""

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from contacts.models import Contact
from stages.engine_base import DEFAULT_CHUNK_SIZE
from stages.services import lifecycle_recompute


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of expects YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = "Recompute lifecycle stages (and metrics, the daily snapshot, customer value) in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=_date, help="Evaluate as if this day (YYYY-MM-DD) were today.")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="Contacts per transaction.")
        parser.add_argument(
            "--contact", type=int, action="extend", nargs="+", dest="contacts", help="Only these contact ids."
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the result as JSON.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (logs, CI).")

    def handle(self, *args, as_of, chunk_size, contacts, as_json=False, no_progress=False, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        if contacts:
            known = set(Contact.objects.filter(pk__in=contacts).values_list("pk", flat=True))
            missing = sorted(set(contacts) - known)
            if missing:
                raise CommandError(f"No contact with id {', '.join(map(str, missing))}")
            total = len(known)
        else:
            total = Contact.objects.count()
        show = not no_progress and options.get("verbosity", 1) > 0
        with tqdm(total=total, unit="contact", disable=not show, file=self.stderr._out) as bar:
            result = lifecycle_recompute(as_of=as_of, chunk_size=chunk_size, progress=bar.update, contact_ids=contacts)
        if as_json:
            self.stdout.write(_json(result.as_dict()))
            return
        evaluation = result.evaluation
        self.stdout.write(
            f"Evaluated {evaluation.contacts} contact(s) in {evaluation.chunks} chunk(s) in {evaluation.seconds:.2f}s;"
            f" moved {evaluation.moved}."
        )
        for (source, target), count in sorted(evaluation.moves.items(), key=lambda kv: -kv[1]):
            self.stdout.write(f"  {source} → {target}: {count}")
        if result.snapshot_date:
            self.stdout.write(f"Snapshot for {result.snapshot_date}: {result.snapshot_rows} stage row(s).")
        for name in result.steps:
            self.stdout.write(f"Finish step {name} done in {result.timings.get(name, 0):.2f}s.")


def _json(data) -> str:
    return json.dumps(data, indent=2, default=str)
