"""Benchmark of the embedded default: CSV import into SQLite with tasks in-process (what `make run` does).

Generates a contacts CSV (N contacts) and a touchpoints CSV (M touchpoints over them: site visits, email opens,
quotes, purchases with amounts), then runs the public commands `import_contacts` and `import_touchpoints` on a
fresh SQLite database. Stage evaluation runs inside the import (Celery eager), so the touchpoint figure
includes it. Prints the rows per second of each command, then `RESULT {json}`.

    .venv/bin/python bench/bench_import_sqlite.py [--contacts 25000] [--touchpoints 100000]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = [
    ("site_visit", "web", 40),
    ("email_open", "email", 25),
    ("email_click", "email", 10),
    ("content_download", "web", 5),
    ("quote_request", "email", 5),
    ("purchase", "web", 12),
    ("survey_response", "email", 3),
]


def write_csvs(folder: Path, contacts: int, touchpoints: int, seed: int = 7) -> tuple[Path, Path]:
    rng = random.Random(seed)
    people = folder / "contacts.csv"
    with people.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            ["external_id", "email", "first_name", "last_name", "company", "acquisition_channel", "acquired_at"]
        )
        for i in range(contacts):
            day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(700))
            out.writerow(
                [
                    f"C{i}",
                    f"person{i}@example.com",
                    f"First{i}",
                    f"Last{i}",
                    f"Company {i % 900}",
                    rng.choice(["organic_search", "referral", "email", "direct"]),
                    day.isoformat(),
                ]
            )
    events = folder / "touchpoints.csv"
    population = [k for k, _, w in KINDS for _ in range(w)]
    channels = {k: c for k, c, _ in KINDS}
    with events.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["contact_external_id", "kind", "channel", "occurred_at", "amount", "score", "external_id"])
        for i in range(touchpoints):
            kind = rng.choice(population)
            when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(60 * 24 * 700))
            amount = f"{rng.uniform(5, 400):.2f}" if kind == "purchase" else ""
            score = str(rng.randrange(11)) if kind == "survey_response" else ""
            out.writerow(
                [f"C{rng.randrange(contacts)}", kind, channels[kind], when.isoformat(), amount, score, f"T{i}"]
            )
    return people, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=25_000)
    parser.add_argument("--touchpoints", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ.pop("CELERY_BROKER_URL", None)  # tasks in-process, as `make run`
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle_crm.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from contacts.models import Contact, Touchpoint
    from stages.models import StageTransition

    call_command("migrate", verbosity=0)
    people, events = write_csvs(folder, args.contacts, args.touchpoints)
    with open(os.devnull, "w") as quiet:
        started = time.perf_counter()
        call_command("import_contacts", str(people), stdout=quiet, stderr=quiet)
        contacts_s = time.perf_counter() - started
        started = time.perf_counter()
        call_command("import_touchpoints", str(events), stdout=quiet, stderr=quiet)
        touch_s = time.perf_counter() - started
    result = {
        "contacts": Contact.objects.count(),
        "contacts_seconds": round(contacts_s, 1),
        "contacts_rows_per_s": round(args.contacts / contacts_s),
        "touchpoints": Touchpoint.objects.count(),
        "touchpoints_seconds": round(touch_s, 1),
        "touchpoints_rows_per_s": round(args.touchpoints / touch_s),
        "moved_out_of_first_stage": Contact.objects.exclude(stage__slug="awareness").count(),
        "transitions": StageTransition.objects.count(),
    }
    print(f"contacts:    {args.contacts:,} rows in {contacts_s:.1f} s = {result['contacts_rows_per_s']:,} rows/s")
    print(
        f"touchpoints: {args.touchpoints:,} rows in {touch_s:.1f} s = {result['touchpoints_rows_per_s']:,} rows/s"
        " (stage evaluation included)"
    )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
