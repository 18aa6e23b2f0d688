"""`python manage.py seed_demo --contacts N --seed S`: two years of demo journeys (see demo.seed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.models import Contact
from demo.seed import DemoDataExists, demo_seed


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--end-date must be YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Create demo users (admin, marketer, rep, rep2), campaigns, segments and N contacts with two years of "
        "touchpoints ending on --end-date (default: today, UTC), then place every contact with the lifecycle "
        "engine. The same --seed and --end-date always give the same data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--contacts", type=int, default=2000, help="How many contacts (default 2000).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--end-date",
            type=_date,
            default=None,
            help="Last day of the two-year history, YYYY-MM-DD (default: today in UTC). Fix it for reproducible data.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="First delete ALL contacts, touchpoints, stage history, campaigns, segments, tags and analytics "
            "rows (users, stages and rules are kept).",
        )
        parser.add_argument(
            "--password", default=None, help="Password for every demo user (default: a random one each, printed)."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Seed only when the database has no contacts; otherwise say so and succeed (used by `make run`).",
        )
        parser.add_argument(
            "--no-recompute", action="store_true", help="Skip placing the contacts (leave them in the first stage)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["contacts"] < 1:
            raise CommandError("--contacts must be at least 1.")
        verbosity = options["verbosity"]
        if options["if_empty"] and not options["reset"] and Contact.objects.exists():
            self.stdout.write("The database already has contacts: demo data not seeded (use --reset to replace them).")
            return
        try:
            result = demo_seed(
                contacts=options["contacts"],
                seed=options["seed"],
                end_date=options["end_date"],
                reset=options["reset"],
                password=options["password"],
                recompute=not options["no_recompute"],
                log=(lambda message: self.stdout.write(f"  {message}")) if verbosity > 1 else (lambda message: None),
            )
        except DemoDataExists as exc:
            raise CommandError(str(exc)) from None
        timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.timings.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.contacts} contacts, {result.touchpoints} touchpoints ({result.purchases} purchases) "
                f"and {result.campaigns} campaigns, history ending {result.end_date} (seed {options['seed']}). "
                f"[{timings}]"
            )
        )
        if result.recompute is None and not options["no_recompute"]:
            self.stdout.write(self.style.WARNING("Contacts were not placed: the lifecycle engine is not available."))
        self.stdout.write("Demo users (log in at /accounts/login/ or /admin/):")
        for username, password in result.passwords.items():
            self.stdout.write(f"  {username:<9} {password}")
