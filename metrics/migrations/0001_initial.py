"""ContactMetrics and ContactPurchaseMonth move from analytics to metrics: state only.

Their tables were created by analytics' migrations (0001-0006) and keep their names
(`analytics_contactmetrics`, `analytics_contactpurchasemonth`), so this migration creates
the models in metrics' state and touches no table: data, raw SQL and triggers stay valid.
analytics 0011 removes them from analytics' state.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contacts", "0008_touchpoint_refund_index"),
        # The tables exist in their final shape after this one.
        ("analytics", "0006_purchase_month_month_index"),
    ]

    state_operations = [
        migrations.CreateModel(
            name="ContactMetrics",
            fields=[
                (
                    "contact",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="metrics",
                        serialize=False,
                        to="contacts.contact",
                    ),
                ),
                ("purchase_count", models.IntegerField(default=0)),
                (
                    "revenue",
                    models.DecimalField(
                        decimal_places=2, default=0, help_text="Purchases net of refunds.", max_digits=14
                    ),
                ),
                ("refunds", models.DecimalField(decimal_places=2, default=0, max_digits=14)),
                ("first_purchase_at", models.DateTimeField(blank=True, null=True)),
                ("last_purchase_at", models.DateTimeField(blank=True, null=True)),
                ("last_touch_at", models.DateTimeField(blank=True, null=True)),
                ("touch_count", models.IntegerField(default=0)),
                ("recency_score", models.SmallIntegerField(blank=True, null=True)),
                ("frequency_score", models.SmallIntegerField(blank=True, null=True)),
                ("monetary_score", models.SmallIntegerField(blank=True, null=True)),
                (
                    "rfm_segment",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("champions", "Champions"),
                            ("loyal", "Loyal"),
                            ("potential_loyalists", "Potential loyalists"),
                            ("new_customers", "New customers"),
                            ("promising", "Promising"),
                            ("need_attention", "Need attention"),
                            ("about_to_sleep", "About to sleep"),
                            ("at_risk", "At risk"),
                            ("cant_lose", "Can't lose them"),
                            ("hibernating", "Hibernating"),
                            ("lost", "Lost"),
                        ],
                        max_length=24,
                    ),
                ),
                ("historic_clv", models.DecimalField(decimal_places=2, default=0, max_digits=14)),
                ("expected_purchases", models.FloatField(blank=True, null=True)),
                ("p_alive", models.FloatField(blank=True, null=True)),
                ("expected_spend", models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True)),
                ("predicted_clv", models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ("computed_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name_plural": "contact metrics",
                "db_table": "analytics_contactmetrics",
                "indexes": [
                    models.Index(fields=["predicted_clv"], name="metrics_predicted_clv_idx"),
                    models.Index(fields=["p_alive"], name="metrics_p_alive_idx"),
                    models.Index(fields=["rfm_segment"], name="metrics_rfm_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="ContactPurchaseMonth",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.IntegerField(help_text="year * 12 + month - 1, in the project's time zone")),
                ("cohort", models.IntegerField(help_text="The month of the contact's first purchase.")),
                ("purchases", models.IntegerField()),
                (
                    "revenue",
                    models.DecimalField(
                        decimal_places=2, help_text="Gross purchases (refunds not netted).", max_digits=14
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contacts.contact",
                    ),
                ),
            ],
            options={
                "db_table": "analytics_contactpurchasemonth",
                "indexes": [
                    models.Index(fields=["month"], include=("contact", "revenue"), name="purchase_month_month_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("contact", "month"), name="purchase_month_contact_month_uniq")
                ],
            },
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
