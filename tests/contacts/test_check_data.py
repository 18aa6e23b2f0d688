"""Issue 19 finding 1: `check_data` reports rows stored before the input rules that break them."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from contacts.models import Contact, Touchpoint
from tests.factories import ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def _poison(touchpoint: Touchpoint, contact: Contact) -> None:
    """Write what the old code let through, bypassing every check (as a row from before the fix)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE contacts_touchpoint SET occurred_at = '0001-01-01 00:00:00+14' WHERE id = %s", [touchpoint.pk]
            )
        else:
            cursor.execute(
                "UPDATE contacts_touchpoint SET occurred_at = '0000-12-31 10:00:00' WHERE id = %s", [touchpoint.pk]
            )
        cursor.execute(
            "UPDATE contacts_contact SET attributes = %s WHERE id = %s", ['{"blob": "' + "x" * 20000 + '"}', contact.pk]
        )


def test_clean_data_reports_nothing(capsys):
    TouchpointFactory()
    call_command("check_data")
    assert "No stored rows break the input rules." in capsys.readouterr().out


def test_rows_from_before_the_rules_are_found_by_id_without_reading_the_bad_values(capsys):
    bad = TouchpointFactory(kind="purchase", amount="5.00")
    fine = TouchpointFactory()
    big = ContactFactory()
    _poison(bad, big)
    with pytest.raises(CommandError, match="2 stored row"):
        call_command("check_data")
    out = capsys.readouterr().out
    assert "touchpoint occurred_at out of range: 1 row(s)" in out
    assert f"id {bad.pk}:" in out and f"id {fine.pk}:" not in out
    assert "contact attributes larger than 16 KB: 1 row(s)" in out
    assert f"id {big.pk}:" in out


def test_nul_characters_are_found_where_the_database_could_store_them(capsys):
    """SQLite stored a NUL before the rules; PostgreSQL never can (so nothing there to find)."""
    from django.db import DataError, transaction

    contact = ContactFactory()
    update = "UPDATE contacts_contact SET company = %s WHERE id = %s"
    if connection.vendor == "postgresql":
        with pytest.raises((DataError, ValueError)), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(update, ["Ac\x00me", contact.pk])
        call_command("check_data")
        return
    with connection.cursor() as cursor:
        cursor.execute(update, ["Ac\x00me", contact.pk])
    with pytest.raises(CommandError):
        call_command("check_data")
    assert "contact company with a NUL: 1 row(s)" in capsys.readouterr().out
