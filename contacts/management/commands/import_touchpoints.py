"""`python manage.py import_touchpoints FILE.csv`: import touchpoints from a CSV (columns in docs/IMPORT.md)."""

from contacts.management.commands._csv_import import CsvImportCommand
from contacts.models import ImportKind


class Command(CsvImportCommand):
    kind = ImportKind.TOUCHPOINTS
    help = "Import touchpoints from a CSV file; each row names its contact by contact_external_id or contact_email."
