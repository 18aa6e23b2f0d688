"""Per-contact metrics written by the nightly recompute, CLV model fits and daily stage snapshots."""

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
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "contact metrics"
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
        constraints = [
            models.UniqueConstraint(fields=["contact", "month"], name="purchase_month_contact_month_uniq"),
        ]
        # The months after a day, index-only (channel performance as of a recent day reads a month or two;
        # a year back PostgreSQL scans the table instead).
        indexes = [models.Index(fields=["month"], include=["contact", "revenue"], name="purchase_month_month_idx")]

    def __str__(self) -> str:
        return f"purchases of {self.contact_id} in month {self.month}"


class CLVModelFit(models.Model):
    """One fit of the BG/NBD and Gamma-Gamma models, kept so fits can be compared over time."""

    as_of = models.DateField()
    n_customers = models.IntegerField()
    n_repeat_customers = models.IntegerField(default=0)
    r = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    a = models.FloatField(null=True, blank=True)
    b = models.FloatField(null=True, blank=True)
    bgnbd_loglik = models.FloatField(null=True, blank=True)
    p = models.FloatField(null=True, blank=True)
    q = models.FloatField(null=True, blank=True)
    gamma = models.FloatField(null=True, blank=True)
    gg_loglik = models.FloatField(null=True, blank=True)
    horizon_weeks = models.FloatField(default=52)
    discount_rate = models.FloatField(default=0.0)
    is_fallback = models.BooleanField(default=False, help_text="Too few customers to fit: historic figures used.")
    note = models.TextField(blank=True)
    duration_seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"CLV fit as of {self.as_of} (n={self.n_customers})"


class StageSnapshot(models.Model):
    """Contacts per stage at the end of a day, written by the nightly run; feeds stage-over-time charts."""

    date = models.DateField()
    stage = models.ForeignKey("stages.Stage", on_delete=models.CASCADE, related_name="snapshots")
    contacts = models.IntegerField()
    # Set when history before this day changed after the row was written (a late fact, a merge):
    # the count was rewritten from the history and the chart says so.
    restated_at = models.DateTimeField(null=True, blank=True)
    previous_contacts = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["date", "stage__position"]
        constraints = [models.UniqueConstraint(fields=["date", "stage"], name="snapshot_date_stage_unique")]

    def __str__(self) -> str:
        return f"{self.date} {self.stage_id}: {self.contacts}"


class ReportSnapshot(models.Model):
    """A stored result of one report for one validated query, served instead of recomputing it.

    The reports scan millions of rows at scale (seconds cold); the dashboard and API ask
    the same default queries all day, so the nightly refresh stores their results and the
    report entry points answer from here when the snapshot is as of the date the query is
    about. `query_key` is the SHA-256 of the query's canonical JSON (see
    analytics.reports.base.report_query_key); `result` holds the result dataclass's fields
    as JSON, rebuilt into the same dataclass when served.
    """

    report = models.CharField(max_length=64)
    query_key = models.CharField(max_length=64)
    query = models.JSONField()
    result = models.JSONField()
    as_of = models.DateField(help_text="The day the result is about: today, or the query's own past end date.")
    computed_at = models.DateTimeField(default=timezone.now)
    duration = models.DurationField(help_text="Time the live computation took.")

    class Meta:
        constraints = [
            # One snapshot per report and query; its index serves the lookup on every report call.
            models.UniqueConstraint(fields=["report", "query_key"], name="report_snapshot_report_query_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.report} {self.query_key[:12]} as of {self.as_of}"


class _DailyFactColumns(models.Model):
    """Key and sums of the KPI cards' per-day rollup (see analytics.daily_facts, which explains the triggers)."""

    day = models.DateField(help_text="Local day (TIME_ZONE) of the contact's creation, the purchase or the move.")
    channel = models.CharField(max_length=20, help_text="The contact's acquisition channel now.")
    owner_id = models.BigIntegerField(
        default=0, help_text="The contact's owner now; 0 = none, -1 = all owners (folded rows only)."
    )
    from_stage_id = models.BigIntegerField(default=0, help_text="Moves: the stage left; 0 = none, or not a move.")
    to_stage_id = models.BigIntegerField(default=0, help_text="Moves: the stage entered; 0 = not a move.")
    contacts = models.IntegerField(default=0)
    buyers = models.IntegerField(default=0, help_text="Contacts created that day whose metrics show a purchase.")
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    moves = models.IntegerField(default=0)

    class Meta:
        abstract = True


class DailyFact(_DailyFactColumns):
    """The folded rollup: one row per key. Written only by daily_facts_compact and daily_facts_rebuild."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "channel", "owner_id", "from_stage_id", "to_stage_id"], name="daily_fact_key_uniq"
            )
        ]
        # The cards read one owner's rows (or the all-owners rows) over a range of days, index-only.
        indexes = [
            models.Index(
                fields=["owner_id", "day"],
                include=["channel", "from_stage_id", "to_stage_id", "contacts", "buyers", "revenue", "moves"],
                name="daily_fact_owner_day_idx",
            )
        ]

    def __str__(self) -> str:
        return f"facts of {self.day} {self.channel} owner {self.owner_id}"


class DailyFactDelta(_DailyFactColumns):
    """Signed changes appended by the triggers, folded into DailyFact by daily_facts_compact."""

    id = models.BigAutoField(primary_key=True)

    def __str__(self) -> str:
        return f"delta of {self.day} {self.channel} owner {self.owner_id}"


class _StateFactColumns(models.Model):
    """Key and sums of the KPI cards' current-state rollup (see analytics.daily_facts, which explains the triggers)."""

    channel = models.CharField(max_length=20, help_text="The contacts' acquisition channel.")
    owner_id = models.BigIntegerField(default=0, help_text="Their owner; 0 = none, -1 = all owners (folded rows only).")
    stage_id = models.BigIntegerField(default=0, help_text="Their current stage; 0 = not placed yet.")
    contacts = models.IntegerField(default=0)
    customers = models.IntegerField(default=0, help_text="Of them, those whose metrics show a purchase.")
    repeaters = models.IntegerField(default=0, help_text="Of them, those with two purchases or more.")
    historic = models.DecimalField(max_digits=18, decimal_places=2, default=0, help_text="Customers' historic CLV.")
    predicted = models.DecimalField(max_digits=18, decimal_places=2, default=0, help_text="Customers' predicted CLV.")
    predicted_n = models.IntegerField(default=0, help_text="Customers with a predicted CLV.")

    class Meta:
        abstract = True


class StateFact(_StateFactColumns):
    """The folded current state: one row per key. Written only by daily_facts_compact and daily_facts_rebuild."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "owner_id", "stage_id"], name="state_fact_key_uniq")]

    def __str__(self) -> str:
        return f"state of {self.channel} owner {self.owner_id} stage {self.stage_id}"


class StateFactDelta(_StateFactColumns):
    """Signed changes appended by the triggers, folded into StateFact by daily_facts_compact."""

    id = models.BigAutoField(primary_key=True)

    def __str__(self) -> str:
        return f"delta of {self.channel} owner {self.owner_id} stage {self.stage_id}"


class _CohortFactColumns(models.Model):
    """Key and sums of the cohort-retention rollup (see analytics.daily_facts, which explains the triggers)."""

    cohort = models.IntegerField(help_text="First-purchase month (year * 12 + month - 1, local).")
    month = models.IntegerField(help_text="The month of the purchases (year * 12 + month - 1, local).")
    channel = models.CharField(max_length=20, help_text="The customers' acquisition channel.")
    owner_id = models.BigIntegerField(default=0, help_text="Their owner; 0 = none, -1 = all owners (folded rows only).")
    customers = models.IntegerField(default=0, help_text="Customers of the cohort who bought in the month.")
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        abstract = True


class CohortFact(_CohortFactColumns):
    """The folded cohort rollup: one row per key. Written only by daily_facts_compact and daily_facts_rebuild."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cohort", "month", "channel", "owner_id"], name="cohort_fact_key_uniq")
        ]
        indexes = [
            models.Index(
                fields=["owner_id", "cohort"],
                include=["month", "channel", "customers", "revenue"],
                name="cohort_fact_owner_cohort_idx",
            )
        ]

    def __str__(self) -> str:
        return f"cohort {self.cohort} in month {self.month}, {self.channel} owner {self.owner_id}"


class CohortFactDelta(_CohortFactColumns):
    """Signed changes appended by the triggers, folded into CohortFact by daily_facts_compact."""

    id = models.BigAutoField(primary_key=True)

    def __str__(self) -> str:
        return f"delta of cohort {self.cohort} in month {self.month}"


class _AcquisitionFactColumns(models.Model):
    """Key and sums of the channel chart's rollup (see analytics.daily_facts, which explains the triggers)."""

    day = models.DateField(help_text="Local day (TIME_ZONE) of the contacts' acquisition.")
    channel = models.CharField(max_length=20, help_text="Their acquisition channel.")
    owner_id = models.BigIntegerField(default=0, help_text="Their owner; 0 = none, -1 = all owners (folded rows only).")
    contacts = models.IntegerField(default=0)
    customers = models.IntegerField(default=0, help_text="Of them, those whose metrics show a purchase.")
    revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0, help_text="Their net revenue.")
    predicted = models.DecimalField(max_digits=18, decimal_places=2, default=0, help_text="Customers' predicted CLV.")
    predicted_n = models.IntegerField(default=0, help_text="Customers with a predicted CLV.")

    class Meta:
        abstract = True


class AcquisitionFact(_AcquisitionFactColumns):
    """The folded acquisition rollup: one row per key. Written only by daily_facts_compact and daily_facts_rebuild."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "channel", "owner_id"], name="acquisition_fact_key_uniq")]
        indexes = [
            models.Index(
                fields=["owner_id", "day"],
                include=["channel", "contacts", "customers", "revenue", "predicted", "predicted_n"],
                name="acquisition_fact_owner_day_idx",
            )
        ]

    def __str__(self) -> str:
        return f"acquisitions of {self.day} {self.channel} owner {self.owner_id}"


class AcquisitionFactDelta(_AcquisitionFactColumns):
    """Signed changes appended by the triggers, folded into AcquisitionFact by daily_facts_compact."""

    id = models.BigAutoField(primary_key=True)

    def __str__(self) -> str:
        return f"delta of acquisitions {self.day} {self.channel} owner {self.owner_id}"
