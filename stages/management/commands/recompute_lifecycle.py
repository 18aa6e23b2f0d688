"""`manage.py recompute_lifecycle [--as-of YYYY-MM-DD] [--dry-run [--csv FILE]] [--chunk-size N] [--contact ID ...]`.

Runs the nightly work in the foreground with a progress bar: every contact's stage and
base metrics, the day's stage snapshot and the customer-value refresh. With --contact,
only those contacts are evaluated (no snapshot, no customer value).

Issue 17: a past --as-of is a replay (history effective up to that day, no side effects);
a future one is refused unless --dry-run. --dry-run (any day) computes the moves, prints
the counts and who would move (paged with --page/--page-size; all of them with --csv) and
writes nothing.
"""

import csv
import datetime as dt
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from contacts.models import Contact
from stages.engine_base import DEFAULT_CHUNK_SIZE
from stages.services import lifecycle_as_of_check, lifecycle_recompute


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of expects YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = "Recompute lifecycle stages (and metrics, the daily snapshot, customer value) in the foreground."

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=_date,
            help="Evaluate as if this day (YYYY-MM-DD) were today. A past day replays history quietly;"
            " a future day needs --dry-run.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Compute the moves and who; write nothing.")
        parser.add_argument("--csv", dest="csv_path", help="With --dry-run: write every move (who) to this CSV file.")
        parser.add_argument("--page", type=int, default=1, help="With --dry-run: which page of movers to print.")
        parser.add_argument("--page-size", type=int, default=50, help="With --dry-run: movers per printed page.")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="Contacts per transaction.")
        parser.add_argument(
            "--contact", type=int, action="extend", nargs="+", dest="contacts", help="Only these contact ids."
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the result as JSON.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (logs, CI).")

    def handle(self, *args, as_of, chunk_size, contacts, as_json=False, no_progress=False, **options):
        dry_run, csv_path = options.get("dry_run", False), options.get("csv_path")
        page, page_size = options.get("page", 1), options.get("page_size", 50)
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        if csv_path and not dry_run:
            raise CommandError("--csv lists the moves of a dry run: add --dry-run.")
        if page < 1 or page_size < 1:
            raise CommandError("--page and --page-size must be at least 1")
        try:
            lifecycle_as_of_check(as_of=as_of, dry_run=dry_run)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.message_dict["as_of"])) from None
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
            result = lifecycle_recompute(
                as_of=as_of,
                chunk_size=chunk_size,
                progress=bar.update,
                contact_ids=contacts,
                dry_run=dry_run,
                scheduled_steps=not dry_run,
            )
        evaluation = result.evaluation
        movers = sorted(evaluation.movers)
        if csv_path:
            with open(csv_path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["contact_id", "from_stage", "to_stage", "rule"])
                writer.writerows(movers)
        if as_json:
            data = result.as_dict()
            if dry_run:
                start = (page - 1) * page_size
                data["movers"] = [
                    {"contact_id": c, "from": f, "to": t, "rule": r} for c, f, t, r in movers[start : start + page_size]
                ]
                data["page"], data["pages"] = page, max(1, -(-len(movers) // page_size))
            self.stdout.write(_json(data))
            return
        verb = "would move" if dry_run else "moved"
        prefix = "Dry run: nothing was written. " if dry_run else ""
        self.stdout.write(
            f"{prefix}Evaluated {evaluation.contacts} contact(s) in {evaluation.chunks} chunk(s)"
            f" in {evaluation.seconds:.2f}s; {verb} {evaluation.moved}."
        )
        for (source, target), count in sorted(evaluation.moves.items(), key=lambda kv: -kv[1]):
            self.stdout.write(f"  {source} → {target}: {count}")
        if dry_run:
            pages = max(1, -(-len(movers) // page_size))
            start = (page - 1) * page_size
            self.stdout.write(f"Who (page {page} of {pages}, {len(movers)} move(s)):")
            for contact_id, source, target, rule in movers[start : start + page_size]:
                self.stdout.write(f"  contact {contact_id}: {source} → {target} ({rule})")
            if csv_path:
                self.stdout.write(f"Every move written to {csv_path}.")
            return
        if result.snapshot_date:
            self.stdout.write(f"Snapshot for {result.snapshot_date}: {result.snapshot_rows} stage row(s).")
        for name in result.steps:
            self.stdout.write(f"Finish step {name} done in {result.timings.get(name, 0):.2f}s.")


def _json(data) -> str:
    return json.dumps(data, indent=2, default=str)
