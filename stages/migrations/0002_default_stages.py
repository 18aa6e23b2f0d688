"""Seed the default lifecycle path and the two exit stages (DESIGN.md, "Stage")."""

from django.db import migrations

DEFAULT_STAGES = [
    # slug, name, position, category, colour, description
    ("awareness", "Awareness", 10, "prospect", "#94a3b8", "Knows the brand exists: an ad click, a visit, a sign-up."),
    ("engagement", "Engagement", 20, "prospect", "#38bdf8", "Interacts: opens and clicks, downloads, webinars, chats."),
    ("consideration", "Consideration", 30, "prospect", "#6366f1", "Evaluates: asked for a quote, a demo or a trial."),
    ("purchase", "Purchase", 40, "customer", "#22c55e", "Bought for the first time."),
    ("retention", "Retention", 50, "customer", "#16a34a", "Bought again within a year."),
    ("loyalty", "Loyalty", 60, "customer", "#15803d", "Buys repeatedly or is a promoter."),
    ("advocacy", "Advocacy", 70, "customer", "#a855f7", "Refers others or writes reviews."),
    ("at_risk", "At risk", 80, "exit", "#f59e0b", "A customer gone quiet past the usual rhythm."),
    ("churned", "Churned", 90, "exit", "#ef4444", "A customer silent long enough to count as lost."),
]


def seed(apps, schema_editor):
    Stage = apps.get_model("stages", "Stage")
    for slug, name, position, category, colour, description in DEFAULT_STAGES:
        Stage.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "position": position,
                "category": category,
                "colour": colour,
                "description": description,
            },
        )


def unseed(apps, schema_editor):
    Stage = apps.get_model("stages", "Stage")
    Stage.objects.filter(slug__in=[row[0] for row in DEFAULT_STAGES], contacts__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("stages", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
