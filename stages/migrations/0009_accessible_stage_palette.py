"""Repaint the default stages with the accessible palette (stages/palette.py), where a business kept the old colour.

Why: the seeded colours read at 2.1–2.6 : 1 on white and purchase, retention and loyalty were three similar
greens; a colour a business chose itself is left as it is.
"""

from django.db import migrations

# slug: (old default, new default); frozen here, as a migration must not follow later edits of the palette.
REPAINT = {
    "awareness": ("#94a3b8", "#767f91"),
    "engagement": ("#38bdf8", "#0b6fd6"),
    "consideration": ("#6366f1", "#2b1f9e"),
    "purchase": ("#22c55e", "#0f9a62"),
    "retention": ("#16a34a", "#176768"),
    "loyalty": ("#15803d", "#3d5a12"),
    "advocacy": ("#a855f7", "#8e2aa3"),
    "at_risk": ("#f59e0b", "#a86e00"),
    "churned": ("#ef4444", "#cc2f3c"),
}


def repaint(apps, schema_editor):
    Stage = apps.get_model("stages", "Stage")
    for slug, (old, new) in REPAINT.items():
        Stage.objects.filter(slug=slug, colour__iexact=old).update(colour=new)


def unpaint(apps, schema_editor):
    Stage = apps.get_model("stages", "Stage")
    for slug, (old, new) in REPAINT.items():
        Stage.objects.filter(slug=slug, colour__iexact=new).update(colour=old)


class Migration(migrations.Migration):
    dependencies = [("stages", "0008_snapshot_restated")]

    operations = [migrations.RunPython(repaint, unpaint)]
