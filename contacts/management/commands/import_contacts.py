"""`python manage.py import_contacts FILE.csv`: import or update contacts from a CSV (columns in docs/IMPORT.md)."""

from contacts.management.commands._csv_import import CsvImportCommand
from contacts.models import ImportKind


class Command(CsvImportCommand):
    kind = ImportKind.CONTACTS
    help = "Import contacts from a CSV file; rows match existing contacts by external_id, then email."
