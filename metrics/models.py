"""Per-contact facts: the metrics row and the purchase months the lifecycle engine writes.

They sit low (above contacts, below stages) because both the engine (stages) writes them
and analytics reads them: keeping them here means the engine never imports analytics.
"""

from django.db import models
from django.utils import timezone


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", "Champions"
    LOYAL = "loyal", "Loyal"
    POTENTIAL_LOYALISTS = "potential_loyalists", "Potential loyalists"
    NEW_CUSTOMERS = "new_customers", "New customers"
    PROMISING = "promising", "Promising"
    NEED_ATTENTION = "need_attention", "Need attention"
    ABOUT_TO_SLEEP = "about_to_sleep", "About to sleep"
    AT_RISK = "at_risk", "At risk"
    CANT_LOSE = "cant_lose", "Can't lose them"
    HIBERNATING = "hibernating", "Hibernating"
    LOST = "lost", "Lost"


class ContactMetrics(models.Model):
    """One narrow row per contact, rewritten set-based by the recompute (never per contact).

    Base columns (purchases, revenue, last touch…) come from the lifecycle engine's
    aggregate; CLV, probability alive and RFM columns from the customer-value recompute.
    """

    contact = models.OneToOneField(
        "contacts.Contact", on_delete=models.CASCADE, primary_key=True, related_name="metrics"
    )
    purchase_count = models.IntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0, help_text="Purchases net of refunds.")
    refunds = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    last_touch_at = models.DateTimeField(null=True, blank=True)
    touch_count = models.IntegerField(default=0)
    recency_score = models.SmallIntegerField(null=True, blank=True)
    frequency_score = models.SmallIntegerField(null=True, blank=True)
    monetary_score = models.SmallIntegerField(null=True, blank=True)
    rfm_segment = models.CharField(max_length=24, choices=RfmSegment.choices, blank=True)
    historic_clv = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    expected_purchases = models.FloatField(null=True, blank=True)
    p_alive = models.FloatField(null=True, blank=True)
    expected_spend = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    predicted_clv = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # The 80 % interval of predicted_clv from the purchase model's parameter uncertainty (issue 18).
    predicted_clv_low = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    predicted_clv_high = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The table keeps the name it had in analytics: raw SQL, triggers and data stay valid.
        db_table = "analytics_contactmetrics"
        verbose_name_plural = "contact metrics"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(predicted_clv_low__isnull=True, predicted_clv_high__isnull=True)
                    | models.Q(
                        predicted_clv_low__lte=models.F("predicted_clv"),
                        predicted_clv_high__gte=models.F("predicted_clv"),
                    )
                ),
                name="metrics_clv_interval_brackets_prediction",
            ),
        ]
        indexes = [
            # CLV range filter on the contact list and top-customers report.
            models.Index(fields=["predicted_clv"], name="metrics_predicted_clv_idx"),
            # "Slipping away" lists: low probability alive first.
            models.Index(fields=["p_alive"], name="metrics_p_alive_idx"),
            # RFM segment filter and counts.
            models.Index(fields=["rfm_segment"], name="metrics_rfm_idx"),
        ]

    def __str__(self) -> str:
        return f"metrics of {self.contact_id}"


class ContactPurchaseMonth(models.Model):
    """One row per contact and calendar month with a purchase: the cohort-retention rollup.

    Months are month indexes (year * 12 + month - 1) in the project's time zone; `cohort` is
    the month of the contact's first purchase, repeated on each of its rows so the report is a
    plain GROUP BY (cohort, month). Like ContactMetrics' base columns, the lifecycle engine
    writes these rows with every evaluation of a contact (real time after a touchpoint write,
    and the nightly run over everyone), rewriting only the rows that changed. Channel
    performance as of a past day also reads it, for the purchases of the whole months since.
    """

    # No index of its own: the unique (contact, month) constraint starts with it.
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.IntegerField(help_text="year * 12 + month - 1, in the project's time zone")
    cohort = models.IntegerField(help_text="The month of the contact's first purchase.")
    purchases = models.IntegerField()
    revenue = models.DecimalField(max_digits=14, decimal_places=2, help_text="Gross purchases (refunds not netted).")

    class Meta:
        db_table = "analytics_contactpurchasemonth"
        constraints = [
            models.UniqueConstraint(fields=["contact", "month"], name="purchase_month_contact_month_uniq"),
        ]
        # The months after a day, index-only (channel performance as of a recent day reads a month or two;
        # a year back PostgreSQL scans the table instead).
        indexes = [models.Index(fields=["month"], include=["contact", "revenue"], name="purchase_month_month_idx")]

    def __str__(self) -> str:
        return f"purchases of {self.contact_id} in month {self.month}"
