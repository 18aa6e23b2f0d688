"""StageSnapshot moves from analytics to stages (the engine writes it): state only.

The table `analytics_stagesnapshot` was created by analytics 0002 and keeps its name, so
no table changes; analytics 0011 removes the model from analytics' state.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stages", "0004_transition_contact_covering_index"),
        ("analytics", "0002_initial"),
    ]

    state_operations = [
        migrations.CreateModel(
            name="StageSnapshot",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("date", models.DateField()),
                ("contacts", models.IntegerField()),
                (
                    "stage",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="snapshots", to="stages.stage"
                    ),
                ),
            ],
            options={
                "db_table": "analytics_stagesnapshot",
                "ordering": ["date", "stage__position"],
                "constraints": [models.UniqueConstraint(fields=("date", "stage"), name="snapshot_date_stage_unique")],
            },
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
