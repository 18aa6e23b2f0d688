"""ContactMetrics and ContactPurchaseMonth now live in metrics, StageSnapshot in stages: state only.

metrics 0001 and stages 0005 created them in their new apps' state over the same tables;
this removes them from analytics' state without touching a table. The content types (and
so every permission granted on them, e.g. the role groups' view permissions) move with the
models, so nobody loses access.
"""

from django.db import migrations

MOVED = [("contactmetrics", "metrics"), ("contactpurchasemonth", "metrics"), ("stagesnapshot", "stages")]


def _move_content_types(apps, *, forward: bool) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, new_app in MOVED:
        source, target = ("analytics", new_app) if forward else (new_app, "analytics")
        old = ContentType.objects.filter(app_label=source, model=model).first()
        if old is None:
            continue
        # A type created for the new place in between (a partial migrate) holds only fresh,
        # ungranted permissions: the old type, with its grants, replaces it.
        ContentType.objects.filter(app_label=target, model=model).delete()
        old.app_label = target
        old.save(update_fields=["app_label"])


def forwards(apps, schema_editor):
    _move_content_types(apps, forward=True)


def backwards(apps, schema_editor):
    _move_content_types(apps, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0010_acquisition_facts"),
        ("metrics", "0001_initial"),
        ("stages", "0005_stagesnapshot"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The role groups are granted permissions on these types there; move the types after.
        ("accounts", "0001_roles"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ContactMetrics"),
                migrations.DeleteModel(name="ContactPurchaseMonth"),
                migrations.DeleteModel(name="StageSnapshot"),
            ]
        ),
        migrations.RunPython(forwards, backwards),
    ]
