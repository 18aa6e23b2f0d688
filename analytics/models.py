"""CLV model fits, report snapshots and the overview's trigger-kept rollups.

Per-contact facts (ContactMetrics, ContactPurchaseMonth) live in metrics; the daily stage
snapshot in stages.
"""

from django.db import models
from django.utils import timezone


class CLVFitKind(models.TextChoices):
    LIVE = "live", "Live (all data)"
    BACKTEST = "backtest", "Backtest (calibration period)"


class PurchaseModelName(models.TextChoices):
    BGNBD = "bgnbd", "BG/NBD"
    MBGNBD = "mbgnbd", "MBG/NBD"
    PARETO_NBD = "pareto_nbd", "Pareto/NBD"


class CLVBacktest(models.Model):
    """One calibration/holdout backtest of every purchase model on the business's own purchase history.

    Why: the model that scores customers is the one that forecast this business's own
    holdout best, and a marketer can see how good that forecast was. `result` holds the
    series the model page charts (tracking, by frequency, per model).
    """

    as_of = models.DateField()
    calibration_end = models.DateField()
    holdout_end = models.DateField()
    n_customers = models.IntegerField()
    n_repeat_customers = models.IntegerField()
    actual_total = models.FloatField(help_text="Repeat purchase days the calibration customers made in the holdout.")
    chosen_model = models.CharField(max_length=16, choices=PurchaseModelName.choices)
    reason = models.TextField()
    result = models.JSONField()
    duration_seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(calibration_end__lt=models.F("holdout_end")), name="clv_backtest_split_ordered"
            ),
            models.CheckConstraint(
                condition=models.Q(chosen_model__in=PurchaseModelName.values), name="clv_backtest_model_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"CLV backtest as of {self.as_of} (split {self.calibration_end})"


class CLVModelFit(models.Model):
    """One fit of a purchase model (with Gamma-Gamma on live rows), kept so fits can be compared over time.

    Live rows keep the BG/NBD columns (r, alpha, a, b, the public API's `bgnbd`) whatever
    model was chosen; `model`/`params` name the model that drives the scores. Backtest rows
    are the calibration fits of one CLVBacktest, one per model, with their holdout errors.
    """

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
    # Issue 18: three purchase models, the calibration/holdout backtest and parameter uncertainty.
    kind = models.CharField(
        max_length=8,
        choices=CLVFitKind.choices,
        default=CLVFitKind.LIVE,
        help_text="live: fitted on all data, drives the scores; backtest: fitted on the calibration period.",
    )
    model = models.CharField(
        max_length=16,
        choices=PurchaseModelName.choices,
        default=PurchaseModelName.BGNBD,
        help_text="The purchase model of this row (live rows: the model chosen for the scores).",
    )
    params = models.JSONField(default=dict, blank=True, help_text="The purchase model's parameters by name.")
    standard_errors = models.JSONField(default=dict, blank=True, help_text="From the Hessian; null when singular.")
    loglik = models.FloatField(null=True, blank=True, help_text="Log-likelihood of this row's purchase model.")
    backtest = models.ForeignKey(
        "analytics.CLVBacktest", null=True, blank=True, on_delete=models.CASCADE, related_name="fits"
    )
    holdout_predicted = models.FloatField(null=True, blank=True)
    holdout_actual = models.FloatField(null=True, blank=True)
    holdout_mae = models.FloatField(null=True, blank=True, help_text="Mean absolute error per customer, holdout.")
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="Live rows: every model's fit on all data, the choice and its reason, the spend-model check.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=CLVFitKind.values), name="clv_fit_kind_valid"),
            models.CheckConstraint(condition=models.Q(model__in=PurchaseModelName.values), name="clv_fit_model_valid"),
            models.CheckConstraint(
                condition=models.Q(kind=CLVFitKind.LIVE) | models.Q(backtest__isnull=False),
                name="clv_fit_backtest_rows_have_a_backtest",
            ),
        ]
        indexes = [
            # The latest live fit (API, model page, contact page): newest first within a kind.
            models.Index(fields=["kind", "-created_at"], name="clv_fit_kind_created_idx"),
        ]

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
