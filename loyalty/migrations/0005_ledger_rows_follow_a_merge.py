"""Let a ledger row change owner when two contacts are merged (the same person), nothing else.

The append-only trigger of 0002 refused any UPDATE of member_id; merging two members now
moves the other's rows to the survivor's membership (loyalty.services.loyalty_contacts_merge),
so member_id leaves the protected columns. Every other fact column stays protected.
"""

from django.db import migrations

FACT_COLUMNS = (
    "kind, points, occurred_at, recorded_at, expires_at, touchpoint_id, rule_id, transition_id, referral_id, note"
)
OLD_COLUMNS = f"member_id, {FACT_COLUMNS}"
MESSAGE = "loyalty_pointsentry is append-only: write a correcting entry instead"


def _statements(columns: str, vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS loyalty_points_entry_no_update ON loyalty_pointsentry;",
            f"CREATE TRIGGER loyalty_points_entry_no_update BEFORE UPDATE OF {columns} ON loyalty_pointsentry"
            " FOR EACH ROW EXECUTE FUNCTION loyalty_points_entry_append_only();",
        ]
    return [
        "DROP TRIGGER IF EXISTS loyalty_points_entry_no_update;",
        f"CREATE TRIGGER loyalty_points_entry_no_update BEFORE UPDATE OF {columns} ON loyalty_pointsentry"
        f" BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;",
    ]


def forwards(apps, schema_editor):
    for sql in _statements(FACT_COLUMNS, schema_editor.connection.vendor):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    for sql in _statements(OLD_COLUMNS, schema_editor.connection.vendor):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0004_redemption_entry_cascade")]

    operations = [migrations.RunPython(forwards, backwards)]
