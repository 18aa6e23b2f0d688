"""Fill the cohort-retention rollup from the stored purchases (the engine keeps it from then on)."""

from django.db import migrations


def backfill(apps, schema_editor):
    # The engine's own writer, so the rows are exactly what evaluations write. A new database has
    # no contacts here and runs no SQL; `manage.py rebuild_purchase_months` does the same later.
    from stages.engine_facts import purchase_months_backfill

    purchase_months_backfill()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_contact_purchase_month"),
        ("contacts", "0008_touchpoint_refund_index"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
