"""CLV model fits, report snapshots and the overview's trigger-kept rollups.

Per-contact facts (ContactMetrics, ContactPurchaseMonth) live in metrics; the daily stage
snapshot in stages.
"""

from django.db import models
from django.utils import timezone


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
