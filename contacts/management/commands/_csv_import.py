"""The shared body of `import_contacts` and `import_touchpoints`: the same code path as the upload page."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.import_rows import ImportFileError
from contacts.import_runs import import_run
from contacts.importing import import_start, import_upload
from contacts.models import ImportJob, ImportStatus


class CsvImportCommand(BaseCommand):
    kind = ""
    help = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the CSV file (UTF-8, first line names the columns).")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="Map a column to a field (overrides the automatic suggestion); FIELD empty ignores the column.",
        )
        parser.add_argument("--user", help="Username recorded as the importer (and as logged_by of touchpoints).")
        parser.add_argument("--show-rejected", type=int, default=20, help="How many rejected rows to print.")
        parser.add_argument(
            "--trigger-plays",
            action="store_true",
            help="Let the imported facts trigger plays, emails and webhooks (off by default: history emails nobody).",
        )

    def handle(self, *args, **options) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user named {options['user']!r}.")
        try:
            job = import_upload(kind=self.kind, file_name=path.name, raw=path.read_bytes(), user=user)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        if options.get("trigger_plays"):
            ImportJob.objects.filter(pk=job.pk).update(trigger_plays=True)
            job.trigger_plays = True
        mapping = dict(job.mapping)
        for item in options["map"]:
            column, sep, target = item.partition("=")
            if not sep:
                raise CommandError(f"--map takes COLUMN=FIELD, not {item!r}.")
            mapping[column.strip()] = target.strip()
        used = ", ".join(f"{c} → {f}" for c, f in mapping.items() if f) or "nothing"
        self.stdout.write(f"{job.total_rows:,} rows; columns mapped: {used}")
        try:
            # Same start as the web page, but run here rather than on a worker so the command waits for the end.
            job = import_start(job=job, mapping=mapping, enqueue=False)
        except ValidationError as exc:
            job.delete()
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        job = import_run(job_id=job.pk, progress=self._progress)
        self._report(job, options["show_rejected"])

    def _progress(self, job: ImportJob) -> None:
        self.stderr.write(f"  {job.processed_rows:,}/{job.total_rows:,} rows ({job.percent}%)")

    def _report(self, job: ImportJob, show: int) -> None:
        if job.status == ImportStatus.FAILED:
            raise CommandError(job.error)
        self.stdout.write(
            f"Import #{job.pk} {job.status}: {job.created_count:,} created, {job.updated_count:,} updated, "
            f"{job.unchanged_count:,} already stored, {job.rejected_count:,} rejected."
        )
        for rejection in job.rejections.all()[:show]:
            self.stdout.write(f"  row {rejection.row_number}: {rejection.reason}")
        if job.rejected_count > show:
            self.stdout.write(f"  … and {job.rejected_count - show:,} more (see the import page).")
